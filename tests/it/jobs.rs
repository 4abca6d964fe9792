//! The Databricks job files in `jobs/` never rot: every file is parsed (YAML with PyYAML, Python
//! compiled), every task's command line — placeholders replaced by each target's values — is run
//! through the real wrapper `jobs/run_delta_hf.py` and what reaches the binary is checked with
//! delta-hf's own argument parser. The wrapper is also run against a stand-in binary that records
//! its arguments and environment: arguments are forwarded, credentials arrive only in the
//! environment (never in argv or the wrapper's output), exit codes propagate.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use clap::Parser;
use delta_hf::cli::{Cli, Command as CliCommand, PrepareArgs};
use serde_json::Value;

use crate::harness::{python, root, stderr, stdout, tmp};

const SENTINEL_HOST: &str = "https://sentinel-host-7c1e.invalid";
const SENTINEL_TOKEN: &str = "dapi-SENTINEL-TOKEN-4f9a2b";
const SENTINEL_CLIENT_ID: &str = "sentinel-client-id-81d3";
const SENTINEL_SECRET: &str = "dose-SENTINEL-SECRET-e5a0";

/// Values for the run-time references Databricks fills in (`{{job.run_id}}`, ...).
const DYNAMIC_REFS: &[(&str, &str)] = &[
    ("job.id", "123"),
    ("job.run_id", "456789"),
    ("job.name", "delta-hf prepare"),
    ("task.name", "prepare"),
    ("task.run_id", "456790"),
    // The for-each's current element: a task number.
    ("input", "0"),
];

/// Sample values for job parameters whose default is empty (optional ones): the wrapper drops an
/// empty `--flag=`, so each task is also checked with these filled in — otherwise a misspelled
/// optional flag would never reach the parser.
const OPTIONAL_SAMPLES: &[(&str, &str)] =
    &[("keep_cols", "review_id,rating"), ("label_table_location", "s3://ml-bucket/tables/reviews_label_map")];

fn jobs_dir() -> PathBuf {
    root().join("jobs")
}

/// Every file of `jobs/`, parsed by `tests/python/load_jobs.py`.
fn load_jobs() -> BTreeMap<String, Value> {
    let o = Command::new(python())
        .arg(root().join("tests/python/load_jobs.py"))
        .arg(jobs_dir())
        .output()
        .expect("run load_jobs.py");
    assert!(o.status.success(), "parsing jobs/ failed:\n{}", stderr(&o));
    serde_json::from_slice(&o.stdout).expect("load_jobs.py prints JSON")
}

/// `*` matches within one path component (what bundle `include` globs need here).
fn glob_match(pattern: &str, path: &str) -> bool {
    let (p, s): (Vec<&str>, Vec<&str>) = (pattern.split('/').collect(), path.split('/').collect());
    p.len() == s.len()
        && p.iter().zip(&s).all(|(p, s)| match p.split_once('*') {
            None => p == s,
            Some((pre, post)) => {
                !p[pre.len() + 1..].contains('*')
                    && s.starts_with(pre)
                    && s.ends_with(post)
                    && s.len() >= pre.len() + post.len()
            }
        })
}

/// The bundle as the Databricks CLI would assemble it: databricks.yml plus its includes.
struct Bundle {
    /// Variable name → default.
    variables: BTreeMap<String, String>,
    /// Target name → variable overrides.
    targets: BTreeMap<String, BTreeMap<String, String>>,
    /// (file the job is declared in, job key, job).
    jobs: Vec<(String, String, Value)>,
    /// Every document, for checks that look at all of them.
    docs: Vec<(String, Value)>,
}

