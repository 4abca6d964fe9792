//! `--format mds` (issue 22): Mosaic Streaming's MDS shards, read back by the real consumer,
//! `streaming.StreamingDataset` (`tests/python/check_mds.py`, run with the second venv,
//! DELTA_HF_ML_PYTHON): every label kind, a tokenized output, an SFT output (masked and packed)
//! and kept list/struct/null columns equal the `arrow` export of the same tables row for row,
//! with and without compression and hashes; `streaming.MDSWriter` over the same rows writes the same raw shards; a fan-out of 3
//! tasks equals `prepare`; `remote="s3://..."` through moto's S3; nulls an encoding cannot hold
//! and misplaced flags are refused.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

use crate::harness::cloud::*;
use crate::harness::*;

/// The ML venv's interpreter, or a skip.
fn ml_python(test: &str) -> Option<String> {
    match std::env::var("DELTA_HF_ML_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ => {
            skip(test, "DELTA_HF_ML_PYTHON is not set (`make venv-ml`; `make test` sets it)");
            None
        }
    }
}

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

/// `check_mds.py ARGS` with the ML venv.
#[track_caller]
fn check_mds(ml: &str, args: &[&str]) {
    let paths: Vec<&Path> = args.iter().map(Path::new).collect();
    let out = run_py_with(ml, "check_mds.py", &paths);
    assert!(out.contains("ok"), "{out}");
}

/// The tables of a `label_kinds.py` case under `<dir>/<case>/<split>`.
fn kind_tables(dir: &Path, case: &str) -> PathBuf {
    let root = dir.join(case);
    run_py_with(&python(), "label_kinds.py", &[Path::new("write"), &root, Path::new(case)]);
    root
}

/// `prepare` over `splits` with `flags`, into `out` (arrow) and `out.mds` (mds + `mds_flags`).
fn both(splits: &[(&str, PathBuf)], flags: &[&str], mds_flags: &[&str], out: &Path) -> PathBuf {
    let mds = out.with_extension("mds");
    for (target, extra) in [(out, &["--format", "arrow"][..]), (mds.as_path(), &["--format", "mds"][..])] {
        let mut c = bin();
        c.arg("prepare");
        for (name, t) in splits {
            c.args(["--split", &format!("{name}={}", s(t))]);
        }
        c.args(flags).args(extra).args(["--output", &s(target), "--quiet"]);
        if target == mds.as_path() {
            c.args(mds_flags);
        }
        ok(&c.output().unwrap());
    }
    mds
}

/// A `label_kinds.py` case, its splits, the export's flags and the MDS flags.
type Case<'a> = (&'a str, &'a [&'a str], &'a [&'a str], &'a [&'a str]);

