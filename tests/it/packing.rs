//! `--packing` (issue 21): the packer (`delta_hf::transform::sft::pack`) against TRL 1.16's
//! `pack_dataset` as `SFTTrainer` applies it (`tests/python/pack_ref.py`, run by the second
//! venv's Python, `$DELTA_HF_ML_PYTHON`), on generated ragged token rows with masked labels,
//! empty rows and rows longer than the max length: every strategy at several max lengths, in
//! `Dataset.map`'s default window and in a window that cuts the rows unevenly, fed in batches
//! that cut the windows unevenly too. `input_ids`, `labels`, `seq_lengths` and their Arrow
//! types must be equal, row for row.

use std::sync::Arc;

use delta_hf::transform::sft::pack::{PackOptions, Packer, Strategy};
use deltalake::arrow::array::{Array, Int32Array, Int64Array, ListArray, RecordBatch};
use deltalake::arrow::buffer::OffsetBuffer;
use deltalake::arrow::datatypes::{DataType, Field, Schema};
use serde_json::{Value, json};

use crate::harness::*;

/// Rows of ragged tokens: some empty, most up to 300 tokens, one in ten up to 1,500; labels
/// -100 over a leading "prompt" of each row, else the token.
fn rows(n: usize, seed: u64) -> (Vec<Vec<i32>>, Vec<Vec<i64>>) {
    let mut state = seed;
    let mut next = move |m: u64| {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 33) % m
    };
    let (mut ids, mut labels) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let len = match next(20) {
            0 => 0,
            1 | 2 => 300 + next(1200) as usize,
            _ => 1 + next(300) as usize,
        };
        let row: Vec<i32> = (0..len).map(|_| next(50_000) as i32).collect();
        let prompt = next(len as u64 + 1) as usize;
        labels.push(
            row.iter().enumerate().map(|(i, &t)| if i < prompt { -100 } else { i64::from(t) }).collect(),
        );
        ids.push(row);
    }
    (ids, labels)
}

fn batch(ids: &[Vec<i32>], labels: &[Vec<i64>]) -> RecordBatch {
    let item = |t| Arc::new(Field::new("item", t, true));
    let schema = Arc::new(Schema::new(vec![
        Field::new("input_ids", DataType::List(item(DataType::Int32)), true),
        Field::new("labels", DataType::List(item(DataType::Int64)), true),
    ]));
    let offsets = OffsetBuffer::<i32>::from_lengths(ids.iter().map(Vec::len));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(ListArray::new(
                item(DataType::Int32),
                offsets.clone(),
                Arc::new(Int32Array::from(ids.concat())),
                None,
            )),
            Arc::new(ListArray::new(
                item(DataType::Int64),
                offsets,
                Arc::new(Int64Array::from(labels.concat())),
                None,
            )),
        ],
    )
    .unwrap()
}

/// pyarrow's spelling of a list type (`list<item: int32>`).
fn pyarrow_type(t: &DataType) -> String {
    match t {
        DataType::List(f) => format!("list<{}: {}>", f.name(), pyarrow_type(f.data_type())),
        DataType::Int32 => "int32".into(),
        DataType::Int64 => "int64".into(),
        other => format!("{other}"),
    }
}

/// Pack `all` in batches of `step` rows; the columns as JSON, as `pack_ref.py` writes them.
fn pack(all: &RecordBatch, opts: PackOptions, step: usize) -> Value {
    let mut p = Packer::new(opts, &all.schema()).unwrap();
    let mut out = Vec::new();
    let mut at = 0;
    while at < all.num_rows() {
        let n = step.min(all.num_rows() - at);
        out.extend(p.push(&all.slice(at, n)).unwrap());
        at += n;
    }
    out.extend(p.finish().unwrap());
    let schema = p.output_schema();
    let mut result = serde_json::Map::new();
    for field in schema.fields() {
        let mut column = Vec::new();
        for b in &out {
            let list = b.column_by_name(field.name()).unwrap().as_any().downcast_ref::<ListArray>().unwrap();
            for i in 0..list.len() {
                let v = list.value(i);
                column.push(match v.as_any().downcast_ref::<Int32Array>() {
                    Some(a) => json!(a.values().to_vec()),
                    None => json!(v.as_any().downcast_ref::<Int64Array>().unwrap().values().to_vec()),
                });
            }
        }
        result.insert(field.name().clone(), Value::Array(column));
    }
    let types: serde_json::Map<String, Value> =
        schema.fields().iter().map(|f| (f.name().clone(), json!(pyarrow_type(f.data_type())))).collect();
    result.insert("types".into(), Value::Object(types));
    let stats = p.stats();
    assert_eq!(stats.rows_in, all.num_rows() as u64);
    assert_eq!(stats.rows_out as usize, result["input_ids"].as_array().unwrap().len());
    Value::Object(result)
}

