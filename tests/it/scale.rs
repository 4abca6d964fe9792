//! Correctness at scale (small sizes; speed and memory are `make bench`'s job): many input
//! files into many shards, deterministic bytes, and a text column over 2 GiB in one split.

use std::sync::Arc;

use deltalake::arrow::array::{Int64Array, RecordBatch, StringArray};
use deltalake::arrow::datatypes::{DataType, Field, Schema};
use deltalake::protocol::SaveMode;

use crate::harness::*;

/// 25 input files → many shards: contiguous `data-XXXXX-of-YYYYY` names, `state.json` lists
/// them in row order, per-shard and total row counts agree with `load_from_disk`; a second run
/// gives byte-identical shards.
#[test]
fn many_files_into_many_shards_deterministically() {
    let dir = tmp();
    let train = dir.path().join("train");
    let mut all = Vec::new();
    for f in 0..25 {
        let part = rows(&format!("file {f} row"), 400, &["a", "b", "c", "d"]);
        write_rows(&train, &part, if f == 0 { SaveMode::ErrorIfExists } else { SaveMode::Append });
        all.extend(part);
    }
    let mut outs = Vec::new();
    for k in 0..2 {
        let out = dir.path().join(format!("out{k}"));
        let s = ok_json(&run([
            "prepare",
            "--json",
            "--train",
            train.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
            "--max-shard-size",
            "20KB",
        ]));
        assert_eq!(s["splits"][0]["num_rows"], 10_000);
        assert!(s["splits"][0]["num_shards"].as_u64().unwrap() >= 10, "{s}");
        outs.push(out);
    }
    let expect = expect_json(dir.path(), &[("train", &all)], &["a", "b", "c", "d"], serde_json::json!({}));
    check_py("check_dataset.py", &[&outs[0], &expect]);
    let report = py(
        r#"
import sys, json, os, datasets, pyarrow as pa
root = sys.argv[1] + "/train"
state = json.load(open(root + "/state.json"))
names = [f["filename"] for f in state["_data_files"]]
n = len(names)
assert names == [f"data-{i:05d}-of-{n:05d}.arrow" for i in range(n)], names
on_disk = sorted(f for f in os.listdir(root) if f.endswith(".arrow"))
assert on_disk == names, (on_disk, names)
tables = [pa.ipc.open_stream(open(os.path.join(root, f), "rb")).read_all() for f in names]
counts = [t.num_rows for t in tables]
assert all(c > 0 for c in counts), counts
ds = datasets.load_from_disk(sys.argv[1])["train"]
assert sum(counts) == ds.num_rows == 10000
# load_from_disk concatenates the shards in state.json order.
concat = [x for t in tables for x in t.column("text").to_pylist()]
assert concat == ds["text"], "row order differs from the state.json shard order"
print(n)
"#,
        &[outs[0].to_str().unwrap()],
    );
    assert!(report.trim().parse::<u32>().unwrap() >= 10);
    let files = ls(&outs[0].join("train"));
    assert_eq!(files, ls(&outs[1].join("train")));
    for f in files.iter().filter(|f| f.ends_with(".arrow")) {
        assert!(
            std::fs::read(outs[0].join("train").join(f)).unwrap()
                == std::fs::read(outs[1].join("train").join(f)).unwrap(),
            "shard {f} differs between two runs over the same version"
        );
    }
}

/// A split whose text column holds more than 2 GiB (past 32-bit offsets if it were one array):
/// written in appends so the test never holds it in memory, exported, and read back whole.
#[test]
fn text_column_over_2_gib_in_one_split() {
    const ROWS_PER_COMMIT: usize = 16_000;
    const COMMITS: usize = 17;
    const TEXT_BYTES: usize = 8_000;
    let total_rows = ROWS_PER_COMMIT * COMMITS;
    let total_bytes = (total_rows * TEXT_BYTES) as u64;
    assert!(total_bytes > 2 * 1024 * 1024 * 1024);
    let dir = tmp();
    let train = dir.path().join("train");
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("text", DataType::Utf8, true),
        Field::new("label", DataType::Utf8, true),
    ]));
    for c in 0..COMMITS {
        let first = (c * ROWS_PER_COMMIT) as i64;
        let ids: Vec<i64> = (first..first + ROWS_PER_COMMIT as i64).collect();
        // Each text: its id, padded to exactly TEXT_BYTES.
        let texts: StringArray =
            ids.iter().map(|i| Some(format!("{i:0>width$}", width = TEXT_BYTES))).collect();
        let labels: StringArray = ids.iter().map(|i| Some(if i % 3 == 0 { "x" } else { "y" })).collect();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from(ids)), Arc::new(texts), Arc::new(labels)],
        )
        .unwrap();
        write_batches(&train, vec![batch], if c == 0 { SaveMode::ErrorIfExists } else { SaveMode::Append });
    }
    let out = dir.path().join("out");
    let s = ok_json(&run([
        "prepare",
        "--json",
        "--quiet",
        "--train",
        train.to_str().unwrap(),
        "--keep-col",
        "id",
        "--output",
        out.to_str().unwrap(),
        "--max-shard-size",
        "4GB",
    ]));
    assert_eq!(s["splits"][0]["num_rows"], total_rows as u64);
    assert!(s["splits"][0]["num_bytes"].as_u64().unwrap() > total_bytes);
    let check = py(
        r#"
import sys, datasets, pyarrow.compute as pc
ds = datasets.load_from_disk(sys.argv[1])["train"]
t = ds.with_format("arrow")[:]
lengths = pc.sum(pc.binary_length(t.column("text"))).as_py()
ids = t.column("id")
texts = t.column("text")
# every text is its id zero-padded: check a spread of rows, and the total size
for i in [0, 1, 123_456, ds.num_rows // 2, ds.num_rows - 1]:
    assert int(texts[i].as_py().lstrip('0') or '0') == ids[i].as_py(), i
assert pc.min(ids).as_py() == 0 and pc.max(ids).as_py() == ds.num_rows - 1
assert pc.count_distinct(ids).as_py() == ds.num_rows
print(ds.num_rows, lengths, type(t.column("text").type).__name__, ds.features["label"].names)
"#,
        &[out.to_str().unwrap()],
    );
    assert_eq!(check.trim(), format!("{total_rows} {total_bytes} DataType ['x', 'y']"), "read back: {check}");
}
