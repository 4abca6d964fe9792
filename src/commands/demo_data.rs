//! `delta-hf demo-data`: the demo tables `make demo` runs on: a deterministic product-review topic classification
//! set (train and eval Delta tables), written with the real Delta writer.
//!
//! Columns: `review_id BIGINT, text STRING, label STRING, rating INT`. Six topics; `support`
//! never appears in eval, so the run shows how a label absent from one split keeps its id.
//! The same arguments always give the same rows (a fixed-seed splitmix64 generator).

use std::path::Path;
use std::sync::Arc;

use deltalake::DeltaTable;
use deltalake::arrow::array::{Int32Array, Int64Array, RecordBatch, StringArray};
use deltalake::arrow::datatypes::{DataType, Field, Schema};
use deltalake::protocol::SaveMode;
use url::Url;

use crate::error::{Error, Result};

const TOPICS: &[(&str, &[&str])] = &[
    (
        "battery",
        &[
            "the battery lasts",
            "charging takes",
            "battery life is",
            "it runs out of power after",
            "the charge holds",
        ],
    ),
    (
        "delivery",
        &["the parcel arrived", "shipping took", "the courier left it", "delivery was", "the box came"],
    ),
    (
        "display",
        &[
            "the screen looks",
            "colours on the display are",
            "the panel is",
            "brightness outdoors is",
            "the resolution seems",
        ],
    ),
    (
        "price",
        &[
            "for the price it is",
            "the cost feels",
            "at this price point it is",
            "value for money is",
            "the discount made it",
        ],
    ),
    (
        "sound",
        &[
            "the speakers sound",
            "bass response is",
            "audio quality is",
            "the volume goes",
            "music through it sounds",
        ],
    ),
    (
        "support",
        &[
            "customer service was",
            "the help desk answered",
            "support replied",
            "the warranty claim went",
            "the agent on the phone was",
        ],
    ),
];
const OPINIONS: &[&str] = &[
    "excellent",
    "fine",
    "disappointing",
    "better than expected",
    "terrible",
    "okay for daily use",
    "surprisingly good",
    "not great",
    "just as advertised",
    "a letdown",
];
const TAILS: &[&str] = &[
    "",
    " would buy again.",
    " returned it after a week.",
    " my second one.",
    " bought it as a gift.",
    " three stars from me.",
    " recommended by a friend.",
    " will update this review later.",
];

/// splitmix64: tiny, fast and identical on every platform and release.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        z ^ (z >> 31)
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
}

/// Write `<dir>/train` (`rows` rows) and `<dir>/eval` (`rows / 5`), replacing earlier ones.
pub async fn write_demo_tables(dir: &Path, rows: usize) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
    let mut rng = Rng(42);
    write_table(&dir.join("train"), rows, 0, &mut rng, true).await?;
    write_table(&dir.join("eval"), rows / 5, rows as i64, &mut rng, false).await?;
    Ok(())
}

async fn write_table(
    path: &Path,
    rows: usize,
    first_id: i64,
    rng: &mut Rng,
    with_support: bool,
) -> Result<()> {
    if path.exists() {
        std::fs::remove_dir_all(path).map_err(|e| Error::io("cannot replace", path, e))?;
    }
    std::fs::create_dir_all(path).map_err(|e| Error::io("cannot create", path, e))?;
    let topics: Vec<_> = TOPICS.iter().filter(|(t, _)| with_support || *t != "support").collect();
    let (mut ids, mut texts, mut labels, mut ratings) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..rows {
        // Skewed topic frequencies, like real feedback.
        let r = rng.next() % 100;
        let idx = [30, 52, 70, 84, 94, 100].iter().position(|c| r < *c).unwrap_or(0).min(topics.len() - 1);
        let (topic, phrases) = topics[idx];
        let text = format!("{} {}.{}", rng.pick(phrases), rng.pick(OPINIONS), rng.pick(TAILS));
        let mut chars = text.chars();
        let text = match chars.next() {
            Some(c) => c.to_uppercase().collect::<String>() + chars.as_str(),
            None => text,
        };
        ids.push(first_id + i as i64);
        texts.push(text);
        labels.push(topic.to_string());
        ratings.push(1 + (rng.next() % 5) as i32);
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("review_id", DataType::Int64, false),
        Field::new("text", DataType::Utf8, true),
        Field::new("label", DataType::Utf8, true),
        Field::new("rating", DataType::Int32, true),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(StringArray::from(texts)),
            Arc::new(StringArray::from(labels)),
            Arc::new(Int32Array::from(ratings)),
        ],
    )?;
    let abs = std::path::absolute(path).map_err(|e| Error::io("cannot resolve", path, e))?;
    let url =
        Url::from_directory_path(&abs).map_err(|_| Error::Internal(format!("bad path {}", abs.display())))?;
    DeltaTable::try_from_url(url)
        .await?
        .write(vec![batch])
        .with_save_mode(SaveMode::ErrorIfExists)
        .with_table_name(path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())
        .await?;
    Ok(())
}
