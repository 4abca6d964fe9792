//! Test harness: temp dirs, Delta tables written with the real writer, the real binary (and
//! [`Prepare`], its `prepare` command line), the Python checkers, [`skip`] for a test that
//! cannot run here, and the cloud emulators ([`cloud`]).

#![allow(dead_code)]

pub mod cloud;
mod prepare;

pub use prepare::Prepare;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use deltalake::DeltaTable;
use deltalake::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use deltalake::arrow::datatypes::{DataType, Field, Schema};
use deltalake::protocol::SaveMode;
use serde_json::Value;

pub use tempfile::TempDir;

/// The repo root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The folder of Spark-written golden Delta tables: `$DELTA_HF_GOLDEN_DIR`, else
/// `../shared/fixtures/delta-golden` beside the repo (see README.md, "Tests").
pub fn golden_dir() -> PathBuf {
    match std::env::var_os("DELTA_HF_GOLDEN_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => root().join("../shared/fixtures/delta-golden"),
    }
}

/// A golden table folder (`NAME/delta`, `NAME/expected`) under [`golden_dir`].
pub fn golden(name: &str) -> PathBuf {
    golden_dir().join(name)
}

/// The golden folder, or `None` after reporting `test` as skipped when it is absent (a clone
/// without the fixtures beside it). Only the comparisons with Spark-written tables use it;
/// everything else builds its tables itself.
#[track_caller]
pub fn golden_or_skip(test: &str) -> Option<PathBuf> {
    let dir = golden_dir();
    if dir.is_dir() {
        return Some(dir);
    }
    skip(test, &format!("golden fixtures not found at {} (set DELTA_HF_GOLDEN_DIR)", dir.display()));
    None
}

/// The environment variable that turns every skip into a failure (`.ci/run` sets it: CI has
/// everything the tests need, so nothing may be skipped there).
pub const NO_SKIP: &str = "DELTA_HF_NO_SKIP";

/// Report `test` as skipped, with the reason; the caller then returns (or leaves out the check
/// it cannot make). Every skip goes through here.
///
/// The `SKIPPED: test: reason` line is written straight to the process's stderr, which the test
/// harness does not capture (its capture takes `print!`/`eprintln!` only), so it shows in
/// `cargo test` / `make test` output even when the test passes. With `DELTA_HF_NO_SKIP=1` (any
/// value but empty or `0`) the skip is a failure instead: it panics with the reason.
#[track_caller]
pub fn skip(test: &str, reason: &str) {
    if std::env::var_os(NO_SKIP).is_some_and(|v| !v.is_empty() && v != "0") {
        panic!("SKIPPED: {test}: {reason}\n{NO_SKIP} is set: a skip is a failure");
    }
    // One write of the whole line, so that the test harness's own output (on stdout, often the
    // same pipe) cannot land inside it.
    use std::io::Write;
    let _ = std::io::stderr().write_all(format!("SKIPPED: {test}: {reason}\n").as_bytes());
}

/// A fresh temp dir.
pub fn tmp() -> TempDir {
    tempfile::Builder::new().prefix("delta-hf-it-").tempdir().expect("temp dir")
}

/// The binary under test: a hard link to `CARGO_BIN_EXE_delta-hf`, made once per test process.
/// The wheel test's nested cargo build re-links `target/.../delta-hf` even when nothing changed
/// (remove, then link), and a test starting the binary in that instant found no file; the link
/// keeps the file as `cargo test` built it.
pub fn exe() -> &'static Path {
    static EXE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    EXE.get_or_init(|| {
        let built = Path::new(env!("CARGO_BIN_EXE_delta-hf"));
        let dir = built.parent().expect("the binary has a folder").join("it-bin");
        std::fs::create_dir_all(&dir).expect("create it-bin");
        let exe = dir.join("delta-hf");
        let fresh = dir.join(format!("delta-hf.{}", std::process::id()));
        let _ = std::fs::remove_file(&fresh);
        if std::fs::hard_link(built, &fresh).is_err() {
            std::fs::copy(built, &fresh).expect("copy the binary under test");
        }
        std::fs::rename(&fresh, &exe).expect("place the binary under test");
        exe
    })
}

/// The binary under test.
pub fn bin() -> Command {
    let mut c = Command::new(exe());
    c.env_remove("DELTA_HF_LOG");
    c
}

/// Run `delta-hf` with these arguments.
pub fn run<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    bin().args(args).output().expect("run delta-hf")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Assert success.
#[track_caller]
pub fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "delta-hf failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        stdout(o),
        stderr(o)
    );
}

