//! Duplicates and leaks: one pass over every split's text, in the order rows are written
//! (splits in the order given, each split's partitions in order), then the decisions, applied
//! as the rows are written ([`Drops::filter`]).
//!
//! - exact: the normalised text (NFKC, Unicode case folding as Python's `str.casefold`,
//!   whitespace runs collapsed to one space, trimmed; `--dedup-normalize none`: the text as
//!   it is) hashed with XXH3-128; rows with the same hash are one cluster;
//! - near (`--dedup near`): MinHash signatures of the first row of each exact cluster
//!   ([`super::minhash`]), LSH buckets per band, candidate pairs (same bucket) verified by their
//!   estimated Jaccard, clusters by union-find;
//! - the first row of a cluster is kept (the union-find's root is the smallest row number);
//! - a leak is a row of another split than the training split whose cluster holds a training
//!   row; leaks are always counted (exact clusters; near ones with `--dedup near`), dropped with
//!   `--leaks drop`, and a leak dropped by `--dedup` is counted as a leak too.
//!
//! Memory: per row a union-find parent (4 bytes) and its exact hash's first row (about 40
//! bytes in the hash map); per near-dup representative one band entry per band (16 bytes each)
//! and its signature (512 bytes), which goes to a file in the working directory once the
//! signatures pass `--memory-limit` / 4 (default 256 MiB). Texts are never held.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::{Arc, Mutex};

use deltalake::arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use deltalake::arrow::compute::filter_record_batch;
use deltalake::arrow::datatypes::DataType;
use deltalake::datafusion::execution::SendableRecordBatchStream;
use deltalake::datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use deltalake::datafusion::prelude::DataFrame;
use futures::StreamExt;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use super::minhash::{self, NUM_PERM};
use super::{DroppedRow, HygieneSplit, HygieneSummary, MAX_RECORDS};
use crate::error::{Error, Result};
use crate::storage::session;

/// `--dedup`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DedupMode {
    /// Same normalised text.
    Exact,
    /// MinHash LSH over word 5-grams of the normalised text, `--near-dup-threshold`.
    Near,
}

/// `--leaks`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LeaksMode {
    /// Count the rows of evaluation splits that duplicate a training row.
    #[default]
    Report,
    /// Count and remove them.
    Drop,
}

/// `--dedup-normalize`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Normalize {
    /// NFKC, case-folded, whitespace runs collapsed, trimmed.
    #[default]
    Nfkc,
    /// The raw text.
    None,
}

/// The duplicate settings of an export.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DedupSpec {
    pub dedup: Option<DedupMode>,
    pub normalize: Normalize,
    /// `--near-dup-threshold` (Jaccard).
    pub threshold: f64,
    pub leaks: LeaksMode,
}

impl Eq for DedupSpec {}

/// The normalised form of a text.
pub fn normalize(text: &str, how: Normalize) -> std::borrow::Cow<'_, str> {
    match how {
        Normalize::None => std::borrow::Cow::Borrowed(text),
        Normalize::Nfkc => {
            // ASCII is its own NFKC form and folds as it lowercases (the common case, and the
            // pass runs on every multi-split export).
            let folded = match text.is_ascii() {
                true => text.to_ascii_lowercase(),
                false => caseless::default_case_fold_str(&text.nfkc().collect::<String>()),
            };
            let mut out = String::with_capacity(folded.len());
            for w in folded.split_whitespace() {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(w);
            }
            std::borrow::Cow::Owned(out)
        }
    }
}

