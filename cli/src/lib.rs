//! What every Convoy binary does first: log to stderr as `CONVOY_LOG` asks, and parse its
//! arguments, turning clap's errors into Convoy's exit codes (`--help` and `--version` exit 0, a
//! usage error exits 2).

use convoy_schema::exit;

/// Installs the stderr logger, filtered by `CONVOY_LOG` (default: warnings).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CONVOY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .try_init();
}

/// Parses the process arguments; `Err` carries the exit code after clap has printed its message.
pub fn parse_args<T: clap::Parser>() -> Result<T, i32> {
    T::try_parse().map_err(|error| {
        let _ = error.print();
        if error.use_stderr() {
            exit::REFUSED
        } else {
            exit::OK
        }
    })
}
