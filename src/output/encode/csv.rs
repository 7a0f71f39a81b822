//! CSV: one file family per record type (`<prefix>-system.csv`,
//! `<prefix>-socket.csv`), each starting with a fixed header row.
//!
//! - Columns are the JSON field names, in JSON order, generated from the
//!   field tables (`record/socket_fields.rs`, `record/system_fields.rs`).
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

use csv_core::WriteResult;

use super::line_writer::{Cursor, LineWriter, SOCKET_ADDR_MAX_LEN, U64_MAX_LEN, whole_number};
use super::text_value::{Shape, Text, TextValue, WORD_MAX_LEN};
use super::written_fields::{written_fields, written_fields_of};
use crate::output::{Encoder, RecordOut, Stream};
use crate::record::{
    Batch, STATE_COUNT, SocketRecord, SystemRecord, TcpCounterDeltas, TcpCounters, TcpState,
    system_fields,
};

/// Index of the system stream in [`CsvEncoder::streams`].
pub const SYSTEM_STREAM: usize = 0;
/// Index of the socket stream in [`CsvEncoder::streams`].
pub const SOCKET_STREAM: usize = 1;
/// Stream index of `<prefix>-close.csv` (same columns as the socket file).
pub const CLOSE_STREAM: usize = 2;

/// Decides quoting (RFC 4180: `,` `"` CR LF) like `csv::Writer`.
type Quoting = csv_core::Writer;

/// Most bytes `f64`'s `Display` writes: no exponent, so up to 309 integer
/// digits (`f64::MAX`) or 324 fraction digits (`5e-324`), plus sign and
/// point.
const F64_DISPLAY_MAX_LEN: usize = 330;

/// Most bytes the cell of `v` takes.
#[inline(always)]
fn max_len<T: TextValue>(v: &T) -> usize {
    match T::SHAPE {
        Shape::Unsigned => U64_MAX_LEN,
        Shape::Signed => 1 + U64_MAX_LEN,
        Shape::Float => F64_DISPLAY_MAX_LEN,
        Shape::Word => text_max_len(WORD_MAX_LEN),
        Shape::Str { fixed } => text_max_len(fixed + v.text_len()),
        Shape::Addr => SOCKET_ADDR_MAX_LEN,
    }
}

/// The cell of `v` (the value only; the caller writes the delimiters).
/// Absent is an empty cell.
#[inline(always)]
fn cell<T: TextValue>(v: &T, c: &mut Cursor<'_>, q: &Quoting) {
    if let Some(t) = v.text() {
        cell_text(t, c, q);
    }
}

/// The delimiter before the cell, then the cell.
#[inline(always)]
fn cell_after<T: TextValue>(v: &T, delimiter: &[u8], c: &mut Cursor<'_>, q: &Quoting) {
    match v.text() {
        None => c.bytes(delimiter),
        Some(Text::Unsigned(n)) => c.prefixed_u64(delimiter, n),
        Some(Text::Signed(n)) => c.prefixed_i64(delimiter, n),
        Some(t) => {
            c.bytes(delimiter);
            cell_text(t, c, q);
        }
    }
}

#[inline(always)]
fn cell_text(t: Text<'_>, c: &mut Cursor<'_>, q: &Quoting) {
    match t {
        Text::Unsigned(n) => c.u64(n),
        Text::Signed(n) => c.i64(n),
        Text::Float(v) => match whole_number(v) {
            Some(i) => c.i64(i),
            None => float(v, c),
        },
        // A state or tier name: letters, digits and `_`, never quoted.
        Text::Word(w) => c.bytes(w.as_bytes()),
        Text::Str(s) => text(c, q, s.as_bytes()),
        // `1.2.3.4:5` / `[::1]:5`: never needs quoting.
        Text::Addr(a) => c.socket_addr(a),
    }
}

fn float(v: f64, c: &mut Cursor<'_>) {
    // Like JSON, a non-finite value is absent.
    if v.is_finite() {
        c.write_io(|out| write!(out, "{v}"));
    }
}

/// The socket columns (the JSON fields, in JSON order, from the one list in
/// `socket_fields`) and the straight-line row writer: no call per column,
/// cells inlined.
macro_rules! socket_table {
    ($first:ident $(, $field:ident)*) => {
        /// Every socket column, in JSON order.
        const SOCKET_COLUMNS: &[&str] = &[stringify!($first) $(, stringify!($field))*];

        /// Append one socket row, terminator included.
        fn socket_row(r: &SocketRecord, w: &mut LineWriter, q: &Quoting) {
            w.record(row_max_len(r), |c| {
                cell(&r.$first(), c, q);
                $( cell_after(&r.$field(), b",", c, q); )*
                c.byte(b'\n');
            });
        }

        /// Most bytes [`socket_row`] writes for `r`: each cell's longest
        /// form (a constant but for the command) and the delimiters.
        #[inline(always)]
        fn row_max_len(r: &SocketRecord) -> usize {
            SOCKET_COLUMNS.len() + max_len(&r.$first()) $(+ max_len(&r.$field()))*
        }
    };
}
written_fields!(socket_table);