/// [`normalize`]'s bytes into `out` (cleared first). ASCII text, the common case, takes one
/// pass over its bytes into the reused buffer (the leak check runs on every multi-split export,
/// over every row); anything else goes through [`normalize`].
pub fn normalize_into(text: &str, how: Normalize, out: &mut Vec<u8>) {
    out.clear();
    match how {
        Normalize::Nfkc if text.is_ascii() => {
            // ASCII White_Space (what `split_whitespace` splits on in ASCII text): TAB..CR, space.
            let b = text.as_bytes();
            let controls = b.iter().fold(0u8, |acc, &c| acc | u8::from(c.wrapping_sub(b'\t') < 5));
            let regular = controls == 0
                && b.first() != Some(&b' ')
                && b.last() != Some(&b' ')
                && b.iter()
                    .zip(b.get(1..).unwrap_or_default())
                    .fold(0u8, |acc, (x, y)| acc | u8::from(*x == b' ' && *y == b' '))
                    == 0;
            if regular {
                // Words already one space apart: only the case to fold.
                out.extend_from_slice(b);
                out.make_ascii_lowercase();
                return;
            }
            out.reserve(b.len());
            for word in b.split(|c| matches!(c, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ')) {
                if word.is_empty() {
                    continue;
                }
                if !out.is_empty() {
                    out.push(b' ');
                }
                let start = out.len();
                out.extend_from_slice(word);
                out[start..].make_ascii_lowercase();
            }
        }
        _ => out.extend_from_slice(normalize(text, how).as_bytes()),
    }
}

/// Row `i` of a single string column, borrowed (`None`: another shape, or a null).
fn single_str(columns: &[deltalake::arrow::array::ArrayRef], i: usize) -> Option<&str> {
    let [a] = columns else { return None };
    crate::transform::sft::value::string_at(a, i)
}

/// The text of row `i` of every column, joined by a newline.
fn texts_of(columns: &[deltalake::arrow::array::ArrayRef], i: usize, out: &mut String) {
    for (n, a) in columns.iter().enumerate() {
        if n > 0 {
            out.push('\n');
        }
        text_of(a.as_ref(), i, out);
    }
}

/// The text of row `i`: a string as it is, a list of strings (words) joined by spaces,
/// anything else in its canonical form.
fn text_of(a: &dyn Array, i: usize, out: &mut String) {
    match a.data_type() {
        DataType::List(_) | DataType::LargeList(_) if !a.is_null(i) => {
            let v = match a.data_type() {
                DataType::List(_) => a.as_list::<i32>().value(i),
                _ => a.as_list::<i64>().value(i),
            };
            for j in 0..v.len() {
                if j > 0 {
                    out.push(' ');
                }
                super::canonical::write(v.as_ref(), j, out);
            }
        }
        _ => super::canonical::write(a, i, out),
    }
}

/// Why a row is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Duplicates,
    Leaks,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Duplicates => "duplicates",
            Reason::Leaks => "leaks",
        }
    }
}

/// Where row number `r` (in write order over every split) is.
#[derive(Debug, Clone, Default)]
struct Layout {
    /// Per split, per partition: the first row number.
    starts: Vec<Vec<u64>>,
    /// Per split: its first row number, then one past the last split's.
    split_starts: Vec<u64>,
}

impl Layout {
    fn split_of(&self, r: u64) -> usize {
        self.split_starts.partition_point(|s| *s <= r) - 1
    }
    fn position(&self, r: u64) -> (usize, u64) {
        let s = self.split_of(r);
        (s, r - self.split_starts[s])
    }
}

/// One split's drops: per partition, (offset in the partition, why, the row matched), in order.
type PartitionDrops = BTreeMap<usize, Vec<(u64, Reason, u64)>>;

/// The drops decided, applied while writing: per split, per partition, the offsets dropped.
#[derive(Debug, Default)]
pub struct Drops {
    by_split: Vec<PartitionDrops>,
    layout: Layout,
    names: Vec<String>,
    /// Columns recorded for each dropped row (those of the written batch among them).
    record_columns: Vec<String>,
    records: Mutex<Vec<DroppedRow>>,
}