/// Assert success and return the `--json` summary; stdout that is not one JSON document fails.
#[track_caller]
pub fn ok_json(o: &Output) -> Value {
    ok(o);
    json_stdout(o)
}

/// Stdout parsed as one JSON document; panics showing the output when it is not.
#[track_caller]
pub fn json_stdout(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!("stdout is not JSON ({e})\nstdout:\n{}\nstderr:\n{}", stdout(o), stderr(o))
    })
}

/// Assert failure with `code` and a message containing every `needle`.
#[track_caller]
pub fn fails(o: &Output, code: i32, needles: &[&str]) -> String {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "expected exit {code}\nstdout:\n{}\nstderr:\n{err}", stdout(o));
    for n in needles {
        assert!(err.contains(n), "stderr lacks `{n}`:\n{err}");
    }
    err
}

/// The Python interpreter with `datasets`, `pyarrow` and `deltalake`.
pub fn python() -> String {
    std::env::var("DELTA_HF_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Run a checker in `tests/python/`; panics with its output on failure.
#[track_caller]
pub fn check_py(script: &str, args: &[&Path]) {
    run_py_with(&python(), script, args);
}

/// Build a table that delta-rs cannot write with `tests/python/build_tables.py KIND DIR`:
/// `DIR/delta/` is the table, `DIR/expected/` the rows a reader must return (computed by the
/// builder from what it wrote, the layout of the golden fixtures, for `check_golden.py`).
#[track_caller]
pub fn build_table(kind: &str, dir: &Path) {
    check_py("build_tables.py", &[Path::new(kind), dir]);
}

/// Export `table` with `--no-labels` to `out` as split `train`, and check the split holds
/// exactly the rows of `expected` (a folder of Parquet files) with `check_golden.py`.
#[track_caller]
pub fn export_matches(table: &str, out: &Path, expected: &Path) {
    let o = bin()
        .args(["prepare", "--no-labels", "--quiet", "--split", &format!("train={table}"), "--output"])
        .arg(out)
        .output()
        .expect("run delta-hf");
    ok(&o);
    check_py("check_golden.py", &[out, Path::new("train"), expected]);
}

/// Run Python code, returning stdout (panics on failure).
#[track_caller]
///
/// The code ends in `os._exit(0)` once its output is flushed: the Python `deltalake` package can
/// abort at interpreter shutdown ("terminate called without an active exception") after doing
/// its work correctly, which would fail the test for nothing.
pub fn py(code: &str, args: &[&str]) -> String {
    let code = format!(
        "{code}\nimport os as _os, sys as _sys\n_sys.stdout.flush()\n_sys.stderr.flush()\n_os._exit(0)\n"
    );
    let o = Command::new(python()).arg("-c").arg(code).args(args).output().expect("run python");
    assert!(o.status.success(), "python failed:\n{}\n{}", stdout(&o), stderr(&o));
    stdout(&o)
}

/// A tokio runtime for the table writer.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime").block_on(f)
}

/// Write (or append to) a Delta table with a `text` and `label` string column.
pub fn write_text_table(path: &Path, rows: &[(Option<&str>, Option<&str>)], mode: SaveMode) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("text", DataType::Utf8, true),
        Field::new("label", DataType::Utf8, true),
    ]));
    let texts: StringArray = rows.iter().map(|r| r.0).collect();
    let labels: StringArray = rows.iter().map(|r| r.1).collect();
    let batch = RecordBatch::try_new(schema, vec![Arc::new(texts), Arc::new(labels)]).unwrap();
    write_batches(path, vec![batch], mode);
}

/// Write batches as a Delta table (one commit).
pub fn write_batches(path: &Path, batches: Vec<RecordBatch>, mode: SaveMode) {
    std::fs::create_dir_all(path).unwrap();
    let url = url::Url::from_directory_path(std::path::absolute(path).unwrap()).unwrap();
    block_on(async move {
        DeltaTable::try_from_url(url).await.unwrap().write(batches).with_save_mode(mode).await.unwrap();
    });
}

/// A batch from named columns.
pub fn batch(cols: Vec<(&str, ArrayRef)>) -> RecordBatch {
    let fields: Vec<Field> = cols.iter().map(|(n, a)| Field::new(*n, a.data_type().clone(), true)).collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols.into_iter().map(|c| c.1).collect()).unwrap()
}

