//! `load_from_disk` conformance of labelled exports (checked by `tests/python/check_dataset.py`).

use deltalake::protocol::SaveMode;
use serde_json::json;

use crate::harness::*;

/// Train/test with a label absent from test, several shards: splits, rows, one ClassLabel in
/// code-point order, labels and texts round-trip, single shards open with their features.
#[test]
fn train_and_test_round_trip_through_datasets() {
    let dir = tmp();
    let train = rows("train text", 300, &["pos", "neg", "neutral", "Zeta", "10", "2"]);
    let test = rows("test text", 60, &["neg", "pos", "2"]);
    write_rows(&dir.path().join("train"), &train, SaveMode::ErrorIfExists);
    write_rows(&dir.path().join("test"), &test, SaveMode::ErrorIfExists);
    let out = dir.path().join("out");
    let o = Prepare::new(&out)
        .json()
        .split("train", dir.path().join("train"))
        .split("test", dir.path().join("test"))
        .opt("--max-shard-size", "2KB")
        .run();
    let summary = ok_json(&o);
    // code-point order: digits < upper case < lower case, "10" < "2"
    let names = ["10", "2", "Zeta", "neg", "neutral", "pos"];
    assert_eq!(summary["labels"], json!(names));
    assert_eq!(summary["splits"][0]["num_rows"], 300);
    assert!(summary["splits"][0]["num_shards"].as_u64().unwrap() > 1, "2KB shards: {summary}");
    let expect = expect_json(dir.path(), &[("train", &train), ("test", &test)], &names, json!({}));
    check_py("check_dataset.py", &[&out, &expect]);
}

/// `--num-shards`, natural order, kept columns, other column names, integer labels.
#[test]
fn num_shards_natural_order_and_kept_columns() {
    let dir = tmp();
    let n = 101;
    let texts: Vec<String> = (0..n).map(|i| format!("review number {i}")).collect();
    let stars: Vec<i64> = (0..n).map(|i| [1, 2, 10, 3][i % 4]).collect();
    let ids: Vec<i64> = (0..n as i64).collect();
    let b = batch(vec![
        ("body", strs(&texts.iter().map(|s| s.as_str()).collect::<Vec<_>>())),
        ("stars", ints(&stars)),
        ("review_id", ints(&ids)),
    ]);
    write_batches(&dir.path().join("t"), vec![b], SaveMode::ErrorIfExists);
    let out = dir.path().join("out");
    let o = Prepare::new(&out)
        .json()
        .train(dir.path().join("t"))
        .text_col("body")
        .label_col("stars")
        .keep_cols(&["review_id"])
        .opt("--label-order", "natural")
        .opt("--num-shards", "3")
        .run();
    let summary = ok_json(&o);
    assert_eq!(summary["labels"], json!(["1", "2", "3", "10"]));
    assert_eq!(summary["splits"][0]["num_shards"], 3);
    let rows: Vec<(String, String)> =
        texts.iter().zip(&stars).map(|(t, s)| (t.clone(), s.to_string())).collect();
    let expect = expect_json(dir.path(), &[("train", &rows)], &["1", "2", "3", "10"], json!({}));
    check_py("check_dataset.py", &[&out, &expect]);
    // Shards of 34, 34, 33 rows and the kept column intact, read by pyarrow.
    let counts = py(
        "import sys, pyarrow as pa, glob\n\
         fs = sorted(glob.glob(sys.argv[1] + '/train/data-*.arrow'))\n\
         ts = [pa.ipc.open_stream(open(f,'rb')).read_all() for f in fs]\n\
         print([t.num_rows for t in ts], sorted(sum((t.column('review_id').to_pylist() for t in ts), [])) == list(range(101)))",
        &[out.to_str().unwrap()],
    );
    assert_eq!(counts.trim(), "[34, 34, 33] True");
}

/// An aggregating `--select-sql` over a table of many files (a hash-repartitioned plan, read as
/// one stream): the deduplicated rows, whatever the shard policy.
#[test]
fn aggregating_select_sql_over_many_files() {
    let dir = tmp();
    let table = dir.path().join("t");
    // Six files, each text in three of them with the labels c, a, b: `min` keeps `a`.
    for file in 0..6 {
        let r: Vec<(String, String)> = (0..200)
            .map(|i| (format!("text {}", (file % 2) * 200 + i), ["c", "a", "b"][file / 2].into()))
            .collect();
        write_rows(&table, &r, SaveMode::Append);
    }
    let sql = dir.path().join("dedup.sql");
    std::fs::write(&sql, "SELECT text, min(label) AS label FROM source GROUP BY text").unwrap();
    let want: Vec<(String, String)> = (0..400).map(|i| (format!("text {i}"), "a".to_string())).collect();
    for (name, shards) in [("rolling", ["--max-shard-size", "4KB"]), ("counted", ["--num-shards", "3"])] {
        let out = dir.path().join(name);
        let o = Prepare::new(&out).train(&table).opt("--select-sql", &sql).args(shards).run();
        ok(&o);
        let expect = expect_json(dir.path(), &[("train", &want)], &["a"], json!({}));
        check_py("check_dataset.py", &[&out, &expect]);
    }
}

