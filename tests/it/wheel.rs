//! The delta-hf wheel (`jobs/wheel/`, maturin with `bindings = "bin"`): built here the cheap way
//! — the dev profile in the test build's own target dir (so the binary `cargo test` just built is
//! reused, not compiled again), this machine's plain `linux` tag, no zig — then installed into a
//! fresh venv, where `delta-hf` (the binary in the wheel's scripts, on the venv's PATH) and
//! `python -m delta_hf` must run. `make wheel` builds the release manylinux_2_28 wheel with zig
//! and checks its glibc symbol versions instead.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{ok_json, python, root, rows, stderr, stdout, tmp, write_rows};

#[track_caller]
fn run_ok(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap_or_else(|e| panic!("start {cmd:?}: {e}"));
    assert!(o.status.success(), "{cmd:?} failed ({:?}):\n{}\n{}", o.status.code(), stdout(&o), stderr(&o));
    stdout(&o)
}

/// maturin from the test venv (tests/python/requirements.txt pins it).
fn maturin() -> PathBuf {
    let py = PathBuf::from(python());
    let m = py.parent().map(|d| d.join("maturin")).filter(|m| m.is_file());
    m.unwrap_or_else(|| PathBuf::from("maturin"))
}

fn build_wheel(out: &Path) -> PathBuf {
    // The nested build re-links the binary the other tests run: they run a link made before.
    crate::harness::exe();
    // CARGO_TARGET_DIR, when set, is inherited from `make test`; otherwise maturin asks cargo,
    // which answers the workspace's `target/`, as for `cargo test`.
    let mut cmd = Command::new(maturin());
    // The variables cargo sets for a test process (CARGO_PKG_*, CARGO_MANIFEST_DIR, ...) would
    // reach the build scripts of the nested build and make it rebuild every dependency (and the
    // next `cargo test` rebuild them back): the nested cargo sees the same environment as `make test`.
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if (k.starts_with("CARGO_")
            && !["CARGO_HOME", "CARGO_TARGET_DIR", "CARGO_TERM_COLOR"].contains(&k.as_str()))
            || k == "CARGO"
            || k.starts_with("RUST_TEST")
            || k == "LD_LIBRARY_PATH"
        {
            cmd.env_remove(k);
        }
    }
    run_ok(
        cmd.current_dir(root().join("jobs/wheel"))
            .args([
                "build",
                "--profile",
                "dev",
                "--locked",
                "--compatibility",
                "linux",
                "--auditwheel",
                "skip",
            ])
            .arg("--out")
            .arg(out),
    );
    let wheels: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "whl"))
        .collect();
    assert_eq!(wheels.len(), 1, "expected one wheel in {}: {wheels:?}", out.display());
    wheels.into_iter().next().unwrap()
}

#[test]
fn wheel_installs_into_a_fresh_venv_and_its_delta_hf_runs() {
    let dir = tmp();
    let wheel = build_wheel(&dir.path().join("wheels"));
    let name = wheel.file_name().unwrap().to_str().unwrap().to_string();
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        name.starts_with(&format!("delta_hf-{version}-py3-none-")) && name.ends_with("_x86_64.whl"),
        "wheel name: {name}"
    );

    // A fresh venv with nothing but the wheel (no index: nothing else is needed).
    let venv = dir.path().join("venv");
    run_ok(Command::new(python()).args(["-m", "venv"]).arg(&venv));
    let vpy = venv.join("bin/python");
    run_ok(
        Command::new(&vpy).args(["-m", "pip", "install", "--quiet", "--no-index", "--no-deps"]).arg(&wheel),
    );

    // The console script is the binary itself, on the venv's PATH.
    let exe = venv.join("bin/delta-hf");
    assert!(exe.is_file(), "the wheel installed no {}", exe.display());
    let want = format!("delta-hf {version}");
    let out = run_ok(Command::new(&exe).arg("--version"));
    assert_eq!(out.trim(), want);
    let path = format!("{}:/usr/bin:/bin", venv.join("bin").display());
    let out = run_ok(Command::new("delta-hf").env("PATH", &path).arg("--version"));
    assert_eq!(out.trim(), want, "`delta-hf` on PATH");
    // `python -m delta_hf` and the finder the cluster wrapper uses.
    let out = run_ok(Command::new(&vpy).args(["-m", "delta_hf", "--version"]));
    assert_eq!(out.trim(), want);
    let found =
        run_ok(Command::new(&vpy).args(["-c", "import delta_hf; print(delta_hf.find_delta_hf_bin())"]));
    assert_eq!(Path::new(found.trim()), exe);

    notebook_prepare(&wheel, dir.path());
}

