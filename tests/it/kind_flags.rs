//! Flags that only some label kinds take are refused (exit 2, naming the flag and the kind,
//! nothing written) whether `--label-kind` names the kind or the label column's type decides
//! it under `auto` — for `prepare` and for `plan` alike (one analysis step).

use std::path::Path;
use std::sync::Arc;

use deltalake::arrow::array::{ArrayRef, Float64Array, ListBuilder, StringBuilder};
use deltalake::protocol::SaveMode;

use crate::harness::*;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn string_lists(rows: &[&[&str]]) -> ArrayRef {
    let mut b = ListBuilder::new(StringBuilder::new());
    for r in rows {
        for v in *r {
            b.values().append_value(v);
        }
        b.append(true);
    }
    Arc::new(b.finish())
}

/// Three tables whose label columns make single, multi and regression exports under `auto`.
fn tables(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let (single, multi, regression) = (dir.join("single"), dir.join("multi"), dir.join("regression"));
    let texts = strs(&["a", "b", "c"]);
    write_batches(
        &single,
        vec![batch(vec![("text", texts.clone()), ("label", strs(&["x", "y", "x"]))])],
        SaveMode::ErrorIfExists,
    );
    write_batches(
        &multi,
        vec![batch(vec![("text", texts.clone()), ("label", string_lists(&[&["x"], &["x", "y"], &[]]))])],
        SaveMode::ErrorIfExists,
    );
    let scores: ArrayRef = Arc::new(Float64Array::from(vec![0.5, 1.5, 2.5]));
    write_batches(
        &regression,
        vec![batch(vec![("text", texts), ("label", scores)])],
        SaveMode::ErrorIfExists,
    );
    (single, multi, regression)
}

#[test]
fn flags_a_resolved_kind_does_not_take_are_usage_errors() {
    let dir = tmp();
    let (single, multi, regression) = tables(dir.path());
    let out = dir.path().join("out");
    let cases: [(&Path, &str, &str); 5] = [
        (&single, "--multi-hot", "single"),
        (&single, "--label-all-tokens", "single"),
        (&multi, "--label-all-tokens", "multi"),
        (&regression, "--multi-hot", "regression"),
        (&regression, "--label-all-tokens", "regression"),
    ];
    for (table, flag, kind) in cases {
        let o = run(["prepare", "--train", s(table), flag, "--output", s(&out)]);
        fails(&o, 2, &[flag, &format!("--label-kind {kind}"), "`label`"]);
        assert!(!out.exists(), "{flag} on a {kind} export left {}", out.display());
        // The fan-out's plan runs the same analysis.
        let plan = dir.path().join("plan.json");
        let o =
            run(["plan", "--tasks", "2", "--plan", s(&plan), "--train", s(table), flag, "--output", s(&out)]);
        fails(&o, 2, &[flag, &format!("--label-kind {kind}")]);
        assert!(!plan.exists() && !out.exists(), "plan with {flag} on a {kind} export wrote something");
    }
    // Where the flag fits, the same table exports.
    let o = run(["prepare", "--json", "--train", s(&multi), "--multi-hot", "--output", s(&out)]);
    ok(&o);
}

#[test]
fn label_flags_do_not_go_with_no_labels() {
    let dir = tmp();
    let (single, _, _) = tables(dir.path());
    let out = dir.path().join("out");
    for flag in
        [&["--multi-hot"][..], &["--label-all-tokens"], &["--label-kind", "multi"], &["--tokens-col", "text"]]
    {
        let mut args = vec!["prepare", "--no-labels", "--train", s(&single), "--output", s(&out)];
        args.extend_from_slice(flag);
        fails(&run(args), 2, &[flag[0], "--no-labels"]);
        assert!(!out.exists());
    }
}