/// `--select-sql` reshapes a table; `--labels` fixes the order; `--frequency`.
#[test]
fn select_sql_and_labels_file() {
    let dir = tmp();
    let b = batch(vec![
        ("title", strs(&["a", "b", "c", "d"])),
        ("body", strs(&["one", "two", "three", "four"])),
        ("cat", strs(&["x", "y", "x", "z"])),
    ]);
    write_batches(&dir.path().join("t"), vec![b], SaveMode::ErrorIfExists);
    let sql = dir.path().join("q.sql");
    std::fs::write(
        &sql,
        "SELECT title || ': ' || body AS text, upper(cat) AS label FROM source WHERE cat <> 'z'",
    )
    .unwrap();
    let labels = dir.path().join("labels.txt");
    std::fs::write(&labels, "Y\nX\nW\n").unwrap();
    let out = dir.path().join("out");
    let select = |out: &std::path::Path| {
        Prepare::new(out).train(dir.path().join("t")).opt("--select-sql", &sql).opt("--labels", &labels)
    };
    let o = select(&out).json().run();
    let summary = ok_json(&o);
    assert_eq!(summary["labels"], json!(["Y", "X", "W"]));
    let rows = vec![
        ("a: one".to_string(), "X".to_string()),
        ("b: two".to_string(), "Y".to_string()),
        ("c: three".to_string(), "X".to_string()),
    ];
    let expect = expect_json(dir.path(), &[("train", &rows)], &["Y", "X", "W"], json!({}));
    check_py("check_dataset.py", &[&out, &expect]);

    // A label outside the --labels file is an error naming it.
    std::fs::write(&labels, "X\n").unwrap();
    let o = select(&dir.path().join("out2")).run();
    fails(&o, 1, &["`Y`", "--labels"]);
    assert!(!dir.path().join("out2").exists());

    // Frequency order: most frequent first, ties by code point.
    let o = Prepare::new(dir.path().join("out3"))
        .json()
        .train(dir.path().join("t"))
        .text_col("body")
        .label_col("cat")
        .opt("--label-order", "frequency")
        .run();
    assert_eq!(ok_json(&o)["labels"], json!(["x", "y", "z"]));
}

/// An empty split still loads (one schema-only shard), and a run twice gives the same shards.
#[test]
fn empty_split_and_deterministic_shards() {
    let dir = tmp();
    let train = rows("t", 500, &["a", "b", "c"]);
    write_rows(&dir.path().join("train"), &train, SaveMode::ErrorIfExists);
    write_rows(&dir.path().join("train"), &rows("more", 200, &["b"]), SaveMode::Append);
    write_text_table(&dir.path().join("empty"), &[], SaveMode::ErrorIfExists);
    let mut outputs = Vec::new();
    for k in 0..2 {
        let out = dir.path().join(format!("out{k}"));
        let o = Prepare::new(&out)
            .json()
            .split("train", dir.path().join("train"))
            .split("validation", dir.path().join("empty"))
            .opt("--max-shard-size", "4KB")
            .run();
        let s = ok_json(&o);
        assert_eq!(s["splits"][1]["num_rows"], 0);
        assert_eq!(s["splits"][1]["num_shards"], 1);
        outputs.push(out);
    }
    let mut all = train.clone();
    all.extend(rows("more", 200, &["b"]));
    let expect =
        expect_json(dir.path(), &[("train", &all), ("validation", &[])], &["a", "b", "c"], json!({}));
    check_py("check_dataset.py", &[&outputs[0], &expect]);
    let files = ls(&outputs[0].join("train"));
    assert_eq!(files, ls(&outputs[1].join("train")));
    for f in files.iter().filter(|f| f.ends_with(".arrow")) {
        let a = std::fs::read(outputs[0].join("train").join(f)).unwrap();
        let b = std::fs::read(outputs[1].join("train").join(f)).unwrap();
        assert!(a == b, "shard {f} differs between two runs");
    }
}
