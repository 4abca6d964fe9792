//! Failure safety: a failed or killed run leaves no output and no new label-table version,
//! the previous output survives, and the next run succeeds.

use std::time::{Duration, Instant};

use deltalake::protocol::SaveMode;

use crate::harness::*;

fn label_table_version(lt: &std::path::Path) -> String {
    py("import sys, deltalake; print(deltalake.DeltaTable(sys.argv[1]).version())", &[lt.to_str().unwrap()])
        .trim()
        .to_string()
}

#[test]
fn a_failing_second_split_leaves_nothing() {
    let dir = tmp();
    let train = dir.path().join("train");
    write_rows(&train, &rows("x", 50, &["a", "b"]), SaveMode::ErrorIfExists);
    let out = dir.path().join("out");
    let lt = dir.path().join("lt");
    let args = |test: &std::path::Path| Prepare::new(&out).train(&train).eval(test).label_table(&lt);
    let o = args(&dir.path().join("missing")).run();
    fails(&o, 3, &["missing"]);
    assert!(!out.exists() && !lt.exists());
    assert_eq!(ls(dir.path()), vec!["train"]);
    // A null label in the second split fails after the first has been scanned.
    let test = dir.path().join("test");
    write_text_table(&test, &[(Some("t"), Some("a")), (Some("u"), None)], SaveMode::ErrorIfExists);
    let o = args(&test).run();
    fails(&o, 1, &["null", "1 row in `test`", "--drop-nulls"]);
    assert!(!out.exists() && !lt.exists());
    // --drop-nulls: the run succeeds and says what it dropped.
    let s = ok_json(&args(&test).drop_nulls().json().run());
    assert_eq!(s["splits"][1]["num_rows"], 1);
    assert_eq!(s["splits"][1]["dropped_rows"], 1);
    assert_eq!(label_table_version(&lt), "0");
    // An existing output is refused without --overwrite, and kept.
    let o = args(&test).run();
    fails(&o, 4, &["already exists", "--overwrite"]);
    assert!(out.join("dataset_dict.json").exists());
    assert_eq!(label_table_version(&lt), "0");
}

/// Poll until a shard is being written in a staging directory under `parent`, then freeze the
/// run with SIGSTOP (so the kill lands mid-write, however fast the machine). False if the run
/// ended first.
fn freeze_mid_write(child: &mut std::process::Child, parent: &std::path::Path) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        for staging in ls(parent).iter().filter(|n| n.contains("delta-hf-staging")) {
            let dir = parent.join(staging);
            let writing =
                ls(&dir).iter().any(|split| ls(&dir.join(split)).iter().any(|f| f.ends_with(".tmp")));
            if writing {
                // SAFETY: plain kill(2) on our own child's pid.
                unsafe { libc::kill(child.id() as i32, libc::SIGSTOP) };
                return true;
            }
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    false
}

/// A table big enough that writing it takes a few hundred milliseconds.
fn big_table(path: &std::path::Path) {
    let big: Vec<(String, String)> = (0..300_000)
        .map(|i| {
            (
                format!("some longer review text number {i} {}", "word ".repeat(i % 60)),
                ["a", "b", "c"][i % 3].to_string(),
            )
        })
        .collect();
    write_rows(path, &big, SaveMode::ErrorIfExists);
}

#[test]
fn sigkill_while_writing_leaves_previous_output_and_no_new_version() {
    let dir = tmp();
    let train = dir.path().join("train");
    big_table(&train);
    let test = dir.path().join("test");
    write_rows(&test, &rows("t", 10, &["a", "b"]), SaveMode::ErrorIfExists);
    let out = dir.path().join("out");
    let lt = dir.path().join("lt");
    let prepare = Prepare::new(&out)
        .train(&train)
        .eval(&test)
        .label_table(&lt)
        .overwrite()
        .quiet()
        .opt("--max-shard-size", "256KB");
    // A first complete run.
    ok(&prepare.run());
    let before: Vec<(String, u64)> = ls(&out.join("train"))
        .into_iter()
        .map(|f| {
            let n = std::fs::metadata(out.join("train").join(&f)).unwrap().len();
            (f, n)
        })
        .collect();
    let state_before = std::fs::read_to_string(out.join("train/state.json")).unwrap();
    assert_eq!(label_table_version(&lt), "0");
    let mut caught = 0;
    for _ in 0..3 {
        let mut child = prepare.command().spawn().unwrap();
        let frozen = freeze_mid_write(&mut child, dir.path());
        let _ = child.kill();
        let status = child.wait().unwrap();
        if !frozen || status.success() {
            continue;
        }
        caught += 1;
        // The old output is untouched (same files, same state.json with its fingerprint).
        let now: Vec<(String, u64)> = ls(&out.join("train"))
            .into_iter()
            .map(|f| {
                let n = std::fs::metadata(out.join("train").join(&f)).unwrap().len();
                (f, n)
            })
            .collect();
        assert_eq!(now, before, "output changed after a kill mid-write");
        assert_eq!(std::fs::read_to_string(out.join("train/state.json")).unwrap(), state_before);
        check_py_load(&out);
        assert_eq!(label_table_version(&lt), "0", "label table changed after a kill");
    }
    assert!(caught > 0, "no run could be caught mid-write");
    // The next run succeeds and removes the killed runs' staging directories.
    ok(&prepare.run());
    let left: Vec<String> = ls(dir.path()).into_iter().filter(|n| n.contains("staging")).collect();
    assert!(left.is_empty(), "staging left behind: {left:?}");
    assert_eq!(label_table_version(&lt), "1");
    assert_ne!(
        std::fs::read_to_string(out.join("train/state.json")).unwrap(),
        state_before,
        "fresh fingerprint"
    );
}