pub fn ints(v: &[i64]) -> ArrayRef {
    Arc::new(Int64Array::from(v.to_vec()))
}

pub fn strs(v: &[&str]) -> ArrayRef {
    Arc::new(StringArray::from(v.to_vec()))
}

/// Rows for a labelled table: `n` rows cycling through `labels`, texts `"<prefix> <i>"`.
pub fn rows(prefix: &str, n: usize, labels: &[&str]) -> Vec<(String, String)> {
    (0..n).map(|i| (format!("{prefix} {i}"), labels[i % labels.len()].to_string())).collect()
}

/// Write owned rows.
pub fn write_rows(path: &Path, rows: &[(String, String)], mode: SaveMode) {
    let r: Vec<(Option<&str>, Option<&str>)> =
        rows.iter().map(|(t, l)| (Some(t.as_str()), Some(l.as_str()))).collect();
    write_text_table(path, &r, mode);
}

/// The expectation file `check_dataset.py` takes.
pub fn expect_json(
    dir: &Path,
    splits: &[(&str, &[(String, String)])],
    names: &[&str],
    extra: Value,
) -> PathBuf {
    let mut s = serde_json::Map::new();
    for (name, rows) in splits {
        s.insert(
            name.to_string(),
            serde_json::json!({
                "texts": rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
                "labels": rows.iter().map(|r| r.1.clone()).collect::<Vec<_>>(),
            }),
        );
    }
    let mut doc = serde_json::json!({"splits": s, "names": names});
    if let Value::Object(extra) = extra {
        for (k, v) in extra {
            doc[k] = v;
        }
    }
    let p = dir.join(format!("expect-{}.json", rand_suffix()));
    std::fs::write(&p, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    p
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::SeqCst).to_string()
}

/// Copy a directory tree (golden tables are read-only: copy before writing to them).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.path().is_dir() {
            copy_tree(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).unwrap();
            let mut perm = std::fs::metadata(&dst).unwrap().permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perm.set_readonly(false);
            std::fs::set_permissions(&dst, perm).unwrap();
        }
    }
}

/// Names of the entries of a dir (sorted), including hidden ones.
pub fn ls(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

/// The Python interpreters of one venv per `datasets` release (`tests/python/compat_venvs.py`):
/// release -> python. The venvs are created from PyPI on first use and cached in
/// `$DELTA_HF_COMPAT_CACHE` (default `~/.cache/delta-hf/compat`); a venv that cannot be created
/// fails the test.
pub fn compat_pythons() -> std::collections::BTreeMap<String, String> {
    let cache = std::env::var_os("DELTA_HF_COMPAT_CACHE").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").expect("HOME or DELTA_HF_COMPAT_CACHE"))
            .join(".cache/delta-hf/compat")
    });
    let o = Command::new(python())
        .arg(root().join("tests/python/compat_venvs.py"))
        .arg(&cache)
        .output()
        .expect("run compat_venvs.py");
    assert!(o.status.success(), "compat_venvs.py failed:\n{}\n{}", stdout(&o), stderr(&o));
    serde_json::from_slice(&o.stdout).expect("compat_venvs.py prints JSON")
}

/// Run a checker in `tests/python/` with another interpreter; returns stdout, panics on failure.
#[track_caller]
pub fn run_py_with(interpreter: &str, script: &str, args: &[&Path]) -> String {
    let o = Command::new(interpreter)
        .arg(root().join("tests/python").join(script))
        .args(args)
        .output()
        .expect("run python checker");
    assert!(
        o.status.success(),
        "{script} ({interpreter}) failed ({:?}):\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

/// `plan` with the export `args` (`--output` among them), every task in its own process,
/// `commit`; returns the commit's summary. `cmd` makes the base command (a store's environment).
pub fn fan_out<S: AsRef<std::ffi::OsStr>>(
    cmd: &dyn Fn() -> std::process::Command,
    args: &[S],
    plan: &str,
    tasks: usize,
) -> Value {
    let o = cmd()
        .arg("plan")
        .args(args)
        .args(["--tasks", &tasks.to_string(), "--plan", plan, "--json"])
        .output()
        .unwrap();
    let planned = ok_json(&o);
    assert_eq!(planned["tasks"].as_array().unwrap().len(), tasks, "{planned}");
    for i in 0..tasks {
        ok(&cmd().args(["run-task", "--plan", plan, "--task", &i.to_string(), "--json"]).output().unwrap());
    }
    ok_json(&cmd().args(["commit", "--plan", plan, "--json"]).output().unwrap())
}
