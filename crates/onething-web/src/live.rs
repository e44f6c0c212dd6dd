//! Live pages: one watcher per server follows the event feed's head (woken
//! at once by this server's own commands, and once a second for the
//! others'), and every open page listens on one server-sent event stream
//! that says "something changed"; htmx then fetches the part of the page
//! it shows. The database is read once a second per server, never per page.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Extension;
use futures_util::stream::Stream;
use futures_util::StreamExt;
use onething_server::AppState;
use tokio::sync::watch;
use tokio_stream::wrappers::WatchStream;

use crate::Console;

/// A counter that moves whenever the feed's head does, and whether the
/// server is stopping (open streams end then, so that shutdown is not held
/// up by pages left open).
pub struct Changes {
    sender: watch::Sender<u64>,
    stopping: watch::Sender<bool>,
}

impl Default for Changes {
    fn default() -> Changes {
        Changes {
            sender: watch::channel(0).0,
            stopping: watch::channel(false).0,
        }
    }
}

impl Changes {
    /// Ends every open stream; called when the server begins to shut down.
    pub fn stop(&self) {
        self.stopping.send_replace(true);
    }

    pub fn changed(&self) {
        self.sender.send_modify(|count| *count += 1);
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.sender.subscribe()
    }
}

/// Follows the feed's head until the server stops.
pub async fn watch_feed(state: AppState, console: Arc<Console>, mut stop: watch::Receiver<bool>) {
    let mut last = None;
    loop {
        match onething_store::feed::head(state.store.database()).await {
            Ok(head) => {
                if last.is_some() && head != last.clone().flatten() {
                    console.live.changed();
                }
                last = Some(head);
            }
            Err(error) => {
                tracing::warn!(%error, "the console's feed watcher could not read the head")
            }
        }
        tokio::select! {
            _ = state.feed_signal.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => return,
        }
    }
}

/// `GET /live`: an event `changed` each time the feed moves.
pub async fn stream(
    State(_state): State<AppState>,
    Extension(console): Extension<Arc<Console>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let mut receiver = console.live.subscribe();
    receiver.mark_unchanged();
    let mut stopping = console.live.stopping.subscribe();
    let stopped = async move {
        let _ = stopping.wait_for(|stop| *stop).await;
    };
    let changes = WatchStream::from_changes(receiver)
        .map(|count| Ok(Event::default().event("changed").data(count.to_string())))
        .take_until(stopped);
    Sse::new(changes).keep_alive(KeepAlive::default())
}