impl Drops {
    /// Rows dropped in split `i`, by reason.
    pub fn dropped(&self, i: usize) -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        for v in self.by_split[i].values() {
            for (_, why, _) in v {
                *m.entry(why.as_str().to_string()).or_insert(0) += 1;
            }
        }
        m
    }

    /// Rows dropped in split `i`.
    pub fn count(&self, i: usize) -> u64 {
        self.by_split[i].values().map(|v| v.len() as u64).sum()
    }

    /// Split `i`'s partition streams with the dropped rows removed (and recorded).
    pub fn filter(
        self: &Arc<Self>,
        i: usize,
        partitions: Vec<SendableRecordBatchStream>,
    ) -> Vec<SendableRecordBatchStream> {
        if self.count(i) == 0 {
            return partitions;
        }
        partitions
            .into_iter()
            .enumerate()
            .map(|(p, stream)| {
                let schema = stream.schema();
                let drops = self.clone();
                let mut offset = 0u64;
                let s = stream.map(move |batch| {
                    let batch = batch?;
                    let n = batch.num_rows() as u64;
                    let out = drops.apply(i, p, offset, &batch);
                    offset += n;
                    Ok(out?)
                });
                Box::pin(RecordBatchStreamAdapter::new(schema, s)) as SendableRecordBatchStream
            })
            .collect()
    }

    fn apply(
        &self,
        split: usize,
        p: usize,
        offset: u64,
        batch: &RecordBatch,
    ) -> std::result::Result<RecordBatch, deltalake::arrow::error::ArrowError> {
        let Some(list) = self.by_split[split].get(&p) else { return Ok(batch.clone()) };
        let n = batch.num_rows() as u64;
        let from = list.partition_point(|(o, _, _)| *o < offset);
        let to = list.partition_point(|(o, _, _)| *o < offset + n);
        if from == to {
            return Ok(batch.clone());
        }
        let mut keep = vec![true; n as usize];
        let mut records = Vec::new();
        for (o, why, matched) in &list[from..to] {
            let i = (o - offset) as usize;
            keep[i] = false;
            let mut key = BTreeMap::new();
            for c in &self.record_columns {
                if let Ok(a) = batch.column_by_name(c).ok_or(()) {
                    let mut s = String::new();
                    super::canonical::write(a.as_ref(), i, &mut s);
                    if s.chars().count() > 200 {
                        s = s.chars().take(200).collect::<String>() + "…";
                    }
                    key.insert(c.clone(), s);
                }
            }
            let (ms, mp) = self.layout.position(*matched);
            records.push(DroppedRow {
                split: self.names[split].clone(),
                position: self.layout.starts[split][p] - self.layout.split_starts[split] + o,
                reason: why.as_str().to_string(),
                key,
                matched_split: self.names[ms].clone(),
                matched_position: mp,
            });
        }
        self.records.lock().expect("records lock").extend(records);
        filter_record_batch(batch, &BooleanArray::from(keep))
    }

    /// The dropped rows recorded while writing: per split in position order, at most
    /// [`MAX_RECORDS`] each.
    pub fn records(&self) -> Vec<DroppedRow> {
        let mut all = std::mem::take(&mut *self.records.lock().expect("records lock"));
        let order: HashMap<&str, usize> =
            self.names.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
        all.sort_by_key(|r| (order.get(r.split.as_str()).copied(), r.position));
        let mut per: HashMap<String, usize> = HashMap::new();
        all.retain(|r| {
            let c = per.entry(r.split.clone()).or_insert(0);
            *c += 1;
            *c <= MAX_RECORDS
        });
        all
    }
}

/// Where the signatures are held: in memory, or past the budget in a file (appended through a
/// buffer while the pass runs, read back by position once it is done).
enum Signatures {
    Mem(Vec<u32>),
    File(std::io::BufWriter<std::fs::File>),
}

impl Signatures {
    fn push(&mut self, sig: &[u32], budget: usize, dir: &std::path::Path) -> Result<()> {
        let failed = |e| Error::io("cannot write signatures in", dir, e);
        if let Signatures::Mem(v) = self
            && (v.len() + sig.len()) * 4 > budget
        {
            let f = tempfile::tempfile_in(dir)
                .map_err(|e| Error::io("cannot create a signature file in", dir, e))?;
            let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
            for x in v.iter() {
                w.write_all(&x.to_le_bytes()).map_err(failed)?;
            }
            *self = Signatures::File(w);
        }
        match self {
            Signatures::Mem(v) => v.extend_from_slice(sig),
            Signatures::File(w) => {
                for x in sig {
                    w.write_all(&x.to_le_bytes()).map_err(failed)?;
                }
            }
        }
        Ok(())
    }