/// A fresh output that is killed mid-write never appears, nor does the label table.
#[test]
fn sigkill_on_first_run_leaves_no_output() {
    let dir = tmp();
    let train = dir.path().join("train");
    big_table(&train);
    let out = dir.path().join("out");
    let lt = dir.path().join("lt");
    let prepare = Prepare::new(&out).quiet().train(&train).label_table(&lt);
    let mut child = prepare.clone().opt("--max-shard-size", "256KB").command().spawn().unwrap();
    assert!(freeze_mid_write(&mut child, dir.path()), "run not caught mid-write");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!out.exists(), "a killed first run published an output");
    assert!(!lt.exists(), "a killed first run created the label table");
    // The next run succeeds.
    let o = prepare.run();
    ok(&o);
    assert_eq!(ls(dir.path()), vec!["lt", "out", "train"]);
}

fn check_py_load(out: &std::path::Path) {
    py(
        "import sys, datasets; d = datasets.load_from_disk(sys.argv[1]); assert d['train'].num_rows > 0",
        &[out.to_str().unwrap()],
    );
}

/// `--working-dir` on another filesystem (tmpfs): the staged tree is copied next to the output
/// and renamed into place; nothing is left in either place.
#[test]
fn working_dir_on_another_filesystem() {
    use std::os::unix::fs::MetadataExt;
    let shm = std::path::Path::new("/dev/shm");
    let dir = tmp();
    if !shm.is_dir() || std::fs::metadata(shm).unwrap().dev() == std::fs::metadata(dir.path()).unwrap().dev()
    {
        skip("working_dir_on_another_filesystem", "/dev/shm is not a filesystem of its own here (no tmpfs)");
        return;
    }
    let work = tempfile::Builder::new().prefix("delta-hf-work-").tempdir_in(shm).unwrap();
    let train = dir.path().join("train");
    let data = rows("r", 1000, &["a", "b"]);
    write_rows(&train, &data, SaveMode::ErrorIfExists);
    let out = dir.path().join("out");
    for _ in 0..2 {
        let o = Prepare::new(&out).quiet().overwrite().train(&train).opt("--working-dir", work.path()).run();
        ok(&o);
    }
    let expect = expect_json(dir.path(), &[("train", &data)], &["a", "b"], serde_json::json!({}));
    check_py("check_dataset.py", &[&out, &expect]);
    assert_eq!(ls(work.path()), Vec::<String>::new(), "staging left in the working dir");
    assert!(ls(dir.path()).iter().all(|n| !n.contains("staging")), "staging left beside the output");
}

/// `--overwrite` never replaces a directory that is not a dataset, nor an input table.
#[test]
fn overwrite_only_replaces_datasets() {
    let dir = tmp();
    let train = dir.path().join("train");
    write_rows(&train, &rows("r", 10, &["a", "b"]), SaveMode::ErrorIfExists);
    let precious = dir.path().join("precious");
    std::fs::create_dir_all(&precious).unwrap();
    std::fs::write(precious.join("notes.txt"), "keep me").unwrap();
    let o = Prepare::new(&precious).overwrite().train(&train).run();
    fails(&o, 4, &["does not look like a dataset"]);
    assert_eq!(std::fs::read_to_string(precious.join("notes.txt")).unwrap(), "keep me");
    // The output may not be (or contain, or sit inside) a table being read.
    for out in [train.clone(), dir.path().to_path_buf(), train.join("sub")] {
        let o = Prepare::new(&out).overwrite().train(&train).run();
        fails(&o, 2, &["overlaps table"]);
    }
    assert!(train.join("_delta_log").is_dir());
    // --select-sql runs queries only.
    let q = dir.path().join("q.sql");
    std::fs::write(&q, "DROP TABLE train").unwrap();
    let o = Prepare::new(dir.path().join("o")).train(&train).opt("--select-sql", &q).run();
    fails(&o, 1, &["--select-sql"]);
}

/// Ctrl-C mid-write: exit 130, the staging directory removed, nothing published. (A run that
/// finishes before the interrupt lands must then be complete; at least one of three attempts
/// must be interrupted.)
#[test]
fn interrupt_mid_write_cleans_up() {
    let dir = tmp();
    let train = dir.path().join("train");
    big_table(&train);
    let out = dir.path().join("out");
    let mut interrupted = 0;
    for _ in 0..3 {
        let mut child = Prepare::new(&out)
            .train(&train)
            .opt("--max-shard-size", "256KB")
            .command()
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        assert!(freeze_mid_write(&mut child, dir.path()), "run not caught mid-write");
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGINT);
            libc::kill(child.id() as i32, libc::SIGCONT);
        }
        let o = child.wait_with_output().unwrap();
        if o.status.success() {
            check_py_load(&out);
            std::fs::remove_dir_all(&out).unwrap();
            continue;
        }
        assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
        assert!(stderr(&o).contains("interrupted"));
        assert_eq!(ls(dir.path()), vec!["train"], "something was left behind");
        interrupted += 1;
    }
    assert!(interrupted > 0, "no run was interrupted");
}
