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
    let p = dir.join("stand-in-delta-hf");
    let script = format!(
        "#!/bin/sh\nprintf '%s\\0' \"$@\" > '{d}/argv'\nenv -0 > '{d}/env'\nexit {code}\n",
        d = dir.display()
    );
    std::fs::write(&p, script).unwrap();
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

            for task in tasks(job) {
                let tkey = task["task_key"].as_str().expect("task_key");
                let ctx = format!("{ctx}, task `{tkey}`");
                match (task["job_cluster_key"].as_str(), task["environment_key"].as_str()) {
                    (Some(c), _) => assert!(clusters.contains(c), "{ctx}: job cluster `{c}` is not declared"),
                    (_, Some(e)) => assert!(envs.contains(e), "{ctx}: environment `{e}` is not declared"),
                    _ if task["for_each_task"].is_object() => {}
                    _ => panic!("{ctx}: the task names no job cluster or environment"),
                }
                if task["for_each_task"].is_object() {
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
                    check_task(&ctx, spt, &vars, params, &fake_bin, dir.path());
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 2, "expected a task per target (dev, prod), checked {checked}");
}

/// Run a `spark_python_task` of the wrapper with its placeholders substituted, and check what
/// reaches the binary with delta-hf's parser and against what makes sense on Databricks.
fn check_task(
    ctx: &str,
    spt: &Value,
    vars: &BTreeMap<String, String>,
    params: &BTreeMap<String, String>,
    fake_bin: &Path,
    dir: &Path,
) {
    let mut args: Vec<String> = spt["parameters"]
        .as_array()
        .expect("spark_python_task.parameters")
        .iter()
        .map(|a| substitute(a.as_str().expect("parameters are strings"), vars, params))
        .collect();
    // The binary lives on a volume; here the stand-in takes its place.
    let i = args.iter().position(|a| a == "--binary").unwrap_or_else(|| panic!("{ctx}: no --binary"));
    assert!(
        args[i + 1].starts_with("/Volumes/"),
        "{ctx}: --binary should be on a UC volume: {}",
        args[i + 1]
    );
    args[i + 1] = fake_bin.display().to_string();

    let run =
        run_wrapper(dir, &args, &[("DATABRICKS_HOST", SENTINEL_HOST), ("DATABRICKS_TOKEN", SENTINEL_TOKEN)]);
    assert!(run.output.status.success(), "{ctx}: the wrapper failed:\n{}", stderr(&run.output));
    let a = prepare_args(&run.argv, ctx);
    // Every parameter given reaches the binary (none is lost on the way).
    for (name, value) in params.iter().filter(|(n, v)| !v.is_empty() && n.as_str() != "binary") {
        assert!(
            run.argv.iter().any(|a| a.contains(value.as_str())),
            "{ctx}: parameter `{name}` = `{value}` does not reach delta-hf: {:?}",
            run.argv
        );
    }

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