fn bundle() -> Bundle {
    let files = load_jobs();
    let main = &files.get("databricks.yml").expect("jobs/databricks.yml exists")["doc"];
    assert!(main["bundle"]["name"].is_string(), "databricks.yml: bundle.name is required");
    let includes: Vec<&str> = main["include"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| v.as_str().expect("include is a list of globs"))
        .collect();
    for inc in &includes {
        assert!(
            files.keys().any(|f| glob_match(inc, f)),
            "databricks.yml: include `{inc}` matches no file in jobs/"
        );
    }
    let mut docs = Vec::new();
    for (path, f) in &files {
        if f["kind"] == "yaml" {
            assert!(
                path == "databricks.yml" || includes.iter().any(|inc| glob_match(inc, path)),
                "jobs/{path} is not in databricks.yml's `include`, so the bundle ignores it"
            );
            assert!(f["doc"].is_object(), "jobs/{path}: expected a YAML mapping");
            docs.push((path.clone(), f["doc"].clone()));
        }
    }
    let mut variables = BTreeMap::new();
    let mut jobs = Vec::new();
    for (path, doc) in &docs {
        for (name, v) in doc["variables"].as_object().into_iter().flatten() {
            let default = v["default"]
                .as_str()
                .unwrap_or_else(|| panic!("jobs/{path}: variable `{name}` needs a string default"));
            assert!(
                variables.insert(name.clone(), default.to_string()).is_none(),
                "variable `{name}` declared twice"
            );
        }
        // load_jobs.py loaded every job, and every target's job overrides, with Databricks'
        // own typed model (unknown fields, wrong types): make sure none was skipped.
        let validated: BTreeSet<&str> = files[path]["jobs_validated"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str())
            .collect();
        for (key, job) in doc["resources"]["jobs"].as_object().into_iter().flatten() {
            assert!(validated.contains(key.as_str()), "jobs/{path}: job `{key}` was not validated");
            jobs.push((path.clone(), key.clone(), job.clone()));
        }
        for (t, target) in doc["targets"].as_object().into_iter().flatten() {
            for key in target["resources"]["jobs"].as_object().into_iter().flatten().map(|(k, _)| k) {
                assert!(
                    validated.contains(format!("{t}:{key}").as_str()),
                    "jobs/{path}: `{t}:{key}` not validated"
                );
            }
        }
    }
    let mut targets = BTreeMap::new();
    let mut defaults = 0;
    for (name, t) in main["targets"].as_object().expect("databricks.yml: targets").iter() {
        defaults += usize::from(t["default"] == true);
        let mut vars = BTreeMap::new();
        for (k, v) in t["variables"].as_object().into_iter().flatten() {
            assert!(variables.contains_key(k), "target `{name}` sets undeclared variable `{k}`");
            vars.insert(k.clone(), v.as_str().expect("target variable is a string").to_string());
        }
        targets.insert(name.clone(), vars);
    }
    assert_eq!(defaults, 1, "exactly one target must be `default: true`");
    assert!(!jobs.is_empty(), "the bundle declares no job");
    Bundle { variables, targets, jobs, docs }
}

/// Replace `${var.x}`, bundle references and `{{...}}` dynamic references in `s`.
fn substitute(s: &str, vars: &BTreeMap<String, String>, params: &BTreeMap<String, String>) -> String {
    let mut out = s.to_string();
    // Job parameters' defaults may themselves refer to variables: substitute until stable.
    for _ in 0..4 {
        let before = out.clone();
        for (k, v) in vars {
            out = out.replace(&format!("${{var.{k}}}"), v);
        }
        for (k, v) in
            [("bundle.name", "delta-hf"), ("bundle.target", "dev"), ("workspace.host", SENTINEL_HOST)]
        {
            out = out.replace(&format!("${{{k}}}"), v);
        }
        for (k, v) in params {
            out = out.replace(&format!("{{{{job.parameters.{k}}}}}"), v);
        }
        for (k, v) in DYNAMIC_REFS {
            out = out.replace(&format!("{{{{{k}}}}}"), v);
        }
        if out == before {
            break;
        }
    }
    assert!(!out.contains("${") && !out.contains("{{"), "unresolved reference in `{s}` → `{out}`");
    out
}

/// Every string in a JSON value.
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
        Value::Object(m) => m.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

/// Names referenced as `{open}NAME{close}` in `s`.
fn refs(s: &str, open: &str, close: &str) -> Vec<String> {
    let mut v = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find(open) {
        rest = &rest[i + open.len()..];
        let end = rest.find(close).unwrap_or_else(|| panic!("unclosed `{open}` in `{s}`"));
        v.push(rest[..end].to_string());
        rest = &rest[end..];
    }
    v
}

/// Tasks of a job, including the inner task of a `for_each_task`.
fn tasks(job: &Value) -> Vec<Value> {
    let mut v = Vec::new();
    for t in job["tasks"].as_array().expect("job has tasks") {
        v.push(t.clone());
        if let Some(inner) = t["for_each_task"].get("task") {
            v.push(inner.clone());
        }
    }
    v
}

/// A stand-in for the delta-hf binary: records its argv (NUL-separated) and environment in `dir`
/// and exits with `code`.
fn stand_in(dir: &Path, code: i32) -> PathBuf {
    stand_in_at(&dir.join("stand-in-delta-hf"), dir, code)
}

