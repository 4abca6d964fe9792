//! The one error type of delta-hf and the exit codes it maps to.
//!
//! Exit codes are part of the interface (documented in README.md):
//!
//! | code | meaning |
//! |------|---------|
//! | 0    | success |
//! | 1    | the input data is not usable as asked: null labels/texts, labels outside `--labels`, new labels in `--label-map-mode strict`, missing columns, bad `--select-sql` |
//! | 2    | the command line is wrong: unknown flag, bad value (clap's own usage errors also exit 2) |
//! | 3    | a table or Hub dataset cannot be read: missing, not a Delta table, corrupt log, unsupported table feature; Hub dataset not found, gated, revision missing, unreachable and not cached, download failing its checksum |
//! | 4    | the output cannot be written: exists without `--overwrite`, I/O failure, label table commit failed |
//! | 5    | an unexpected internal error (a bug: please report it) |
//! | 6    | a service or store refused or could not be reached: Unity Catalog or object-store authentication, permission denied, expired credentials, unreachable host |
//! | 130  | interrupted (Ctrl-C); staging is removed and no output is published |

use std::path::PathBuf;

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Exit statuses of the `delta-hf` binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum ExitCode {
    Success = 0,
    Data = 1,
    Usage = 2,
    Table = 3,
    Output = 4,
    Internal = 5,
    Access = 6,
    Interrupted = 130,
}

/// Every failure delta-hf reports. Messages are sentences a user can act on: what was
/// expected, what was found, what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A flag or flag value is wrong.
    #[error("{0}")]
    Usage(String),

    /// The table does not exist at the given location.
    #[error("table `{table}` not found: {detail}")]
    TableNotFound { table: String, detail: String },

    /// The table exists but cannot be read correctly.
    #[error("table `{table}` cannot be read: {reason}")]
    TableUnreadable { table: String, reason: String },

    /// A column named on the command line does not exist.
    #[error(
        "column `{column}` not found in {what} `{table}`; available columns: {available}. \
         Pick one with {flag}"
    )]
    MissingColumn { column: String, what: &'static str, table: String, available: String, flag: &'static str },

    /// The data cannot be turned into a dataset as asked.
    #[error("{0}")]
    Data(String),

    /// A Hugging Face Hub dataset cannot be read: not found, gated, missing revision, Hub
    /// unreachable with nothing cached, a download failing its checksum.
    #[error("{0}")]
    Hub(String),

    /// `--tokenizer` cannot be read: missing, not a tokenizer, written by a newer `tokenizers`,
    /// a Hub model not found, gated or unreachable with nothing cached.
    #[error("tokenizer `{spec}`: {reason}")]
    Tokenizer { spec: String, reason: String },

    /// The output cannot be written or published.
    #[error("{0}")]
    Output(String),

    /// An I/O error with the path it concerns.
    #[error("{action} `{}`: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A service or object store refused us or could not be reached (auth, permission, network).
    #[error("{0}")]
    Access(String),

    /// The run was interrupted by a signal.
    #[error("interrupted; nothing was published")]
    Interrupted,

    /// Errors from DataFusion that we could not attribute to user input.
    #[error("query failed: {0}")]
    DataFusion(#[from] deltalake::datafusion::error::DataFusionError),

    /// Errors from Arrow.
    #[error("arrow error: {0}")]
    Arrow(#[from] deltalake::arrow::error::ArrowError),

    /// Errors from delta-rs that we could not attribute to a table.
    #[error("delta error: {0}")]
    Delta(#[from] deltalake::DeltaTableError),

    /// Something that should not happen.
    #[error("internal error: {0} (this is a bug in delta-hf; please report it)")]
    Internal(String),
}

impl Error {
    /// The exit code this error maps to.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Usage(_) => ExitCode::Usage,
            Error::TableNotFound { .. }
            | Error::TableUnreadable { .. }
            | Error::Hub(_)
            | Error::Tokenizer { .. } => ExitCode::Table,
            Error::MissingColumn { .. } | Error::Data(_) => ExitCode::Data,
            Error::Output(_) | Error::Io { .. } => ExitCode::Output,
            Error::Access(_) => ExitCode::Access,
            Error::Interrupted => ExitCode::Interrupted,
            Error::DataFusion(_) | Error::Arrow(_) | Error::Delta(_) | Error::Internal(_) => {
                ExitCode::Internal
            }
        }
    }

    /// Shorthand for an I/O error on a path.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { action, path: path.into(), source }
    }
}