/// `state_counts` spread over one column per state, `TcpState::ALL` order:
/// `state_counts_` and the state's name in lower case.
pub static STATE_COUNT_COLUMNS: std::sync::LazyLock<[&'static str; STATE_COUNT]> =
    std::sync::LazyLock::new(|| {
        TcpState::ALL.map(|s| -> &'static str {
            let name = format!("state_counts_{}", s.name().to_ascii_lowercase());
            // Made once per process, like a constant.
            Box::leak(name.into_boxed_str())
        })
    });

/// One system field's column names.
macro_rules! system_column_names {
    ($v:ident, $name:ident, $ty:ty, states) => {
        $v.extend(STATE_COUNT_COLUMNS.iter())
    };
    ($v:ident, $name:ident, $ty:ty, flat) => {
        $v.extend(<$ty>::NAMES)
    };
    ($v:ident, $name:ident, $ty:ty, $kind:ident) => {
        $v.push(stringify!($name))
    };
}

/// One system field's cells, each after a delimiter but the row's first.
macro_rules! system_cells {
    ($r:ident, $c:ident, $q:ident, $first:ident, $name:ident, states) => {
        for n in $r.$name {
            delimit(&mut $first, $c);
            $c.u64(n);
        }
    };
    ($r:ident, $c:ident, $q:ident, $first:ident, $name:ident, flat) => {
        for (_, v) in $r.$name.iter() {
            delimit(&mut $first, $c);
            cell(&v, $c, $q);
        }
    };
    ($r:ident, $c:ident, $q:ident, $first:ident, $name:ident, $kind:ident) => {
        delimit(&mut $first, $c);
        cell(&$r.$name, $c, $q);
    };
}

/// Most bytes of one system field's cells.
macro_rules! system_cells_max_len {
    ($r:ident, $name:ident, $ty:ty, states) => {
        STATE_COUNT * U64_MAX_LEN
    };
    ($r:ident, $name:ident, $ty:ty, flat) => {
        <$ty>::NAMES.len() * U64_MAX_LEN
    };
    ($r:ident, $name:ident, $ty:ty, $kind:ident) => {
        max_len(&$r.$name)
    };
}

/// The system columns and the row writer, from the system field table:
/// a `flat` counter group and `state_counts` spread over their columns.
macro_rules! system_table {
    ($(
        $(#[$doc:meta])*
        $name:ident : $ty:ty = $tag:literal, $kind:ident;
    )*) => {
        /// Header names of the system file, in order.
        pub fn system_columns() -> Vec<&'static str> {
            let mut v = Vec::with_capacity(64);
            $( system_column_names!(v, $name, $ty, $kind); )*
            v
        }

        /// Append one system row, terminator included.
        fn system_row(r: &SystemRecord, w: &mut LineWriter, q: &Quoting, columns: usize) {
            let max = columns + 1 $(+ system_cells_max_len!(r, $name, $ty, $kind))*;
            w.record(max, |c| {
                let mut first = true;
                $( system_cells!(r, c, q, first, $name, $kind); )*
                c.byte(b'\n');
            });
        }
    };
}
system_fields!(system_table);

/// The delimiter before a cell, unless it is the row's first.
#[inline(always)]
fn delimit(first: &mut bool, c: &mut Cursor<'_>) {
    if !std::mem::replace(first, false) {
        c.byte(b',');
    }
}

/// Header names of the socket file, in order.
pub fn socket_columns() -> Vec<&'static str> {
    SOCKET_COLUMNS.to_vec()
}

/// Most bytes of a text cell: every byte a quote, doubled, and the two
/// quotes around.
const fn text_max_len(len: usize) -> usize {
    2 * len + 2
}

/// A text cell, quoted (with `"` doubled) only where RFC 4180 needs it.
fn text(c: &mut Cursor<'_>, q: &Quoting, s: &[u8]) {
    if q.should_quote(s) {
        c.write_into(|out| quoted(s, out));
    } else {
        c.bytes(s);
    }
}

/// `"s"` with inner quotes doubled into `out`: the bytes written, or `None`
/// if `out` is too small.
fn quoted(s: &[u8], out: &mut [u8]) -> Option<usize> {
    let (open, rest) = out.split_first_mut()?;
    *open = b'"';
    let (res, nin, nout) = csv_core::quote(s, rest, b'"', b'"', true);
    if res != WriteResult::InputEmpty || nin != s.len() {
        return None;
    }
    *rest.get_mut(nout)? = b'"';
    Some(nout + 2)
}

