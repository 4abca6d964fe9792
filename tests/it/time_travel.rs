//! Pinned snapshots: `--version`, `@vN` per split, `--timestamp`.

use crate::harness::*;

#[test]
fn versions_0_1_2_give_10_20_30_rows() {
    let table = golden("time-travel-start-start20-start40").join("delta");
    for (v, rows) in [(0, 10), (1, 20), (2, 30)] {
        let dir = tmp();
        let out = dir.path().join("out");
        let o = run([
            "prepare",
            "--no-labels",
            "--json",
            "--version",
            &v.to_string(),
            "--split",
            &format!("train={}", table.display()),
            "--output",
            out.to_str().unwrap(),
        ]);
        let s = ok(&o);
        assert_eq!(s["splits"][0]["version"], v);
        assert_eq!(s["splits"][0]["num_rows"], rows);
        let n = py(
            "import sys, datasets; print(datasets.load_from_disk(sys.argv[1])['train'].num_rows)",
            &[out.to_str().unwrap()],
        );
        assert_eq!(n.trim(), rows.to_string());
        let info = std::fs::read_to_string(out.join("train/dataset_info.json")).unwrap();
        assert!(info.contains(&format!("at version {v}")), "{info}");
    }
    // Per-split pin beats the global one.
    let dir = tmp();
    let out = dir.path().join("out");
    let o = run([
        "prepare",
        "--no-labels",
        "--json",
        "--version",
        "2",
        "--split",
        &format!("train={}@v1", table.display()),
        "--split",
        &format!("test={}", table.display()),
        "--output",
        out.to_str().unwrap(),
    ]);
    let s = ok(&o);
    assert_eq!(s["splits"][0]["num_rows"], 20);
    assert_eq!(s["splits"][1]["num_rows"], 30);
    // A version that does not exist.
    let o = run([
        "prepare",
        "--no-labels",
        "--version",
        "7",
        "--split",
        &format!("train={}", table.display()),
        "--output",
        dir.path().join("o2").to_str().unwrap(),
    ]);
    fails(&o, 3, &["time-travel-start-start20-start40"]);
}

#[test]
fn timestamp_pins_the_latest_version_before_it() {
    let table = golden("time-travel-start-start20-start40").join("delta");
    let dir = tmp();
    let out = dir.path().join("out");
    let o = run([
        "prepare",
        "--no-labels",
        "--json",
        "--timestamp",
        "2100-01-01T00:00:00Z",
        "--split",
        &format!("train={}", table.display()),
        "--output",
        out.to_str().unwrap(),
    ]);
    assert_eq!(ok(&o)["splits"][0]["num_rows"], 30);
}
