//! `--packing`: token rows packed into rows of at most `--max-length` tokens, exactly as TRL
//! 1.16's `pack_dataset` does it when `SFTTrainer` prepares a dataset.
//!
//! What TRL does, and so what this does:
//! - only `input_ids` and `labels` are packed (`SFTTrainer` selects those two columns first);
//!   every other column (`attention_mask`, kept columns) is dropped;
//! - rows are packed in consecutive windows of `window` rows of the packer's input, counted
//!   from the start of the split (`Dataset.map(batched=True)`, 1,000 rows a batch); nothing is
//!   packed across a window boundary. A window holds every row of its range, empty ones too;
//! - `bfd` (best fit decreasing): rows without tokens are dropped, the others cut to their
//!   first `max_length` tokens; the rows are sorted by length, longest first, equal lengths in
//!   row order (a stable sort); each goes into the open bin with the least free space that
//!   still fits it — of several bins with that free space, the one that reached it first —
//!   or into a new bin. Bins are written in the order they were opened, each the
//!   concatenation of its rows in the order they went in, with `seq_lengths` (list<int32>):
//!   the lengths of those rows, from which the collator builds `position_ids`;
//! - `bfd-split`: as `bfd`, but a row longer than `max_length` is first cut into fragments of
//!   `max_length` tokens and a last shorter one, each packed as a row of its own;
//! - `wrapped`: the window's tokens concatenated and cut every `max_length` tokens (the last
//!   row of a window is shorter); no `seq_lengths`.
//!
//! [`Packer`] streams: it holds at most one window of rows. Because windows are counted from
//! the split's start, a fan-out task that begins at a window boundary packs its rows exactly
//! as one process does: [`task_ranges`] chooses such boundaries from per-file row counts.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use deltalake::arrow::array::{Array, ArrayRef, Int32Array, Int64Array, ListArray, RecordBatch};
use deltalake::arrow::buffer::OffsetBuffer;
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The token column.
pub const INPUT_IDS: &str = "input_ids";
/// The labels column (-100 where masked).
pub const LABELS: &str = "labels";
/// The column of packed sequence lengths (`bfd`, `bfd-split`).
pub const SEQ_LENGTHS: &str = "seq_lengths";
/// `--packing-window`'s default: `Dataset.map`'s batch size, the window TRL packs in.
pub const DEFAULT_WINDOW: usize = 1000;

/// `--packing`: how rows are packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Best fit decreasing; rows longer than `--max-length` are truncated (TRL's `bfd`).
    Bfd,
    /// Best fit decreasing; rows longer than `--max-length` are split (TRL's `bfd_split`).
    BfdSplit,
    /// Concatenate and cut every `--max-length` tokens (TRL's `wrapped`).
    Wrapped,
}

impl Strategy {
    /// The name TRL gives it (`packing_strategy`).
    pub fn trl_name(self) -> &'static str {
        match self {
            Strategy::Bfd => "bfd",
            Strategy::BfdSplit => "bfd_split",
            Strategy::Wrapped => "wrapped",
        }
    }

    /// Whether packed rows carry `seq_lengths`.
    pub fn writes_seq_lengths(self) -> bool {
        !matches!(self, Strategy::Wrapped)
    }
}

/// What a [`Packer`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackOptions {
    pub strategy: Strategy,
    /// `--max-length`: tokens per packed row at most (TRL's `seq_length`).
    pub max_length: usize,
    /// `--packing-window`: rows packed together.
    pub window: usize,
}

/// What a split's packing did (for the summary).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackStats {
    pub max_length: usize,
    /// Rows given to the packer.
    pub rows_in: u64,
    /// Rows without tokens, dropped (`bfd`, `bfd-split`; under `wrapped` they add nothing).
    pub rows_empty: u64,
    /// Rows longer than `max_length`: truncated (`bfd`) or split (`bfd-split`); under
    /// `wrapped` rows are cut anyway and this counts them all the same.
    pub rows_over_max: u64,
    pub tokens_in: u64,
    /// Tokens written (less than `tokens_in` by what `bfd` truncates).
    pub tokens_out: u64,
    /// Packed rows written.
    pub rows_out: u64,
}

