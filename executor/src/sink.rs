//! Where a run's events go: each is appended to the journal as its typed JSON line (synced), then
//! printed as that line (`--format json`) or as words (above a progress bar on a terminal). The
//! crash tests' failpoint lives here too: `CONVOY_FAILPOINT_ABORT_AFTER_EVENTS=N` aborts the
//! process (no clean-up, like a kill) right after the Nth journaled event.

use std::collections::BTreeMap;
use std::io::IsTerminal;

use convoy_registry::clock::Clock;

use crate::driver::Event;
use crate::journal::Journal;
use crate::output;
use crate::validate::Upload;

/// How events are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Words on stderr.
    Human,
    /// One JSON event per line on stdout.
    Json,
}

/// The journal, the output and the failpoint, fed one event at a time.
pub struct EventSink<'a> {
    journal: Journal,
    versions: BTreeMap<String, String>,
    digest: String,
    format: Format,
    clock: &'a dyn Clock,
    progress: Option<indicatif::ProgressBar>,
    abort_after: Option<usize>,
    seen: usize,
}

impl<'a> EventSink<'a> {
    /// A sink for the run of the plan with `digest` over `uploads`.
    pub fn new(
        journal: Journal,
        uploads: &[Upload],
        digest: &str,
        format: Format,
        clock: &'a dyn Clock,
    ) -> Self {
        // On a terminal: a bar with overall progress and ETA, event lines printed above it.
        let progress = (format == Format::Human && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(uploads.len() as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:30} {pos}/{len} visible  {msg}  eta {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        Self {
            journal,
            versions: uploads
                .iter()
                .map(|u| (u.name.clone(), u.version_text()))
                .collect(),
            digest: digest.to_owned(),
            format,
            clock,
            progress,
            abort_after: std::env::var("CONVOY_FAILPOINT_ABORT_AFTER_EVENTS")
                .ok()
                .and_then(|v| v.parse().ok()),
            seen: 0,
        }
    }

    /// Journals and shows one event.
    pub fn emit(&mut self, event: Event) {
        let line =
            output::event_record(&event, &self.versions, &self.digest, self.clock.now()).to_line();
        if let Err(error) = self.journal.append(&line) {
            tracing::warn!(%error, "cannot append to the journal");
        }
        self.seen += 1;
        if self.abort_after == Some(self.seen) {
            std::process::abort();
        }
        let words = output::event_words(&event, &self.versions);
        match (self.format, &self.progress) {
            (Format::Json, _) => println!("{line}"),
            (Format::Human, Some(bar)) => {
                if matches!(
                    event,
                    Event::Visible(_) | Event::AlreadyPresent(_) | Event::PublishedEarlier(_)
                ) {
                    bar.inc(1);
                }
                bar.set_message(words.trim().to_owned());
                bar.println(words);
            }
            (Format::Human, None) => eprintln!("{words}"),
        }
    }

    /// Removes the progress bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.progress {
            bar.finish_and_clear();
        }
    }
}
