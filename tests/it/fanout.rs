//! Fan-out (issue 13): `plan` / `run-task` / `commit`, each task in its own process, over
//! tables of many files. The published dataset must equal one-process `prepare` over the same
//! versions — compared as the real `datasets.load_from_disk` reads both (`dump_dataset.py`):
//! features, Arrow types and every row in order — for every label kind and `--tokenizer`; a
//! killed task re-run, one task run twice at once, a commit with a task missing, a vacuumed
//! file, and plan plus staging on S3 (moto).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use deltalake::protocol::SaveMode;
use serde_json::{Value, json};

use crate::harness::cloud::{Cloud, assert_no_secrets};
use crate::harness::*;

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// Append slices of the table's own rows `times` times (one file per commit, of different
/// sizes), so it has many files whose order matters.
fn multiply(table: &Path, times: usize) {
    py(
        "import sys, deltalake\n\
         p, k = sys.argv[1], int(sys.argv[2])\n\
         t = deltalake.DeltaTable(p).to_pyarrow_table()\n\
         n = t.num_rows\n\
         for i in range(k):\n\
         \x20   deltalake.write_deltalake(p, t.slice(i % n, n - i % n), mode='append')\n",
        &[&s(table), &times.to_string()],
    );
}

/// What `datasets.load_from_disk` reads: per split the features, Arrow types and every row.
fn dump(out: &Path) -> Value {
    let text = run_py_with(&python(), "dump_dataset.py", &[out]);
    let v: Value = serde_json::from_str(&text).expect("dump_dataset.py prints JSON");
    v["splits"].clone()
}

/// `datasets` reads the same dataset from both outputs, with the same `label_map.json` when the
/// export is `labelled` and none in either when it is not (`--no-labels`).
#[track_caller]
fn assert_same_dataset(fanned: &Path, reference: &Path, labelled: bool) {
    let (a, b) = (dump(fanned), dump(reference));
    assert!(a.as_object().is_some_and(|o| !o.is_empty()), "no split loaded: {a}");
    for (split, want) in b.as_object().unwrap() {
        let got = &a[split];
        for key in ["features", "arrow", "shard_features"] {
            assert_eq!(got[key], want[key], "split {split}: {key} differ");
        }
        let (gr, wr) = (got["rows"].as_array().unwrap(), want["rows"].as_array().unwrap());
        assert_eq!(gr.len(), wr.len(), "split {split}: row counts differ");
        if let Some(i) = (0..gr.len()).find(|i| gr[*i] != wr[*i]) {
            panic!("split {split}: row {i} differs:\n fan-out: {}\n prepare: {}", gr[i], wr[i]);
        }
    }
    assert_eq!(a.as_object().unwrap().len(), b.as_object().unwrap().len(), "other splits");
    let (got, want) = (fanned.join("label_map.json"), reference.join("label_map.json"));
    if labelled {
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert_eq!(read(&got), read(&want), "label_map.json differs");
    } else {
        for p in [&got, &want] {
            assert!(!p.exists(), "{} written by an export without labels", p.display());
        }
    }
}

fn prepare_ref(args: &[String], out: &Path) {
    ok(&bin().arg("prepare").args(args).args(["--output", &s(out), "--json"]).output().unwrap());
}

/// Single-label tables of many files: train 8 commits (one row with a null label, dropped), test 3.
fn single_tables(dir: &Path) -> (PathBuf, PathBuf) {
    let (train, test) = (dir.join("train"), dir.join("test"));
    for i in 0..8 {
        let mut r = rows(&format!("train file {i} row"), 40 + 7 * i, &["spam", "ham", "eggs", "Zed"]);
        r.push((format!("train file {i} tail"), "ham".into()));
        write_rows(&train, &r, SaveMode::Append);
    }
    write_text_table(&train, &[(Some("no label"), None)], SaveMode::Append);
    for i in 0..3 {
        write_rows(
            &test,
            &rows(&format!("test file {i} row"), 25 + i, &["ham", "spam", "new"]),
            SaveMode::Append,
        );
    }
    (train, test)
}

