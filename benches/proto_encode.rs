//! Protobuf encoding against the JSON Lines reference, same records, same
//! process: `cargo bench --bench proto_encode`.
//!
//! 40,000 socket records with every field the Linux source fills. Targets
//! (issue 6): encoding a batch takes at most 0.5x the time of the JSON
//! serialization (`output::json::write_batch`), and the output is at most
//! 40 % of the JSON size. Medians of RUNS runs of each, interleaved.
//! Exits 1 when a target is missed.

#[path = "../tests/support/linux_like.rs"]
mod linux_like;

use std::hint::black_box;
use std::time::{Duration, Instant};

use netpulse::output::proto::{Origin, ProtoEncoder, StreamDecoder, encode_via_prost};
use netpulse::output::{Encoder, json};

const SOCKETS: usize = 40_000;
const RUNS: usize = 15;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let batch = linux_like::batch(1, 0, SOCKETS, false);
    let origin = Origin::this_host();
    let mut enc = ProtoEncoder::with_origin("netpulse.pb", origin.clone());
    let mut json_buf = Vec::new();
    let mut proto_len = 0;
    let mut proto_copy = Vec::new();
    let mut prost_buf = Vec::new();

    // The output measured is the output that decodes back to the JSON.
    enc.encode(&batch, &mut |_, b| proto_copy = b.to_vec());
    json::write_batch(&batch, &mut json_buf);
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
        json::write_batch(black_box(&batch), &mut json_buf);
        t_json.push(t.elapsed());
        black_box(&json_buf);

        let t = Instant::now();
        enc.encode(black_box(&batch), &mut |_, b| {
            proto_len = black_box(b).len()
        });
        t_proto.push(t.elapsed());

        prost_buf.clear();
        let t = Instant::now();
        encode_via_prost(black_box(&batch), &origin, &mut prost_buf);
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

    let (j, p, r, d) = (
        median(t_json),
        median(t_proto),
        median(t_prost),
        median(t_decode),
    );
    let time_ratio = p.as_secs_f64() / j.as_secs_f64();
    let size_ratio = proto_len as f64 / json_buf.len() as f64;
    println!("proto_encode: {SOCKETS} socket records, median of {RUNS} runs");
    println!(
        "  json::write_batch         {:8.2} ms  {:>10} bytes ({:.0} B/record)",
        ms(j),
        json_buf.len(),
        json_buf.len() as f64 / SOCKETS as f64
    );
    println!(
        "  ProtoEncoder (fast path)  {:8.2} ms  {:>10} bytes ({:.0} B/record)",
        ms(p),
        proto_len,
        proto_len as f64 / SOCKETS as f64
    );
    println!("  encode_via_prost (ref.)   {:8.2} ms", ms(r));
    println!("  StreamDecoder (decode)    {:8.2} ms", ms(d));
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
    if !(time_ok && size_ok) {
        std::process::exit(1);
    }
}