impl PackStats {
    /// Tokens written over the room of the rows written (`rows_out * max_length`); 0 when
    /// nothing was written.
    pub fn fill_ratio(&self) -> f64 {
        let room = self.rows_out as f64 * self.max_length as f64;
        if room == 0.0 { 0.0 } else { self.tokens_out as f64 / room }
    }

    /// The statistics of two parts of a split packed apart (a fan-out's tasks, which begin on
    /// window boundaries): counts summed.
    pub fn merged(&self, other: &PackStats) -> PackStats {
        PackStats {
            max_length: self.max_length.max(other.max_length),
            rows_in: self.rows_in + other.rows_in,
            rows_empty: self.rows_empty + other.rows_empty,
            rows_over_max: self.rows_over_max + other.rows_over_max,
            tokens_in: self.tokens_in + other.tokens_in,
            tokens_out: self.tokens_out + other.tokens_out,
            rows_out: self.rows_out + other.rows_out,
        }
    }
}

/// Streams a split's token rows into packed rows, one window at a time.
#[derive(Debug)]
pub struct Packer {
    opts: PackOptions,
    schema: SchemaRef,
    ids_field: Arc<Field>,
    labels_field: Arc<Field>,
    /// The current window: its rows' tokens and labels, flat, and where each row starts.
    ids: Vec<i32>,
    labels: Vec<i64>,
    offsets: Vec<usize>,
    stats: PackStats,
}

impl Packer {
    /// A packer for batches of `input` (which must have `input_ids` list<int32> and `labels`
    /// list<int64>; other columns are ignored).
    pub fn new(opts: PackOptions, input: &Schema) -> Result<Packer> {
        if opts.max_length == 0 {
            return Err(Error::Usage("--max-length must be at least 1 with --packing".into()));
        }
        if opts.window == 0 {
            return Err(Error::Usage("--packing-window must be at least 1".into()));
        }
        let ids_field = list_field(input, INPUT_IDS, &DataType::Int32)?;
        let labels_field = list_field(input, LABELS, &DataType::Int64)?;
        let mut fields = vec![
            Field::new(INPUT_IDS, DataType::List(ids_field.clone()), true),
            Field::new(LABELS, DataType::List(labels_field.clone()), true),
        ];
        if opts.strategy.writes_seq_lengths() {
            fields.push(Field::new(
                SEQ_LENGTHS,
                DataType::List(Arc::new(Field::new("item", DataType::Int32, true))),
                true,
            ));
        }
        Ok(Packer {
            opts,
            schema: Arc::new(Schema::new(fields)),
            ids_field,
            labels_field,
            ids: Vec::new(),
            labels: Vec::new(),
            offsets: vec![0],
            stats: PackStats { max_length: opts.max_length, ..PackStats::default() },
        })
    }

    /// The schema of the packed batches.
    pub fn output_schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// What was packed so far.
    pub fn stats(&self) -> PackStats {
        self.stats
    }

    /// Take a batch of rows (in split order); returns the packed batches of the windows it
    /// completed.
    pub fn push(&mut self, batch: &RecordBatch) -> Result<Vec<RecordBatch>> {
        let ids = list_column(batch, INPUT_IDS)?;
        let labels = list_column(batch, LABELS)?;
        let (ids_values, labels_values) = (values::<Int32Array>(ids)?, values::<Int64Array>(labels)?);
        let (io, lo) = (ids.value_offsets(), labels.value_offsets());
        let mut out = Vec::new();
        for row in 0..batch.num_rows() {
            let (is, ie) = if ids.is_null(row) { (0, 0) } else { (io[row] as usize, io[row + 1] as usize) };
            let (ls, le) =
                if labels.is_null(row) { (0, 0) } else { (lo[row] as usize, lo[row + 1] as usize) };
            if ie - is != le - ls {
                return Err(Error::Internal(format!(
                    "packing: row {} has {} input_ids but {} labels",
                    self.stats.rows_in,
                    ie - is,
                    le - ls
                )));
            }
            self.ids.extend_from_slice(&ids_values.values()[is..ie]);
            self.labels.extend_from_slice(&labels_values.values()[ls..le]);
            self.offsets.push(self.ids.len());
            self.stats.rows_in += 1;
            if self.offsets.len() > self.opts.window {
                out.push(self.pack_window()?);
            }
        }
        Ok(out)
    }

