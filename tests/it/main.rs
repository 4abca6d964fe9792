//! The one integration-test binary: every test runs the real `delta-hf` binary on real Delta
//! tables (written here with the `deltalake` crate, or by `tests/python/build_tables.py` for what
//! delta-rs cannot write) and checks the output with independent readers — the Python `datasets`
//! library's `load_from_disk` and the Python `deltalake` package. Only the comparison with the
//! Spark-written golden tables reads `$DELTA_HF_GOLDEN_DIR` (default
//! `../shared/fixtures/delta-golden`); without it those tests print `SKIPPED: ...` and pass.
//!
//! The Python interpreter is `$DELTA_HF_PYTHON` (default `python3`); it needs the packages in
//! `tests/python/requirements.txt` (`make test` sets this up).

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
mod label_kinds;
mod label_table;
mod scale;
mod spark;
mod sql;
mod time_travel;
mod tokenize;
mod wheel;
