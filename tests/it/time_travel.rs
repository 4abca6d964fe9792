//! Pinned snapshots: `--version`, `@vN` per split, `--timestamp` and `@TIMESTAMP`, on a table
//! of three commits (10, 20, 30 rows) whose commit times are set here. delta-rs, like Spark
//! without in-commit timestamps, takes a commit's time from its `_delta_log` file's
//! modification time; the commits' `commitInfo.timestamp` is set to the same instants.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use deltalake::protocol::SaveMode;
use serde_json::Value;

use crate::harness::*;

/// Commit times: 2024-05-01, 2024-05-02 and 2024-05-03, each at 00:00:00Z.
const DAY: u64 = 86_400;
const V0_SECS: u64 = 1_714_521_600;

fn commit_time(version: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(V0_SECS + version * DAY)
}

/// The texts of commit `k` (10 rows each).
fn commit_rows(k: usize) -> Vec<(String, String)> {
    rows(&format!("v{k}"), 10, &["a", "b"])
}

/// The texts version `v` holds: those of commits 0..=v.
fn texts_at(v: usize) -> Vec<String> {
    (0..=v).flat_map(commit_rows).map(|r| r.0).collect()
}

/// Three appends of 10 rows, committed at [`commit_time`] 0, 1, 2.
fn table(dir: &Path) -> PathBuf {
    let t = dir.join("tt");
    for k in 0..3 {
        let mode = if k == 0 { SaveMode::ErrorIfExists } else { SaveMode::Append };
        write_rows(&t, &commit_rows(k), mode);
    }
    for v in 0..3u64 {
        let log = t.join(format!("_delta_log/{v:020}.json"));
        let ms = commit_time(v).duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis() as u64;
        let text = std::fs::read_to_string(&log).unwrap();
        let lines: Vec<String> = text
            .lines()
            .map(|l| {
                let mut a: Value = serde_json::from_str(l).unwrap();
                if let Some(ci) = a.get_mut("commitInfo") {
                    ci["timestamp"] = ms.into();
                }
                a.to_string()
            })
            .collect();
        std::fs::write(&log, lines.join("\n") + "\n").unwrap();
        std::fs::File::options().write(true).open(&log).unwrap().set_modified(commit_time(v)).unwrap();
    }
    t
}

/// Export `table` (a split spec's TABLE[@PIN]) with `extra` flags; returns the summary and
/// checks the texts `datasets` loads are those of version `want`.
#[track_caller]
fn export(dir: &Path, spec: &str, extra: &[&str], want: usize) -> Value {
    let out = dir.join(format!("out-{}", rand_name()));
    let o = bin()
        .args(["prepare", "--no-labels", "--json", "--split", &format!("train={spec}")])
        .args(extra)
        .arg("--output")
        .arg(&out)
        .output()
        .unwrap();
    let s = ok_json(&o);
    assert_eq!(s["splits"][0]["version"], want, "{spec} {extra:?}: {s}");
    let got = py(
        "import sys, json, datasets; print(json.dumps(list(datasets.load_from_disk(sys.argv[1])['train']['text'])))",
        &[out.to_str().unwrap()],
    );
    let mut got: Vec<String> = serde_json::from_str(got.trim()).unwrap();
    got.sort();
    let mut expect = texts_at(want);
    expect.sort();
    assert_eq!(got, expect, "{spec} {extra:?}: the rows of version {want}");
    let info = std::fs::read_to_string(out.join("train/dataset_info.json")).unwrap();
    assert!(info.contains(&format!("at version {want}")), "{info}");
    s
}

fn rand_name() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::SeqCst).to_string()
}

#[test]
fn versions_0_1_2_give_10_20_30_rows() {
    let dir = tmp();
    let t = table(dir.path());
    let ts = t.to_str().unwrap();
    for (v, n) in [(0usize, 10), (1, 20), (2, 30)] {
        let s = export(dir.path(), ts, &["--version", &v.to_string()], v);
        assert_eq!(s["splits"][0]["num_rows"], n);
    }
    // Latest by default.
    export(dir.path(), ts, &[], 2);
    // A split's own pin beats the global one.
    let out = dir.path().join("two");
    let o = bin()
        .args(["prepare", "--no-labels", "--json", "--version", "2"])
        .args(["--split", &format!("train={ts}@v1"), "--split", &format!("test={ts}")])
        .arg("--output")
        .arg(&out)
        .output()
        .unwrap();
    let s = ok_json(&o);
    assert_eq!(s["splits"][0]["num_rows"], 20);
    assert_eq!(s["splits"][1]["num_rows"], 30);
    // A version that does not exist.
    let o7 = dir.path().join("o7");
    let o =
        run(["prepare", "--no-labels", "--version", "7", "--train", ts, "--output", o7.to_str().unwrap()]);
    fails(&o, 3, &["tt"]);
    assert!(!o7.exists());
}

#[test]
fn timestamp_pins_the_latest_version_at_or_before_it() {
    let dir = tmp();
    let t = table(dir.path());
    let ts = t.to_str().unwrap();
    // Exactly at a commit: that commit.
    export(dir.path(), ts, &["--timestamp", "2024-05-02T00:00:00Z"], 1);
    // Between two commits: the earlier one.
    export(dir.path(), ts, &["--timestamp", "2024-05-02T12:00:00Z"], 1);
    export(dir.path(), ts, &["--timestamp", "2024-05-01T00:00:01Z"], 0);
    // A millisecond before a commit: the one before it.
    export(dir.path(), ts, &["--timestamp", "2024-05-02T23:59:59.999Z"], 1);
    // Other time zone offsets name the same instants.
    export(dir.path(), ts, &["--timestamp", "2024-05-03T01:30:00+02:00"], 1);
    // After the last commit: the latest.
    export(dir.path(), ts, &["--timestamp", "2030-01-01T00:00:00Z"], 2);
    // Per split, in the spec.
    export(dir.path(), &format!("{ts}@2024-05-01T18:00:00Z"), &[], 0);
    export(dir.path(), &format!("{ts}@2024-05-03T00:00:00Z"), &["--timestamp", "2024-05-01T00:00:00Z"], 2);
}

/// An instant before the table's first commit names no version: an error (as Spark's "The
/// provided timestamp ... is before the earliest version available"), not version 0.
///
/// delta-rs 1.1's `load_with_datetime` falls back to the earliest version for such an instant;
/// delta-hf checks the loaded version's commit time and refuses it.
#[test]
fn timestamp_before_the_first_commit_is_an_error() {
    let dir = tmp();
    let t = table(dir.path());
    let out = dir.path().join("out");
    let o = run([
        "prepare",
        "--no-labels",
        "--timestamp",
        "2024-04-30T23:59:59Z",
        "--train",
        t.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ]);
    fails(&o, 3, &["tt", "2024-04-30T23:59:59", "no version was committed at or before"]);
    assert!(!out.exists());
}
