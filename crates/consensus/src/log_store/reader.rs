//! `RaftLogReader`: entries come from the shared cache when it holds the whole range, otherwise from the
//! writer thread, which reads disk and cache as one consistent view.

use std::fmt::Debug;
use std::io;
use std::ops::RangeBounds;
use std::sync::Arc;

use openraft::RaftLogReader;

use super::{Op, Queue, Shared};
use crate::types::{Entry, TypeConfig, Vote};

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

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        Ok(self.shared.view().vote)
    }
}