    fn get(&mut self, slot: u32, out: &mut [u32]) -> Result<()> {
        match self {
            Signatures::Mem(v) => {
                out.copy_from_slice(&v[slot as usize * NUM_PERM..(slot as usize + 1) * NUM_PERM])
            }
            Signatures::File(w) => {
                use std::os::unix::fs::FileExt;
                let mut bytes = [0u8; 4 * NUM_PERM];
                w.flush()
                    .and_then(|_| w.get_ref().read_exact_at(&mut bytes, slot as u64 * 4 * NUM_PERM as u64))
                    .map_err(|e| Error::Internal(format!("cannot read back a signature: {e}")))?;
                for (k, o) in out.iter_mut().enumerate() {
                    *o = u32::from_le_bytes(bytes[4 * k..4 * k + 4].try_into().expect("4 bytes"));
                }
            }
        }
        Ok(())
    }
}

/// The keys are XXH3-128 hashes already: their low bits are the map's hash.
#[derive(Default, Clone, Copy)]
struct HashIsKey;

impl std::hash::BuildHasher for HashIsKey {
    type Hasher = LowBits;
    fn build_hasher(&self) -> LowBits {
        LowBits(0)
    }
}

struct LowBits(u64);

impl std::hash::Hasher for LowBits {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes.iter().take(8) {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u128(&mut self, v: u128) {
        self.0 = v as u64;
    }
}

/// Union-find whose root is the smallest row of the set.
struct Clusters(Vec<u32>);

impl Clusters {
    fn find(&mut self, x: u32) -> u32 {
        let mut r = x;
        while self.0[r as usize] != r {
            r = self.0[r as usize];
        }
        let mut y = x;
        while self.0[y as usize] != r {
            let next = self.0[y as usize];
            self.0[y as usize] = r;
            y = next;
        }
        r
    }
    fn union(&mut self, a: u32, b: u32) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
            self.0[hi as usize] = lo;
        }
    }
}

/// What the pass needs besides the frames.
pub struct PassInput<'a> {
    pub spec: &'a DedupSpec,
    pub names: &'a [String],
    /// The columns holding the text in the frames (more than one for prompt-completion SFT
    /// inputs: their texts joined by a newline).
    pub text_columns: Vec<String>,
    /// Columns recorded for each dropped row.
    pub record_columns: Vec<String>,
    /// Where signatures spill.
    pub spill_dir: std::path::PathBuf,
    /// Signature bytes held in memory before spilling.
    pub budget: usize,
    /// The rows of every split together, when known before the pass (its tables are sized
    /// for them once instead of growing).
    pub rows: Option<u64>,
}

/// The hashes of a batch's rows (its columns: the text columns).
#[derive(Default)]
struct Hashed {
    /// The normalised text's XXH3-128.
    hashes: Vec<u128>,
    /// With `--dedup near`: `NUM_PERM` values per row ...
    sigs: Vec<u32>,
    /// ... when the row has words.
    signed: Vec<bool>,
}

/// Every row of `batch` normalised once, hashed, and (`near`) its MinHash signature computed.
fn hash_batch(batch: &RecordBatch, how: Normalize, near: bool) -> Hashed {
    let a = batch.columns();
    let n = batch.num_rows();
    let mut out = Hashed {
        hashes: vec![0; n],
        sigs: vec![0; if near { n * NUM_PERM } else { 0 }],
        signed: vec![false; if near { n } else { 0 }],
    };
    let init = || (String::new(), Vec::new(), Vec::new());
    let hash_row = |(raw, buf, words): &mut (String, Vec<u8>, Vec<u64>),
                    i: usize,
                    sig: Option<(&mut [u32], &mut bool)>|
     -> u128 {
        let text = match single_str(a, i) {
            Some(t) => t,
            None => {
                raw.clear();
                texts_of(a, i, raw);
                raw.as_str()
            }
        };
        normalize_into(text, how, buf);
        if let Some((sig, signed)) = sig {
            *signed = match how {
                // Normalised: words one space apart.
                Normalize::Nfkc => minhash::signature_of_spaced(buf, words, sig),
                Normalize::None => {
                    let raw = std::str::from_utf8(buf).expect("the text is UTF-8");
                    minhash::signature_into(raw, words, sig)
                }
            };
        }
        twox_hash::XxHash3_128::oneshot(buf)
    };
    if near {
        out.hashes
            .par_iter_mut()
            .zip(out.sigs.par_chunks_mut(NUM_PERM))
            .zip(out.signed.par_iter_mut())
            .enumerate()
            .for_each_init(init, |scratch, (i, ((h, sig), signed))| {
                *h = hash_row(scratch, i, Some((sig, signed)));
            });
    } else {
        out.hashes
            .par_iter_mut()
            .enumerate()
            .for_each_init(init, |scratch, (i, h)| *h = hash_row(scratch, i, None));
    }
    out
}