#[test]
fn single_label_three_tasks_equal_prepare() {
    let dir = tmp();
    let (train, test) = single_tables(dir.path());
    let args: Vec<String> = [
        "--split",
        &format!("train={}", s(&train)),
        "--split",
        &format!("test={}", s(&test)),
        "--drop-nulls",
        "--max-shard-size",
        "3KB",
    ]
    .iter()
    .map(|x| x.to_string())
    .collect();
    let reference = dir.path().join("ref");
    let mut ref_args = args.clone();
    ref_args.extend(["--label-table".into(), s(&dir.path().join("ref-labels"))]);
    prepare_ref(&ref_args, &reference);

    let out = dir.path().join("out");
    let labels = dir.path().join("labels");
    let plan = dir.path().join("plans/p.json");
    let mut fan_args = args.clone();
    fan_args.extend(["--output".into(), s(&out), "--label-table".into(), s(&labels)]);
    let o = bin()
        .arg("plan")
        .args(&fan_args)
        .args(["--tasks", "3", "--plan", &s(&plan), "--json"])
        .output()
        .unwrap();
    let planned = ok_json(&o);
    // Nothing published, no label-table version, by the plan.
    assert!(!out.exists(), "plan published something");
    assert!(!labels.join("_delta_log").exists(), "plan committed a label-table version");
    let doc: Value = serde_json::from_slice(&std::fs::read(&plan).unwrap()).unwrap();
    assert_eq!(doc["format"], "delta-hf-plan");
    assert_eq!(doc["format_version"], 2);
    // The export spec is embedded as it is: the settings that shape the export, the format among them.
    assert_eq!(doc["export"]["format"], "arrow", "{}", doc["export"]);
    assert!(doc["export"]["columns"]["text"].is_string() && doc["export"]["shards"]["max_bytes"].is_u64());
    let per_task: Vec<usize> =
        (0..3).map(|i| doc["splits"][0]["tasks"][i].as_array().unwrap().len()).collect();
    assert_eq!(per_task.iter().sum::<usize>(), 9, "{per_task:?}");
    assert!(per_task.iter().all(|n| *n >= 2), "train files not spread over the tasks: {per_task:?}");
    let version = planned["splits"][0]["version"].as_u64().unwrap();

    // A commit to the table after the plan changes nothing: tasks read the pinned version.
    write_rows(&train, &rows("late row", 5, &["late"]), SaveMode::Append);
    for i in 0..3 {
        let t = ok_json(
            &bin()
                .args(["run-task", "--plan", &s(&plan), "--task", &i.to_string(), "--json"])
                .output()
                .unwrap(),
        );
        assert_eq!(t["reused"], false);
        check_manifest(&plan, i);
    }
    let summary = ok_json(&bin().args(["commit", "--plan", &s(&plan), "--json"]).output().unwrap());
    assert_eq!(summary["splits"][0]["version"].as_u64(), Some(version));
    assert_eq!(summary["splits"][0]["dropped_rows"], 1);
    assert_eq!(summary["label_table"]["version"], 0);
    assert!(summary["splits"][0]["num_shards"].as_u64().unwrap() >= 3, "{summary}");
    assert_same_dataset(&out, &reference, true);
    // Shards renamed in order, the staging area gone.
    assert!(out.join("train/data-00000-of-00003.arrow").exists() || ls(&out.join("train")).len() > 3);
    let left: Vec<String> = ls(dir.path()).into_iter().filter(|n| n.contains("delta-hf")).collect();
    assert!(left.is_empty(), "staging left behind: {left:?}");
    // The label table is the one prepare writes.
    let read = |t: &Path| {
        py(
            "import sys, deltalake; print(sorted(deltalake.DeltaTable(sys.argv[1]).to_pyarrow_table().to_pylist(), key=lambda r: r['id']))",
            &[&s(t)],
        )
    };
    assert_eq!(read(&labels), read(&dir.path().join("ref-labels")));
}

