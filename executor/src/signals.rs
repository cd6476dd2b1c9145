//! Cancellation: a CI cancelling the job sends SIGINT, SIGTERM or SIGHUP. The first one raises a
//! flag the driver reads (no upload starts after it; the answers in flight are waited for and the
//! token revoked); a second ends the process at once.

use convoy_schema::exit;

/// The flag set by the first signal; must be called inside the runtime.
pub fn interrupt_on_signals() -> tokio::sync::watch::Receiver<bool> {
    use tokio::signal::unix::{signal, SignalKind};
    let (sender, receiver) = tokio::sync::watch::channel(false);
    let streams: Vec<_> = [
        SignalKind::interrupt(),
        SignalKind::terminate(),
        SignalKind::hangup(),
    ]
    .into_iter()
    .filter_map(|kind| signal(kind).ok())
    .collect();
    async fn any(streams: &mut [tokio::signal::unix::Signal]) {
        if streams.is_empty() {
            std::future::pending::<()>().await;
        }
        let waits = streams.iter_mut().map(|stream| Box::pin(stream.recv()));
        futures_util::future::select_all(waits).await;
    }
    tokio::spawn(async move {
        let mut streams = streams;
        any(&mut streams).await;
        eprintln!("convoy-publish: interrupted: no new upload starts; waiting for the uploads in flight, then revoking the token (interrupt again to stop at once)");
        let _ = sender.send(true);
        any(&mut streams).await;
        std::process::exit(exit::INTERRUPTED);
    });
    receiver
}