    /// The last (partial) window's packed batch, if it had rows.
    pub fn finish(&mut self) -> Result<Option<RecordBatch>> {
        if self.offsets.len() == 1 {
            return Ok(None);
        }
        self.pack_window().map(Some)
    }

    /// Pack the buffered window and start the next one.
    fn pack_window(&mut self) -> Result<RecordBatch> {
        let max = self.opts.max_length;
        let rows: Vec<(usize, usize)> = self.offsets.windows(2).map(|w| (w[0], w[1] - w[0])).collect();
        self.stats.tokens_in += self.ids.len() as u64;
        self.stats.rows_empty += rows.iter().filter(|r| r.1 == 0).count() as u64;
        self.stats.rows_over_max += rows.iter().filter(|r| r.1 > max).count() as u64;
        // The packed rows, each a list of (start, length) pieces of the window's tokens.
        let (packed, seq_lengths) = match self.opts.strategy {
            Strategy::Bfd => {
                let items: Vec<(usize, usize)> =
                    rows.iter().filter(|r| r.1 > 0).map(|&(s, n)| (s, n.min(max))).collect();
                bfd(&items, max)
            }
            Strategy::BfdSplit => {
                let mut items = Vec::new();
                for &(start, n) in rows.iter().filter(|r| r.1 > 0) {
                    // Full fragments first, the shorter rest last.
                    let mut at = 0;
                    while at < n {
                        let take = max.min(n - at);
                        items.push((start + at, take));
                        at += take;
                    }
                }
                bfd(&items, max)
            }
            Strategy::Wrapped => {
                let total = self.ids.len();
                let packed = (0..total).step_by(max).map(|s| vec![(s, max.min(total - s))]).collect();
                (packed, None)
            }
        };
        let batch = self.build(&packed, seq_lengths.as_deref())?;
        self.ids.clear();
        self.labels.clear();
        self.offsets.truncate(1);
        Ok(batch)
    }

    fn build(
        &mut self,
        packed: &[Vec<(usize, usize)>],
        seq_lengths: Option<&[Vec<i32>]>,
    ) -> Result<RecordBatch> {
        let tokens: usize = packed.iter().flatten().map(|p| p.1).sum();
        let mut ids = Vec::with_capacity(tokens);
        let mut labels = Vec::with_capacity(tokens);
        let mut lengths = Vec::with_capacity(packed.len());
        for row in packed {
            let mut n = 0;
            for &(s, len) in row {
                ids.extend_from_slice(&self.ids[s..s + len]);
                labels.extend_from_slice(&self.labels[s..s + len]);
                n += len;
            }
            lengths.push(n);
        }
        self.stats.tokens_out += tokens as u64;
        self.stats.rows_out += packed.len() as u64;
        let offsets = OffsetBuffer::<i32>::from_lengths(lengths);
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(ListArray::try_new(
                self.ids_field.clone(),
                offsets.clone(),
                Arc::new(Int32Array::from(ids)),
                None,
            )?),
            Arc::new(ListArray::try_new(
                self.labels_field.clone(),
                offsets,
                Arc::new(Int64Array::from(labels)),
                None,
            )?),
        ];
        if let Some(seq) = seq_lengths {
            let item = Arc::new(Field::new("item", DataType::Int32, true));
            let offsets = OffsetBuffer::<i32>::from_lengths(seq.iter().map(Vec::len));
            let values = Int32Array::from(seq.concat());
            columns.push(Arc::new(ListArray::try_new(item, offsets, Arc::new(values), None)?));
        }
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

/// A fan-out task's rows of a split: of the rows its files yield (in order), the [`TaskRange`]'s
/// — the first `skip` belong to the task before, those past `rows()` to the task after. Put it
/// on the selected rows before anything can drop one; [`TaskRows::finish`] then checks that
/// the scan yielded the rows the Delta log counts and that every row of the range reached the
/// packer, so a task whose rows would not be packed as `prepare` packs them fails instead.
#[derive(Debug, Clone)]
pub struct TaskRows {
    range: TaskRange,
    /// Rows seen so far.
    seen: u64,
}

impl TaskRows {
    pub fn new(range: TaskRange) -> TaskRows {
        TaskRows { range, seen: 0 }
    }

