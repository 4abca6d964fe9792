//! [`Prepare`]: a `delta-hf prepare` command line built flag by flag, so a test says what it
//! exports rather than spelling out an argument vector.

use std::ffi::OsStr;
use std::process::{Command, Output};

/// The arguments of one `delta-hf prepare` run, in the order they were given, `--output` last.
///
/// ```ignore
/// let summary = ok_json(&Prepare::new(&out).train(&t).label_col("stars").json().run());
/// ```
#[derive(Clone, Debug)]
pub struct Prepare {
    args: Vec<String>,
    output: String,
    env: Vec<(String, String)>,
}

fn text(p: impl AsRef<OsStr>) -> String {
    p.as_ref().to_str().expect("a UTF-8 argument").to_string()
}

impl Prepare {
    /// `prepare ... --output OUTPUT`.
    pub fn new(output: impl AsRef<OsStr>) -> Self {
        Prepare { args: Vec::new(), output: text(output), env: Vec::new() }
    }

    /// Any argument, as it is.
    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Self {
        self.args.push(text(a));
        self
    }

    /// Any arguments, as they are.
    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(text));
        self
    }

    /// `FLAG VALUE`.
    pub fn opt(self, flag: &str, value: impl AsRef<OsStr>) -> Self {
        self.arg(flag).arg(value)
    }

    /// `--split NAME=TABLE`.
    pub fn split(self, name: &str, table: impl AsRef<OsStr>) -> Self {
        let table = text(table);
        self.opt("--split", format!("{name}={table}"))
    }

    /// `--train TABLE`.
    pub fn train(self, table: impl AsRef<OsStr>) -> Self {
        self.opt("--train", table)
    }

    /// `--eval TABLE`.
    pub fn eval(self, table: impl AsRef<OsStr>) -> Self {
        self.opt("--eval", table)
    }

    /// `--text-col COL`.
    pub fn text_col(self, col: &str) -> Self {
        self.opt("--text-col", col)
    }

    /// `--label-col COL`.
    pub fn label_col(self, col: &str) -> Self {
        self.opt("--label-col", col)
    }

    /// `--keep-col COL`, once per column.
    pub fn keep_cols(self, cols: &[&str]) -> Self {
        cols.iter().fold(self, |p, c| p.opt("--keep-col", c))
    }

    /// `--tokens-col COL`.
    pub fn tokens_col(self, col: &str) -> Self {
        self.opt("--tokens-col", col)
    }

    /// `--label-kind KIND`.
    pub fn label_kind(self, kind: &str) -> Self {
        self.opt("--label-kind", kind)
    }

    /// `--label-table TABLE`.
    pub fn label_table(self, table: impl AsRef<OsStr>) -> Self {
        self.opt("--label-table", table)
    }

    /// `--json`: the summary on stdout (read it with `ok_json`).
    pub fn json(self) -> Self {
        self.arg("--json")
    }

    /// `--quiet`.
    pub fn quiet(self) -> Self {
        self.arg("--quiet")
    }

    /// `--overwrite`.
    pub fn overwrite(self) -> Self {
        self.arg("--overwrite")
    }

    /// `--drop-nulls`.
    pub fn drop_nulls(self) -> Self {
        self.arg("--drop-nulls")
    }

    /// An environment variable of the run.
    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Self {
        self.env.push((key.to_string(), text(value)));
        self
    }

    /// The command line after `delta-hf`: `prepare`, the arguments, `--output OUTPUT`.
    pub fn to_args(&self) -> Vec<String> {
        let mut all = vec!["prepare".to_string()];
        all.extend(self.args.iter().cloned());
        all.extend(["--output".to_string(), self.output.clone()]);
        all
    }

    /// The binary under test with these arguments and environment.
    pub fn command(&self) -> Command {
        let mut c = super::bin();
        c.args(self.to_args());
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// Run it to the end.
    pub fn run(&self) -> Output {
        self.command().output().expect("run delta-hf prepare")
    }
}