/// Every row's hash of one partition, in order.
async fn hash_stream(mut stream: SendableRecordBatchStream, how: Normalize) -> Result<Vec<u128>> {
    let mut out = Vec::new();
    while let Some(batch) = stream.next().await {
        out.extend(hash_batch(&batch?, how, false).hashes);
    }
    Ok(out)
}

/// Rows `next..` with these hashes: each joins the cluster of the first row with its hash, or
/// starts one. Returns the indexes (in `hashes`) of the rows that start one.
fn first_rows(
    hashes: &[u128],
    next: u64,
    parent: &mut Vec<u32>,
    first: &mut HashMap<u128, u32, HashIsKey>,
    exact_dup: &mut Vec<bool>,
) -> Result<Vec<usize>> {
    let mut fresh = Vec::new();
    for (i, h) in hashes.iter().enumerate() {
        let r = u32::try_from(next + i as u64)
            .map_err(|_| Error::Data("--dedup/--leaks handle at most 4 billion rows".into()))?;
        match first.get(h) {
            Some(f) => {
                parent.push(*f);
                exact_dup.push(true);
            }
            None => {
                parent.push(r);
                first.insert(*h, r);
                exact_dup.push(false);
                fresh.push(i);
            }
        }
    }
    Ok(fresh)
}

