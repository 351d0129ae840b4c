//! Watch and session notifications as zkCli prints them (`WATCHER::` then
//! `WatchedEvent state:SyncConnected type:NodeDataChanged path:/x`), carried from the tasks that wait on
//! watchers to whoever owns the terminal.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::json;
use tokio::sync::mpsc;
use zookeeper_client::{EventType, SessionState, WatchedEvent};

/// One notification, in ZooKeeper's vocabulary (`type` is `None` for session events).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ShellEvent {
    pub state: String,
    pub kind: String,
    pub path: Option<String>,
}

impl ShellEvent {
    pub fn session(state: SessionState) -> ShellEvent {
        ShellEvent { state: state.to_string(), kind: "None".to_owned(), path: None }
    }

    /// A node event; session events delivered through node watchers are not node events.
    pub fn node(event: &WatchedEvent) -> Option<ShellEvent> {
        (event.event_type != EventType::Session).then(|| ShellEvent {
            state: SessionState::SyncConnected.to_string(),
            kind: event.event_type.to_string(),
            path: Some(event.path.clone()),
        })
    }

    /// The notification zkCli's own watcher prints when the shell removes a watch.
    pub fn removed(kind: &str, path: &str) -> ShellEvent {
        ShellEvent {
            state: SessionState::SyncConnected.to_string(),
            kind: kind.to_owned(),
            path: Some(path.to_owned()),
        }
    }

    /// zkCli's text: a blank line, `WATCHER::`, a blank line, the event, each line ending in `\n`.
    pub fn text(&self) -> String {
        format!(
            "\nWATCHER::\n\nWatchedEvent state:{} type:{} path:{}\n",
            self.state,
            self.kind,
            self.path.as_deref().unwrap_or("null")
        )
    }

    pub fn json(&self) -> String {
        json!({ "event": { "state": self.state, "type": self.kind, "path": self.path } }).to_string() + "\n"
    }

    pub fn render(&self, json: bool) -> String {
        if json { self.json() } else { self.text() }
    }
}

/// Where notifications go; cheap to clone into watcher tasks. `printwatches off` silences it.
#[derive(Clone)]
pub(crate) struct EventSink {
    sender: mpsc::UnboundedSender<ShellEvent>,
    enabled: Arc<AtomicBool>,
}

impl EventSink {
    pub fn new() -> (EventSink, mpsc::UnboundedReceiver<ShellEvent>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        (EventSink { sender, enabled: Arc::new(AtomicBool::new(true)) }, receiver)
    }

    pub fn emit(&self, event: ShellEvent) {
        if self.enabled.load(Ordering::Relaxed) {
            // Nobody listening (one-shot mode, or the shell is exiting) is not an error.
            let _ = self.sender.send(event);
        }
    }

    pub fn set_enabled(&self, enabled: bool) {
        self.enabled.store(enabled, Ordering::Relaxed);
    }

    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zkcli_text() {
        let event = ShellEvent::node(&WatchedEvent::new(EventType::NodeDataChanged, "/x")).unwrap();
        assert_eq!(event.text(), "\nWATCHER::\n\nWatchedEvent state:SyncConnected type:NodeDataChanged path:/x\n");
        assert_eq!(
            ShellEvent::session(SessionState::Closed).text(),
            "\nWATCHER::\n\nWatchedEvent state:Closed type:None path:null\n"
        );
    }

    #[test]
    fn session_events_are_not_node_events() {
        assert_eq!(ShellEvent::node(&WatchedEvent::new_session(SessionState::Expired)), None);
    }

    #[test]
    fn silenced_sink_drops_events() {
        let (sink, mut receiver) = EventSink::new();
        sink.set_enabled(false);
        sink.emit(ShellEvent::session(SessionState::Closed));
        assert!(receiver.try_recv().is_err());
    }
}