/// [`stand_in`] at `p` (e.g. a `delta-hf` to be found on PATH, like the wheel's), recording in `dir`.
fn stand_in_at(p: &Path, dir: &Path, code: i32) -> PathBuf {
    let p = p.to_path_buf();
    let script = format!(
        "#!/bin/sh\nprintf '%s\\0' \"$@\" > '{d}/argv'\nenv -0 > '{d}/env'\nexit {code}\n",
        d = dir.display()
    );
    std::fs::write(&p, script).unwrap();
    // Executable where it is (the wheel's case); a copy from a volume is made executable anyway.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

struct WrapperRun {
    output: Output,
    argv: Vec<String>,
    env: BTreeMap<String, String>,
}

/// Run `jobs/run_delta_hf.py` with `args` and exactly the DATABRICKS_* variables in `creds`.
fn run_wrapper(dir: &Path, args: &[String], creds: &[(&str, &str)]) -> WrapperRun {
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = Command::new(python());
    cmd.arg(jobs_dir().join("run_delta_hf.py")).args(args).env("HOME", &home).env("TMPDIR", dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("DATABRICKS_") {
            cmd.env_remove(k);
        }
    }
    // The wrapper must not need the Databricks SDK when credentials are in the environment:
    // an SDK on the path that fails on import proves it is not even imported.
    if !creds.is_empty() {
        let trap = dir.join("sdk-trap/databricks/sdk");
        std::fs::create_dir_all(&trap).unwrap();
        std::fs::write(trap.parent().unwrap().join("__init__.py"), "").unwrap();
        std::fs::write(trap.join("__init__.py"), "raise RuntimeError('the wrapper imported the SDK')\n")
            .unwrap();
        cmd.env("PYTHONPATH", dir.join("sdk-trap"));
    }
    cmd.envs(creds.iter().copied());
    let _ = std::fs::remove_file(dir.join("argv"));
    let output = cmd.output().expect("run the wrapper");
    let argv = std::fs::read(dir.join("argv"))
        .map(|b| {
            let s = String::from_utf8(b).unwrap();
            s.strip_suffix('\0').map(|s| s.split('\0').map(String::from).collect()).unwrap_or_default()
        })
        .unwrap_or_default();
    let env = std::fs::read(dir.join("env"))
        .map(|b| {
            String::from_utf8_lossy(&b)
                .split('\0')
                .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
                .collect()
        })
        .unwrap_or_default();
    WrapperRun { output, argv, env }
}

/// Any delta-hf command line, checked with delta-hf's own parser (the fan-out commands `plan`,
/// `run-task` and `commit` included, whatever their argument structs are called).
fn parse_any(argv: &[String], context: &str) -> clap::ArgMatches {
    use clap::CommandFactory;
    Cli::command()
        .try_get_matches_from(std::iter::once("delta-hf".to_string()).chain(argv.iter().cloned()))
        .unwrap_or_else(|e| panic!("{context}: not a valid delta-hf invocation: {argv:?}\n{e}"))
}

/// The value of `--flag VALUE` or `--flag=VALUE` in `argv`.
fn flag_value(argv: &[String], flag: &str) -> Option<String> {
    let eq = format!("{flag}=");
    argv.iter().enumerate().find_map(|(i, a)| {
        if a == flag { argv.get(i + 1).cloned() } else { a.strip_prefix(&eq).map(String::from) }
    })
}

/// `argv` without `--flag VALUE` / `--flag=VALUE`.
fn without_flag(argv: &[String], flag: &str) -> Vec<String> {
    let eq = format!("{flag}=");
    let mut out = Vec::new();
    let mut it = argv.iter();
    while let Some(a) = it.next() {
        if a == flag {
            it.next();
        } else if !a.starts_with(&eq) {
            out.push(a.clone());
        }
    }
    out
}

fn prepare_args(argv: &[String], context: &str) -> PrepareArgs {
    let cli = Cli::try_parse_from(std::iter::once("delta-hf".to_string()).chain(argv.iter().cloned()))
        .unwrap_or_else(|e| panic!("{context}: not a valid delta-hf invocation: {argv:?}\n{e}"));
    match cli.command {
        CliCommand::Prepare(a) => *a,
        other => panic!("{context}: expected `delta-hf prepare`, got {other:?}"),
    }
}

fn is_uc_name(s: &str) -> bool {
    let s = s.strip_prefix("uc://").unwrap_or(s);
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && !p.contains('/'))
}

