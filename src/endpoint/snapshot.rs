//! `/api/snapshot`: the latest socket table and `system` records as one
//! JSON document, plus the aggregates the dashboard draws.
//!
//! ```text
//! {"host", "ts", "tier", "interval_ms", "generation",
//!  "system": {...} | null,            // the record sampled with the table
//!  "systems": {"fast": {...}, ...},   // the latest record of every tier
//!  "summary": {state_counts, rtt_us, cwnd_bytes, ...},
//!  "top_rexmit": [socket...], "top_rtt": [socket...],
//!  "full_listeners": [socket...],     // accept queue over 80 % full
//!  "sockets_total", "sockets_omitted", "sockets": [socket...]}
//! ```
//! Socket objects have the same fields as the JSON lines.

use bytes::Bytes;
use serde::Serialize;

use super::live::{Live, SYSTEM_SLOTS, TOP_MAX, slot_name};
use crate::record::SocketRecord;

/// What a request asks for: socket rows and entries per top list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotQuery {
    pub sockets: usize,
    pub top: usize,
}

pub const DEFAULT_TOP: usize = 10;

impl SnapshotQuery {
    /// From a query string (`sockets=all|N`, `top=N`); unknown or
    /// malformed parameters fall back to the defaults.
    pub fn parse(query: Option<&str>, default_sockets: usize) -> SnapshotQuery {
        let mut q = SnapshotQuery {
            sockets: default_sockets,
            top: DEFAULT_TOP,
        };
        for pair in query.unwrap_or("").split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "sockets" if v == "all" => q.sockets = usize::MAX,
                "sockets" => q.sockets = v.parse().unwrap_or(q.sockets),
                "top" => q.top = v.parse().unwrap_or(q.top).min(TOP_MAX),
                _ => {}
            }
        }
        q
    }
}

#[derive(Serialize)]
struct Head<'a> {
    host: &'a str,
    generation: u64,
    ts: Option<u64>,
    tier: Option<&'static str>,
    interval_ms: Option<u64>,
}

/// Render the document for `q`.
pub fn render(live: &Live, host: &str, q: SnapshotQuery) -> Bytes {
    let socks = live.sockets();
    let shown = socks.len().min(q.sockets);
    let mut o: Vec<u8> = Vec::with_capacity(4096 + shown * 700);
    let table = live.table.as_deref();
    let head = Head {
        host,
        generation: live.generation,
        ts: table.map(|b| b.ts),
        tier: table.map(|b| b.tier.map_or("once", |t| t.name())),
        interval_ms: table.map(|b| b.interval_ms),
    };
    // Serializing plain records into a Vec cannot fail; on the impossible
    // error the document is cut short rather than the agent panicking.
    let _ = serde_json::to_writer(&mut o, &head);
    o.pop(); // reopen the object
    o.extend_from_slice(b",\"system\":");
    let _ = serde_json::to_writer(&mut o, &live.system());
    o.extend_from_slice(b",\"systems\":{");
    let mut first = true;
    for i in 0..SYSTEM_SLOTS {
        if let Some(sys) = live.systems[i].as_deref().and_then(|b| b.system.as_ref()) {
            if !first {
                o.push(b',');
            }
            first = false;
            o.extend_from_slice(format!("\"{}\":", slot_name(i)).as_bytes());
            let _ = serde_json::to_writer(&mut o, sys);
        }
    }
    o.push(b'}');
    let summary = live.summary();
    o.extend_from_slice(b",\"summary\":");
    let _ = serde_json::to_writer(&mut o, summary);
    o.extend_from_slice(b",\"top_rexmit\":");
    list(
        &mut o,
        summary.top_rexmit.iter().take(q.top).map(|&i| &socks[i]),
    );
    o.extend_from_slice(b",\"top_rtt\":");
    list(
        &mut o,
        summary.top_rtt.iter().take(q.top).map(|&i| &socks[i]),
    );
    o.extend_from_slice(b",\"full_listeners\":");
    list(
        &mut o,
        summary
            .full_listeners
            .iter()
            .take(q.top)
            .map(|&i| &socks[i]),
    );
    o.extend_from_slice(
        format!(
            ",\"sockets_total\":{},\"sockets_omitted\":{},\"sockets\":",
            socks.len(),
            socks.len() - shown
        )
        .as_bytes(),
    );
    list(&mut o, socks[..shown].iter());
    o.push(b'}');
    Bytes::from(o)
}

fn list<'a>(o: &mut Vec<u8>, recs: impl Iterator<Item = &'a SocketRecord>) {
    o.push(b'[');
    for (n, r) in recs.enumerate() {
        if n > 0 {
            o.push(b',');
        }
        let _ = serde_json::to_writer(&mut *o, r);
    }
    o.push(b']');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parsing_is_forgiving_and_bounded() {
        let q = SnapshotQuery::parse(Some("sockets=all&top=5"), 10);
        assert_eq!((q.sockets, q.top), (usize::MAX, 5));
        let q = SnapshotQuery::parse(Some("sockets=x&top=100000&zzz"), 10);
        assert_eq!((q.sockets, q.top), (10, TOP_MAX));
        let q = SnapshotQuery::parse(None, 7);
        assert_eq!((q.sockets, q.top), (7, DEFAULT_TOP));
    }
}