/// Every label kind, with kept list / struct / null columns and every compression and hash
/// choice along the way, reads back through `StreamingDataset` as the arrow export.
#[test]
fn every_label_kind_reads_back_as_the_arrow_export() {
    let Some(ml) = ml_python("every_label_kind_reads_back_as_the_arrow_export") else { return };
    let dir = tmp();
    let cases: [Case; 7] = [
        // single: `main` as the label, `tags` (list of strings with a null) and `spans` (list
        // of structs with a null) kept as json.
        (
            "multi",
            &["train", "test"],
            &["--label-col", "main", "--keep-col", "id", "--keep-col", "tags", "--keep-col", "spans"],
            &[],
        ),
        // multi-label ids (empty lists among them: zero-length arrays)
        (
            "multi",
            &["train", "test"],
            &["--label-col", "emotions", "--keep-col", "tags", "--keep-col", "spans"],
            &["--mds-compression", "none", "--mds-hashes", "sha1,xxh64"],
        ),
        (
            "multi",
            &["train", "test"],
            &["--label-col", "emotions", "--multi-hot"],
            &["--mds-compression", "zstd:9", "--mds-hashes", "md5,xxh3_64,sha256"],
        ),
        (
            "token",
            &["train", "validation"],
            &["--tokens-col", "words", "--label-col", "tags"],
            &["--mds-hashes", "xxh128"],
        ),
        (
            "token_int",
            &["train", "test"],
            &["--tokens-col", "words", "--label-col", "tags"],
            &["--mds-compression", "none"],
        ),
        (
            "regression",
            &["train", "test"],
            &["--label-col", "score", "--drop-nulls"],
            &["--mds-hashes", "sha1"],
        ),
        ("decimal", &["train", "test"], &["--label-col", "score"], &[]),
    ];
    for (i, (case, splits, flags, mds_flags)) in cases.iter().enumerate() {
        let root = kind_tables(&dir.path().join(i.to_string()), case);
        let splits: Vec<(&str, PathBuf)> = splits.iter().map(|n| (*n, root.join(n))).collect();
        let out = dir.path().join(format!("out-{i}"));
        let mds = both(&splits, flags, mds_flags, &out);
        check_mds(&ml, &["compare", &s(&mds), &s(&out)]);
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(mds.join(splits[0].0).join("index.json")).unwrap())
                .unwrap();
        let shard = &index["shards"][0];
        let compressed = !mds_flags.contains(&"none");
        assert_eq!(shard["zip_data"].is_null(), !compressed, "{case}: {shard}");
        assert!(mds.join("label_map.json").is_file(), "{case}");
    }
}

/// `streaming.MDSWriter`, given the same rows with the same encodings, writes the same raw
/// shard bytes (the multi-hot vectors, ids, strings and json columns of two kinds).
#[test]
fn mdswriter_writes_the_same_shards() {
    let Some(ml) = ml_python("mdswriter_writes_the_same_shards") else { return };
    let dir = tmp();
    let root = kind_tables(dir.path(), "multi");
    let splits = [("train", root.join("train")), ("test", root.join("test"))];
    for (i, (flags, mds_flags)) in [
        (
            &["--label-col", "main", "--keep-col", "id", "--keep-col", "tags", "--keep-col", "spans"][..],
            &["--mds-hashes", "xxh64"][..],
        ),
        (
            &["--label-col", "emotions", "--multi-hot", "--keep-col", "spans"][..],
            &["--mds-compression", "none"][..],
        ),
    ]
    .iter()
    .enumerate()
    {
        let out = dir.path().join(format!("out-{i}"));
        let mds = both(&splits, flags, mds_flags, &out);
        check_mds(&ml, &["peer", &s(&mds), &s(&out)]);
    }
}

/// A tokenized export: the token columns are `ndarray` columns equal to the arrow export's.
#[test]
fn tokenized_output_reads_back() {
    let Some(ml) = ml_python("tokenized_output_reads_back") else { return };
    let dir = tmp();
    let o = Command::new(python())
        .arg(root().join("tests/python/tokenize_ref.py"))
        .args(["fixtures", &s(dir.path())])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let layout: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let tok =
        layout["tokenizers"].as_object().unwrap().values().next().unwrap().as_str().unwrap().to_string();
    let splits: Vec<(&str, PathBuf)> = ["train", "test"]
        .iter()
        .map(|n| (*n, PathBuf::from(layout["tables"][n].as_str().unwrap())))
        .collect();
    let out = dir.path().join("out");
    let mds = both(&splits, &["--tokenizer", &tok, "--max-length", "16"], &[], &out);
    check_mds(&ml, &["compare", &s(&mds), &s(&out)]);
    let index = std::fs::read_to_string(mds.join("train/index.json")).unwrap();
    assert!(index.contains("ndarray:"), "{index}");
}

