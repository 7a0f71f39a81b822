//! CSV and JSON encoders against the csv crate's reader and serde_json:
//! awkward command names round-trip, and arbitrary record contents never
//! produce a malformed line or row (bounded proptest).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use netpulse::output::Encoder;
use netpulse::output::csv::{
    CsvEncoder, SOCKET_STREAM, SYSTEM_STREAM, socket_columns, system_columns,
};
use netpulse::output::json::JsonEncoder;
use netpulse::output::sink::file::{FileSink, FileSinkConfig};
use netpulse::record::{Batch, ShortName, SocketRecord, SystemRecord, TcpCounters, TcpState};
use netpulse_testkit::output::*;
use proptest::prelude::*;

fn column(name: &str) -> usize {
    socket_columns().iter().position(|c| *c == name).unwrap()
}

#[test]
fn command_with_comma_quote_and_newline_round_trips_through_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let nasty = "a,b \"quoted\"\nnext line\r\nand, \"\"more\"";
    let mut b = batch(0, 0, 2, true);
    b.sockets[0].set().command(Some(Arc::from(nasty)));
    b.sockets[1].set().command(Some(Arc::from("")));
    let enc = CsvEncoder::new("q");
    let header = enc.streams()[SOCKET_STREAM].header.clone();
    let mut sink = FileSink::open(Box::new(enc), FileSinkConfig::new(dir.path())).unwrap();
    assert_eq!(sink.write_batch(&b).failed, 0);
    let rows = csv_rows(&dir.path().join("q-socket.csv"), &header);
    assert_eq!(rows.len(), 2);
    assert_eq!(&rows[0][column("command")], nasty);
    assert_eq!(&rows[1][column("command")], "");
    assert_eq!(&rows[0][column("local")], "127.0.0.1:1000");
    assert_eq!(&rows[0][column("remote")], "[::1]:443");
}

fn addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(IpAddr::from),
        any::<[u8; 16]>().prop_map(IpAddr::from),
    ]
    .prop_flat_map(|ip| any::<u16>().prop_map(move |port| SocketAddr::new(ip, port)))
}

/// Text weighted towards what breaks CSV and JSON: separators, quotes,
/// line ends, control characters, non-ASCII.
fn text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            4 => any::<char>(),
            1 => Just(','),
            1 => Just('"'),
            1 => Just('\n'),
            1 => Just('\r'),
            1 => Just('\0'),
            1 => Just('\u{2028}'),
        ],
        0..40,
    )
    .prop_map(|v| v.into_iter().collect())
}

fn socket() -> impl Strategy<Value = SocketRecord> {
    (
        (
            any::<u64>(),
            addr(),
            addr(),
            0..11usize,
            any::<Option<u64>>(),
        ),
        (
            any::<Option<u64>>(),
            any::<Option<u32>>(),
            any::<Option<f64>>(),
        ),
        (proptest::option::of(text()), proptest::option::of(text())),
        (
            any::<Option<u32>>(),
            any::<Option<i32>>(),
            any::<Option<u8>>(),
        ),
    )
        .prop_map(
            |((ts, l, r, st, id), (cwnd, rtt, pct), (cmd, cc), (pid, fd, ws))| {
                let mut rec = SocketRecord::new(ts, l, r, TcpState::ALL[st]);
                rec.set().sock_id(id);
                rec.set().cwnd(cwnd);
                rec.set().rtt_us(rtt);
                rec.set().rcv_buf_pct(pct);
                rec.set().command(cmd.map(|c| Arc::from(c.as_str())));
                rec.set().cc(cc.map(|c| ShortName::new(&c)));
                rec.set().pid(pid);
                rec.set().fd(fd);
                rec.set().snd_wscale(ws);
                rec
            },
        )
}

