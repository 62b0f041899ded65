//! The log of requests the emulated cloud received, served by `GET /_emulator/requests` so
//! that tests can assert what a client sent (and how often). Not persisted.

use serde::Serialize;

/// One request as the emulator saw and answered it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct LoggedRequest {
    /// Position in the log, from 1, increasing for the emulator's lifetime.
    pub(crate) seq: u64,
    /// HTTP method.
    pub(crate) method: String,
    /// Path only.
    pub(crate) path: String,
    /// Raw query string, if any.
    pub(crate) query: Option<String>,
    /// Status answered; `None` when the connection was dropped before any answer.
    pub(crate) status: Option<u16>,
    /// When the request arrived (RFC 3339, UTC).
    pub(crate) time: String,
    /// The `X-Request-Id` the emulator assigned.
    pub(crate) request_id: String,
    /// A fault rule applied to the request.
    pub(crate) fault: bool,
    /// The client never got a response (dropped or lost after commit).
    pub(crate) dropped: bool,
}

/// The request log.
#[derive(Debug, Default)]
pub(crate) struct RequestLog {
    next_seq: u64,
    entries: Vec<LoggedRequest>,
}

impl RequestLog {
    /// Appends `entry`, assigning its sequence number.
    pub(crate) fn push(&mut self, mut entry: LoggedRequest) {
        self.next_seq += 1;
        entry.seq = self.next_seq;
        self.entries.push(entry);
    }

    /// Entries with `seq > since`, in order.
    pub(crate) fn since(&self, since: u64) -> &[LoggedRequest] {
        let start = self.entries.partition_point(|e| e.seq <= since);
        &self.entries[start..]
    }

    /// Forgets all entries (sequence numbers keep increasing).
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str) -> LoggedRequest {
        LoggedRequest {
            seq: 0,
            method: "GET".into(),
            path: path.into(),
            query: None,
            status: Some(200),
            time: String::new(),
            request_id: String::new(),
            fault: false,
            dropped: false,
        }
    }

    #[test]
    fn since_skips_seen_entries_and_seq_survives_clear() {
        let mut log = RequestLog::default();
        log.push(entry("/a"));
        log.push(entry("/b"));
        log.push(entry("/c"));
        assert_eq!(log.since(0).len(), 3);
        let after_one: Vec<_> = log.since(1).iter().map(|e| e.path.as_str()).collect();
        assert_eq!(after_one, ["/b", "/c"]);
        assert!(log.since(3).is_empty());
        log.clear();
        log.push(entry("/d"));
        assert_eq!(log.since(0)[0].seq, 4);
    }
}