/// SFT exports (issue 21) as MDS: masked rows with a kept column, and packed rows with
/// `seq_lengths`, read back through `StreamingDataset` as the arrow export of the same table.
#[test]
fn sft_output_reads_back() {
    let Some(ml) = ml_python("sft_output_reads_back") else { return };
    let dir = tmp();
    let o = Command::new(&ml)
        .arg(root().join("tests/python/sft_ref.py"))
        .args(["fixtures", &s(&dir.path().join("fx")), "qwen2_5_training.jinja"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let layout: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let tok = layout["tokenizer"].as_str().unwrap();
    let table = PathBuf::from(layout["tables"]["messages"].as_str().unwrap());
    let chat = ["--tokenizer", tok, "--messages-col", "messages", "--assistant-only-loss"];
    let out = dir.path().join("masked");
    let mds = both(&[("train", table.clone())], &[&chat[..], &["--keep-col", "id"]].concat(), &[], &out);
    check_mds(&ml, &["compare", &s(&mds), &s(&out)]);
    let index = std::fs::read_to_string(mds.join("train/index.json")).unwrap();
    for col in ["input_ids", "labels", "attention_mask"] {
        assert!(index.contains(&format!("\"{col}\"")), "{col}: {index}");
    }
    let out = dir.path().join("packed");
    let packed = [&chat[..], &["--max-length", "256", "--packing", "bfd"]].concat();
    let mds = both(&[("train", table)], &packed, &["--mds-compression", "none"], &out);
    check_mds(&ml, &["compare", &s(&mds), &s(&out)]);
    let index = std::fs::read_to_string(mds.join("train/index.json")).unwrap();
    assert!(index.contains("\"seq_lengths\""), "{index}");
}

/// A null in a column whose encoding has none is exit 1 naming the column; nothing is written.
#[test]
fn a_null_str_is_refused_naming_the_column() {
    let dir = tmp();
    let t = dir.path().join("t");
    write_text_table(
        &t,
        &[(Some("a"), Some("x")), (None, Some("y"))],
        deltalake::protocol::SaveMode::ErrorIfExists,
    );
    let out = dir.path().join("out");
    let o = bin()
        .args([
            "prepare",
            "--no-labels",
            "--format",
            "mds",
            "--split",
            &format!("train={}", s(&t)),
            "--output",
            &s(&out),
        ])
        .output()
        .unwrap();
    let err = fails(&o, 1, &["column `text`", "split `train`", "`str`"]);
    assert!(!out.exists(), "an output was left behind: {err}");
}

/// MDS flags with another format, and bad values, are usage errors.
#[test]
fn mds_flags_are_checked() {
    let dir = tmp();
    let t = dir.path().join("t");
    write_rows(&t, &rows("x", 3, &["a", "b"]), deltalake::protocol::SaveMode::ErrorIfExists);
    let run = |extra: &[&str]| {
        bin()
            .args(["prepare", "--split", &format!("train={}", s(&t)), "--output", &s(&dir.path().join("o"))])
            .args(extra)
            .output()
            .unwrap()
    };
    fails(&run(&["--mds-compression", "none"]), 2, &["--mds-compression", "--format mds"]);
    fails(&run(&["--format", "arrow", "--mds-hashes", "sha1"]), 2, &["--mds-hashes"]);
    fails(&run(&["--format", "mds", "--mds-compression", "gzip"]), 2, &["gzip"]);
    fails(&run(&["--format", "mds", "--mds-hashes", "blake3"]), 2, &["blake3", "xxh64"]);
    fails(&run(&["--format", "mds", "--max-shard-size", "5GB"]), 2, &["4 GiB"]);
}

/// A fan-out of 3 tasks reads back as `prepare`'s output (and so as the arrow export).
#[test]
fn fan_out_equals_prepare() {
    let Some(ml) = ml_python("fan_out_equals_prepare") else { return };
    let dir = tmp();
    let t = dir.path().join("t");
    for k in 0..3 {
        let mode = if k == 0 {
            deltalake::protocol::SaveMode::ErrorIfExists
        } else {
            deltalake::protocol::SaveMode::Append
        };
        write_rows(&t, &rows(&format!("part {k}"), 20, &["a", "b", "c"]), mode);
    }
    let splits = [("train", t.clone())];
    let out = dir.path().join("ref");
    let mds = both(&splits, &["--max-shard-size", "1KB"], &["--mds-hashes", "sha1"], &out);
    let fanned = dir.path().join("fanned");
    let plan = s(&dir.path().join("plan.json"));
    let split = format!("train={}", s(&t));
    let args = ["--split", &split, "--format", "mds", "--mds-hashes", "sha1", "--max-shard-size", "1KB"];
    fan_out(&bin, &[&args[..], &["--output", &s(&fanned)]].concat(), &plan, 3);
    check_mds(&ml, &["compare", &s(&fanned), &s(&out)]);
    check_mds(&ml, &["compare", &s(&mds), &s(&out)]);
    let shards = |p: &Path| {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(p.join("train/index.json")).unwrap()).unwrap();
        v["shards"].as_array().unwrap().len()
    };
    assert!(shards(&fanned) > 1, "1KB shards: several per task");
    assert!(!ls(&fanned).iter().any(|f| f.contains("_fanout")), "{:?}", ls(&fanned));
}

/// To S3 (moto): `StreamingDataset(remote="s3://...")` downloads and reads it as the arrow export.
#[test]
fn s3_output_streams_from_remote() {
    let Some(ml) = ml_python("s3_output_streams_from_remote") else { return };
    let cloud = Cloud::start();
    cloud.setup(json!({"buckets": ["mds"]}));
    let dir = tmp();
    write_splits(dir.path());
    let out = dir.path().join("arrow");
    let split_args = [
        "--split".to_string(),
        format!("train={}", s(&dir.path().join("train"))),
        "--split".into(),
        format!("test={}", s(&dir.path().join("test"))),
    ];
    ok(&bin().arg("prepare").args(&split_args).args(["--output", &s(&out), "--quiet"]).output().unwrap());
    ok(&cloud
        .bin()
        .arg("prepare")
        .args(&split_args)
        .args(["--format", "mds", "--mds-hashes", "sha1", "--output", "s3://mds/out", "--quiet"])
        .output()
        .unwrap());
    let files = cloud.list("mds", "out");
    assert!(files.iter().any(|f| f == "index.json"), "{files:?}");
    assert!(files.iter().any(|f| f == "train/shard.00000.mds.zstd"), "{files:?}");
    let cache = dir.path().join("cache");
    let o = Command::new(&ml)
        .arg(root().join("tests/python/check_mds.py"))
        .args(["compare", &s(&cache), &s(&out), "s3://mds/out"])
        .env("S3_ENDPOINT_URL", &cloud.s3)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing-secret")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .unwrap();
    assert!(o.status.success() && stdout(&o).contains("ok"), "{}\n{}", stdout(&o), stderr(&o));
}

/// Kept columns of every other type (`--no-labels`): booleans, dates, timestamps with and without
/// a time zone, decimals, small integers, binaries, maps, nested lists and structs with nulls
/// read back as the README's encodings table says, and `MDSWriter` writes the same shards.
#[test]
fn other_types_read_back_as_documented() {
    let Some(ml) = ml_python("other_types_read_back_as_documented") else { return };
    let dir = tmp();
    let t = dir.path().join("typed");
    py(
        r#"
import sys, datetime, decimal
import pyarrow as pa
from deltalake import write_deltalake
utc = datetime.timezone.utc
n = 5
write_deltalake(sys.argv[1], pa.table({
    "text": pa.array([f"row {i}" for i in range(n)]),
    "flag": pa.array([i % 2 == 0 for i in range(n)]),
    "day": pa.array([datetime.date(2024, 1, 1 + i) for i in range(n)], pa.date32()),
    "at": pa.array([datetime.datetime(2024, 5, 1, 12, 0, i, i * 1000 if i % 2 else 0, tzinfo=utc) for i in range(n)],
                   pa.timestamp("us", tz="UTC")),
    "wall": pa.array([datetime.datetime(1999, 12, 31, 23, 59, i) for i in range(n)], pa.timestamp("us")),
    "price": pa.array([decimal.Decimal(f"{i}.{i}5") for i in range(n)], pa.decimal128(10, 2)),
    "small": pa.array([i - 2 for i in range(n)], pa.int8()),
    "blob": pa.array([bytes([i, 0, 255]) for i in range(n)], pa.binary()),
    "attrs": pa.array([[("k", i), ("é", None)] for i in range(n)], pa.map_(pa.string(), pa.int64())),
    "grid": pa.array([[[i, 1], [2]] for i in range(n)], pa.list_(pa.list_(pa.int32()))),
    "meta": pa.array([{"a": i, "b": None if i % 2 else "x"} if i != 3 else None for i in range(n)],
                     pa.struct([("a", pa.int64()), ("b", pa.string())])),
    "score": pa.array([0.5 * i for i in range(n)], pa.float32()),
}))
print("ok")
"#,
        &[s(&t).as_str()],
    );
    let out = dir.path().join("out");
    let mds = both(&[("train", t)], &["--no-labels"], &["--mds-hashes", "sha256"], &out);
    check_mds(&ml, &["compare", &s(&mds), &s(&out)]);
    check_mds(&ml, &["peer", &s(&mds), &s(&out)]);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(mds.join("train/index.json")).unwrap()).unwrap();
    let shard = &index["shards"][0];
    let enc: std::collections::BTreeMap<&str, &str> = shard["column_names"]
        .as_array()
        .unwrap()
        .iter()
        .zip(shard["column_encodings"].as_array().unwrap())
        .map(|(n, e)| (n.as_str().unwrap(), e.as_str().unwrap()))
        .collect();
    let want = [
        ("at", "str"),
        ("attrs", "json"),
        ("blob", "bytes"),
        ("day", "str"),
        ("flag", "uint8"),
        ("grid", "json"),
        ("meta", "json"),
        ("price", "str_decimal"),
        ("score", "float32"),
        ("small", "int8"),
        ("text", "str"),
        ("wall", "str"),
    ];
    assert_eq!(enc, want.into_iter().collect(), "{shard}");
}