/// `delta_hf.prepare(**options)` (issue 22), the wheel installed with `pip install --target`
/// beside the test venv's `datasets`: the DatasetDict of an arrow export (equal to what the
/// binary writes itself), the path of a parquet export, the repo URL of a Hub export (the
/// emulator), `DeltaHfError` with the exit code and message of a failure; the command line is
/// the flags in snake_case.
fn notebook_prepare(wheel: &Path, dir: &Path) {
    let target = dir.join("site");
    run_ok(
        Command::new(python())
            .args(["-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--target"])
            .arg(&target)
            .arg(wheel),
    );
    let train = dir.join("train");
    write_rows(&train, &rows("row", 40, &["a", "b"]), deltalake::protocol::SaveMode::Append);
    let by_binary = dir.join("by-binary");
    ok_json(
        &crate::harness::bin()
            .args(["prepare", "--json", "--label-col", "label", "--split"])
            .arg(format!("train={}", train.display()))
            .arg("--output")
            .arg(&by_binary)
            .output()
            .unwrap(),
    );
    let emu = crate::hub::Emulator::start();
    let script = r#"
import json, os, sys
import delta_hf, datasets
train, dir, endpoint = sys.argv[1], sys.argv[2], sys.argv[3]
assert delta_hf.prepare_args(split={"train": "t"}, label_col="y", no_labels=False, drop_nulls=True, keep_col=["a", "b"]) ==     ["prepare", "--split", "train=t", "--label-col", "y", "--drop-nulls", "--keep-col", "a", "--keep-col", "b"]
dd = delta_hf.prepare(split={"train": train}, label_col="label", output=os.path.join(dir, "nb-arrow"))
ref = datasets.load_from_disk(os.path.join(dir, "by-binary"))
assert isinstance(dd, datasets.DatasetDict), type(dd)
assert dd["train"].features == ref["train"].features and dd["train"].to_list() == ref["train"].to_list()
path = delta_hf.prepare(split={"train": train}, format="parquet", output=os.path.join(dir, "nb-parquet"))
assert path == os.path.join(dir, "nb-parquet"), path
assert os.path.isfile(os.path.join(path, "README.md"))
try:
    delta_hf.prepare(split={"train": os.path.join(dir, "missing")}, output=os.path.join(dir, "nb-x"))
    raise SystemExit("no error raised")
except delta_hf.DeltaHfError as e:
    assert e.exit_code == 3 and "missing" in e.message, (e.exit_code, e.message)
os.environ.update(HF_ENDPOINT=endpoint, HF_TOKEN="t")
url = delta_hf.prepare(split={"train": train}, output="hf://datasets/acme/notebook")
assert url == endpoint + "/datasets/acme/notebook", url
print("ok")
"#;
    let out = run_ok(
        Command::new(python())
            .env("PYTHONPATH", &target)
            .env("PATH", format!("{}:/usr/bin:/bin", target.join("bin").display()))
            .args(["-c", script])
            .arg(&train)
            .arg(dir)
            .arg(emu.endpoint()),
    );
    assert_eq!(out.trim().lines().last(), Some("ok"), "{out}");
}