/// The hygiene pass over every split's frame: counts, and the drops to apply when writing.
pub async fn pass(input: PassInput<'_>, frames: &[DataFrame]) -> Result<(HygieneSummary, Arc<Drops>)> {
    let spec = input.spec;
    let near = spec.dedup == Some(DedupMode::Near);
    let (bands, rows) = if near { minhash::optimal_param(spec.threshold, NUM_PERM) } else { (0, 0) };
    let training = input.names.iter().position(|n| n == "train").unwrap_or(0);

    let mut layout = Layout::default();
    let mut first: HashMap<u128, u32, HashIsKey> = HashMap::default();
    let mut parent: Vec<u32> = Vec::new();
    let mut exact_dup: Vec<bool> = Vec::new();
    let mut sigs = Signatures::Mem(Vec::new());
    let mut slot_row: Vec<u32> = Vec::new();
    let mut band_entries: Vec<(u64, u32)> = Vec::new();
    if let Some(n) = input.rows.and_then(|n| usize::try_from(n).ok()) {
        parent.reserve(n);
        exact_dup.reserve(n);
        first.reserve(n);
        if near {
            slot_row.reserve(n);
            band_entries.reserve(n * bands);
            if let Signatures::Mem(v) = &mut sigs {
                v.reserve((n * NUM_PERM).min(input.budget / 4));
            }
        }
    }
    let mut next: u64 = 0;
    for df in frames {
        layout.split_starts.push(next);
        let mut starts = Vec::new();
        let text = df
            .clone()
            .select(input.text_columns.iter().map(|c| super::split::column(c)).collect::<Vec<_>>())?;
        let streams = session::streams(text).await?;
        if !near {
            // Exact hashes only (the leak check every multi-split export runs): every partition
            // decoded and hashed at once on its own task, then taken in order.
            let tasks: Vec<_> =
                streams.into_iter().map(|st| tokio::spawn(hash_stream(st, spec.normalize))).collect();
            for t in tasks {
                let hashes =
                    t.await.map_err(|e| Error::Internal(format!("the duplicate hashing stopped: {e}")))??;
                starts.push(next);
                first_rows(&hashes, next, &mut parent, &mut first, &mut exact_dup)?;
                next += hashes.len() as u64;
            }
            layout.starts.push(starts);
            continue;
        }
        for stream in streams {
            starts.push(next);
            // The next batch decoded while this one is hashed (on the rayon threads).
            let how = spec.normalize;
            let mut hashed_batches = stream
                .map(|batch| async move {
                    let batch = batch?;
                    let n = batch.num_rows();
                    let hashed = tokio::task::spawn_blocking(move || hash_batch(&batch, how, true))
                        .await
                        .map_err(|e| Error::Internal(format!("the duplicate hashing stopped: {e}")))?;
                    Ok::<_, Error>((n, hashed))
                })
                .buffered(2);
            while let Some(done) = hashed_batches.next().await {
                let (n, hashed) = done?;
                // Signatures kept for the first row of each exact hash.
                let fresh = first_rows(&hashed.hashes, next, &mut parent, &mut first, &mut exact_dup)?;
                for i in fresh {
                    if !hashed.signed[i] {
                        continue;
                    }
                    let sig = &hashed.sigs[i * NUM_PERM..(i + 1) * NUM_PERM];
                    let slot = slot_row.len() as u32;
                    slot_row.push((next + i as u64) as u32);
                    for b in 0..bands {
                        band_entries.push((minhash::band_key(sig, b, rows), slot));
                    }
                    sigs.push(sig, input.budget, &input.spill_dir)?;
                }
                next += n as u64;
            }
        }
        layout.starts.push(starts);
    }
    layout.split_starts.push(next);

    // Near: candidates share a band bucket; verified by estimated Jaccard.
    let mut clusters = Clusters(parent);
    if near {
        band_entries.par_sort_unstable();
        let (mut a, mut b) = (vec![0u32; NUM_PERM], vec![0u32; NUM_PERM]);
        let mut start = 0;
        while start < band_entries.len() {
            let key = band_entries[start].0;
            let end = start + band_entries[start..].partition_point(|e| e.0 == key);
            let group = &band_entries[start..end];
            for j in 1..group.len() {
                // Each member against the earlier ones of its bucket (at most 64 back).
                for k in (j.saturating_sub(64)..j).rev() {
                    let (x, y) = (slot_row[group[k].1 as usize], slot_row[group[j].1 as usize]);
                    if clusters.find(x) == clusters.find(y) {
                        continue;
                    }
                    sigs.get(group[k].1, &mut a)?;
                    sigs.get(group[j].1, &mut b)?;
                    if minhash::jaccard(&a, &b) >= spec.threshold {
                        clusters.union(x, y);
                    }
                }
            }
            start = end;
        }
    }

    Ok(decide(&input, training, layout, clusters, &exact_dup, near.then_some((bands, rows))))
}