    /// The part of `batch` (the next rows of the task's scan) that is the task's.
    pub fn apply(&mut self, batch: &RecordBatch) -> Option<RecordBatch> {
        let n = batch.num_rows() as u64;
        let (from, to) = (self.seen, self.seen + n);
        self.seen = to;
        let start = self.range.skip.clamp(from, to);
        let end = (self.range.skip + self.range.rows()).clamp(from, to);
        (end > start).then(|| batch.slice((start - from) as usize, (end - start) as usize))
    }

    /// After the scan: refuse a task whose rows do not line up with the plan's windows.
    /// `packed_rows_in` is [`PackStats::rows_in`] of the task's packer.
    pub fn finish(&self, split: &str, packed_rows_in: u64) -> Result<()> {
        let r = &self.range;
        if self.seen != r.file_rows || packed_rows_in != r.rows() {
            return Err(Error::Data(format!(
                "split `{split}`: with --packing every task must pack exactly its rows {}..{} of the split, \
                 but its data files yielded {} rows (the Delta log counts {}) and {} reached the packer: rows were \
                 filtered or dropped before packing (a --select-sql WHERE, --drop-nulls, --skip-invalid-rows), so the \
                 packing windows would not be `prepare`'s; run `delta-hf prepare` for this export",
                r.first_row, r.end_row, self.seen, r.file_rows, packed_rows_in
            )));
        }
        Ok(())
    }
}

/// Packed rows as (start, length) pieces of a window's tokens, and their `seq_lengths`.
type Packed = (Vec<Vec<(usize, usize)>>, Option<Vec<Vec<i32>>>);

/// Best fit decreasing over `items` (start, length ≤ `max`), in TRL's order: the packed rows
/// as pieces, and each row's `seq_lengths`.
fn bfd(items: &[(usize, usize)], max: usize) -> Packed {
    let mut order: Vec<usize> = (0..items.len()).collect();
    // Stable: equal lengths keep their row order (Arrow's sort, which TRL uses, is stable).
    order.sort_by(|a, b| items[*b].1.cmp(&items[*a].1));
    let mut bins: Vec<Vec<usize>> = Vec::new();
    // Free space → the open bins with that much room, in the order they came to have it.
    let mut free: BTreeMap<usize, VecDeque<usize>> = BTreeMap::new();
    for i in order {
        let len = items[i].1;
        let fit = free.range_mut(len..).next().map(|(space, bins)| (*space, bins.pop_front()));
        let (bin, space) = match fit {
            Some((space, Some(bin))) => {
                if free.get(&space).is_some_and(VecDeque::is_empty) {
                    free.remove(&space);
                }
                (bin, space)
            }
            _ => {
                bins.push(Vec::new());
                (bins.len() - 1, max)
            }
        };
        bins[bin].push(i);
        if space > len {
            free.entry(space - len).or_default().push_back(bin);
        }
    }
    let seq_lengths = bins.iter().map(|b| b.iter().map(|&i| items[i].1 as i32).collect()).collect();
    let packed = bins.into_iter().map(|b| b.into_iter().map(|i| items[i]).collect()).collect();
    (packed, Some(seq_lengths))
}

/// Task boundaries for a packed fan-out: `tasks` contiguous row ranges of a split whose file
/// `i` holds `file_rows[i]` rows (in scan order), each beginning on a multiple of `window`
/// (so each task's windows are the one-process windows), balanced by rows. A task may begin
/// or end inside a file; some tasks may be empty when there are fewer windows than tasks.
pub fn task_ranges(file_rows: &[u64], tasks: usize, window: u64) -> Vec<TaskRange> {
    let total: u64 = file_rows.iter().sum();
    let window = window.max(1);
    let windows = total.div_ceil(window);
    let tasks = tasks.max(1) as u64;
    // Task t begins at window floor(t * windows / tasks).
    let starts: Vec<u64> = (0..=tasks)
        .map(|t| if t == tasks { total } else { (t * windows / tasks * window).min(total) })
        .collect();
    starts.windows(2).map(|w| TaskRange::locate(file_rows, w[0], w[1])).collect()
}

/// One task's rows of a split: rows `first_row..end_row` (split positions), which are the rows
/// of files `files` after skipping `skip` rows of the first of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRange {
    pub first_row: u64,
    pub end_row: u64,
    /// Indexes into the split's files (scan order); empty for an empty task.
    pub files: std::ops::Range<usize>,
    /// Rows of the first file that belong to the task before.
    pub skip: u64,
    /// Rows of `files` in all, as the Delta log counts them (what the task's scan must yield).
    pub file_rows: u64,
}

