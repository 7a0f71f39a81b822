//! CSV: one file family per record type (`<prefix>-system.csv`,
//! `<prefix>-socket.csv`), each starting with a fixed header row.
//!
//! - Columns are the JSON field names, in JSON order, listed once below
//!   (`SOCKET_COLUMNS`, the `SYSTEM_*` tables). A unit test fails when a
//!   field is added to `SocketRecord` / `SystemRecord` but not here.
//! - `state_counts` becomes 11 columns `state_counts_closed` …
//!   `state_counts_time_wait` (FreeBSD `TCPS_*` order), so spreadsheets and
//!   SQL see numbers, not an array.
//! - An absent value is an empty cell, never 0.
//! - Quoting follows RFC 4180 where needed (a command name may contain
//!   commas, quotes or newlines), decided and done by the csv crate's own
//!   engine (`csv_core`); records end with `\n` (RFC 4180 readers accept it;
//!   `\r\n` would only get in the way of line tools).
//! - No allocation per record: a row is built in one reused buffer. Numbers,
//!   which never need quoting, are formatted straight into it.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use csv_core::WriteResult;

use super::{Encoder, Stream};
use crate::record::{
    Batch, STATE_COUNT, ShortName, SocketRecord, SystemRecord, TcpCounters, TcpState, Tier,
};

/// Index of the system stream in [`CsvEncoder::streams`].
pub const SYSTEM_STREAM: usize = 0;
/// Index of the socket stream in [`CsvEncoder::streams`].
pub const SOCKET_STREAM: usize = 1;

/// Writes one column's cell of a record into the row.
type CellFn<R> = fn(&R, &mut Row);

/// A value that can be a CSV cell. `None` is an empty cell.
trait Cell {
    fn cell(&self, row: &mut Row);
}

macro_rules! unsigned_cell {
    ($($t:ty),*) => {$(
        impl Cell for $t {
            fn cell(&self, row: &mut Row) {
                row.uint(u64::from(*self));
            }
        }
    )*};
}
unsigned_cell!(u8, u32, u64);

impl Cell for i32 {
    fn cell(&self, row: &mut Row) {
        row.sep();
        if *self < 0 {
            row.out.push(b'-');
        }
        push_u64(&mut row.out, u64::from(self.unsigned_abs()));
    }
}

impl Cell for f64 {
    fn cell(&self, row: &mut Row) {
        row.sep();
        // Like JSON, a non-finite value is absent.
        if self.is_finite() {
            // Writing to a Vec cannot fail.
            let _ = write!(row.out, "{self}");
        }
    }
}

impl<T: Cell> Cell for Option<T> {
    fn cell(&self, row: &mut Row) {
        match self {
            Some(v) => v.cell(row),
            None => row.sep(),
        }
    }
}

impl Cell for SocketAddr {
    fn cell(&self, row: &mut Row) {
        row.sep();
        // `1.2.3.4:5` / `[::1]:5`: never needs quoting.
        match self.ip() {
            IpAddr::V4(ip) => {
                for (i, o) in ip.octets().into_iter().enumerate() {
                    if i > 0 {
                        row.out.push(b'.');
                    }
                    push_u64(&mut row.out, u64::from(o));
                }
                row.out.push(b':');
                push_u64(&mut row.out, u64::from(self.port()));
            }
            IpAddr::V6(_) => {
                let _ = write!(row.out, "{self}");
            }
        }
    }
}

impl Cell for TcpState {
    fn cell(&self, row: &mut Row) {
        row.text(self.name().as_bytes());
    }
}

impl Cell for Tier {
    fn cell(&self, row: &mut Row) {
        row.text(self.name().as_bytes());
    }
}

impl Cell for ShortName {
    fn cell(&self, row: &mut Row) {
        row.text(self.as_str().as_bytes());
    }
}

impl Cell for Arc<str> {
    fn cell(&self, row: &mut Row) {
        row.text(self.as_bytes());
    }
}

/// `(column name, cell writer)` for fields whose column is the field name.
macro_rules! columns {
    ($rec:ty: $($field:ident),* $(,)?) => {
        &[$(
            (stringify!($field), |r: &$rec, row: &mut Row| Cell::cell(&r.$field, row)),
        )*]
    };
}