/// The decisions, from the clusters of every row (in write order, laid out by `layout`): the
/// root (smallest row) of a cluster is kept; the counts per split; the drops to apply.
fn decide(
    input: &PassInput<'_>,
    training: usize,
    layout: Layout,
    mut clusters: Clusters,
    exact_dup: &[bool],
    banding: Option<(usize, usize)>,
) -> (HygieneSummary, Arc<Drops>) {
    let spec = input.spec;
    let next = *layout.split_starts.last().expect("one past the last split");
    let n = next as usize;
    let t0 = layout.split_starts[training] as u32;
    let t1 = layout.split_starts[training + 1] as u32;
    let mut first_train: Vec<u32> = vec![u32::MAX; n];
    for r in t0..t1 {
        let root = clusters.find(r);
        if first_train[root as usize] == u32::MAX {
            first_train[root as usize] = r;
        }
    }
    let k = input.names.len();
    let mut splits: Vec<HygieneSplit> = input
        .names
        .iter()
        .enumerate()
        .map(|(i, name)| HygieneSplit {
            name: name.clone(),
            rows_in: layout.split_starts[i + 1] - layout.split_starts[i],
            ..Default::default()
        })
        .collect();
    let mut by_split: Vec<PartitionDrops> = vec![BTreeMap::new(); k];
    for r in 0..n as u32 {
        let root = clusters.find(r);
        let s = layout.split_of(r as u64);
        let leak = s != training && first_train[root as usize] != u32::MAX;
        let duplicate = root != r;
        let h = &mut splits[s];
        if exact_dup[r as usize] {
            h.exact_duplicates += 1;
        } else if duplicate {
            h.near_duplicates += 1;
        }
        if leak {
            h.leaks += 1;
        }
        let dropped = (duplicate && spec.dedup.is_some()) || (leak && spec.leaks == LeaksMode::Drop);
        if !dropped {
            continue;
        }
        let (why, matched) = match leak {
            true => (Reason::Leaks, first_train[root as usize]),
            false => (Reason::Duplicates, root),
        };
        match why {
            Reason::Leaks => h.dropped_leaks += 1,
            Reason::Duplicates => h.dropped_duplicates += 1,
        }
        let starts = &layout.starts[s];
        let p = starts.partition_point(|st| *st <= r as u64) - 1;
        by_split[s].entry(p).or_default().push((r as u64 - starts[p], why, matched as u64));
    }
    outcome(input, training, splits, banding, by_split, layout)
}

/// The summary and the drops of a pass.
fn outcome(
    input: &PassInput<'_>,
    training: usize,
    splits: Vec<HygieneSplit>,
    banding: Option<(usize, usize)>,
    by_split: Vec<PartitionDrops>,
    layout: Layout,
) -> (HygieneSummary, Arc<Drops>) {
    let spec = input.spec;
    let summary = HygieneSummary {
        dedup: spec.dedup,
        normalize: spec.normalize,
        near_dup_threshold: banding.map(|_| spec.threshold),
        lsh_bands: banding.map(|b| b.0),
        lsh_rows: banding.map(|b| b.1),
        leaks: spec.leaks,
        training_split: input.names[training].clone(),
        splits,
        dropped_rows: Vec::new(),
        split_from: None,
    };
    let drops = Drops {
        by_split,
        layout,
        names: input.names.to_vec(),
        record_columns: input.record_columns.clone(),
        records: Mutex::new(Vec::new()),
    };
    (summary, Arc::new(drops))
}

/// The leak check fused into the write (`--leaks report` without `--dedup`: nothing is dropped,
/// so nothing has to be decided before writing): each split's rows hashed as the writer's
/// batches go by -- no pass of its own over the text -- then counted once every split is
/// written. Which row of a split comes first does not change any count, so the batches may come
/// in any order within a split.
pub struct LeakCounter {
    how: Normalize,
    text_columns: Vec<String>,
    hashes: Vec<Mutex<Vec<u128>>>,
}

impl LeakCounter {
    pub fn new(how: Normalize, text_columns: Vec<String>, splits: usize) -> Self {
        LeakCounter { how, text_columns, hashes: (0..splits).map(|_| Mutex::new(Vec::new())).collect() }
    }

