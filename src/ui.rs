//! What the user sees while a run goes on: progress bars and warnings on stderr.
//!
//! Progress bars are drawn only when stderr is a terminal and `--quiet` is off; warnings are
//! printed unless `--quiet` and always kept for the summary.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

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
                    "{msg:>18} [{bar:30}] {human_pos}/{human_len} rows ({rows_per_sec}, eta {eta})",
                )
                .expect("valid template")
                .with_key("rows_per_sec", rows_per_sec)
                .progress_chars("=> "),
            ),
            None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(
                ProgressStyle::with_template("{spinner} {msg:>18} {human_pos} rows ({rows_per_sec})")
                    .expect("valid template")
                    .with_key("rows_per_sec", rows_per_sec),
            ),
        };
        let bar = self.multi.add(bar);
        bar.set_message(message);
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }

    /// A bar for `len` bytes (downloads, uploads); hidden when not drawing.
    pub fn bytes_bar(&self, len: u64, message: String) -> ProgressBar {
        if !self.bars {
            return ProgressBar::hidden();
        }
        let bar = self.multi.add(ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr()).with_style(
            ProgressStyle::with_template(
                "{msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec}, eta {eta})",
            )
            .expect("valid template")
            .progress_chars("=> "),
        ));
        bar.set_message(message);
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }

    /// A step message: on the terminal while bars are drawn, and in the log at `info`
    /// (`DELTA_HF_LOG=info`).
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

/// Whole rows per second, with thousands separators (`83,351 rows/s`).
fn rows_per_sec(state: &ProgressState, w: &mut dyn std::fmt::Write) {
    let _ = w.write_str(&rows_rate(state.per_sec()));
}

fn rows_rate(per_sec: f64) -> String {
    format!("{} rows/s", thousands(per_sec.round() as u64))
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_whole_rows_per_second() {
        assert_eq!(thousands(83_350), "83,350");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(rows_rate(83_350.686_2), "83,351 rows/s");
        assert_eq!(rows_rate(0.0), "0 rows/s");
    }
}