/// CSV into three file families, `<prefix>-system.csv`,
/// `<prefix>-socket.csv` and `<prefix>-close.csv`.
pub struct CsvEncoder {
    streams: [Stream; 3],
    quoting: Quoting,
    /// The row being written (one at a time).
    row: LineWriter,
    /// Columns of the system file.
    system_columns: usize,
}

impl CsvEncoder {
    pub fn new(prefix: &str) -> CsvEncoder {
        let quoting = Quoting::new();
        let system_columns = system_columns();
        let system = header(&quoting, &system_columns);
        let socket = header(&quoting, SOCKET_COLUMNS);
        let close = socket.clone();
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
                Stream {
                    file_name: format!("{prefix}-close.csv"),
                    header: close,
                },
            ],
            quoting,
            row: LineWriter::with_capacity(2048),
            system_columns: system_columns.len(),
        }
    }

    /// One `system` row, terminator included.
    pub fn system_row(&mut self, r: &SystemRecord) -> &[u8] {
        self.row.clear();
        system_row(r, &mut self.row, &self.quoting, self.system_columns);
        self.row.as_bytes()
    }

    /// One `socket` row, terminator included.
    pub fn socket_row(&mut self, r: &SocketRecord) -> &[u8] {
        self.row.clear();
        socket_row(r, &mut self.row, &self.quoting);
        self.row.as_bytes()
    }
}

/// The header row: the column names, quoted where needed.
fn header(q: &Quoting, names: &[&str]) -> Vec<u8> {
    let mut w = LineWriter::default();
    let max = names.iter().map(|n| 1 + text_max_len(n.len())).sum();
    w.record(max, |c| {
        for (i, n) in names.iter().enumerate() {
            if i > 0 {
                c.byte(b',');
            }
            text(c, q, n.as_bytes());
        }
        c.byte(b'\n');
    });
    w.into_vec()
}

impl Encoder for CsvEncoder {
    fn streams(&self) -> &[Stream] {
        &self.streams
    }