/// Every socket column, in JSON order.
#[rustfmt::skip]
const SOCKET_COLUMNS: &[(&str, CellFn<SocketRecord>)] = columns!(SocketRecord:
    ts, tier, sock_id, local, remote, uid, inode, state,
    cwnd, ssthresh, mss, rcv_wnd, snd_wnd, snd_wscale, rcv_wscale,
    cc, stack,
    rtt_us, rttvar_us, rto_us, rtt_min_us,
    snd_una, snd_nxt, snd_max, rcv_nxt, rcv_adv,
    rexmit, ooo, zerowin, dsack_bytes, dsack_pack,
    bytes_sent, bytes_acked, bytes_received, bytes_retrans, segs_out, segs_in,
    unacked, lost, retrans_out, delivery_rate, pacing_rate,
    rexmit_delta, ooo_delta, zerowin_delta,
    bytes_acked_delta, bytes_received_delta, segs_out_delta, segs_in_delta, age_ms,
    timer_rexmt_ms, timer_persist_ms, timer_keep_ms, timer_2msl_ms, timer_delack_ms, idle_ms,
    snd_buf_used, snd_buf_hiwat, rcv_buf_used, rcv_buf_hiwat, snd_buf_pct, rcv_buf_pct,
    snd_queue, rcv_queue,
    pid, fd, command,
);

/// System columns before `state_counts`.
const SYSTEM_HEAD_COLUMNS: &[(&str, CellFn<SystemRecord>)] =
    columns!(SystemRecord: ts, tier, interval_ms, total_sockets);

/// `state_counts` spread over one column per state, `TcpState::ALL` order.
pub const STATE_COUNT_COLUMNS: [&str; STATE_COUNT] = [
    "state_counts_closed",
    "state_counts_listen",
    "state_counts_syn_sent",
    "state_counts_syn_received",
    "state_counts_established",
    "state_counts_close_wait",
    "state_counts_fin_wait_1",
    "state_counts_closing",
    "state_counts_last_ack",
    "state_counts_fin_wait_2",
    "state_counts_time_wait",
];

// Then every `TcpCounters::NAMES`, then every `TcpCounterDeltas::NAMES`
// (generated with the counters themselves, so they cannot drift), then:

/// System columns after the counters and their deltas.
#[rustfmt::skip]
const SYSTEM_TAIL_COLUMNS: &[(&str, CellFn<SystemRecord>)] = columns!(SystemRecord:
    retransmit_rate, dup_rate, poll_us, skipped_ticks, dropped, write_errors, parse_errors,
    tracked_sockets,
);

/// Header names of the socket file, in order.
pub fn socket_columns() -> Vec<&'static str> {
    SOCKET_COLUMNS.iter().map(|c| c.0).collect()
}

/// Header names of the system file, in order.
pub fn system_columns() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = SYSTEM_HEAD_COLUMNS.iter().map(|c| c.0).collect();
    v.extend(STATE_COUNT_COLUMNS);
    v.extend(TcpCounters::NAMES);
    v.extend(crate::record::TcpCounterDeltas::NAMES);
    v.extend(SYSTEM_TAIL_COLUMNS.iter().map(|c| c.0));
    v
}

/// One CSV row being built in a reused buffer.
struct Row {
    /// Decides quoting (RFC 4180: `,` `"` CR LF) like `csv::Writer`.
    core: csv_core::Writer,
    out: Vec<u8>,
    first: bool,
}

impl Row {
    fn new() -> Row {
        Row {
            core: csv_core::Writer::new(),
            out: Vec::with_capacity(2048),
            first: true,
        }
    }

    fn start(&mut self) {
        self.out.clear();
        self.first = true;
    }

    /// Start the next cell: a delimiter unless it is the first.
    fn sep(&mut self) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
    }

    fn uint(&mut self, v: u64) {
        self.sep();
        push_u64(&mut self.out, v);
    }

    /// A text cell, quoted (with `"` doubled) only where RFC 4180 needs it.
    fn text(&mut self, s: &[u8]) {
        self.sep();
        if !self.core.should_quote(s) {
            self.out.extend_from_slice(s);
            return;
        }
        self.out.push(b'"');
        let start = self.out.len();
        // Worst case: every byte is a quote, doubled.
        self.out.resize(start + 2 * s.len(), 0);
        let (res, nin, nout) = csv_core::quote(s, &mut self.out[start..], b'"', b'"', true);
        debug_assert!(res == WriteResult::InputEmpty && nin == s.len());
        self.out.truncate(start + nout);
        self.out.push(b'"');
    }

    /// End the row; returns it, terminator included.
    fn finish(&mut self) -> &[u8] {
        self.out.push(b'\n');
        &self.out
    }
}

/// Decimal digits of `v`, without going through `fmt` (itoa writes two
/// digits per step from a table).
fn push_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// CSV into two file families, `<prefix>-system.csv` and
/// `<prefix>-socket.csv`.
pub struct CsvEncoder {
    streams: [Stream; 2],
    row: Row,
}

