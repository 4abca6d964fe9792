//! The Spark fan-out of the cluster wrapper (`jobs/run_delta_hf.py --fan-out N`) in a real Spark:
//! pyspark from PyPI in local mode (`spark-submit --master local[2,2]`: two executor threads, a
//! task may fail twice), Java from the OS. `plan` runs on the driver, each `run-task` in a Spark
//! task (a Python worker), `commit` on the driver; the dataset equals a one-process `prepare`.
//! Without `java` the tests print `SKIPPED:` and pass, or fail under `DELTA_HF_NO_SKIP=1` (`.ci/run`
//! installs Java and sets it).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use deltalake::protocol::SaveMode;

use crate::harness::{ok, python, root, rows, run, run_py_with, skip, stderr, stdout, tmp, write_rows};

/// `spark-submit` from the test venv's pyspark, or None (after a SKIPPED line) without Java.
fn spark_submit(test: &str) -> Option<PathBuf> {
    if Command::new("java").arg("-version").output().map(|o| !o.status.success()).unwrap_or(true) {
        skip(test, "no `java` on PATH (pyspark needs a JRE; .ci/run installs openjdk-17-jre-headless)");
        return None;
    }
    let s = Path::new(&python()).parent().unwrap().join("spark-submit");
    assert!(s.is_file(), "{} missing: pyspark is in tests/python/requirements.txt", s.display());
    Some(s)
}

/// Run the wrapper under `spark-submit` in local mode.
fn submit(spark_submit: &Path, dir: &Path, wrapper_args: &[String]) -> Output {
    let mut cmd = Command::new(spark_submit);
    cmd.args(["--master", "local[2,2]", "--conf", "spark.ui.enabled=false"])
        .args(["--conf", "spark.driver.bindAddress=127.0.0.1", "--conf", "spark.driver.host=127.0.0.1"])
        .arg(root().join("jobs/run_delta_hf.py"))
        .args(wrapper_args)
        .env("PYSPARK_PYTHON", python())
        .env("PYSPARK_DRIVER_PYTHON", python())
        .env("SPARK_LOCAL_IP", "127.0.0.1")
        .env("TMPDIR", dir)
        .env_remove("DELTA_HF_LOG");
    for (k, _) in std::env::vars() {
        if k.starts_with("DATABRICKS_") || (k.starts_with("DELTA_HF_") && k != "DELTA_HF_PYTHON") {
            cmd.env_remove(k);
        }
    }
    cmd.output().expect("run spark-submit")
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn spark_fan_out_equals_one_process_prepare() {
    let Some(spark_submit) = spark_submit("spark_fan_out_equals_one_process_prepare") else { return };
    let dir = tmp();
    let d = dir.path();
    // Tables of many files (one per append), so the tasks get different files.
    let (train, eval) = (d.join("train"), d.join("eval"));
    for k in 0..6 {
        write_rows(
            &train,
            &rows(&format!("train part {k}"), 40 + k * 7, &["sports", "art", "tech", "food"]),
            SaveMode::Append,
        );
    }
    for k in 0..3 {
        write_rows(&eval, &rows(&format!("eval part {k}"), 25, &["tech", "art", "news"]), SaveMode::Append);
    }
    let prepare = |out: &Path| {
        s(&["prepare", "--split", &format!("train={}", train.display()), "--split"])
            .into_iter()
            .chain(s(&[&format!("test={}", eval.display()), "--output", &out.display().to_string()]))
            .collect::<Vec<_>>()
    };

    let one = d.join("one");
    ok(&run(prepare(&one)));

    let fanned = d.join("fanned");
    let plan = d.join("plans/plan.json");
    let mut args = s(&["--binary", crate::harness::exe().to_str().unwrap(), "--fan-out", "3", "--plan"]);
    args.push(plan.display().to_string());
    args.push("--".into());
    args.extend(prepare(&fanned));
    args.push("--json".into());
    let o = submit(&spark_submit, d, &args);
    assert!(
        o.status.success(),
        "the Spark fan-out failed ({:?}):\n{}\n{}",
        o.status.code(),
        stdout(&o),
        stderr(&o)
    );
    // spark-submit passes the Python driver's stderr on to its stdout.
    let err = format!("{}{}", stdout(&o), stderr(&o));
    assert!(
        err.contains("running 3 run-task(s) as Spark tasks") && err.contains("3 run-task(s) done"),
        "{err}"
    );

    // Same splits, rows in the same order, features and label ids: what load_from_disk reads.
    let a = run_py_with(&python(), "dump_dataset.py", &[&one]);
    let b = run_py_with(&python(), "dump_dataset.py", &[&fanned]);
    let (a, b): (serde_json::Value, serde_json::Value) =
        (serde_json::from_str(&a).unwrap(), serde_json::from_str(&b).unwrap());
    assert_eq!(a["splits"]["train"]["rows"].as_array().map(Vec::len), Some(40 * 6 + 7 * 15));
    assert_eq!(a, b, "the Spark fan-out's dataset differs from one-process prepare");
    assert_eq!(
        std::fs::read_to_string(one.join("label_map.json")).unwrap(),
        std::fs::read_to_string(fanned.join("label_map.json")).unwrap()
    );
}

#[test]
fn spark_fan_out_retries_a_failing_task_then_reports_its_status_and_stderr() {
    let Some(spark_submit) =
        spark_submit("spark_fan_out_retries_a_failing_task_then_reports_its_status_and_stderr")
    else {
        return;
    };
    let dir = tmp();
    let d = dir.path();
    // A stand-in delta-hf: every call is recorded; run-task 1 always fails with exit 3.
    let calls = d.join("calls");
    let bin = d.join("stand-in");
    std::fs::write(
        &bin,
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\nif [ \"$1\" = run-task ] && [ \"$5\" = 1 ]; then\n  \
             echo 'error: file part-0007.parquet of table t was vacuumed' >&2; exit 3\nfi\nexit 0\n",
            calls.display()
        ),
    )
    .unwrap();
    let mut args =
        s(&["--binary", &bin.display().to_string(), "--fan-out", "3", "--plan", "s3://b/plan.json", "--"]);
    args.extend(s(&[
        "prepare",
        "--train",
        "s3://b/t",
        "--output",
        "s3://b/out",
        "--storage-option",
        "AWS_REGION=x",
    ]));
    args.extend(s(&["--working-dir", "/tmp/w", "--json"]));
    let o = submit(&spark_submit, d, &args);
    let err = format!("{}{}", stdout(&o), stderr(&o));
    assert_eq!(o.status.code(), Some(3), "the failed task's status is the wrapper's:\n{err}");
    assert!(err.contains("run-task 1 failed for good (status 3)"), "{err}");
    assert!(
        err.contains("part-0007.parquet of table t was vacuumed"),
        "delta-hf's stderr reaches the driver:\n{err}"
    );

    let calls = std::fs::read_to_string(&calls).unwrap();
    let calls: Vec<&str> = calls.lines().collect();
    assert_eq!(
        calls[0],
        "plan --train s3://b/t --output s3://b/out --storage-option AWS_REGION=x --working-dir /tmp/w --json --tasks 3 --plan s3://b/plan.json"
    );
    // Task 1 ran twice (Spark's retry, local[2,2]); run-task gets the storage options, scratch
    // dir and output format of the prepare; commit never ran.
    let task1 =
        "run-task --plan s3://b/plan.json --task 1 --storage-option AWS_REGION=x --working-dir /tmp/w --json";
    assert_eq!(calls.iter().filter(|c| **c == task1).count(), 2, "{calls:?}");
    assert!(!calls.iter().any(|c| c.starts_with("commit")), "{calls:?}");
}
