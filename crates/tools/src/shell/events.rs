//! Watch and session notifications as zkCli prints them (`WATCHER::` then
//! `WatchedEvent state:SyncConnected type:NodeDataChanged path:/x`), carried from the tasks that wait on
//! watchers to whoever owns the terminal.
//!
//! zkCli hands every watch to one watcher object, so a notification that several of its watches share (a
//! `get -w` and an `ls -w` on a node that is deleted, two `addWatch` on one path) is printed once. This
//! shell holds one watcher per watch; the copies of one notification are recognised by its zxid and
//! printed once too.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

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
    unprinted: Arc<AtomicUsize>,
    copies: Arc<Mutex<Copies>>,
}

impl EventSink {
    pub fn new() -> (EventSink, Events) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let unprinted = Arc::new(AtomicUsize::new(0));
        let sink = EventSink {
            sender,
            enabled: Arc::new(AtomicBool::new(true)),
            unprinted: unprinted.clone(),
            copies: Arc::default(),
        };
        (sink, Events { receiver, unprinted })
    }

    pub fn emit(&self, event: ShellEvent) {
        if !self.enabled.load(Ordering::Relaxed) {
            return;
        }
        // Counted before it is sent, so the printer never marks it printed before it counts.
        self.unprinted.fetch_add(1, Ordering::SeqCst);
        if self.sender.send(event).is_err() {
            // Nobody listening (one-shot mode, or the shell is exiting) is not an error.
            self.unprinted.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// A node event received by the watch numbered `watch`; a copy of a notification another watch
    /// already reported is dropped.
    pub fn emit_node(&self, watch: u64, event: &WatchedEvent) {
        let Some(shell_event) = ShellEvent::node(event) else { return };
        // Before 3.9 servers send no zxid, and copies cannot be told from separate notifications.
        if event.zxid != WatchedEvent::NO_ZXID {
            let key = (event.zxid, shell_event.kind.clone(), event.path.clone());
            let mut copies = self.copies.lock().unwrap_or_else(PoisonError::into_inner);
            if !copies.is_news(key, watch) {
                return;
            }
        }
        self.emit(shell_event);
    }

    /// Notifications sent and not yet printed.
    pub fn unprinted(&self) -> usize {
        self.unprinted.load(Ordering::SeqCst)
    }

    pub fn set_enabled(&self, enabled: bool) {
        self.enabled.store(enabled, Ordering::Relaxed);
    }

    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }
}

/// The receiving end: whoever prints notifications says when each one is out.
pub(crate) struct Events {
    receiver: mpsc::UnboundedReceiver<ShellEvent>,
    unprinted: Arc<AtomicUsize>,
}

impl Events {
    pub async fn recv(&mut self) -> Option<ShellEvent> {
        self.receiver.recv().await
    }

    pub fn try_recv(&mut self) -> Option<ShellEvent> {
        self.receiver.try_recv().ok()
    }

    /// Marks a received notification as printed.
    pub fn printed(&self) {
        self.unprinted.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A notification's identity: its zxid, event type and path.
type NotificationKey = (i64, String, String);

/// How many recent notifications are remembered; copies of one arrive together, well within this.
const REMEMBERED: usize = 64;

/// Recent notifications and how many copies of each every watch has received.
#[derive(Default)]
struct Copies {
    recent: VecDeque<(NotificationKey, HashMap<u64, usize>)>,
}

impl Copies {
    /// Whether this copy is one to print: the watch has now received it more often than any other watch.
    /// (Counting rather than a yes/no keeps both events of a multi that changes one path twice.)
    fn is_news(&mut self, key: NotificationKey, watch: u64) -> bool {
        let at = match self.recent.iter().position(|(k, _)| *k == key) {
            Some(at) => at,
            None => {
                if self.recent.len() == REMEMBERED {
                    self.recent.pop_front();
                }
                self.recent.push_back((key, HashMap::new()));
                self.recent.len() - 1
            }
        };
        let Some((_, counts)) = self.recent.get_mut(at) else { return true };
        let mine = {
            let count = counts.entry(watch).or_default();
            *count += 1;
            *count
        };
        counts.iter().all(|(other, count)| *other == watch || *count < mine)
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
        let (sink, mut events) = EventSink::new();
        sink.set_enabled(false);
        sink.emit(ShellEvent::session(SessionState::Closed));
        assert!(events.try_recv().is_none());
        assert_eq!(sink.unprinted(), 0);
    }

    #[test]
    fn unprinted_counts_until_printed() {
        let (sink, mut events) = EventSink::new();
        sink.emit(ShellEvent::session(SessionState::Closed));
        assert_eq!(sink.unprinted(), 1);
        assert!(events.try_recv().is_some());
        events.printed();
        assert_eq!(sink.unprinted(), 0);
    }

    #[test]
    fn copies_of_one_notification_print_once() {
        let (sink, mut events) = EventSink::new();
        let changed = WatchedEvent::new(EventType::NodeDataChanged, "/x").with_zxid(7);
        sink.emit_node(1, &changed);
        sink.emit_node(2, &changed);
        sink.emit_node(3, &WatchedEvent::new(EventType::NodeDeleted, "/x").with_zxid(7));
        let kinds: Vec<String> = std::iter::from_fn(|| events.try_recv()).map(|e| e.kind).collect();
        assert_eq!(kinds, ["NodeDataChanged", "NodeDeleted"]);
    }

    #[test]
    fn a_multi_changing_a_path_twice_prints_twice() {
        let (sink, mut events) = EventSink::new();
        let changed = WatchedEvent::new(EventType::NodeDataChanged, "/x").with_zxid(9);
        for watch in [1, 2, 1, 2] {
            sink.emit_node(watch, &changed);
        }
        assert_eq!(std::iter::from_fn(|| events.try_recv()).count(), 2);
    }

    #[test]
    fn without_zxids_every_notification_prints() {
        let (sink, mut events) = EventSink::new();
        let changed = WatchedEvent::new(EventType::NodeDataChanged, "/x");
        sink.emit_node(1, &changed);
        sink.emit_node(2, &changed);
        assert_eq!(std::iter::from_fn(|| events.try_recv()).count(), 2);
    }
}