impl TaskRange {
    fn locate(file_rows: &[u64], first_row: u64, end_row: u64) -> TaskRange {
        if first_row >= end_row {
            return TaskRange { first_row, end_row, files: 0..0, skip: 0, file_rows: 0 };
        }
        let (mut first, mut skip, mut end) = (None, 0, 0);
        let mut before = 0;
        for (i, &n) in file_rows.iter().enumerate() {
            let after = before + n;
            if first.is_none() && after > first_row {
                first = Some(i);
                skip = first_row - before;
            }
            if before < end_row && n > 0 {
                end = i + 1;
            }
            before = after;
        }
        let files = first.unwrap_or(0)..end;
        let file_rows = file_rows[files.clone()].iter().sum();
        TaskRange { first_row, end_row, files, skip, file_rows }
    }

    /// Rows in the task.
    pub fn rows(&self) -> u64 {
        self.end_row - self.first_row
    }
}

fn list_field(schema: &Schema, name: &str, item: &DataType) -> Result<Arc<Field>> {
    let field = schema.field_with_name(name).map_err(|_| {
        Error::Internal(format!("packing needs a `{name}` column; the rows have {:?}", names(schema)))
    })?;
    match field.data_type() {
        DataType::List(f) if f.data_type() == item => Ok(f.clone()),
        other => Err(Error::Internal(format!("packing needs `{name}` as list<{item}>, found {other}"))),
    }
}

fn names(schema: &Schema) -> Vec<&str> {
    schema.fields().iter().map(|f| f.name().as_str()).collect()
}

fn list_column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ListArray> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<ListArray>())
        .ok_or_else(|| Error::Internal(format!("packing: the batch has no list column `{name}`")))
}

