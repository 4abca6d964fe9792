//! The one integration-test binary: every test runs the real `delta-hf` binary on real Delta
//! tables (written here with the `deltalake` crate, or by `tests/python/build_tables.py` for what
//! delta-rs cannot write) and checks the output with independent readers — the Python `datasets`
//! library's `load_from_disk` and the Python `deltalake` package. `harness/` holds what the
//! tests share: temp dirs, table writers, the binary and its `prepare` command line
//! (`harness::Prepare`), the Python checkers, and the cloud emulators (`harness::cloud`).
//!
//! The Python interpreter is `$DELTA_HF_PYTHON` (default `python3`); it needs the packages in
//! `tests/python/requirements.txt` (`make test` sets this up, and `$DELTA_HF_AZURITE` and
//! `$DELTA_HF_NODE_MODULES` for the npm-installed emulator and tokenizer).
//!
//! Skips: a test that cannot run on this machine reports it through `harness::skip`, which
//! prints `SKIPPED: <test>: <reason>` to the process's stderr (shown by `cargo test` even for a
//! passing test, as the harness's capture does not take it) and lets the test end early. The
//! skips: the comparisons with the Spark-written golden tables without `$DELTA_HF_GOLDEN_DIR`
//! (default `../shared/fixtures/delta-golden`); the Spark fan-out tests without `java`; the
//! volume mount's no-rename check without `strace`; the other-filesystem working dir without a
//! tmpfs `/dev/shm`; the npm tokenizer without `$DELTA_HF_NODE_MODULES`; the report's headless
//! Chromium screenshot without `chromium`; the TRL (SFT, packing) and `streaming` (MDS) checks
//! without `$DELTA_HF_ML_PYTHON` (the second venv, `make venv-ml`).
//!
//! `DELTA_HF_NO_SKIP=1` turns every skip into a failure naming the test and what is missing;
//! `.ci/run` sets it, as CI has all of the above.

mod harness;

mod azure_gcs;
mod cli;
mod cloud;
mod conformance;
mod defaults;
mod failure;
mod fanout;
mod faults;
mod golden;
mod hub;
mod jobs;
mod kind_flags;
mod label_kinds;
mod label_table;
mod row_order;
mod scale;
mod spark;
mod sql;
mod time_travel;
mod tokenize;
mod wheel;
// issue 22: --format parquet, --output hf://
mod parquet;
// SFT exports (issue 21).
mod sft;
// issue 23: the report
mod report;
// --packing (issue 21): the packer against TRL pack_dataset.
mod packing;

// --format mds (issue 22)
mod mds;
// Issue 23: splits from one table, duplicates and leaks.
mod hygiene;