/// A fan-out to S3: the tasks' shards stay in their attempt folders, the indexes name them
/// there, and `StreamingDataset(remote=...)` reads the export as the arrow one.
#[test]
fn s3_fan_out_streams_from_remote() {
    let Some(ml) = ml_python("s3_fan_out_streams_from_remote") else { return };
    let cloud = Cloud::start();
    cloud.setup(json!({"buckets": ["fanned"]}));
    let dir = tmp();
    let root = kind_tables(dir.path(), "multi");
    let splits = [("train", root.join("train")), ("test", root.join("test"))];
    let flags = ["--label-col", "emotions", "--keep-col", "tags", "--keep-col", "spans"];
    let out = dir.path().join("arrow");
    both(&splits, &flags, &[], &out);
    let split_args: Vec<String> =
        splits.iter().flat_map(|(n, t)| ["--split".to_string(), format!("{n}={}", s(t))]).collect();
    let plan = "s3://fanned/plan.json";
    let mds = [
        "--format",
        "mds",
        "--mds-hashes",
        "sha1",
        "--max-shard-size",
        "300B",
        "--output",
        "s3://fanned/out",
    ];
    let args: Vec<String> = split_args
        .iter()
        .map(|x| x.to_string())
        .chain(flags.iter().chain(&mds).map(|x| x.to_string()))
        .collect();
    fan_out(&|| cloud.bin(), &args, plan, 2);
    let files = cloud.list("fanned", "out");
    assert!(files.iter().any(|f| f.contains("/_fanout-") && f.ends_with(".mds.zstd")), "{files:?}");
    let cache = dir.path().join("cache");
    let o = Command::new(&ml)
        .arg(crate::harness::root().join("tests/python/check_mds.py"))
        .args(["compare", &s(&cache), &s(&out), "s3://fanned/out"])
        .env("S3_ENDPOINT_URL", &cloud.s3)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing-secret")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .unwrap();
    assert!(o.status.success() && stdout(&o).contains("ok"), "{}\n{}", stdout(&o), stderr(&o));
}
