//! What the user sees while a run goes on: progress bars and warnings on stderr.
//!
//! Progress bars are drawn only when stderr is a terminal and `--quiet` is off; warnings are
//! printed unless `--quiet` and always kept for the summary.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Progress and warnings for one run.
#[derive(Debug)]
pub struct Ui {
    quiet: bool,
    bars: bool,
    /// Splits are written at the same time: their bars share the terminal.
    multi: MultiProgress,
    warnings: Mutex<Vec<String>>,
}

impl Ui {
    pub fn new(quiet: bool) -> Self {
        Ui {
            quiet,
            bars: !quiet && std::io::stderr().is_terminal(),
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            warnings: Mutex::new(Vec::new()),
        }
    }

    /// A bar for `len` rows (a counter when unknown); hidden when not drawing.
    pub fn rows_bar(&self, len: Option<u64>, message: String) -> ProgressBar {
        if !self.bars {
            return ProgressBar::hidden();
        }
        let bar = match len {
            Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr()).with_style(
                ProgressStyle::with_template(
                    "{msg:>18} [{bar:30}] {human_pos}/{human_len} rows ({per_sec}, eta {eta})",
                )
                .expect("valid template")
                .progress_chars("=> "),
            ),
            None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(
                ProgressStyle::with_template("{spinner} {msg:>18} {human_pos} rows ({per_sec})")
                    .expect("valid template"),
            ),
        };
        let bar = self.multi.add(bar);
        bar.set_message(message);
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }

    /// A bar for `len` bytes (uploads); hidden when not drawing.
    pub fn bytes_bar(&self, len: u64, message: String) -> ProgressBar {
        if !self.bars {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr()).with_style(
            ProgressStyle::with_template(
                "{msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec}, eta {eta})",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_message(message);
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }

    /// Whether progress bars are drawn.
    pub fn draws_bars(&self) -> bool {
        self.bars
    }

    /// A step message (not in quiet mode, only on a terminal or with RUST_LOG).
    pub fn step(&self, message: impl AsRef<str>) {
        tracing::info!("{}", message.as_ref());
        if self.bars {
            let _ = self.multi.println(message.as_ref());
        }
    }

    /// A warning: printed unless quiet, and kept for the summary.
    pub fn warn(&self, message: String) {
        if !self.quiet {
            eprintln!("warning: {message}");
        }
        self.warnings.lock().expect("warnings lock").push(message);
    }

    /// Every warning so far.
    pub fn warnings(&self) -> Vec<String> {
        self.warnings.lock().expect("warnings lock").clone()
    }
}