impl CsvEncoder {
    pub fn new(prefix: &str) -> CsvEncoder {
        let mut row = Row::new();
        let system = header(&mut row, &system_columns());
        let socket = header(&mut row, &socket_columns());
        CsvEncoder {
            streams: [
                Stream {
                    file_name: format!("{prefix}-system.csv"),
                    header: system,
                },
                Stream {
                    file_name: format!("{prefix}-socket.csv"),
                    header: socket,
                },
            ],
            row,
        }
    }

    /// One `system` row, terminator included.
    pub fn system_row(&mut self, r: &SystemRecord) -> &[u8] {
        let row = &mut self.row;
        row.start();
        for (_, cell) in SYSTEM_HEAD_COLUMNS {
            cell(r, row);
        }
        for n in r.state_counts {
            row.uint(n);
        }
        for (_, v) in r.counters.iter() {
            v.cell(row);
        }
        for (_, v) in r.deltas.iter() {
            v.cell(row);
        }
        for (_, cell) in SYSTEM_TAIL_COLUMNS {
            cell(r, row);
        }
        row.finish()
    }

    /// One `socket` row, terminator included.
    pub fn socket_row(&mut self, r: &SocketRecord) -> &[u8] {
        let row = &mut self.row;
        row.start();
        for (_, cell) in SOCKET_COLUMNS {
            cell(r, row);
        }
        row.finish()
    }
}

fn header(row: &mut Row, names: &[&str]) -> Vec<u8> {
    row.start();
    for n in names {
        row.text(n.as_bytes());
    }
    row.finish().to_vec()
}

impl Encoder for CsvEncoder {
    fn streams(&self) -> &[Stream] {
        &self.streams
    }

    fn encode(&mut self, batch: &Batch, emit: &mut dyn FnMut(usize, &[u8])) {
        if let Some(sys) = &batch.system {
            emit(SYSTEM_STREAM, self.system_row(sys));
        }
        for s in &batch.sockets {
            emit(SOCKET_STREAM, self.socket_row(s));
        }
    }

    fn record_terminator(&self) -> Option<u8> {
        Some(b'\n')
    }
}