#[test]
fn every_job_file_parses_and_every_task_is_a_valid_delta_hf_invocation() {
    let b = bundle();
    let dir = tmp();
    let fake_bin = stand_in(dir.path(), 0);
    // What the delta-hf wheel installs on a cluster: `delta-hf` on PATH.
    let path_dir = dir.path().join("wheel-bin");
    std::fs::create_dir_all(&path_dir).unwrap();
    stand_in_at(&path_dir.join("delta-hf"), dir.path(), 0);
    let fake = FakeBinary { volume: fake_bin.clone(), on_path: path_dir };

    // Every variable is used, every reference is declared.
    let mut all = Vec::new();
    for (_, doc) in &b.docs {
        strings(doc, &mut all);
    }
    let used: BTreeSet<String> = all.iter().flat_map(|s| refs(s, "${var.", "}")).collect();
    for v in &used {
        assert!(b.variables.contains_key(v), "`${{var.{v}}}` is used but not declared under `variables`");
    }
    for v in b.variables.keys() {
        assert!(used.contains(v), "variable `{v}` is declared but never used");
    }
    // Secrets in cluster environments come from a secret scope, never literally.
    for (path, doc) in &b.docs {
        check_env_secrets(path, doc);
    }

    let mut checked = 0;
    for (target, overrides) in &b.targets {
        let mut vars = b.variables.clone();
        vars.extend(overrides.clone());
        for (file, key, job) in &b.jobs {
            let ctx = format!("jobs/{file}: job `{key}`, target `{target}`");
            let empty = BTreeMap::new();
            let params: BTreeMap<String, String> = job["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    let name = p["name"].as_str().expect("parameter name").to_string();
                    let default = p["default"]
                        .as_str()
                        .unwrap_or_else(|| panic!("{ctx}: parameter `{name}` needs a default"));
                    (name, substitute(default, &vars, &empty))
                })
                .collect();
            let mut job_strings = Vec::new();
            strings(job, &mut job_strings);
            let used: BTreeSet<String> =
                job_strings.iter().flat_map(|s| refs(s, "{{job.parameters.", "}}")).collect();
            for p in &used {
                assert!(
                    params.contains_key(p),
                    "{ctx}: `{{{{job.parameters.{p}}}}}` is not a declared job parameter"
                );
            }
            for p in params.keys() {
                assert!(used.contains(p), "{ctx}: job parameter `{p}` is never used");
            }
            let clusters: BTreeSet<&str> = job["job_clusters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["job_cluster_key"].as_str())
                .collect();
            let envs: BTreeSet<&str> = job["environments"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e["environment_key"].as_str())
                .collect();

            // Every command of a job that works from a plan names the same plan.
            let mut plans = BTreeSet::new();
            for task in tasks(job) {
                let tkey = task["task_key"].as_str().expect("task_key");
                let ctx = format!("{ctx}, task `{tkey}`");
                match (task["job_cluster_key"].as_str(), task["environment_key"].as_str()) {
                    (Some(c), _) => assert!(clusters.contains(c), "{ctx}: job cluster `{c}` is not declared"),
                    (_, Some(e)) => assert!(envs.contains(e), "{ctx}: environment `{e}` is not declared"),
                    // A cluster of its own (a for-each iteration: one per iteration).
                    _ if task["new_cluster"].is_object() => {}
                    _ if task["for_each_task"].is_object() => {}
                    _ => panic!("{ctx}: the task names no job cluster or environment"),
                }
                if task["for_each_task"].is_object() {
                    check_for_each(&ctx, &task["for_each_task"], &vars, &params);
                    continue; // its inner task is checked on its own
                }
                let Some(spt) = task.get("spark_python_task") else {
                    panic!("{ctx}: a task type this test does not check yet; teach tests/it/jobs.rs");
                };
                let script = spt["python_file"].as_str().expect("python_file");
                let script = Path::new(file).parent().unwrap().join(script);
                let script = std::path::absolute(jobs_dir().join(script)).unwrap();
                assert!(script.is_file(), "{ctx}: python_file {} does not exist", script.display());
                assert_eq!(
                    std::fs::canonicalize(&script).unwrap(),
                    std::fs::canonicalize(jobs_dir().join("run_delta_hf.py")).unwrap(),
                    "{ctx}: a script this test does not check yet; teach tests/it/jobs.rs"
                );
                // Once with the defaults (empty optional parameters dropped), once with every
                // optional parameter given.
                let mut filled = params.clone();
                for (name, value) in filled.iter_mut().filter(|(_, v)| v.is_empty()) {
                    let sample = OPTIONAL_SAMPLES.iter().find(|(n, _)| n == name);
                    *value = sample
                        .unwrap_or_else(|| panic!("{ctx}: parameter `{name}` defaults to empty; add a sample value to OPTIONAL_SAMPLES"))
                        .1
                        .to_string();
                }
                for (variant, params) in [("defaults", &params), ("optional parameters given", &filled)] {
                    let ctx = format!("{ctx} ({variant})");
                    plans.extend(check_task(&ctx, &task, &vars, params, &fake, dir.path()));
                }
                checked += 1;
            }
            assert!(plans.len() <= 1, "{ctx}: the tasks name different plans: {plans:?}");
        }
    }
    assert!(checked >= 2, "expected a task per target (dev, prod), checked {checked}");
}

/// Where the wrapper finds the binary: a path on a volume (`--binary`), or the wheel's on PATH.
struct FakeBinary {
    volume: PathBuf,
    on_path: PathBuf,
}

/// A for-each: its inputs are the task numbers 0..N-1, at most `concurrency` at a time, and each
/// iteration gets a cluster of its own (the placement README and fan_out.job.yml explain).
fn check_for_each(ctx: &str, fe: &Value, vars: &BTreeMap<String, String>, params: &BTreeMap<String, String>) {
    let inputs = substitute(fe["inputs"].as_str().expect("for_each_task.inputs"), vars, params);
    let numbers: Vec<u64> = serde_json::from_str(&inputs)
        .unwrap_or_else(|e| panic!("{ctx}: for-each inputs `{inputs}` are not a JSON array of numbers: {e}"));
    assert!(
        !numbers.is_empty() && numbers.iter().enumerate().all(|(i, n)| *n == i as u64),
        "{ctx}: for-each inputs must be the task numbers [0, ..., N-1], got {inputs}"
    );
    let concurrency = match &fe["concurrency"] {
        Value::Number(n) => n.to_string(),
        Value::String(s) => substitute(s, vars, &BTreeMap::new()),
        other => panic!("{ctx}: for-each concurrency missing or not a number: {other}"),
    };
    assert!(
        concurrency.parse::<u32>().is_ok_and(|c| c >= 1),
        "{ctx}: for-each concurrency `{concurrency}` is not a number >= 1"
    );
    assert!(
        fe["task"]["new_cluster"].is_object(),
        "{ctx}: each iteration should run on a cluster of its own (`new_cluster` on the nested task); \
         a `job_cluster_key` would put every iteration on one shared cluster"
    );
}

