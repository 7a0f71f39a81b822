//! Protobuf encoding against the JSON Lines reference, same records, same
//! process: `cargo bench --bench proto_encode`.
//!
//! 40,000 socket records with every field the Linux source fills. Targets
//! encoding a batch takes at most 0.5x the time of the JSON
//! serialization (`output::json::write_batch`), and the output is at most
//! 40 % of the JSON size. Medians of RUNS runs of each, interleaved.
//! Exits 1 when a target is missed. Then, for information, the same
//! figures for a real sample of this host's sockets (`netpulse once`'s
//! records), when the platform source is available.

use std::hint::black_box;
use std::time::{Duration, Instant};

use netpulse::output::proto::{Origin, ProtoEncoder, StreamDecoder, encode_via_prost};
use netpulse::output::{Encoder, json};
use netpulse::pipeline::snapshot::collect_all;
use netpulse::platform::{self, SourceKind};
use netpulse::record::Batch;

const SOCKETS: usize = 40_000;
const RUNS: usize = 15;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

struct Figures {
    json: Duration,
    json_len: usize,
    proto: Duration,
    proto_len: usize,
    prost: Duration,
    decode: Duration,
}

/// Interleaved runs of every encoder over `batch`; medians.
fn measure(batch: &Batch) -> Figures {
    let origin = Origin::this_host();
    let mut enc = ProtoEncoder::with_origin("netpulse.pb", origin.clone());
    let mut json_buf = Vec::new();
    let mut proto_len = 0;
    let mut proto_copy = Vec::new();
    let mut prost_buf = Vec::new();

    // The output measured is the output that decodes back to the JSON.
    enc.encode(batch, &mut |_, b| proto_copy = b.to_vec());
    json::write_batch(batch, &mut json_buf);
    let decoded = StreamDecoder::new(&proto_copy[..])
        .next()
        .expect("one message")
        .expect("decodes");
    let mut round = Vec::new();
    json::write_batch(&decoded.batch, &mut round);
    assert!(round == json_buf, "round trip differs from the JSON");

    let (mut t_json, mut t_proto, mut t_prost, mut t_decode) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..RUNS {
        json_buf.clear();
        let t = Instant::now();
        json::write_batch(black_box(batch), &mut json_buf);
        t_json.push(t.elapsed());
        black_box(&json_buf);

        let t = Instant::now();
        enc.encode(black_box(batch), &mut |_, b| proto_len = black_box(b).len());
        t_proto.push(t.elapsed());

        prost_buf.clear();
        let t = Instant::now();
        encode_via_prost(black_box(batch), &origin, &mut prost_buf);
        t_prost.push(t.elapsed());
        black_box(&prost_buf);

        let t = Instant::now();
        let n = StreamDecoder::new(black_box(&proto_copy[..])).count();
        t_decode.push(t.elapsed());
        assert_eq!(n, 1);
    }
    assert_eq!(
        prost_buf, proto_copy,
        "fast path differs from prost's bytes"
    );
    Figures {
        json: median(t_json),
        json_len: json_buf.len(),
        proto: median(t_proto),
        proto_len,
        prost: median(t_prost),
        decode: median(t_decode),
    }
}

/// Print the figures; whether both targets are met.
fn report(title: &str, records: usize, f: &Figures) -> bool {
    let time_ratio = f.proto.as_secs_f64() / f.json.as_secs_f64();
    let size_ratio = f.proto_len as f64 / f.json_len as f64;
    println!("{title}: {records} socket records, median of {RUNS} runs");
    let per = |n: usize| n as f64 / records.max(1) as f64;
    println!(
        "  json::write_batch         {:8.2} ms  {:>10} bytes ({:.0} B/record)",
        ms(f.json),
        f.json_len,
        per(f.json_len)
    );
    println!(
        "  ProtoEncoder (fast path)  {:8.2} ms  {:>10} bytes ({:.0} B/record)",
        ms(f.proto),
        f.proto_len,
        per(f.proto_len)
    );
    println!("  encode_via_prost (ref.)   {:8.2} ms", ms(f.prost));
    println!("  StreamDecoder (decode)    {:8.2} ms", ms(f.decode));
    let time_ok = time_ratio <= 0.5;
    let size_ok = size_ratio <= 0.4;
    println!(
        "  time  proto/json = {time_ratio:.3} (target <= 0.5): {}",
        if time_ok { "met" } else { "MISSED" }
    );
    println!(
        "  size  proto/json = {size_ratio:.3} (target <= 0.4): {}",
        if size_ok { "met" } else { "MISSED" }
    );
    time_ok && size_ok
}

fn main() {
    let batch = netpulse_testkit::linux_like::batch(1, 0, SOCKETS, false);
    let met = report(
        "proto_encode (Linux-shaped records)",
        SOCKETS,
        &measure(&batch),
    );

    match platform::open(SourceKind::Auto).and_then(|mut s| collect_all(s.as_mut())) {
        Ok((real, _)) => {
            report(
                "proto_encode (this host, real sample; information only)",
                real.sockets.len(),
                &measure(&real),
            );
        }
        Err(e) => println!("no real sample on this host: {e}"),
    }
    if !met {
        std::process::exit(1);
    }
}