#[test]
fn packing_equals_trl_pack_dataset() {
    let Some(python) = std::env::var("DELTA_HF_ML_PYTHON").ok().filter(|p| !p.is_empty()) else {
        skip("packing_equals_trl_pack_dataset", "DELTA_HF_ML_PYTHON (the venv with trl 1.16) is not set");
        return;
    };
    // 1,500 rows: Dataset.map's default window of 1,000 leaves a last window of 500; a window of
    // 37 rows leaves one of 20.
    let (ids, labels) = rows(1500, 21);
    let all = batch(&ids, &labels);
    let mut cases = Vec::new();
    for strategy in [Strategy::Bfd, Strategy::BfdSplit, Strategy::Wrapped] {
        for max_length in [5, 128, 1024] {
            for window in [None, Some(37)] {
                cases.push((strategy, max_length, window));
            }
        }
    }
    let dir = tmp();
    let (input, cases_file, out) =
        (dir.path().join("rows.json"), dir.path().join("cases.json"), dir.path().join("out.json"));
    std::fs::write(&input, json!({"input_ids": ids, "labels": labels}).to_string()).unwrap();
    let spec: Vec<Value> = cases
        .iter()
        .map(|(s, m, w)| json!({"strategy": s.trl_name(), "max_length": m, "window": w}))
        .collect();
    std::fs::write(&cases_file, Value::Array(spec).to_string()).unwrap();
    run_py_with(&python, "pack_ref.py", &[&input, &cases_file, &out]);
    let expected: Vec<Value> = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(expected.len(), cases.len());

    for ((strategy, max_length, window), want) in cases.iter().zip(&expected) {
        let opts =
            PackOptions { strategy: *strategy, max_length: *max_length, window: window.unwrap_or(1000) };
        let got = pack(&all, opts, 333);
        let case = format!("{strategy:?} max_length {max_length} window {window:?}");
        let rows = want["input_ids"].as_array().unwrap().len();
        assert!(rows > 0, "{case}: TRL packed nothing");
        for column in ["types", "input_ids", "labels", "seq_lengths"] {
            if column == "seq_lengths" && !strategy.writes_seq_lengths() {
                assert!(want.get(column).is_none() && got.get(column).is_none(), "{case}: seq_lengths");
                continue;
            }
            if got[column] != want[column] {
                let (g, w) = (got[column].as_array(), want[column].as_array());
                let first =
                    g.zip(w).and_then(|(g, w)| (0..g.len().max(w.len())).find(|&i| g.get(i) != w.get(i)));
                panic!(
                    "{case}: `{column}` differs from TRL's ({} rows vs {}), first at packed row {first:?}:\n  ours {}\n  trl  {}",
                    g.map_or(0, Vec::len),
                    w.map_or(0, Vec::len),
                    first
                        .and_then(|i| g.and_then(|g| g.get(i)))
                        .map_or(got[column].to_string(), Value::to_string),
                    first
                        .and_then(|i| w.and_then(|w| w.get(i)))
                        .map_or(want[column].to_string(), Value::to_string),
                );
            }
        }
        // Nothing packed past max_length; bfd-split and wrapped keep every token.
        assert!(
            got["input_ids"].as_array().unwrap().iter().all(|r| r.as_array().unwrap().len() <= *max_length)
        );
        if *strategy != Strategy::Bfd {
            let tokens: usize =
                got["input_ids"].as_array().unwrap().iter().map(|r| r.as_array().unwrap().len()).sum();
            assert_eq!(tokens, ids.iter().map(Vec::len).sum::<usize>(), "{case}: tokens lost");
        }
    }
}