/// Run a `spark_python_task` of the wrapper with its placeholders substituted, and check what
/// reaches the binary with delta-hf's parser and against what makes sense on Databricks.
/// Returns the plan the command works from, if any.
fn check_task(
    ctx: &str,
    task: &Value,
    vars: &BTreeMap<String, String>,
    params: &BTreeMap<String, String>,
    fake: &FakeBinary,
    dir: &Path,
) -> Option<String> {
    let spt = &task["spark_python_task"];
    let raw: Vec<&str> = spt["parameters"]
        .as_array()
        .expect("spark_python_task.parameters")
        .iter()
        .map(|a| a.as_str().expect("parameters are strings"))
        .collect();
    let mut args: Vec<String> = raw.iter().map(|a| substitute(a, vars, params)).collect();
    let cut = args.iter().position(|a| a == "--").unwrap_or_else(|| panic!("{ctx}: no `--` in {args:?}"));
    // The job parameters the delta-hf command itself uses (after `--`).
    let used: BTreeSet<String> =
        raw[cut + 1..].iter().flat_map(|a| refs(a, "{{job.parameters.", "}}")).collect();
    let mut path = std::env::var_os("PATH").unwrap_or_default();
    match args[..cut].iter().position(|a| a == "--binary") {
        // The binary lives on a volume; here the stand-in takes its place.
        Some(i) => {
            assert!(
                args[i + 1].starts_with("/Volumes/"),
                "{ctx}: --binary should be on a UC volume: {}",
                args[i + 1]
            );
            args[i + 1] = fake.volume.display().to_string();
        }
        // The wheel's `delta-hf`: the task installs the wheel, here the stand-in is on PATH.
        None => {
            let wheels: Vec<&str> = task["libraries"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|l| l["whl"].as_str())
                .collect();
            assert!(
                !wheels.is_empty(),
                "{ctx}: no --binary and no `libraries: - whl:` (the delta-hf wheel): which delta-hf runs?"
            );
            for w in wheels {
                let w = substitute(w, vars, params);
                assert!(
                    w.starts_with("/Volumes/") && w.ends_with("_x86_64.whl") && w.contains("/delta_hf-"),
                    "{ctx}: the wheel should be delta-hf's manylinux x86_64 wheel on a volume: {w}"
                );
            }
            let mut p = std::ffi::OsString::from(fake.on_path.as_os_str());
            p.push(":");
            p.push(&path);
            path = p;
        }
    }
    // `--fan-out N --plan PLAN -- prepare ...`: the wrapper runs `plan` (these prepare arguments
    // plus `--tasks N --plan PLAN`), N `run-task`s and `commit` under Spark (tests/it/spark.rs
    // runs that for real). Here: the prepare command, and each of the three command lines.
    let fan_out = flag_value(&args[..cut], "--fan-out").map(|n| {
        let plan =
            flag_value(&args[..cut], "--plan").unwrap_or_else(|| panic!("{ctx}: --fan-out without --plan"));
        assert!(n.parse::<u32>().is_ok_and(|n| n >= 1), "{ctx}: --fan-out `{n}` is not a number >= 1");
        (n, plan)
    });
    if fan_out.is_some() {
        let wrapper_opts = without_flag(&without_flag(&args[..cut], "--fan-out"), "--plan");
        args = wrapper_opts.into_iter().chain(args[cut..].iter().cloned()).collect();
    }

    let run = run_wrapper(
        dir,
        &args,
        &[
            ("DATABRICKS_HOST", SENTINEL_HOST),
            ("DATABRICKS_TOKEN", SENTINEL_TOKEN),
            ("PATH", path.to_str().unwrap()),
        ],
    );
    assert!(run.output.status.success(), "{ctx}: the wrapper failed:\n{}", stderr(&run.output));
    parse_any(&run.argv, ctx);
    // Every parameter given reaches the binary (none is lost on the way).
    for (name, value) in params.iter().filter(|(n, v)| !v.is_empty() && used.contains(n.as_str())) {
        assert!(
            run.argv.iter().any(|a| a.contains(value.as_str())),
            "{ctx}: parameter `{name}` = `{value}` does not reach delta-hf: {:?}",
            run.argv
        );
    }
    let plan = match run.argv[0].as_str() {
        "prepare" => {
            check_prepare(ctx, &prepare_args(&run.argv, ctx));
            fan_out.map(|(n, plan)| {
                let mut p = run.argv.clone();
                p[0] = "plan".into();
                p.extend(["--tasks".into(), n, "--plan".into(), plan.clone()]);
                parse_any(&p, ctx);
                parse_any(&s(&["run-task", "--plan", &plan, "--task", "0"]), ctx);
                parse_any(&s(&["commit", "--plan", &plan]), ctx);
                plan
            })
        }
        // Every prepare flag, plus the number of tasks and the plan.
        "plan" => {
            let n = flag_value(&run.argv, "--tasks").unwrap_or_else(|| panic!("{ctx}: plan without --tasks"));
            assert!(n.parse::<u32>().is_ok_and(|n| n >= 1), "{ctx}: --tasks `{n}`");
            let mut p = without_flag(&without_flag(&run.argv, "--tasks"), "--plan");
            p[0] = "prepare".into();
            check_prepare(ctx, &prepare_args(&p, ctx));
            flag_value(&run.argv, "--plan")
        }
        "run-task" => {
            let t =
                flag_value(&run.argv, "--task").unwrap_or_else(|| panic!("{ctx}: run-task without --task"));
            assert_eq!(t, "0", "{ctx}: --task should be the for-each's `{{{{input}}}}`");
            if let Some(wd) = flag_value(&run.argv, "--working-dir") {
                assert!(
                    !wd.starts_with("/Volumes") && !wd.starts_with("/dbfs"),
                    "{ctx}: run-task's --working-dir must be local disk"
                );
            }
            flag_value(&run.argv, "--plan")
        }
        "commit" => flag_value(&run.argv, "--plan"),
        other => panic!("{ctx}: a delta-hf command this test does not check yet: `{other}`"),
    };
    if let Some(p) = &plan {
        assert!(
            p.starts_with("/Volumes/") || p.contains("://"),
            "{ctx}: --plan `{p}` must be on storage every node reaches (a volume or an object store)"
        );
    } else {
        assert_eq!(run.argv[0], "prepare", "{ctx}: `{}` without --plan", run.argv[0]);
    }
    plan
}

