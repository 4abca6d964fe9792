//! delta-hf: Delta Lake tables → Hugging Face `datasets` caches with one shared label map.
//!
//! The layout follows the data flow. [`cli`] parses, [`settings`] validates (no I/O), [`run`]
//! dispatches to a command (`commands/`), which runs the stages in order: `source/` (where rows
//! come from) → `transform/` (what is computed) → `sink/` (where results go), all reaching
//! storage through `storage/` (locations, object stores, Unity Catalog). [`error`] holds the
//! one error type, its exit codes, and the one classification of upstream failures.
//!
//! Imports point one way: commands → source / transform / sink → storage → error; `source/`
//! never imports `sink/`, and no stage imports `cli` or `settings`.

pub mod cli;
pub mod error;
pub mod settings;

pub(crate) mod commands;
pub(crate) mod plan;
pub(crate) mod sink;
pub(crate) mod source;
pub(crate) mod storage;
pub(crate) mod summary;
pub mod transform;
pub(crate) mod ui;

use cli::{Cli, Command};
use error::Result;
use settings::{CommitSettings, PlanSettings, PrepareSettings, PullSettings, RunTaskSettings, SizeSettings};
use ui::Ui;

/// Run one command line to completion, printing its summary on stdout.
pub async fn run(cli: Cli) -> Result<()> {
    storage::retry::set_budget(match &cli.command {
        Command::Prepare(a) => a.storage.retry.retry_timeout,
        Command::Pull(a) => a.storage.retry.retry_timeout,
        Command::Size(a) => a.retry.retry_timeout,
        Command::Plan(a) => a.prepare.storage.retry.retry_timeout,
        Command::RunTask(a) => a.storage.retry.retry_timeout,
        Command::Commit(a) => a.storage.retry.retry_timeout,
        Command::DemoData(_) => storage::retry::DEFAULT_BUDGET,
    });
    match cli.command {
        Command::Prepare(args) => {
            let s = PrepareSettings::from_args(*args)?;
            let ui = Ui::new(s.report.quiet);
            let summary = commands::prepare::run(&s, &ui).await?;
            emit(&summary, summary.render(), s.report);
        }
        Command::Size(args) => {
            let s = SizeSettings::from_args(args);
            let report = commands::size::run(&s).await?;
            emit(&report, report.render(), s.report);
        }
        Command::Pull(args) => {
            let s = PullSettings::from_args(*args)?;
            let ui = Ui::new(s.report.quiet);
            let summary = commands::pull::run(&s, &ui).await?;
            emit(&summary, summary.render(), s.report);
        }
        Command::Plan(args) => {
            let s = PlanSettings::from_args(*args)?;
            let ui = Ui::new(s.prepare.report.quiet);
            let summary = commands::plan::run(&s, &ui).await?;
            emit(&summary, summary.render(), s.prepare.report);
        }
        Command::RunTask(args) => {
            let s = RunTaskSettings::from_args(args)?;
            let ui = Ui::new(s.report.quiet);
            let summary = commands::run_task::run(&s, &ui).await?;
            emit(&summary, summary.render(), s.report);
        }
        Command::Commit(args) => {
            let s = CommitSettings::from_args(args)?;
            let ui = Ui::new(s.report.quiet);
            let summary = commands::commit::run(&s, &ui).await?;
            emit(&summary, summary.render().replacen("delta-hf prepare:", "delta-hf commit:", 1), s.report);
        }
        Command::DemoData(args) => {
            commands::demo_data::write_demo_tables(&args.dir, args.rows).await?;
            eprintln!("demo tables written to {}/train and {}/eval", args.dir.display(), args.dir.display());
        }
    }
    Ok(())
}

/// Whether a command line asks for quiet output (for the log filter, set before `run`).
pub fn is_quiet(cli: &Cli) -> bool {
    match &cli.command {
        Command::Prepare(a) => a.report.quiet,
        Command::Pull(a) => a.report.quiet,
        Command::Size(a) => a.report.quiet,
        Command::Plan(a) => a.prepare.report.quiet,
        Command::RunTask(a) => a.report.quiet,
        Command::Commit(a) => a.report.quiet,
        Command::DemoData(_) => false,
    }
}

/// Remove what an interrupted run left in staging (see [`sink::publish::remove_leftovers`]).
pub fn remove_leftovers() {
    sink::publish::remove_leftovers();
}

/// A signal arrived: uploads in flight finish, no new one starts ([`sink::undo`]). Returns
/// whether an upload to a remote output is under way (then the run is given time to stop).
pub fn cancel() -> bool {
    sink::undo::cancel();
    sink::undo::publishing()
}

/// After a failed or interrupted run: remove what it uploaded of its output and take back its
/// label-table commit, so nothing of an unpublished export stays visible ([`sink::undo`]).
pub async fn undo_unpublished() {
    sink::undo::run().await;
}

/// A command's result on stdout: JSON with `--json`, else the text (nothing with `--quiet`).
fn emit(value: &impl serde::Serialize, text: String, report: settings::Report) {
    if report.json {
        println!("{}", serde_json::to_string_pretty(value).expect("summaries serialise"));
    } else if !report.quiet {
        print!("{text}");
    }
}