fn system() -> impl Strategy<Value = SystemRecord> {
    (
        any::<u64>(),
        any::<[u64; 11]>(),
        any::<Vec<Option<u64>>>(),
        any::<Option<f64>>(),
    )
        .prop_map(|(ts, counts, values, rate)| {
            let mut counters = TcpCounters::default();
            for (name, v) in TcpCounters::NAMES.iter().zip(values) {
                if let Some(v) = v {
                    counters.set(name, v);
                }
            }
            SystemRecord {
                ts,
                state_counts: counts,
                counters,
                retransmit_rate: rate,
                ..SystemRecord::default()
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_records_make_whole_lines_and_rows(
        sockets in proptest::collection::vec(socket(), 0..6),
        sys in proptest::option::of(system()),
    ) {
        let batch = Batch { tier: None, ts: 0, seq: 0, interval_ms: 1, system: sys.clone(), sockets: sockets.clone(), closes: Vec::new() };

        // JSON: each emit is one line that parses on its own.
        let mut json = JsonEncoder::new("x.jsonl");
        let mut lines = Vec::new();
        json.encode(&batch, &mut |s, rec| { assert_eq!(s, 0); lines.push(rec.to_vec()) });
        prop_assert_eq!(lines.len(), batch.record_count());
        for (i, line) in lines.iter().enumerate() {
            prop_assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
            prop_assert_eq!(line.last(), Some(&b'\n'));
            let v: serde_json::Value = serde_json::from_slice(line).unwrap();
            if sys.is_some() && i == 0 {
                prop_assert_eq!(&v["type"], "system");
            } else {
                let k = i - usize::from(sys.is_some());
                prop_assert_eq!(&v["type"], "socket");
                let command = sockets[k].command();
                prop_assert_eq!(v["command"].as_str(), command.as_deref());
            }
        }

        // CSV: each emit, behind its stream's header, reads back as exactly
        // one row of the header's width with the same values.
        let mut csv_enc = CsvEncoder::new("x");
        let headers: Vec<Vec<u8>> = csv_enc.streams().iter().map(|s| s.header.clone()).collect();
        let mut rows = Vec::new();
        csv_enc.encode(&batch, &mut |s, rec| rows.push((s, rec.to_vec())));
        prop_assert_eq!(rows.len(), batch.record_count());
        let mut socket_i = 0;
        for (stream, row) in rows {
            let mut bytes = headers[stream].clone();
            bytes.extend_from_slice(&row);
            let mut rd = csv::Reader::from_reader(&bytes[..]);
            let width = rd.headers().unwrap().len();
            let recs: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
            prop_assert_eq!(recs.len(), 1);
            prop_assert_eq!(recs[0].len(), width);
            if stream == SYSTEM_STREAM {
                let s = sys.as_ref().unwrap();
                prop_assert_eq!(width, system_columns().len());
                prop_assert_eq!(&recs[0][0], s.ts.to_string());
            } else {
                let s = &sockets[socket_i];
                socket_i += 1;
                let command = s.command();
                prop_assert_eq!(&recs[0][column("command")], command.as_deref().unwrap_or(""));
                prop_assert_eq!(&recs[0][column("local")], s.local.to_string());
                prop_assert_eq!(&recs[0][column("remote")], s.remote.to_string());
                prop_assert_eq!(&recs[0][column("fd")], s.fd().map(|c| c.to_string()).unwrap_or_default());
                prop_assert_eq!(&recs[0][column("snd_wscale")], s.snd_wscale().map(|c| c.to_string()).unwrap_or_default());
                prop_assert_eq!(&recs[0][column("cwnd")], s.cwnd().map(|c| c.to_string()).unwrap_or_default());
                prop_assert_eq!(&recs[0][column("cc")], s.cc().map(|c| c.to_string()).unwrap_or_default());
            }
        }
    }
}

/// `netpulse once --format csv` on this host: two tables separated by a
/// blank line, both readable by the csv crate, with our own listener in
/// the socket table.
#[test]
fn once_format_csv_prints_two_readable_tables() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let local = listener.local_addr().unwrap().to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_netpulse"))
        .args(["once", "--format", "csv"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (system, sockets) = text
        .split_once("\n\n")
        .expect("a blank line between tables");

    let mut rd = csv::Reader::from_reader(system.as_bytes());
    assert_eq!(rd.headers().unwrap().len(), system_columns().len());
    let rows: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1);

    let mut rd = csv::Reader::from_reader(sockets.as_bytes());
    assert_eq!(rd.headers().unwrap().len(), socket_columns().len());
    let rows: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    let ours: Vec<&csv::StringRecord> = rows
        .iter()
        .filter(|r| r[column("local")] == local)
        .collect();
    assert_eq!(ours.len(), 1, "our listener {local} not listed once");
    assert_eq!(&ours[0][column("state")], "LISTEN");
    assert_eq!(&ours[0][column("pid")], std::process::id().to_string());
    drop(listener);
}