/// What makes sense on Databricks for a prepare (or plan) command, beyond the parser.
fn check_prepare(ctx: &str, a: &PrepareArgs) {
    // The values make sense on Databricks, not just to the parser.
    let tables: Vec<&String> = a.train.iter().chain(&a.eval).chain(&a.splits).collect();
    assert!(!tables.is_empty(), "{ctx}: no split");
    for t in tables {
        let t = t.split_once('=').map_or(t.as_str(), |s| s.1);
        assert!(is_uc_name(t), "{ctx}: `{t}` is not a Unity Catalog name catalog.schema.table");
    }
    let out = a.output.as_ref().unwrap_or_else(|| panic!("{ctx}: no --output"));
    assert!(
        out.starts_with("/Volumes/") && std::path::Path::new(out).components().count() >= 6,
        "{ctx}: --output should be /Volumes/<catalog>/<schema>/<volume>/<dir>, got {out}"
    );
    let wd =
        a.working_dir.as_ref().unwrap_or_else(|| panic!("{ctx}: no --working-dir (a volume has no rename)"));
    assert!(
        !wd.starts_with("/Volumes") && !wd.starts_with("/dbfs"),
        "{ctx}: --working-dir must be local disk"
    );
    if let Some(lt) = &a.label_table {
        assert!(is_uc_name(lt), "{ctx}: --label-table `{lt}` is not a Unity Catalog name");
    }
    assert!(a.storage.profile.is_none(), "{ctx}: a cluster has no ~/.databrickscfg; use no --profile");
}

/// `spark_env_vars` whose name says secret carry a `{{secrets/scope/key}}` reference only.
fn check_env_secrets(path: &str, v: &Value) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                if k == "spark_env_vars" {
                    for (name, val) in v.as_object().into_iter().flatten() {
                        let val = val.as_str().unwrap_or_default();
                        if ["TOKEN", "SECRET", "PASSWORD", "KEY"].iter().any(|s| name.contains(s)) {
                            assert!(
                                val.starts_with("{{secrets/") && val.ends_with("}}"),
                                "jobs/{path}: {name} must come from a secret scope (`{{{{secrets/scope/key}}}}`), not `{val}`"
                            );
                        }
                    }
                }
                check_env_secrets(path, v);
            }
        }
        Value::Array(a) => a.iter().for_each(|v| check_env_secrets(path, v)),
        _ => {}
    }
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[track_caller]
fn assert_no_secret(what: &str, text: &str, secrets: &[&str]) {
    for sec in secrets {
        assert!(!text.contains(sec), "{what} contains the credential `{sec}`:\n{text}");
    }
}

