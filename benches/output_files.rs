//! What writing costs: JSON and CSV encoding per record, and the file sink
//! (encode + buffered whole-record writes + rotation) against a reference
//! measured in the same run — the same bytes encoded and written with a
//! plain `BufWriter` — so the figure is the sink's own overhead.
//!
//! Run: `cargo bench --bench output_files` (40,000 sockets, least CPU time
//! of 7 runs of each, so a busy machine disturbs the figures little).

use std::hint::black_box;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use netpulse::output::Encoder;
use netpulse::output::csv::CsvEncoder;
use netpulse::output::json::JsonEncoder;
use netpulse::output::sink::file::{Compression, FileSink, FileSinkConfig};
use netpulse::record::{Batch, ShortName, SocketRecord, SystemRecord, TcpState};

const SOCKETS: u64 = 40_000;
const RUNS: usize = 7;

/// A socket record with what the Linux source fills.
fn socket(i: u64) -> SocketRecord {
    let mut r = SocketRecord::new(
        1_764_129_780_000_000_000,
        format!("10.1.{}.{}:{}", i / 250 % 250, i % 250, 1024 + i % 60_000)
            .parse()
            .unwrap(),
        "192.0.2.10:443".parse().unwrap(),
        TcpState::Established,
    );
    r.set().sock_id(Some(0x1000_0000 + i));
    r.set().uid(Some(1000));
    r.set().inode(Some(400_000 + i));
    r.set().cwnd(Some(14_480 * (1 + i % 40)));
    r.set().ssthresh(Some(2_147_483_647));
    r.set().mss(Some(1448));
    r.set().rcv_wnd(Some(65_535 + i));
    r.set().snd_wscale(Some(7));
    r.set().rcv_wscale(Some(7));
    r.set().cc(Some(ShortName::new("cubic")));
    r.set().rtt_us(Some(200 + (i % 5000) as u32));
    r.set().rttvar_us(Some(50));
    r.set().rto_us(Some(204_000));
    r.set().rtt_min_us(Some(180));
    r.set().rexmit(Some(i % 7));
    r.set().bytes_acked(Some(i * 1000));
    r.set().bytes_received(Some(i * 2000));
    r.set().segs_out(Some(i * 3));
    r.set().segs_in(Some(i * 4));
    r.set().delivery_rate(Some(12_500_000));
    r.set().rexmit_delta(Some(0));
    r.set().age_ms(Some(i * 10));
    r.set().idle_ms(Some(12));
    r.set().snd_queue(Some(0));
    r.set().rcv_queue(Some(0));
    r.set().pid(Some(4242));
    r.set().fd(Some(7 + (i % 1000) as i32));
    r.set().command(Some(Arc::from("nginx: worker process")));
    r
}

/// CPU time of this thread (user + system, so the kernel's copy into the
/// page cache counts; time waiting for a disk or for other processes on a
/// busy machine does not).
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec and the clock id is a
    // constant the kernel knows; the call only writes `ts`.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Least CPU time of `RUNS` runs of `f`.
fn best(mut f: impl FnMut()) -> Duration {
    (0..RUNS)
        .map(|_| {
            let t = thread_cpu();
            f();
            thread_cpu().saturating_sub(t)
        })
        .min()
        .unwrap_or_default()
}

fn per_record(d: Duration, n: u64) -> f64 {
    d.as_nanos() as f64 / n as f64
}

fn main() {
    let batch = Batch {
        closes: Vec::new(),
        tier: None,
        ts: 1,
        seq: 0,
        interval_ms: 1000,
        system: Some(SystemRecord::default()),
        sockets: (0..SOCKETS).map(socket).collect(),
    };
    let records = batch.record_count() as u64;
    let dir = tempfile::tempdir().expect("a temporary directory");

    // Encoding only, into a byte count.
    let mut json = JsonEncoder::new("x.jsonl");
    let mut csv = CsvEncoder::new("x");
    let mut bytes = 0usize;
    let json_t = best(|| json.encode(&batch, &mut |_, b| bytes += black_box(b).len()));
    let json_bytes = bytes / RUNS;
    bytes = 0;
    let csv_t = best(|| csv.encode(&batch, &mut |_, b| bytes += black_box(b).len()));
    let csv_bytes = bytes / RUNS;

    // Reference: encode into a BufWriter on a plain file, no sink.
    let ref_path = dir.path().join("reference.jsonl");
    let reference = best(|| {
        let file = std::fs::File::create(&ref_path).expect("reference file");
        let mut w = std::io::BufWriter::with_capacity(64 * 1024, file);
        json.encode(&batch, &mut |_, b| w.write_all(b).expect("reference write"));
        w.flush().expect("reference flush");
    });

    // The sink, one active file (no rotation during the batch).
    let sink_t = run_sink(dir.path(), "plain", None, &batch);
    // The sink rotating every 4 MiB (~5 rotations per batch, keep 4).
    let rot_t = run_sink(dir.path(), "rotating", Some(4 * 1024 * 1024), &batch);
    // CSV through the sink.
    let csv_sink_t = {
        let d = dir.path().join("csv");
        let cfg = FileSinkConfig {
            rotate_size: None,
            rotate_age: None,
            ..FileSinkConfig::new(&d)
        };
        let mut sink = FileSink::open(Box::new(CsvEncoder::new("x")), cfg).expect("csv sink");
        best(|| {
            let r = sink.write_batch(&batch);
            assert_eq!(r.failed, 0);
        })
    };

    println!("output_files: {SOCKETS} sockets, thread CPU time, least of {RUNS} runs");
    println!(
        "  json encode   {:7.0} ns/record  ({} bytes/record)",
        per_record(json_t, records),
        json_bytes as u64 / records
    );
    println!(
        "  csv encode    {:7.0} ns/record  ({} bytes/record)  ratio csv/json = {:.2}",
        per_record(csv_t, records),
        csv_bytes as u64 / records,
        csv_t.as_secs_f64() / json_t.as_secs_f64()
    );
    println!(
        "  reference     {:7.0} ns/record  (json encode + BufWriter to a file)",
        per_record(reference, records)
    );
    println!(
        "  json sink     {:7.0} ns/record  ratio sink/reference = {:.2}",
        per_record(sink_t, records),
        sink_t.as_secs_f64() / reference.as_secs_f64()
    );
    println!(
        "  json sink, rotating every 4 MiB {:7.0} ns/record  ratio/reference = {:.2}",
        per_record(rot_t, records),
        rot_t.as_secs_f64() / reference.as_secs_f64()
    );
    println!(
        "  csv sink      {:7.0} ns/record  ratio/reference = {:.2}",
        per_record(csv_sink_t, records),
        csv_sink_t.as_secs_f64() / reference.as_secs_f64()
    );
}

fn run_sink(dir: &std::path::Path, name: &str, size: Option<u64>, batch: &Batch) -> Duration {
    let cfg = FileSinkConfig {
        rotate_size: size,
        rotate_age: None,
        keep: 4,
        // The writer's own cost: no compressor thread competing for the
        // cores while it is timed.
        compress: Compression::Off,
        ..FileSinkConfig::new(dir.join(name))
    };
    let mut sink = FileSink::open(Box::new(JsonEncoder::new("x.jsonl")), cfg).expect("sink");
    best(|| {
        let r = sink.write_batch(batch);
        assert_eq!(r.failed, 0);
    })
}
