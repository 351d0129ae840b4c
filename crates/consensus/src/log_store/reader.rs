//! `RaftLogReader`: entries come from the shared cache when it holds the whole range, otherwise from the
//! writer thread, which reads disk and cache as one consistent view.

use std::fmt::Debug;
use std::io;
use std::ops::RangeBounds;
use std::sync::Arc;

use futures_util::{Stream, StreamExt, stream};
use openraft::RaftLogReader;

use super::view::bounds;
use super::{Op, Queue, Shared};
use crate::types::{Entry, TypeConfig, Vote};

/// Entries per `limited_get_log_entries` call (openraft sends at most `max_payload_entries`, 300 by
/// default, per append request anyway).
const READ_LIMIT: u64 = 1024;

/// A log reader; replication tasks hold one each. Taken before an append, it still sees the appended
/// entries: every reader looks at the same shared view.
#[derive(Clone)]
pub struct LogReader {
    shared: Arc<Shared>,
    queue: Queue,
}

impl LogReader {
    pub(super) fn new(shared: Arc<Shared>, queue: Queue) -> LogReader {
        LogReader { shared, queue }
    }
}

impl RaftLogReader<TypeConfig> for LogReader {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        let (start, end) = {
            let view = self.shared.view();
            let (start, end) = view.clip(&range);
            if start >= end {
                return Ok(Vec::new());
            }
            if start >= view.cache_first() {
                return Ok(view.cached(start, end));
            }
            (start, end)
        };
        self.queue.call(|reply| Op::Read { start, end, reply }).await
    }

    /// Applying committed entries reads through this, after a restart possibly the whole log: in chunks of
    /// `READ_LIMIT`, so the entries are never all in memory at once. Committed entries never change, so
    /// reading them chunk by chunk sees one log.
    async fn entries_stream<RB>(&mut self, range: RB) -> impl Stream<Item = io::Result<Entry>> + Send
    where
        RB: RangeBounds<u64> + Clone + Debug + Send,
    {
        let (start, end) = bounds(&range);
        let chunks = stream::unfold(Some((self.clone(), start)), move |state| async move {
            let (mut reader, next) = state?;
            if next >= end {
                return None;
            }
            match reader.try_get_log_entries(next..end.min(next.saturating_add(READ_LIMIT))).await {
                Ok(entries) => {
                    let after = entries.last().map(|e| (reader, e.log_id.index + 1));
                    Some((Ok(entries), after))
                }
                Err(e) => Some((Err(e), None)),
            }
        });
        chunks.flat_map(|chunk| {
            let items: Vec<io::Result<Entry>> = match chunk {
                Ok(entries) => entries.into_iter().map(Ok).collect(),
                Err(e) => vec![Err(e)],
            };
            stream::iter(items)
        })
    }

    /// Replication to a lagging follower reads through this: at most `READ_LIMIT` entries per call, so a
    /// follower far behind never makes the leader load the whole log into memory at once.
    async fn limited_get_log_entries(&mut self, start: u64, end: u64) -> Result<Vec<Entry>, io::Error> {
        self.try_get_log_entries(start..end.min(start.saturating_add(READ_LIMIT))).await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        Ok(self.shared.view().vote)
    }
}
