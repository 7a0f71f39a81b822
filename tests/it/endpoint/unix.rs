//! The Unix stream socket of a real endpoint, fed with TEST DATA batches:
//! permissions as configured, stale files, the client cap, and a reader
//! that stops reading is dropped and counted while another reader receives
//! every line complete.

use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

use crate::support::wait;
use netpulse::endpoint::{Endpoint, EndpointConfig};
use netpulse_testkit::endpoint::*;

fn unix_config(path: &std::path::Path) -> EndpointConfig {
    EndpointConfig {
        unix_socket: path.to_string_lossy().into_owned(),
        ..EndpointConfig::default()
    }
}

#[test]
fn socket_mode_and_group_are_applied_and_reloadable() {
    let rt = runtime();
    let _g = rt.enter();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("netpulse.sock");
    // A stale socket file from a previous run is replaced.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let cfg = EndpointConfig {
        unix_socket_mode: "0640".into(),
        unix_socket_group: "daemon".into(), // gid 1 on Debian and FreeBSD
        ..unix_config(&path)
    };
    let mut ep = Endpoint::spawn(&cfg).unwrap();
    let md = std::fs::symlink_metadata(&path).unwrap();
    assert!(md.file_type().is_socket());
    assert_eq!(md.mode() & 0o7777, 0o640);
    assert_eq!(md.gid(), 1);
    // No temporary file left behind: the socket and its lock file only.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);

    let cfg2 = EndpointConfig {
        unix_socket_mode: "0600".into(),
        unix_socket_group: "0".into(),
        ..unix_config(&path)
    };
    ep.reconfigure(&cfg2).unwrap();
    let md = std::fs::symlink_metadata(&path).unwrap();
    assert_eq!(md.mode() & 0o7777, 0o600);
    assert_eq!(md.gid(), 0);

    // An unknown group is a clear error and changes nothing.
    let bad = EndpointConfig {
        unix_socket_group: "no-such-group-np".into(),
        ..cfg2.clone()
    };
    let err = ep.reconfigure(&bad).unwrap_err().to_string();
    assert!(err.contains("no-such-group-np"), "{err}");

    // A second agent on the same path is refused; a plain file is not removed.
    let err = Endpoint::spawn(&cfg2)
        .err()
        .expect("second listener")
        .to_string();
    assert!(
        err.contains(&format!("pid {}", std::process::id())),
        "{err}"
    );
    let plain = dir.path().join("plain");
    std::fs::write(&plain, b"keep me").unwrap();
    let err = Endpoint::spawn(&unix_config(&plain))
        .err()
        .expect("plain file")
        .to_string();
    assert!(err.contains("not a socket"), "{err}");
    assert_eq!(std::fs::read(&plain).unwrap(), b"keep me");

    rt.block_on(ep.shutdown());
    assert!(!path.exists(), "socket file left after shutdown");
}

#[test]
fn a_stuck_reader_is_dropped_while_others_get_every_line() {
    let rt = runtime();
    let _g = rt.enter();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sock");
    let cfg = EndpointConfig {
        unix_client_queue: 4,
        unix_write_timeout: "2s".into(),
        unix_max_clients: 3,
        ..unix_config(&path)
    };
    let ep = Endpoint::spawn(&cfg).unwrap();
    let hub = ep.hub();

    let stuck = UnixStream::connect(&path).unwrap(); // never reads
    let mut reader = UnixStream::connect(&path).unwrap();
    let _third = UnixStream::connect(&path).unwrap();
    let mut fourth = UnixStream::connect(&path).unwrap();
    wait::until("clients", Duration::from_secs(20), || {
        let s = hub.stats();
        s.unix_clients == 3 && s.unix_clients_refused == 1
    });
    // The client over unix_max_clients is closed at once.
    fourth
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(fourth.read(&mut [0u8; 16]).unwrap(), 0);
    drop(_third);

    // Bytes received so far, so the test can wait for the last one.
    let received = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let collector = {
        let received = Arc::clone(&received);
        std::thread::spawn(move || {
            let mut all = Vec::new();
            reader
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                all.extend_from_slice(&buf[..n]);
                received.store(all.len(), std::sync::atomic::Ordering::Relaxed);
            }
            all
        })
    };

    const BATCHES: u64 = 40;
    const SOCKETS: u32 = 400;
    let mut sent = Vec::new();
    for seq in 0..BATCHES {
        let b = Arc::new(test_batch(seq, SOCKETS));
        sent.push(b.ts);
        hub.publish(b);
        std::thread::sleep(Duration::from_millis(30));
    }
    wait::until(
        "the stuck reader to be dropped",
        Duration::from_secs(20),
        || hub.stats().unix_clients_dropped >= 1,
    );
    // Let the reader drain, then close the endpoint so it sees EOF.
    let expect_bytes = {
        let mut n = 0;
        for seq in 0..BATCHES {
            let mut out = Vec::new();
            netpulse::output::json::write_batch(&test_batch(seq, SOCKETS), &mut out);
            n += out.len();
        }
        n
    };
    wait::until(
        "the reader to receive every byte",
        Duration::from_secs(20),
        || received.load(std::sync::atomic::Ordering::Relaxed) >= expect_bytes,
    );
    let stats = hub.stats();
    rt.block_on(ep.shutdown());
    let all = collector.join().unwrap();
    assert_eq!(stats.stream_samples_dropped, 0, "{stats:?}");
    assert_eq!(stats.unix_clients_dropped, 1, "{stats:?}");
    assert_eq!(all.len(), expect_bytes, "the reading client lost bytes");

    // Every line complete, every batch whole and in order.
    let text = String::from_utf8(all).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("complete JSON line"))
        .collect();
    assert_eq!(lines.len() as u64, BATCHES * (u64::from(SOCKETS) + 1));
    for (i, chunk) in lines.chunks(SOCKETS as usize + 1).enumerate() {
        assert_eq!(chunk[0]["type"], "system");
        assert!(chunk.iter().all(|l| l["ts"] == sent[i]));
        assert!(chunk[1..].iter().all(|l| l["type"] == "socket"));
    }

    // The stuck client was disconnected: after whatever was buffered, EOF.
    let mut stuck = stuck;
    stuck
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut rest = Vec::new();
    stuck.read_to_end(&mut rest).expect("EOF, not a timeout");
    assert!(rest.len() < expect_bytes);
}