    /// Hash the rows of one of split `split`'s batches (it holds the text columns).
    pub fn observe(&self, split: usize, batch: &RecordBatch) -> Result<()> {
        let schema = batch.schema();
        let columns = self
            .text_columns
            .iter()
            .map(|c| {
                schema.index_of(c).map_err(|_| {
                    Error::Internal(format!("the leak check's column `{c}` is not in the written batch"))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let text = batch.project(&columns)?;
        let hashed = hash_batch(&text, self.how, false).hashes;
        self.hashes[split].lock().expect("hashes lock").extend(hashed);
        Ok(())
    }

    /// The counts, once every split is written (the same as [`pass`]'s without `--dedup`): each
    /// split's hashes sorted in place and merged, so no map of every row is built (a row is an
    /// exact duplicate unless it is its hash's first, splits in order; a leak when its hash is
    /// also a training row's).
    pub fn finish(&self, input: PassInput<'_>) -> Result<(HygieneSummary, Arc<Drops>)> {
        let training = input.names.iter().position(|n| n == "train").unwrap_or(0);
        let mut per: Vec<Vec<u128>> =
            self.hashes.iter().map(|h| std::mem::take(&mut *h.lock().expect("hashes lock"))).collect();
        per.par_iter_mut().for_each(|h| h.par_sort_unstable());
        let k = per.len();
        let mut splits: Vec<HygieneSplit> = input
            .names
            .iter()
            .zip(&per)
            .map(|(name, h)| HygieneSplit {
                name: name.clone(),
                rows_in: h.len() as u64,
                ..Default::default()
            })
            .collect();
        let mut at = vec![0usize; k];
        let mut counts = vec![0u64; k];
        while let Some(h) = (0..k).filter_map(|s| per[s].get(at[s])).min().copied() {
            let mut first = None;
            for s in 0..k {
                let run = per[s][at[s]..].iter().take_while(|x| **x == h).count();
                at[s] += run;
                counts[s] = run as u64;
                if run > 0 && first.is_none() {
                    first = Some(s);
                }
            }
            let in_training = counts[training] > 0;
            for s in 0..k {
                if counts[s] == 0 {
                    continue;
                }
                splits[s].exact_duplicates += counts[s] - u64::from(first == Some(s));
                if in_training && s != training {
                    splits[s].leaks += counts[s];
                }
            }
        }
        let mut layout = Layout::default();
        let mut next = 0u64;
        for sp in &splits {
            layout.split_starts.push(next);
            layout.starts.push(vec![next]);
            next += sp.rows_in;
        }
        layout.split_starts.push(next);
        Ok(outcome(&input, training, splits, None, vec![BTreeMap::new(); k], layout))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_as_python() {
        // unicodedata.normalize("NFKC", s).casefold(), whitespace runs collapsed, stripped.
        assert_eq!(normalize("  Stra\u{df}e\t\tＡＢＣ\u{a0}ﬁne \n", Normalize::Nfkc), "strasse abc fine");
        assert_eq!(normalize(" A  b ", Normalize::None), " A  b ");
        assert_eq!(normalize("\tMiXeD  Case\x0b text\n", Normalize::Nfkc), "mixed case text");
    }

    #[test]
    fn normalize_into_equals_normalize() {
        let mut buf = Vec::new();
        let cases = [
            "",
            " ",
            "\t\n\x0b\x0c\r ",
            "  Lead and trail  ",
            "A\x1cB\x1d C\x1e\x1fD",
            "MiXeD\r\nCase\ttext",
            "one",
            "  Stra\u{df}e\t\tＡＢＣ\u{a0}ﬁne \n",
            "ascii then é",
        ];
        for how in [Normalize::Nfkc, Normalize::None] {
            for c in cases {
                normalize_into(c, how, &mut buf);
                assert_eq!(buf, normalize(c, how).as_bytes(), "{c:?} {how:?}");
            }
        }
        // Every ASCII byte, in runs.
        let all: String = (0u8..128).map(char::from).collect();
        for t in [all.clone(), format!("{all} {all}\t{all}")] {
            normalize_into(&t, Normalize::Nfkc, &mut buf);
            assert_eq!(buf, normalize(&t, Normalize::Nfkc).as_bytes());
        }
    }

    #[test]
    fn signatures_spill_past_the_budget_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Signatures::Mem(Vec::new());
        let sig = |k: u32| (0..NUM_PERM as u32).map(|i| i * 7 + k).collect::<Vec<u32>>();
        for k in 0..10 {
            s.push(&sig(k), 3 * 4 * NUM_PERM, dir.path()).unwrap();
            assert_eq!(matches!(s, Signatures::File(_)), k >= 3, "{k}");
        }
        let mut out = vec![0; NUM_PERM];
        for k in [0, 2, 3, 9, 5] {
            s.get(k, &mut out).unwrap();
            assert_eq!(out, sig(k));
        }
    }

    #[test]
    fn union_find_keeps_the_smallest_root() {
        let mut c = Clusters((0..5).collect());
        c.union(4, 2);
        c.union(2, 3);
        c.union(3, 1);
        assert_eq!(c.find(4), 1);
        assert_eq!(c.find(0), 0);
    }
}