#[test]
fn label_kinds_and_tokenizer_three_tasks_equal_prepare() {
    let dir = tmp();
    let mut cases: Vec<(String, Vec<String>)> = Vec::new();
    let split = |name: &str, p: &Path| vec!["--split".to_string(), format!("{name}={}", s(p))];
    let strings = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    for case in ["multi", "token", "regression"] {
        let root = dir.path().join(case);
        let out = run_py_with(&python(), "label_kinds.py", &[Path::new("write"), &root, Path::new(case)]);
        assert!(out.contains("ok"), "{out}");
        let second = if case == "token" { "validation" } else { "test" };
        multiply(&root.join("train"), 5);
        multiply(&root.join(second), 3);
        let mut a = split("train", &root.join("train"));
        a.extend(split(second, &root.join(second)));
        match case {
            "multi" => {
                let mut m = a.clone();
                m.extend(strings(&["--label-col", "emotions", "--keep-col", "tags", "--keep-col", "spans"]));
                cases.push(("multi".into(), m.clone()));
                m.push("--multi-hot".into());
                cases.push(("multi-hot".into(), m));
                let mut n = a.clone();
                n.extend(strings(&["--no-labels", "--keep-col", "text", "--keep-col", "emotions"]));
                cases.push(("no-labels".into(), n));
            }
            "token" => {
                a.extend(strings(&[
                    "--tokens-col",
                    "words",
                    "--label-col",
                    "tags",
                    "--keep-col",
                    "sentence_id",
                ]));
                cases.push(("token".into(), a));
            }
            _ => {
                a.extend(strings(&["--label-col", "score", "--drop-nulls"]));
                cases.push(("regression".into(), a));
            }
        }
    }
    // --tokenizer: a WordPiece tokenizer with a pair template, trained by tokenize_ref.py.
    let o = Command::new(python())
        .arg(root().join("tests/python/tokenize_ref.py"))
        .arg("fixtures")
        .arg(dir.path().join("tok"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let layout: Value = serde_json::from_slice(&o.stdout).unwrap();
    let table = |sp: &str| PathBuf::from(layout["tables"][sp].as_str().unwrap());
    multiply(&table("train"), 4);
    multiply(&table("test"), 2);
    let mut t = split("train", &table("train"));
    t.extend(split("test", &table("test")));
    t.extend(strings(&[
        "--tokenizer",
        layout["tokenizers"]["wordpiece"].as_str().unwrap(),
        "--text-pair-col",
        "text2",
        "--max-length",
        "24",
        "--max-shard-size",
        "4KB",
    ]));
    cases.push(("tokenizer".into(), t));
    // Token classification with a tokenizer: words tokenized, tags aligned to sub-words.
    let ner = |sp: &str| dir.path().join("tok/tables/ner").join(sp);
    multiply(&ner("train"), 4);
    let mut n = split("train", &ner("train"));
    n.extend(split("test", &ner("test")));
    n.extend(strings(&["--tokens-col", "words", "--label-col", "ner", "--label-all-tokens"]));
    n.extend(strings(&[
        "--tokenizer",
        layout["tokenizers"]["bpe"].as_str().unwrap(),
        "--max-shard-size",
        "4KB",
    ]));
    cases.push(("token-tokenizer".into(), n));

    for (name, args) in cases {
        let reference = dir.path().join(format!("ref-{name}"));
        prepare_ref(&args, &reference);
        let out = dir.path().join(format!("out-{name}"));
        let mut fan_args = args.clone();
        fan_args.extend(["--output".into(), s(&out)]);
        let plan = s(&dir.path().join(format!("plan-{name}.json")));
        fan_out(&bin, &fan_args, &plan, 3);
        eprintln!("case {name}");
        assert_same_dataset(&out, &reference, !args.iter().any(|a| a == "--no-labels"));
    }
}

/// The staging area's manifests of a local output's plan.
fn staging_root(plan: &Path) -> PathBuf {
    let doc: Value = serde_json::from_slice(&std::fs::read(plan).unwrap()).unwrap();
    PathBuf::from(doc["staging"]["root"].as_str().unwrap())
}

fn manifest(plan: &Path, task: usize) -> PathBuf {
    let doc: Value = serde_json::from_slice(&std::fs::read(plan).unwrap()).unwrap();
    staging_root(plan).join(format!("_fanout-{}/task-{task:05}.json", doc["plan_id"].as_str().unwrap()))
}

/// Task `task`'s manifest lists shards that exist with its sizes and CRC-32s, as zlib computes
/// them.
fn check_manifest(plan: &Path, task: usize) {
    py(
        "import sys, json, os, zlib\n\
         root, m = sys.argv[1], json.load(open(sys.argv[2]))\n\
         shards = [sh for sp in m['splits'] for sh in sp['shards']]\n\
         assert shards, m\n\
         for sh in shards:\n\
         \x20   data = open(os.path.join(root, sh['path']), 'rb').read()\n\
         \x20   assert len(data) == sh['bytes'], sh\n\
         \x20   assert '%08x' % zlib.crc32(data) == sh['crc32'], (sh, '%08x' % zlib.crc32(data))\n",
        &[&s(&staging_root(plan)), &s(&manifest(plan, task))],
    );
}

/// Tables big enough that a task runs long enough to be killed in the middle.
fn big_tables(dir: &Path) -> (PathBuf, PathBuf) {
    let (train, test) = (dir.join("train"), dir.join("test"));
    for i in 0..6 {
        let long = "lorem ipsum dolor sit amet ".repeat(20);
        let r: Vec<(String, String)> = (0..4000)
            .map(|k| (format!("{long} file {i} row {k}"), ["a", "b", "c"][k % 3].to_string()))
            .collect();
        write_rows(&train, &r, SaveMode::Append);
    }
    write_rows(&test, &rows("test row", 50, &["a", "b"]), SaveMode::Append);
    write_rows(&test, &rows("test row two", 30, &["b", "c"]), SaveMode::Append);
    (train, test)
}

#[test]
fn killed_task_rerun_and_commit_refusing_a_missing_task() {
    let dir = tmp();
    let (train, test) = big_tables(dir.path());
    let args: Vec<String> = vec![
        "--split".into(),
        format!("train={}", s(&train)),
        "--split".into(),
        format!("test={}", s(&test)),
        "--max-shard-size".into(),
        "1MB".into(),
    ];
    let reference = dir.path().join("ref");
    prepare_ref(&args, &reference);
    let out = dir.path().join("out");
    let labels = dir.path().join("labels");
    let plan = dir.path().join("plan.json");
    let mut fan_args = args.clone();
    fan_args.extend(["--output".into(), s(&out), "--label-table".into(), s(&labels)]);
    ok(&bin()
        .arg("plan")
        .args(&fan_args)
        .args(["--tasks", "3", "--plan", &s(&plan), "--quiet"])
        .output()
        .unwrap());
    let root = staging_root(&plan);
    for i in [0, 2] {
        ok(&bin()
            .args(["run-task", "--plan", &s(&plan), "--task", &i.to_string(), "--quiet"])
            .output()
            .unwrap());
    }

    // Task 1 is killed once it has started writing.
    let mut child = bin()
        .args(["run-task", "--plan", &s(&plan), "--task", "1", "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    loop {
        let writing = ls(&root).iter().any(|n| n.starts_with("task-00001-"));
        if writing || started.elapsed().as_secs() > 60 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "task 1 finished before it could be killed; make the tables bigger");
    assert!(!manifest(&plan, 1).exists(), "a killed task left a manifest");

    // Commit refuses: exit 4 naming task 1; nothing published, no label-table version.
    let o = bin().args(["commit", "--plan", &s(&plan)]).output().unwrap();
    fails(&o, 4, &["task 1", "run-task", "--task 1"]);
    assert!(!out.exists(), "a refused commit published");
    assert!(!labels.join("_delta_log").exists(), "a refused commit recorded the label table");

    // Re-run: the task completes (its killed attempt's files do not count), commit publishes.
    let t =
        ok_json(&bin().args(["run-task", "--plan", &s(&plan), "--task", "1", "--json"]).output().unwrap());
    assert_eq!(t["reused"], false);
    // A retry of a finished task has nothing to do.
    let again =
        ok_json(&bin().args(["run-task", "--plan", &s(&plan), "--task", "1", "--json"]).output().unwrap());
    assert_eq!(again["reused"], true);
    assert_eq!(again["attempt"], t["attempt"]);
    ok(&bin().args(["commit", "--plan", &s(&plan), "--quiet"]).output().unwrap());
    assert_same_dataset(&out, &reference, true);
    assert!(!root.exists(), "staging area left after commit");
    assert!(labels.join("_delta_log/00000000000000000000.json").exists());
}

#[test]
fn one_task_run_twice_at_once() {
    let dir = tmp();
    let (train, test) = big_tables(dir.path());
    let args: Vec<String> = vec!["--train".into(), s(&train), "--eval".into(), s(&test)];
    let reference = dir.path().join("ref");
    prepare_ref(&args, &reference);
    let out = dir.path().join("out");
    let plan = dir.path().join("plan.json");
    let mut fan_args = args.clone();
    fan_args.extend(["--output".into(), s(&out)]);
    ok(&bin()
        .arg("plan")
        .args(&fan_args)
        .args(["--tasks", "2", "--plan", &s(&plan), "--quiet"])
        .output()
        .unwrap());
    let spawn = || {
        bin()
            .args(["run-task", "--plan", &s(&plan), "--task", "0", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b): (Output, Output) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let (sa, sb) = (ok_json(&a), ok_json(&b));
    // One result: both report the same attempt's manifest; the other attempt's files are gone.
    assert_eq!(sa["attempt"], sb["attempt"], "{sa}\n{sb}");
    assert_eq!(sa["splits"], sb["splits"]);
    let root = staging_root(&plan);
    let attempts: Vec<String> = ls(&root).into_iter().filter(|n| n.starts_with("task-00000-")).collect();
    assert_eq!(attempts, vec![format!("task-00000-{}", sa["attempt"].as_str().unwrap())]);
    ok(&bin().args(["run-task", "--plan", &s(&plan), "--task", "1", "--quiet"]).output().unwrap());
    ok(&bin().args(["commit", "--plan", &s(&plan), "--quiet"]).output().unwrap());
    assert_same_dataset(&out, &reference, true);
}

#[test]
fn a_file_vacuumed_after_the_plan_is_exit_3() {
    let dir = tmp();
    let (train, test) = single_tables(dir.path());
    let plan = dir.path().join("plan.json");
    let out = dir.path().join("out");
    ok(&bin()
        .args(["plan", "--train", &s(&train), "--eval", &s(&test), "--drop-nulls", "--output", &s(&out)])
        .args(["--tasks", "2", "--plan", &s(&plan), "--quiet"])
        .output()
        .unwrap());
    let doc: Value = serde_json::from_slice(&std::fs::read(&plan).unwrap()).unwrap();
    let gone = doc["splits"][0]["tasks"][1][0]["path"].as_str().unwrap().to_string();
    std::fs::remove_file(train.join(&gone)).unwrap();
    ok(&bin().args(["run-task", "--plan", &s(&plan), "--task", "0", "--quiet"]).output().unwrap());
    let o = bin().args(["run-task", "--plan", &s(&plan), "--task", "1"]).output().unwrap();
    fails(&o, 3, &[&gone, "vacuumed", "plan"]);
    assert!(!manifest(&plan, 1).exists());
    let o = bin().args(["commit", "--plan", &s(&plan)]).output().unwrap();
    fails(&o, 4, &["task 1"]);
    assert!(!out.exists());
}

#[test]
fn plan_refusals_are_usage_errors() {
    let dir = tmp();
    let (train, _) = single_tables(dir.path());
    let plan = s(&dir.path().join("p.json"));
    let out = s(&dir.path().join("out"));
    let base = ["plan", "--train", &s(&train), "--drop-nulls", "--plan", &plan];
    let o = run(base.iter().copied().chain(["--tasks", "2"]));
    fails(&o, 2, &["--output"]);
    let o = run(base.iter().copied().chain(["--tasks", "2", "--output", &out, "--num-shards", "2"]));
    fails(&o, 2, &["--num-shards"]);
    let o = run(base.iter().copied().chain(["--tasks", "0", "--output", &out]));
    fails(&o, 2, &["--tasks"]);
    let sql = dir.path().join("q.sql");
    std::fs::write(&sql, "SELECT text, label FROM source ORDER BY text").unwrap();
    let o = run(base.iter().copied().chain(["--tasks", "2", "--output", &out, "--select-sql", &s(&sql)]));
    fails(&o, 2, &["--select-sql", "row by row"]);
    // A row-by-row query is fine.
    std::fs::write(&sql, "SELECT upper(text) AS text, label FROM source WHERE label <> 'Zed'").unwrap();
    ok(&run(base.iter().copied().chain([
        "--tasks",
        "2",
        "--output",
        &out,
        "--select-sql",
        &s(&sql),
        "--quiet",
    ])));
    let o = run(["run-task", "--plan", &plan, "--task", "2"]);
    fails(&o, 2, &["--task 2", "2 tasks"]);
    let o = run(["run-task", "--plan", &s(&dir.path().join("missing.json")), "--task", "0"]);
    fails(&o, 2, &["does not exist"]);
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&plan).unwrap()).unwrap();
    doc["format_version"] = json!(3);
    std::fs::write(&plan, serde_json::to_vec(&doc).unwrap()).unwrap();
    let o = run(["commit", "--plan", &plan]);
    fails(&o, 2, &["format version 3", "newer"]);
    doc["format_version"] = json!(1);
    std::fs::write(&plan, serde_json::to_vec(&doc).unwrap()).unwrap();
    fails(&run(["commit", "--plan", &plan]), 2, &["format version 1", "older", "make the plan again"]);
}

/// The S3 server with bucket `lake` and [`single_tables`] at `s3://lake/tables/{train,test}`.
fn s3_world() -> (Cloud, TempDir, PathBuf, PathBuf) {
    let cloud = Cloud::start();
    cloud.setup(json!({"buckets": ["lake"]}));
    let dir = tmp();
    let (train, test) = single_tables(dir.path());
    cloud.upload(&train, "lake", "tables/train");
    cloud.upload(&test, "lake", "tables/test");
    (cloud, dir, train, test)
}

#[test]
fn s3_plan_and_staging() {
    let (cloud, dir, train, test) = s3_world();
    let reference = dir.path().join("ref");
    let local_args: Vec<String> =
        ["--train", &s(&train), "--eval", &s(&test), "--drop-nulls", "--max-shard-size", "3KB"]
            .iter()
            .map(|x| x.to_string())
            .collect();
    prepare_ref(&local_args, &reference);

    let args: Vec<String> = [
        "--train",
        "s3://lake/tables/train",
        "--eval",
        "s3://lake/tables/test",
        "--drop-nulls",
        "--max-shard-size",
        "3KB",
        "--output",
        "s3://lake/datasets/fan",
        "--label-table",
        "s3://lake/labels/fan",
    ]
    .iter()
    .map(|x| x.to_string())
    .collect();
    let work = dir.path().join("work");
    let cmd = || {
        let mut c = cloud.bin();
        c.env("DELTA_HF_WORKING_DIR", &work);
        c
    };
    let plan = "s3://lake/plans/fan.json";
    let o = cmd().arg("plan").args(&args).args(["--tasks", "3", "--plan", plan, "--quiet"]).output().unwrap();
    ok(&o);
    assert!(cloud.list("lake", "datasets/fan").is_empty(), "plan wrote into the output");
    assert!(cloud.list("lake", "labels/fan").is_empty(), "plan committed a label-table version");
    let plan_text = py(
        "import sys, boto3\n\
         s3 = boto3.client('s3', endpoint_url=sys.argv[1], aws_access_key_id='testing', aws_secret_access_key='testing-secret', region_name='us-east-1')\n\
         print(s3.get_object(Bucket='lake', Key='plans/fan.json')['Body'].read().decode())",
        &[&cloud.s3],
    );
    assert!(plan_text.contains("\"plan_id\""), "{plan_text}");
    assert!(!plan_text.contains("testing-secret") && !plan_text.contains("AWS_"), "a secret in the plan");
    // Task 0 twice at once (speculation): one manifest, the same attempt reported by both.
    let spawn = || {
        cmd()
            .args(["run-task", "--plan", plan, "--task", "0", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (sa, sb) = (ok_json(&a.wait_with_output().unwrap()), ok_json(&b.wait_with_output().unwrap()));
    assert_eq!(sa["attempt"], sb["attempt"], "{sa}\n{sb}");
    for i in 1..3 {
        ok(&cmd().args(["run-task", "--plan", plan, "--task", &i.to_string(), "--quiet"]).output().unwrap());
    }
    let files = cloud.list("lake", "datasets/fan");
    assert!(files.iter().any(|f| f.ends_with("task-00002.json")), "{files:?}");
    let o = cmd().args(["commit", "--plan", plan, "--json"]).output().unwrap();
    let summary = ok_json(&o);
    assert_eq!(summary["label_table"]["version"], 0);
    let published = cloud.list("lake", "datasets/fan");
    assert!(published.contains(&"dataset_dict.json".to_string()), "{published:?}");
    assert!(
        !published.iter().any(|f| f.ends_with(".json") && f.contains("_fanout-")),
        "manifests left: {published:?}"
    );
    let got = dir.path().join("got");
    cloud.download("lake", "datasets/fan", &got);
    assert_same_dataset(&got, &reference, true);
    assert_no_secrets(&[&o], &[&got]);
    assert_eq!(ls(&work), Vec::<String>::new(), "scratch left in the working dir");
}

#[test]
fn s3_commit_with_a_task_missing_publishes_nothing_then_overwrite() {
    let (cloud, dir, train, test) = s3_world();
    let plan = "s3://lake/plans/p.json";
    ok(&cloud
        .bin()
        .args([
            "plan",
            "--train",
            "s3://lake/tables/train",
            "--eval",
            "s3://lake/tables/test",
            "--drop-nulls",
        ])
        .args(["--output", "s3://lake/datasets/d", "--label-table", "s3://lake/labels/d"])
        .args(["--tasks", "2", "--plan", plan, "--quiet"])
        .output()
        .unwrap());
    ok(&cloud.bin().args(["run-task", "--plan", plan, "--task", "1", "--quiet"]).output().unwrap());
    let o = cloud.bin().args(["commit", "--plan", plan]).output().unwrap();
    fails(&o, 4, &["task 0"]);
    let files = cloud.list("lake", "datasets/d");
    assert!(!files.iter().any(|f| f == "dataset_dict.json" || f.ends_with("state.json")), "{files:?}");
    assert!(cloud.list("lake", "labels/d").is_empty(), "a refused commit recorded the label table");
    // Task 0 run, the commit goes through.
    ok(&cloud.bin().args(["run-task", "--plan", plan, "--task", "0", "--quiet"]).output().unwrap());
    ok(&cloud.bin().args(["commit", "--plan", plan, "--quiet"]).output().unwrap());
    let first = cloud.list("lake", "datasets/d");
    assert!(first.contains(&"dataset_dict.json".to_string()));

    // Again onto the published dataset: refused without --overwrite, replaced with it (none of
    // the first plan's shards stay), and only the first plan's own files were ever kept.
    let again = |extra: &[&str]| {
        cloud
            .bin()
            .args([
                "plan",
                "--train",
                "s3://lake/tables/train",
                "--eval",
                "s3://lake/tables/test",
                "--drop-nulls",
            ])
            .args([
                "--output",
                "s3://lake/datasets/d",
                "--tasks",
                "2",
                "--plan",
                "s3://lake/plans/q.json",
                "--quiet",
            ])
            .args(extra)
            .output()
            .unwrap()
    };
    fails(&again(&[]), 4, &["already exists", "--overwrite"]);
    let q = "s3://lake/plans/q.json";
    ok(&again(&["--overwrite", "--max-shard-size", "2KB"]));
    for i in 0..2 {
        ok(&cloud
            .bin()
            .args(["run-task", "--plan", q, "--task", &i.to_string(), "--quiet"])
            .output()
            .unwrap());
    }
    ok(&cloud.bin().args(["commit", "--plan", q, "--quiet"]).output().unwrap());
    let second = cloud.list("lake", "datasets/d");
    let shards = |files: &[String]| -> Vec<String> {
        files.iter().filter(|f| f.ends_with(".arrow")).cloned().collect()
    };
    assert!(
        shards(&second).iter().all(|f| !shards(&first).contains(f)),
        "old shards stayed:\n{first:?}\n{second:?}"
    );
    let got = tmp();
    cloud.download("lake", "datasets/d", got.path());
    let reference = dir.path().join("ref");
    prepare_ref(
        &["--train", &s(&train), "--eval", &s(&test), "--drop-nulls"]
            .iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>(),
        &reference,
    );
    assert_same_dataset(got.path(), &reference, true);
}

/// Partitioned files with deletion vectors and a checkpoint, column mapping, a checkpoint-only
/// log: each split over three tasks reads the rows `prepare` reads, in its order.
#[test]
fn protocol_features_three_tasks_equal_prepare() {
    let dir = tmp();
    for kind in ["deletion-vectors", "column-mapping", "checkpoint"] {
        let built = dir.path().join(kind);
        build_table(kind, &built);
        let args =
            vec!["--no-labels".to_string(), "--split".into(), format!("train={}", s(&built.join("delta")))];
        let reference = dir.path().join(format!("ref-{kind}"));
        prepare_ref(&args, &reference);
        let out = dir.path().join(format!("out-{kind}"));
        let mut fan_args = args.clone();
        fan_args.extend(["--output".into(), s(&out)]);
        fan_out(&bin, &fan_args, &s(&dir.path().join(format!("plan-{kind}.json"))), 3);
        eprintln!("case {kind}");
        assert_same_dataset(&out, &reference, false);
    }
}
