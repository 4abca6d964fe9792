//! A split's row order is the same on every run: each data file's rows contiguous and in file
//! order, the files in the snapshot's scan order. The table is large enough (> DataFusion's
//! 10 MB threshold) to be read by two partitions, which used to steal each other's files, so
//! which rows landed in which shard changed from run to run.

use deltalake::protocol::SaveMode;

use crate::harness::*;

/// Hex text that Parquet cannot compress much: `len` characters from a simple generator.
fn noise(seed: u64, len: usize) -> String {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from_digit((x % 16) as u32, 16).unwrap()
        })
        .collect()
}

#[test]
fn a_multi_file_split_is_written_in_the_same_order_on_every_run() {
    let dir = tmp();
    let train = dir.path().join("train");
    // 8 appends of unequal sizes: ~20 MB of text in 8 files.
    let mut next = 0u64;
    for (i, n) in [9_000usize, 4_000, 12_000, 6_000, 10_000, 3_000, 8_000, 7_000].into_iter().enumerate() {
        let rows: Vec<(String, String)> = (0..n)
            .map(|_| {
                next += 1;
                (format!("{next:08} {}", noise(next, 320)), ["a", "b", "c"][next as usize % 3].to_string())
            })
            .collect();
        write_rows(&train, &rows, if i == 0 { SaveMode::ErrorIfExists } else { SaveMode::Append });
    }
    let out = |k: usize| dir.path().join(format!("out{k}"));
    for k in 0..4 {
        ok(&Prepare::new(out(k)).opt("--train", &train).opt("--max-shard-size", "4MB").run());
    }
    // Byte-identical shards on every run.
    let shards = ls(&out(0).join("train"));
    assert!(shards.iter().filter(|s| s.ends_with(".arrow")).count() > 2, "{shards:?}");
    for k in 1..4 {
        assert_eq!(ls(&out(k).join("train")), shards);
        for s in shards.iter().filter(|s| s.ends_with(".arrow")) {
            let a = std::fs::read(out(0).join("train").join(s)).unwrap();
            let b = std::fs::read(out(k).join("train").join(s)).unwrap();
            assert!(a == b, "run {k}: shard {s} differs from run 0's");
        }
    }
    // Read back by `datasets`: every data file's rows contiguous and in file order.
    let report = py(
        r#"
import sys, glob, os, datasets, pyarrow.parquet as pq
texts = datasets.load_from_disk(sys.argv[1])["train"]["text"]
where = {}
for f in glob.glob(os.path.join(sys.argv[2], "*.parquet")):
    for i, t in enumerate(pq.read_table(f, columns=["text"])["text"].to_pylist()):
        where[t] = (f, i)
runs = []
for t in texts:
    f, i = where[t]
    if runs and runs[-1][0] == f and runs[-1][2] == i - 1:
        runs[-1][2] = i
    else:
        runs.append([f, i, i])
files = [r[0] for r in runs]
assert len(texts) == len(where), (len(texts), len(where))
assert len(set(files)) == len(files) == 8, [(os.path.basename(r[0]), r[1], r[2]) for r in runs]
assert all(r[1] == 0 for r in runs), runs
print("ok")
"#,
        &[out(0).to_str().unwrap(), train.to_str().unwrap()],
    );
    assert_eq!(report.trim(), "ok");
}