#[test]
fn wrapper_passes_credentials_only_in_the_environment_and_propagates_the_exit_code() {
    let dir = tmp();
    let secrets = [SENTINEL_TOKEN, SENTINEL_SECRET, SENTINEL_CLIENT_ID];
    let args = |bin: &Path| {
        let mut v = s(&["--binary", &bin.display().to_string(), "--", "prepare", "--train", "main.ml.t"]);
        v.extend(s(&["--keep-col=", "--eval=main.ml.e", "--output", "/Volumes/main/ml/v/out", "--json"]));
        v
    };

    // A token: forwarded in the environment, the arguments as given (an empty `--x=` dropped).
    let bin = stand_in(dir.path(), 0);
    let run = run_wrapper(
        dir.path(),
        &args(&bin),
        &[("DATABRICKS_HOST", SENTINEL_HOST), ("DATABRICKS_TOKEN", SENTINEL_TOKEN)],
    );
    assert_eq!(run.output.status.code(), Some(0), "{}", stderr(&run.output));
    assert_eq!(
        run.argv,
        s(&[
            "prepare",
            "--train",
            "main.ml.t",
            "--eval=main.ml.e",
            "--output",
            "/Volumes/main/ml/v/out",
            "--json"
        ])
    );
    assert_eq!(run.env.get("DATABRICKS_HOST").map(String::as_str), Some(SENTINEL_HOST));
    assert_eq!(run.env.get("DATABRICKS_TOKEN").map(String::as_str), Some(SENTINEL_TOKEN));
    assert_no_secret("the child's argv", &run.argv.join(" "), &secrets);
    assert_no_secret("the wrapper's stdout", &stdout(&run.output), &secrets);
    assert_no_secret("the wrapper's stderr", &stderr(&run.output), &secrets);
    assert!(
        stderr(&run.output).contains("Databricks credentials: from the environment (token)"),
        "{}",
        stderr(&run.output)
    );

    // OAuth M2M: the client id and secret reach the child as they are; its exit code is ours.
    let bin = stand_in(dir.path(), 3);
    let m2m = [
        ("DATABRICKS_HOST", SENTINEL_HOST),
        ("DATABRICKS_CLIENT_ID", SENTINEL_CLIENT_ID),
        ("DATABRICKS_CLIENT_SECRET", SENTINEL_SECRET),
    ];
    let run = run_wrapper(dir.path(), &args(&bin), &m2m);
    assert_eq!(
        run.output.status.code(),
        Some(3),
        "the child's exit code must propagate:\n{}",
        stderr(&run.output)
    );
    assert_eq!(run.env.get("DATABRICKS_CLIENT_ID").map(String::as_str), Some(SENTINEL_CLIENT_ID));
    assert_eq!(run.env.get("DATABRICKS_CLIENT_SECRET").map(String::as_str), Some(SENTINEL_SECRET));
    assert!(!run.env.contains_key("DATABRICKS_TOKEN"));
    assert_no_secret("the child's argv", &run.argv.join(" "), &secrets);
    assert_no_secret(
        "the wrapper's output",
        &format!("{}{}", stdout(&run.output), stderr(&run.output)),
        &secrets,
    );
    assert!(stderr(&run.output).contains("delta-hf exited with status 3"), "{}", stderr(&run.output));

    // A child killed by a signal: 128 + signal, like a shell.
    let killer = dir.path().join("killed");
    std::fs::write(&killer, "#!/bin/sh\nkill -TERM $$\n").unwrap();
    let run = run_wrapper(dir.path(), &args(&killer), &m2m);
    assert_eq!(run.output.status.code(), Some(143), "{}", stderr(&run.output));
}

#[test]
fn wrapper_reports_a_missing_binary_and_runs_without_credentials() {
    let dir = tmp();
    let missing = "/Volumes/main/ml/artifacts/bin/no-such-delta-hf";
    let run = run_wrapper(
        dir.path(),
        &s(&["--binary", missing, "--", "prepare"]),
        &[("DATABRICKS_HOST", SENTINEL_HOST), ("DATABRICKS_TOKEN", SENTINEL_TOKEN)],
    );
    assert_eq!(run.output.status.code(), Some(2), "{}", stderr(&run.output));
    let err = stderr(&run.output);
    assert!(err.contains(missing) && err.contains("make dist") && err.contains("databricks fs cp"), "{err}");
    assert_no_secret("the wrapper's stderr", &err, &[SENTINEL_TOKEN]);

    // No `--` before delta-hf's arguments: a usage error, nothing run.
    let bin = stand_in(dir.path(), 0);
    let run = run_wrapper(dir.path(), &s(&["--binary", &bin.display().to_string(), "prepare"]), &[]);
    assert_eq!(run.output.status.code(), Some(2), "{}", stderr(&run.output));
    assert!(stderr(&run.output).contains("after `--`"), "{}", stderr(&run.output));

    // No credentials anywhere (and no SDK): a warning, and delta-hf still runs (it may read
    // object-store tables without Unity Catalog).
    let run = run_wrapper(
        dir.path(),
        &s(&["--binary", &bin.display().to_string(), "--", "prepare", "--train", "s3://b/t"]),
        &[],
    );
    assert_eq!(run.output.status.code(), Some(0), "{}", stderr(&run.output));
    assert_eq!(run.argv, s(&["prepare", "--train", "s3://b/t"]));
    assert!(stderr(&run.output).contains("no Databricks credentials"), "{}", stderr(&run.output));
    assert!(!run.env.keys().any(|k| k.starts_with("DATABRICKS_")), "{:?}", run.env.keys());
}

