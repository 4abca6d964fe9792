//! The `delta-hf` binary: parse, run ([`delta_hf::run`]), map the outcome to an exit code
//! (see `error.rs`). Process-wide setup lives here: allocator, huge pages, panic hook, logging,
//! the async runtime and the interrupt signal.

use clap::Parser;
use delta_hf::cli::Cli;
use delta_hf::error::{Error, ExitCode};

/// mimalloc instead of glibc malloc: record batches are allocated on the scan threads and freed
/// on the writer threads, a pattern that makes glibc's per-thread arenas grow with the table
/// (peak RSS 1.4 GiB on an 11M-row export vs 0.3 GiB on 1.1M rows). See `make bench`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    no_huge_pages();
    quiet_known_upstream_panic();
    let cli = Cli::parse();
    init_logging(delta_hf::is_quiet(&cli));
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => exit_with(Error::Internal(format!("cannot start the async runtime: {e}"))),
    };
    let interrupted = interrupt_signal();
    let code = runtime.block_on(async {
        let run = delta_hf::run(cli);
        tokio::pin!(run);
        tokio::select! {
            result = &mut run => match result {
                Ok(()) => ExitCode::Success,
                Err(e) => report(e),
            },
            Ok(signal) = interrupted => {
                // Uploads in flight finish (or fail) and no new one starts, so what went up is
                // known and removed below.
                if delta_hf::cancel() {
                    let _ = tokio::time::timeout(std::time::Duration::from_secs(20), &mut run).await;
                }
                report(Error::Interrupted);
                // SIGTERM (a cancelled Databricks run) exits 128 + 15, like a shell.
                if signal == libc::SIGTERM { ExitCode::Terminated } else { ExitCode::Interrupted }
            }
        }
    });
    if code != ExitCode::Success {
        runtime.block_on(async {
            let _ =
                tokio::time::timeout(std::time::Duration::from_secs(30), delta_hf::undo_unpublished()).await;
        });
    }
    // An interrupted run's writer threads stop as soon as their input closes; give them a
    // moment, then remove any staging directory they were still writing into.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    delta_hf::remove_leftovers();
    std::process::exit(code as i32);
}

/// deltalake 1.1, when a Parquet data-file upload fails (say the credentials may read but not
/// write), aborts the upload through object_store's `BufWriter::abort` after its shutdown, which
/// panics ("Already shut down") inside a spawned task. The run still gets the upload's real
/// error and reports it with its exit code; this hook keeps that one panic's backtrace off the
/// user's terminal (it goes to the debug log). Every other panic reaches the default hook.
fn quiet_known_upstream_panic() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| info.payload().downcast_ref::<String>().map(String::as_str));
        let in_buf_writer = info
            .location()
            .is_some_and(|l| l.file().contains("object_store") && l.file().ends_with("buffered.rs"));
        if in_buf_writer && msg == Some("Already shut down") {
            tracing::debug!(
                "ignored deltalake's abort of a failed upload (object_store BufWriter: Already shut down)"
            );
            return;
        }
        default(info);
    }));
}

/// Ctrl-C or SIGTERM (which signal), watched on a thread of its own: the main runtime's workers
/// are busy decoding and may not poll their I/O driver (where signals arrive) until the run is
/// nearly over.
fn interrupt_signal() -> tokio::sync::oneshot::Receiver<i32> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        let signal = rt.block_on(async {
            use tokio::signal::unix::{SignalKind, signal};
            let Ok(mut term) = signal(SignalKind::terminate()) else {
                return tokio::signal::ctrl_c().await.ok().map(|_| libc::SIGINT);
            };
            tokio::select! {
                r = tokio::signal::ctrl_c() => r.ok().map(|_| libc::SIGINT),
                _ = term.recv() => Some(libc::SIGTERM),
            }
        });
        if let Some(s) = signal {
            let _ = tx.send(s);
        }
    });
    rx
}

/// No transparent huge pages for this process. mimalloc asks for them, and with a dozen threads
/// each holding partly used 2 MiB pages they add ~50 MiB to the peak RSS of an export (and the
/// kernel zeroes every one of them in full). Best effort: without it the run is the same.
fn no_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE only sets a flag of this process; no memory is passed.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

fn report(e: Error) -> ExitCode {
    eprintln!("error: {e}");
    e.exit_code()
}

fn exit_with(e: Error) -> ! {
    std::process::exit(report(e) as i32)
}

fn init_logging(quiet: bool) {
    // delta-rs and hf-hub log failures they also return (e.g. probing a table that does not
    // exist yet, a request whose retries ran out); we report those ourselves, once, with
    // context. DELTA_HF_LOG overrides (e.g. `info`).
    let default = if quiet {
        "error,deltalake_core=off,buoyant_kernel=off,hf_hub=off"
    } else {
        "warn,deltalake_core=off,buoyant_kernel=off,hf_hub=off"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("DELTA_HF_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}