fn values<T: 'static>(list: &ListArray) -> Result<&T> {
    list.values()
        .as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| Error::Internal(format!("packing: unexpected list items {}", list.value_type())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(rows: &[Vec<i32>]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new(INPUT_IDS, DataType::List(Arc::new(Field::new("item", DataType::Int32, true))), true),
            Field::new(LABELS, DataType::List(Arc::new(Field::new("item", DataType::Int64, true))), true),
            Field::new(
                "attention_mask",
                DataType::List(Arc::new(Field::new("item", DataType::Int8, true))),
                true,
            ),
        ]));
        let offsets = OffsetBuffer::<i32>::from_lengths(rows.iter().map(Vec::len));
        let ids: Vec<i32> = rows.concat();
        let labels: Vec<i64> = ids.iter().map(|&i| -i64::from(i)).collect();
        let mask = deltalake::arrow::array::Int8Array::from(vec![1i8; ids.len()]);
        let item = |t| Arc::new(Field::new("item", t, true));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(ListArray::new(
                    item(DataType::Int32),
                    offsets.clone(),
                    Arc::new(Int32Array::from(ids)),
                    None,
                )),
                Arc::new(ListArray::new(
                    item(DataType::Int64),
                    offsets.clone(),
                    Arc::new(Int64Array::from(labels)),
                    None,
                )),
                Arc::new(ListArray::new(item(DataType::Int8), offsets, Arc::new(mask), None)),
            ],
        )
        .unwrap()
    }

    fn lists<T: deltalake::arrow::array::ArrowPrimitiveType>(
        b: &RecordBatch,
        name: &str,
    ) -> Vec<Vec<T::Native>> {
        let l = b.column_by_name(name).unwrap().as_any().downcast_ref::<ListArray>().unwrap();
        (0..l.len())
            .map(|i| {
                let v = l.value(i);
                v.as_any()
                    .downcast_ref::<deltalake::arrow::array::PrimitiveArray<T>>()
                    .unwrap()
                    .values()
                    .to_vec()
            })
            .collect()
    }

    type Out = (Vec<Vec<i32>>, Vec<Vec<i32>>, PackStats);

    fn pack(strategy: Strategy, max_length: usize, window: usize, rows: &[Vec<i32>], batch: usize) -> Out {
        use deltalake::arrow::datatypes::Int32Type;
        let all = input(rows);
        let mut p = Packer::new(PackOptions { strategy, max_length, window }, &all.schema()).unwrap();
        let mut out = Vec::new();
        let mut at = 0;
        while at < all.num_rows() {
            let n = batch.min(all.num_rows() - at);
            out.extend(p.push(&all.slice(at, n)).unwrap());
            at += n;
        }
        out.extend(p.finish().unwrap());
        let (mut ids, mut seq) = (Vec::new(), Vec::new());
        for b in &out {
            assert_eq!(b.schema(), p.output_schema());
            let i = lists::<Int32Type>(b, INPUT_IDS);
            let l = lists::<deltalake::arrow::datatypes::Int64Type>(b, LABELS);
            // Labels travel with their tokens.
            let neg: Vec<Vec<i64>> = i.iter().map(|r| r.iter().map(|&x| -i64::from(x)).collect()).collect();
            assert_eq!(l, neg);
            if strategy.writes_seq_lengths() {
                seq.extend(lists::<Int32Type>(b, SEQ_LENGTHS));
            } else {
                assert!(b.column_by_name(SEQ_LENGTHS).is_none());
            }
            ids.extend(i);
        }
        (ids, seq, p.stats())
    }

    fn docs() -> Vec<Vec<i32>> {
        vec![vec![1, 2, 3, 4, 5], vec![6, 7], vec![8, 9, 10], vec![11]]
    }

    #[test]
    fn bfd_matches_trl_docstring() {
        let (ids, seq, stats) = pack(Strategy::Bfd, 4, 1000, &docs(), 3);
        assert_eq!(ids, vec![vec![1, 2, 3, 4], vec![8, 9, 10, 11], vec![6, 7]]);
        assert_eq!(seq, vec![vec![4], vec![3, 1], vec![2]]);
        assert_eq!((stats.rows_in, stats.rows_out, stats.rows_over_max), (4, 3, 1));
        assert_eq!((stats.tokens_in, stats.tokens_out), (11, 10));
        assert!((stats.fill_ratio() - 10.0 / 12.0).abs() < 1e-9);
    }

    #[test]
    fn bfd_split_matches_trl_docstring() {
        let (ids, seq, _) = pack(Strategy::BfdSplit, 4, 1000, &docs(), 1);
        assert_eq!(ids, vec![vec![1, 2, 3, 4], vec![8, 9, 10, 5], vec![6, 7, 11]]);
        assert_eq!(seq, vec![vec![4], vec![3, 1], vec![2, 1]]);
    }

    #[test]
    fn wrapped_cuts_every_max_length_within_windows() {
        let (ids, seq, _) = pack(Strategy::Wrapped, 4, 1000, &docs(), 2);
        assert_eq!(ids, vec![vec![1, 2, 3, 4], vec![5, 6, 7, 8], vec![9, 10, 11]]);
        assert!(seq.is_empty());
        // Windows of 3 rows: the second window (row 11) starts a new packed row.
        let (ids, _, _) = pack(Strategy::Wrapped, 4, 3, &docs(), 2);
        assert_eq!(ids, vec![vec![1, 2, 3, 4], vec![5, 6, 7, 8], vec![9, 10], vec![11]]);
    }

    #[test]
    fn best_fit_prefers_the_tightest_bin_and_the_oldest_of_equals() {
        // Lengths 6, 6, 3, 2, 2 into 8: bins [6], [6] (free 2, 2), the 3 opens a bin (free 5),
        // each 2 goes to the oldest bin with exactly 2 free.
        let rows = vec![vec![1; 6], vec![2; 6], vec![3; 3], vec![4; 2], vec![5; 2]];
        let (ids, seq, _) = pack(Strategy::Bfd, 8, 1000, &rows, 5);
        assert_eq!(seq, vec![vec![6, 2], vec![6, 2], vec![3]]);
        assert_eq!(ids[0], [vec![1; 6], vec![4; 2]].concat());
        assert_eq!(ids[1], [vec![2; 6], vec![5; 2]].concat());
    }

    #[test]
    fn empty_rows_are_dropped_but_count_in_the_window() {
        let rows = vec![vec![], vec![1, 2], vec![], vec![3]];
        let (ids, seq, stats) = pack(Strategy::Bfd, 4, 2, &rows, 4);
        // Windows: rows 0-1 and rows 2-3.
        assert_eq!(ids, vec![vec![1, 2], vec![3]]);
        assert_eq!(seq, vec![vec![2], vec![1]]);
        assert_eq!(stats.rows_empty, 2);
        // A window of only empty rows writes an empty batch.
        let (ids, _, stats) = pack(Strategy::BfdSplit, 4, 1, &[vec![], vec![7]], 1);
        assert_eq!(ids, vec![vec![7]]);
        assert_eq!(stats.rows_out, 1);
    }

    #[test]
    fn batches_do_not_change_windows() {
        let rows: Vec<Vec<i32>> = (0..50).map(|i| (0..(i * 7 % 13)).map(|t| t + i * 100).collect()).collect();
        for s in [Strategy::Bfd, Strategy::BfdSplit, Strategy::Wrapped] {
            let one = pack(s, 9, 7, &rows, 50);
            for b in [1, 3, 7, 11] {
                assert_eq!(pack(s, 9, 7, &rows, b), one, "{s:?} batch {b}");
            }
        }
    }

    #[test]
    fn refuses_missing_or_mistyped_columns() {
        let schema = Schema::new(vec![Field::new(INPUT_IDS, DataType::Int32, true)]);
        let opts = PackOptions { strategy: Strategy::Bfd, max_length: 4, window: 10 };
        assert!(Packer::new(opts, &schema).unwrap_err().to_string().contains("input_ids"));
        let ok = input(&docs());
        assert!(Packer::new(PackOptions { max_length: 0, ..opts }, &ok.schema()).is_err());
    }

    #[test]
    fn task_rows_take_the_range_and_check_counts() {
        let r = task_ranges(&[5, 7, 4], 2, 4);
        // 16 rows, 4 windows: rows 0..8 and 8..16; task 1 skips 3 rows of file 1.
        assert_eq!((r[1].files.clone(), r[1].skip, r[1].file_rows), (1..3, 3, 11));
        let rows: Vec<Vec<i32>> = (0..11).map(|i| vec![i]).collect();
        let all = input(&rows);
        let mut t = TaskRows::new(r[1].clone());
        let mut got = Vec::new();
        for (at, n) in [(0, 2), (2, 3), (5, 6)] {
            if let Some(b) = t.apply(&all.slice(at, n)) {
                got.extend(lists::<deltalake::arrow::datatypes::Int32Type>(&b, INPUT_IDS).concat());
            }
        }
        assert_eq!(got, (3..11).collect::<Vec<_>>());
        t.finish("train", 8).unwrap();
        // A row dropped before the packer, or a scan that yields fewer rows: refused.
        assert!(t.finish("train", 7).unwrap_err().to_string().contains("prepare"));
        let mut short = TaskRows::new(r[1].clone());
        short.apply(&all.slice(0, 10));
        assert!(short.finish("train", 8).is_err());
    }

    /// Fan-out equals one process: tasks cut by [`task_ranges`], each reading its files' rows
    /// through [`TaskRows`] into its own packer, write the rows one packer writes, in order.
    #[test]
    fn tasks_pack_as_one_process() {
        use deltalake::arrow::datatypes::Int32Type;
        let rows: Vec<Vec<i32>> =
            (0..230).map(|i| (0..(i * 37 % 41)).map(|t| t + i * 1000).collect()).collect();
        let all = input(&rows);
        let file_rows = [17u64, 0, 60, 3, 90, 60];
        let starts: Vec<usize> =
            file_rows.iter().scan(0, |at, n| Some(std::mem::replace(at, *at + *n as usize))).collect();
        for strategy in [Strategy::Bfd, Strategy::BfdSplit, Strategy::Wrapped] {
            let opts = PackOptions { strategy, max_length: 30, window: 25 };
            let collect = |batches: Vec<RecordBatch>| -> Vec<Vec<i32>> {
                batches.iter().flat_map(|b| lists::<Int32Type>(b, INPUT_IDS)).collect()
            };
            let mut one = Packer::new(opts, &all.schema()).unwrap();
            let mut want = one.push(&all).unwrap();
            want.extend(one.finish().unwrap());
            for tasks in [1, 2, 3, 5, 12] {
                let mut got = Vec::new();
                for range in task_ranges(&file_rows, tasks, 25) {
                    let mut p = Packer::new(opts, &all.schema()).unwrap();
                    let mut t = TaskRows::new(range.clone());
                    // The task scans its files, a batch per file.
                    for f in range.files.clone() {
                        if let Some(b) = t.apply(&all.slice(starts[f], file_rows[f] as usize)) {
                            got.extend(p.push(&b).unwrap());
                        }
                    }
                    got.extend(p.finish().unwrap());
                    t.finish("train", p.stats().rows_in).unwrap();
                }
                assert_eq!(collect(got), collect(want.clone()), "{strategy:?}, {tasks} tasks");
            }
        }
    }

    #[test]
    fn task_ranges_begin_on_window_multiples() {
        let files = [1234, 0, 2500, 17, 3000];
        let total: u64 = files.iter().sum();
        for tasks in 1..6 {
            let r = task_ranges(&files, tasks, 1000);
            assert_eq!(r.len(), tasks);
            assert_eq!(r[0].first_row, 0);
            assert_eq!(r.last().unwrap().end_row, total);
            for w in r.windows(2) {
                assert_eq!(w[0].end_row, w[1].first_row);
                assert_eq!(w[1].first_row % 1000, 0);
            }
        }
        let r = task_ranges(&files, 3, 1000);
        // 6751 rows = 7 windows: tasks start at windows 0, 2, 4.
        assert_eq!(r.iter().map(|t| t.first_row).collect::<Vec<_>>(), vec![0, 2000, 4000]);
        assert_eq!((r[0].files.clone(), r[0].skip), (0..3, 0));
        assert_eq!((r[1].files.clone(), r[1].skip), (2..5, 766));
        // 1234 + 0 + 2500 + 17 = 3751 rows come before file 4.
        assert_eq!((r[2].files.clone(), r[2].skip), (4..5, 249));
        // More tasks than windows: empty tasks.
        let r = task_ranges(&[10], 3, 1000);
        assert_eq!(r.iter().map(TaskRange::rows).collect::<Vec<_>>(), vec![0, 0, 10]);
    }
}