/// A loopback stand-in for a workspace's discovery endpoints, as much as the Databricks SDK asks
/// while it resolves its configuration: host metadata, OIDC discovery and the token endpoint
/// (anything else is 404). Serves at most 50 requests; returns its base URL.
fn workspace_stub() -> String {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let b = base.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(50) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
            let mut len = 0;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            let _ = reader.read_exact(&mut body);
            let (status, json) = match path.as_str() {
                "/.well-known/databricks-config" => {
                    ("200 OK", format!(r#"{{"oidc_endpoint":"{b}/oidc","workspace_id":"1234"}}"#))
                }
                "/oidc/.well-known/oauth-authorization-server" => (
                    "200 OK",
                    format!(
                        r#"{{"authorization_endpoint":"{b}/oidc/v1/authorize","token_endpoint":"{b}/oidc/v1/token"}}"#
                    ),
                ),
                "/oidc/v1/token" => (
                    "200 OK",
                    r#"{"access_token":"stub-access","token_type":"Bearer","expires_in":3600}"#.to_string(),
                ),
                _ => ("404 Not Found", r#"{"error_code":"NOT_FOUND","message":"not here"}"#.to_string()),
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
                json.len()
            );
        }
    });
    base
}

#[test]
fn wrapper_takes_credentials_from_the_databricks_sdk() {
    // On a cluster nothing is in the environment and the SDK knows the run's credentials; here
    // the SDK reads them from ~/.databrickscfg (the same resolution chain). Needs `databricks-sdk`
    // in the test venv (tests/python/requirements.txt).
    let dir = tmp();
    let host = workspace_stub();
    let bin = stand_in(dir.path(), 0);
    let args = s(&["--binary", &bin.display().to_string(), "--", "prepare", "--train", "main.ml.t"]);
    let cfg = dir.path().join("home/.databrickscfg");
    std::fs::create_dir_all(cfg.parent().unwrap()).unwrap();
    let secrets = [SENTINEL_TOKEN, SENTINEL_SECRET, "stub-access"];

    // A personal access token: handed over as DATABRICKS_TOKEN.
    std::fs::write(&cfg, format!("[DEFAULT]\nhost = {host}\ntoken = {SENTINEL_TOKEN}\n")).unwrap();
    let run = run_wrapper(dir.path(), &args, &[]);
    assert_eq!(run.output.status.code(), Some(0), "{}", stderr(&run.output));
    assert!(stderr(&run.output).contains("a token from the Databricks SDK (pat)"), "{}", stderr(&run.output));
    assert_eq!(run.env.get("DATABRICKS_HOST"), Some(&host));
    assert_eq!(run.env.get("DATABRICKS_TOKEN").map(String::as_str), Some(SENTINEL_TOKEN));
    assert_eq!(run.argv, s(&["prepare", "--train", "main.ml.t"]));
    assert_no_secret(
        "the wrapper's output",
        &format!("{}{}", stdout(&run.output), stderr(&run.output)),
        &secrets,
    );

    // OAuth M2M: the client id and secret themselves, so delta-hf can refresh its own tokens.
    std::fs::write(
        &cfg,
        format!(
            "[DEFAULT]\nhost = {host}\nclient_id = {SENTINEL_CLIENT_ID}\nclient_secret = {SENTINEL_SECRET}\n"
        ),
    )
    .unwrap();
    let run = run_wrapper(dir.path(), &args, &[]);
    assert_eq!(run.output.status.code(), Some(0), "{}", stderr(&run.output));
    assert!(stderr(&run.output).contains("OAuth M2M from the Databricks SDK"), "{}", stderr(&run.output));
    assert_eq!(run.env.get("DATABRICKS_HOST"), Some(&host));
    assert_eq!(run.env.get("DATABRICKS_CLIENT_ID").map(String::as_str), Some(SENTINEL_CLIENT_ID));
    assert_eq!(run.env.get("DATABRICKS_CLIENT_SECRET").map(String::as_str), Some(SENTINEL_SECRET));
    assert!(!run.env.contains_key("DATABRICKS_TOKEN"));
    assert_no_secret("the child's argv", &run.argv.join(" "), &secrets);
    assert_no_secret(
        "the wrapper's output",
        &format!("{}{}", stdout(&run.output), stderr(&run.output)),
        &secrets,
    );
}
