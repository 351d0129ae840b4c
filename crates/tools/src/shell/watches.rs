//! The watches this shell session has set (`get -w`, `stat -w`, `ls -w`, `config -w`, `addWatch`): one task
//! per watcher waits for its notification and prints it, and `removewatches` finds them again by path and
//! kind. The client library removes a watch from the server when its watcher is dropped, so removing one
//! here means asking its task to drop it and waiting until it has.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;
use zookeeper_client::{EventType, OneshotWatcher, PersistentWatcher};

use super::command::WatchFilter;
use super::events::{EventSink, ShellEvent};

/// What a watch is on, in zkCli's removal terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WatchKind {
    /// `get -w`, `stat -w`, `config -w`.
    Data,
    /// `ls -w`.
    Child,
    /// `addWatch`.
    Persistent,
}

impl WatchKind {
    fn matches(self, filter: WatchFilter) -> bool {
        match filter {
            WatchFilter::Any => true,
            WatchFilter::Data => self == WatchKind::Data,
            WatchFilter::Child => self == WatchKind::Child,
        }
    }

    /// The event type the Java client reports when such a watch is removed.
    pub fn removed_event(self) -> &'static str {
        match self {
            WatchKind::Data => "DataWatchRemoved",
            WatchKind::Child => "ChildWatchRemoved",
            WatchKind::Persistent => "PersistentWatchRemoved",
        }
    }
}

/// Sent to a watch task to make it drop its watcher; it answers once it has.
type Cancel = oneshot::Sender<oneshot::Sender<()>>;

struct Entry {
    path: String,
    kind: WatchKind,
    cancel: Cancel,
}

#[derive(Default)]
struct Registry {
    next_id: u64,
    entries: HashMap<u64, Entry>,
}

/// The live watches of one session.
#[derive(Clone)]
pub(crate) struct Watches {
    registry: Arc<Mutex<Registry>>,
    sink: EventSink,
}

impl Watches {
    pub fn new(sink: EventSink) -> Watches {
        Watches { registry: Arc::default(), sink }
    }

    /// Prints the watcher's one notification when it comes.
    pub fn add_oneshot(&self, path: &str, kind: WatchKind, watcher: OneshotWatcher) {
        let (id, cancelled) = self.register(path, kind);
        let watches = self.clone();
        tokio::spawn(async move {
            let mut changed = Box::pin(watcher.changed());
            // Biased: a notification already delivered is printed even if a removal arrives with it.
            let ack = tokio::select! {
                biased;
                event = &mut changed => {
                    watches.unregister(id);
                    watches.sink.emit_node(id, &event);
                    None
                }
                ack = cancelled => ack.ok(),
            };
            drop(changed);
            if let Some(ack) = ack {
                let _ = ack.send(());
            }
        });
    }

    /// Prints every notification of a persistent watch until it is removed or the session ends.
    pub fn add_persistent(&self, path: &str, mut watcher: PersistentWatcher) {
        let (id, mut cancelled) = self.register(path, WatchKind::Persistent);
        let watches = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    biased;
                    event = watcher.changed() => {
                        if event.event_type == EventType::Session {
                            // The library panics if asked again after the session has ended.
                            if event.session_state.is_terminated() {
                                watches.unregister(id);
                                return;
                            }
                            continue;
                        }
                        watches.sink.emit_node(id, &event);
                    }
                    ack = &mut cancelled => {
                        drop(watcher);
                        if let Ok(ack) = ack {
                            let _ = ack.send(());
                        }
                        return;
                    }
                }
            }
        });
    }

    /// Removes the watches on `path` that `filter` selects, waiting until each watcher is dropped (so the
    /// removal reaches the server before the next request), and reports the removal as zkCli's watcher
    /// would. Returns the kinds removed, empty when there was no such watch.
    pub async fn remove(&self, path: &str, filter: WatchFilter) -> Vec<WatchKind> {
        let removed: Vec<Entry> = {
            let mut registry = self.lock();
            let ids: Vec<u64> = registry
                .entries
                .iter()
                .filter(|(_, e)| e.path == path && e.kind.matches(filter))
                .map(|(id, _)| *id)
                .collect();
            ids.iter().filter_map(|id| registry.entries.remove(id)).collect()
        };
        let mut kinds = Vec::new();
        for entry in removed {
            let (ack, acked) = oneshot::channel();
            if entry.cancel.send(ack).is_ok() {
                let _ = acked.await;
            }
            if !kinds.contains(&entry.kind) {
                kinds.push(entry.kind);
            }
        }
        for kind in &kinds {
            self.sink.emit(ShellEvent::removed(kind.removed_event(), path));
        }
        kinds
    }

    /// Whether any watch is set.
    pub fn is_empty(&self) -> bool {
        self.lock().entries.is_empty()
    }

    fn register(&self, path: &str, kind: WatchKind) -> (u64, oneshot::Receiver<oneshot::Sender<()>>) {
        let (cancel, cancelled) = oneshot::channel();
        let mut registry = self.lock();
        let id = registry.next_id;
        registry.next_id += 1;
        registry.entries.insert(id, Entry { path: path.to_owned(), kind, cancel });
        (id, cancelled)
    }

    fn unregister(&self, id: u64) {
        self.lock().entries.remove(&id);
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        // The registry stays consistent even if a holder panicked: every update is a single map operation.
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
