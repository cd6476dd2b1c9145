//! What every Convoy binary does first: log to stderr as `CONVOY_LOG` asks, and parse its
//! arguments, turning clap's errors into Convoy's exit codes (`--help` and `--version` exit 0, a
//! usage error exits 2). Also the registry arguments all three share.

use std::collections::BTreeMap;
use std::path::Path;

use convoy_registry::resolve::RegistryChoice;
use convoy_schema::exit;
use convoy_schema::plan::{is_plain_file_name, Plan};

/// `--registry NAME | --index URL` and `--allow-http`, as every Convoy binary takes them.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RegistryArgs {
    /// Registry by cargo's name for it ([registries.NAME] in cargo's configuration, or
    /// CARGO_REGISTRIES_<NAME>_INDEX).
    #[arg(long, value_name = "NAME", conflicts_with = "index")]
    pub registry: Option<String>,
    /// Registry by sparse index URL, e.g. sparse+https://index.crates.io/.
    #[arg(long, value_name = "URL")]
    pub index: Option<String>,
    /// Allow plain HTTP to a registry that is not on this machine.
    #[arg(long)]
    pub allow_http: bool,
}

impl RegistryArgs {
    /// The registry the command line names, if it names one.
    pub fn choice(&self) -> Option<RegistryChoice> {
        match (&self.registry, &self.index) {
            (Some(name), _) => Some(RegistryChoice::Named(name.clone())),
            (None, Some(url)) => Some(RegistryChoice::Index(url.clone())),
            (None, None) => None,
        }
    }
}

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

/// The artifact files a plan names that exist in the bundle directory `dir`, by file name. Names
/// that are not bare file names are never read; a missing file is simply absent.
pub fn read_bundle(plan: &Plan, dir: &Path) -> BTreeMap<String, Vec<u8>> {
    plan.packages
        .iter()
        .filter_map(|p| p.artifact.as_ref())
        .filter(|a| is_plain_file_name(&a.file))
        .filter_map(|a| Some((a.file.clone(), std::fs::read(dir.join(&a.file)).ok()?)))
        .collect()
}