/// `netpulse once --format csv`: the system table (header and row), a blank
/// line, then the socket table (header and rows). Without a system record,
/// only the socket table.
pub fn write_batch(batch: &Batch, out: &mut Vec<u8>) {
    let mut enc = CsvEncoder::new("netpulse");
    if let Some(sys) = &batch.system {
        out.extend_from_slice(&enc.streams[SYSTEM_STREAM].header);
        out.extend_from_slice(enc.system_row(sys));
        out.push(b'\n');
    }
    out.extend_from_slice(&enc.streams[SOCKET_STREAM].header);
    for s in &batch.sockets {
        out.extend_from_slice(enc.socket_row(s));
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::record::{TcpCounterDeltas, TcpCounters};

    /// Every field set, as `SocketRecord::every_field_set` is.
    fn full_system() -> SystemRecord {
        let mut before = TcpCounters::default();
        let mut counters = TcpCounters::default();
        for (i, name) in TcpCounters::NAMES.iter().enumerate() {
            assert!(before.set(name, i as u64));
            assert!(counters.set(name, 2 * i as u64 + 1));
        }
        let deltas: TcpCounterDeltas = counters.delta_since(&before);
        SystemRecord {
            ts: 1,
            tier: Some(Tier::Aggregate),
            interval_ms: 2,
            total_sockets: 3,
            state_counts: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
            counters,
            deltas,
            retransmit_rate: Some(0.5),
            dup_rate: Some(0.25),
            poll_us: Some(4),
            skipped_ticks: Some(5),
            dropped: Some(6),
            write_errors: Some(7),
            parse_errors: Some(8),
            tracked_sockets: Some(9),
        }
    }

    fn json_keys<T: serde::Serialize>(r: &T) -> Vec<String> {
        match serde_json::to_value(r).unwrap() {
            serde_json::Value::Object(m) => m.keys().cloned().collect(),
            other => panic!("not an object: {other}"),
        }
    }

    fn parse_row(header: &[u8], row: &[u8]) -> Vec<(String, String)> {
        let mut bytes = header.to_vec();
        bytes.extend_from_slice(row);
        let mut rd = ::csv::Reader::from_reader(&bytes[..]);
        let names: Vec<String> = rd.headers().unwrap().iter().map(String::from).collect();
        let rows: Vec<::csv::StringRecord> = rd.records().map(Result::unwrap).collect();
        assert_eq!(
            rows.len(),
            1,
            "one row expected in {:?}",
            String::from_utf8_lossy(row)
        );
        names
            .into_iter()
            .zip(rows[0].iter().map(String::from))
            .collect()
    }

    #[test]
    fn columns_cover_every_json_field() {
        let sock: BTreeSet<String> = json_keys(&SocketRecord::every_field_set(1))
            .into_iter()
            .collect();
        let cols: BTreeSet<String> = socket_columns().into_iter().map(String::from).collect();
        assert_eq!(sock, cols, "SocketRecord fields vs SOCKET_COLUMNS");
        assert_eq!(cols.len(), SOCKET_COLUMNS.len(), "duplicate socket column");

        let mut sys: BTreeSet<String> = json_keys(&full_system()).into_iter().collect();
        assert!(sys.remove("state_counts"));
        sys.extend(STATE_COUNT_COLUMNS.iter().map(|s| s.to_string()));
        let cols: BTreeSet<String> = system_columns().into_iter().map(String::from).collect();
        assert_eq!(sys, cols, "SystemRecord fields vs system columns");
        assert_eq!(
            cols.len(),
            system_columns().len(),
            "duplicate system column"
        );
    }

    #[test]
    fn state_columns_follow_state_order() {
        for (state, col) in TcpState::ALL.iter().zip(STATE_COUNT_COLUMNS) {
            assert_eq!(
                col,
                format!("state_counts_{}", state.name().to_ascii_lowercase())
            );
        }
    }

    #[test]
    fn values_land_in_their_columns_and_absent_is_empty() {
        let mut enc = CsvEncoder::new("t");
        let full = SocketRecord::every_field_set(1);
        let want = serde_json::to_value(&full).unwrap();
        let row = enc.socket_row(&full).to_vec();
        for (name, cell) in parse_row(&enc.streams()[SOCKET_STREAM].header, &row) {
            let j = &want[&name];
            let expect = match j {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            assert_eq!(cell, expect, "column {name}");
        }

        let bare = SocketRecord::new(
            7,
            "1.2.3.4:5".parse().unwrap(),
            "5.6.7.8:9".parse().unwrap(),
            TcpState::Listen,
        );
        let row = enc.socket_row(&bare).to_vec();
        for (name, cell) in parse_row(&enc.streams()[SOCKET_STREAM].header, &row) {
            match name.as_str() {
                "ts" => assert_eq!(cell, "7"),
                "local" => assert_eq!(cell, "1.2.3.4:5"),
                "remote" => assert_eq!(cell, "5.6.7.8:9"),
                "state" => assert_eq!(cell, "LISTEN"),
                _ => assert_eq!(cell, "", "absent {name} must be an empty cell"),
            }
        }

        let sys = full_system();
        let row = enc.system_row(&sys).to_vec();
        let cells = parse_row(&enc.streams()[SYSTEM_STREAM].header, &row);
        let get = |n: &str| cells.iter().find(|c| c.0 == n).unwrap().1.clone();
        assert_eq!(get("state_counts_established"), "5");
        assert_eq!(get("state_counts_time_wait"), "11");
        assert_eq!(get("sndtotal"), sys.counters.sndtotal.unwrap().to_string());
        assert_eq!(
            get("sndtotal_delta"),
            sys.deltas.sndtotal_delta.unwrap().to_string()
        );
        assert_eq!(get("dup_rate"), "0.25");
        assert_eq!(get("tier"), "aggregate");
        let empty = enc.system_row(&SystemRecord::default()).to_vec();
        let cells = parse_row(&enc.streams()[SYSTEM_STREAM].header, &empty);
        assert_eq!(cells.iter().find(|c| c.0 == "sndtotal").unwrap().1, "");
        assert_eq!(
            cells
                .iter()
                .find(|c| c.0 == "state_counts_listen")
                .unwrap()
                .1,
            "0"
        );
    }

    #[test]
    fn once_output_is_two_tables() {
        let batch = Batch {
            tier: None,
            ts: 1,
            seq: 0,
            interval_ms: 1000,
            system: Some(full_system()),
            sockets: vec![
                SocketRecord::every_field_set(1),
                SocketRecord::every_field_set(1),
            ],
        };
        let mut out = Vec::new();
        write_batch(&batch, &mut out);
        let text = String::from_utf8(out).unwrap();
        let (system, socket) = text.split_once("\n\n").unwrap();
        assert!(system.starts_with("ts,tier,interval_ms,total_sockets,state_counts_closed,"));
        assert_eq!(system.lines().count(), 2);
        let mut rd = ::csv::Reader::from_reader(socket.as_bytes());
        assert_eq!(rd.headers().unwrap().len(), SOCKET_COLUMNS.len());
        assert_eq!(rd.records().map(Result::unwrap).count(), 2);
    }
}