    fn encode_into(&mut self, batch: &Batch, out: &mut dyn RecordOut) {
        if let Some(sys) = &batch.system {
            out.begin(SYSTEM_STREAM)
                .extend_from_slice(self.system_row(sys));
            out.end(SYSTEM_STREAM);
        }
        for s in &batch.sockets {
            socket_row(s, out.begin(SOCKET_STREAM), &self.quoting);
            out.end(SOCKET_STREAM);
        }
        for s in &batch.closes {
            socket_row(s, out.begin(CLOSE_STREAM), &self.quoting);
            out.end(CLOSE_STREAM);
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

/// [`write_batch`] to `w`, [`super::STREAM_CHUNK`] bytes at a time: a
/// large table is never encoded whole in memory.
pub fn write_batch_to(batch: &Batch, w: &mut dyn Write) -> std::io::Result<()> {
    let mut enc = CsvEncoder::new("netpulse");
    let mut out = Vec::with_capacity(super::STREAM_CHUNK + 4096);
    if let Some(sys) = &batch.system {
        out.extend_from_slice(&enc.streams[SYSTEM_STREAM].header);
        out.extend_from_slice(enc.system_row(sys));
        out.push(b'\n');
    }
    out.extend_from_slice(&enc.streams[SOCKET_STREAM].header);
    for s in &batch.sockets {
        out.extend_from_slice(enc.socket_row(s));
        if out.len() >= super::STREAM_CHUNK {
            w.write_all(&out)?;
            out.clear();
        }
    }
    w.write_all(&out)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::net::SocketAddr;
    use std::sync::Arc;

    use super::*;
    use crate::record::{ShortName, Tier};

    /// Every field set, with a host that needs quoting.
    fn full_system() -> SystemRecord {
        let mut sys = SystemRecord::every_field_set(1);
        sys.tier = Some(Tier::Aggregate);
        sys.state_counts = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
        sys.dup_rate = Some(0.25);
        sys.host = Some(Arc::from("db-1, \"east\""));
        sys
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
        assert_eq!(
            *STATE_COUNT_COLUMNS,
            [
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
            ]
        );
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

    /// The row the csv crate's own writer makes of the same cells: values
    /// from serde's JSON of the record (floats from `Display`, as the CSV
    /// writes them), absent as empty.
    fn reference_row(r: &SocketRecord) -> Vec<u8> {
        let json = serde_json::to_value(r).unwrap();
        let float = |v: Option<f64>| v.filter(|v| v.is_finite()).map(|v| v.to_string());
        let cells: Vec<String> = socket_columns()
            .into_iter()
            .map(|name| match name {
                "snd_buf_pct" => float(r.snd_buf_pct()).unwrap_or_default(),
                "rcv_buf_pct" => float(r.rcv_buf_pct()).unwrap_or_default(),
                _ => match &json.get(name) {
                    None => String::new(),
                    Some(serde_json::Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                },
            })
            .collect();
        let mut w = ::csv::WriterBuilder::new()
            .terminator(::csv::Terminator::Any(b'\n'))
            .from_writer(Vec::new());
        w.write_record(&cells).unwrap();
        w.into_inner().unwrap()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// Any mix of present and absent fields, any addresses, awkward
        /// names: the same bytes as `csv::Writer`.
        #[test]
        fn any_socket_row_matches_csv_writer(
            seed in proptest::prelude::any::<u64>(),
            mask in proptest::prelude::any::<u64>(),
            v4 in proptest::prelude::any::<([u8; 4], u16)>(),
            v6 in proptest::prelude::any::<([u16; 8], u16, u32)>(),
            cmd in "(.|[,\"\r\n ]){0,24}",
            stack in "[a-z,\" \r\n]{0,40}",
            pct in proptest::prelude::any::<f64>(),
        ) {
            let mut r = SocketRecord::every_field_set(seed);
            r.local = SocketAddr::from((v4.0, v4.1));
            r.remote = SocketAddr::V6(std::net::SocketAddrV6::new(v6.0.into(), v6.1, 0, v6.2));
            r.set().command(Some(Arc::from(cmd.as_str())));
            r.set().stack(Some(ShortName::new(&stack)));
            r.set().snd_buf_pct(Some(pct));
            r.set().rcv_buf_pct(Some(pct / 1e300));
            r.knock_out(mask);
            let mut enc = CsvEncoder::new("t");
            let row = String::from_utf8(enc.socket_row(&r).to_vec()).unwrap();
            let want = String::from_utf8(reference_row(&r)).unwrap();
            proptest::prop_assert_eq!(row, want);
        }
    }

    /// Every cell at its longest fits its bound, and so does the row: no
    /// row is ever written twice.
    #[test]
    fn the_bound_holds_for_the_longest_row() {
        let r = super::super::json_socket::tests::longest_record();
        let q = Quoting::new();
        macro_rules! each_cell_fits {
            ($($field:ident),*) => {$(
                let mut w = LineWriter::default();
                w.record(4096, |c| cell(&r.$field(), c, &q));
                let len = w.as_bytes().len();
                assert!(len <= max_len(&r.$field()), "{}: {len}", stringify!($field));
            )*};
        }
        written_fields!(each_cell_fits);
        let mut enc = CsvEncoder::new("t");
        let row = enc.socket_row(&r).to_vec();
        assert_eq!(row, reference_row(&r));
        assert!(row.len() <= row_max_len(&r));
    }

    #[test]
    fn once_output_is_two_tables() {
        let batch = Batch {
            closes: Vec::new(),
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

    /// Each record goes to its own file family, as the row writers write
    /// it, and ends with the terminator the file sinks cut torn rows at.
    #[test]
    fn encode_sends_each_row_to_its_stream() {
        let mut closed = SocketRecord::every_field_set(2);
        closed.set().command(Some(Arc::from("a,\"b\"\nc")));
        let batch = Batch {
            closes: vec![closed.clone()],
            tier: None,
            ts: 1,
            seq: 0,
            interval_ms: 1000,
            system: Some(full_system()),
            sockets: vec![SocketRecord::every_field_set(1)],
        };
        let mut enc = CsvEncoder::new("pre");
        let want = vec![
            (SYSTEM_STREAM, enc.system_row(&full_system()).to_vec()),
            (SOCKET_STREAM, enc.socket_row(&batch.sockets[0]).to_vec()),
            (CLOSE_STREAM, enc.socket_row(&closed).to_vec()),
        ];
        let mut got = Vec::new();
        enc.encode(&batch, &mut |stream, bytes| {
            got.push((stream, bytes.to_vec()))
        });
        assert_eq!(got, want);
        let terminator = enc.record_terminator();
        assert_eq!(terminator, Some(b'\n'));
        for (_, row) in &got {
            assert_eq!(row.last().copied(), terminator);
        }
        let names: Vec<&str> = enc.streams().iter().map(|s| s.file_name.as_str()).collect();
        assert_eq!(names, ["pre-system.csv", "pre-socket.csv", "pre-close.csv"]);
        let headers: Vec<&[u8]> = enc.streams().iter().map(|s| &s.header[..]).collect();
        assert_eq!(
            headers[SYSTEM_STREAM],
            header(&Quoting::new(), &system_columns())
        );
        assert_eq!(
            headers[SOCKET_STREAM],
            header(&Quoting::new(), SOCKET_COLUMNS)
        );
        assert_eq!(headers[CLOSE_STREAM], headers[SOCKET_STREAM]);
    }
}
