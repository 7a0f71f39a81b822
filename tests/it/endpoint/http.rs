//! The HTTP side of a real endpoint on real loopback sockets, fed with
//! TEST DATA batches: /metrics through promtool, /api/snapshot against what
//! was published, hostile clients, and SIGHUP-style reconfiguration.

use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use netpulse::endpoint::{Endpoint, EndpointConfig};
use netpulse::record::TcpState;
use netpulse_testkit::endpoint::*;

fn http_config(port: u16) -> EndpointConfig {
    EndpointConfig {
        http_listen: format!("{TEST_IP}:{port}"),
        ..EndpointConfig::default()
    }
}

#[test]
fn metrics_are_valid_prometheus_text_and_match_the_sample() {
    let rt = runtime();
    let _g = rt.enter();
    let cfg = EndpointConfig {
        metrics_ports: vec![443, 5432, 9],
        per_socket_metrics: true,
        per_socket_metrics_limit: 25,
        ..http_config(0)
    };
    let ep = Endpoint::spawn(&cfg).unwrap();
    let addr = ep.http_addr().unwrap();
    let batch = test_batch_with_known(1, 3000);
    let estab = batch
        .sockets
        .iter()
        .filter(|s| s.state == TcpState::Established)
        .count();
    let on_443 = batch
        .sockets
        .iter()
        .filter(|s| s.state == TcpState::Established && s.remote.port() == 443)
        .count();
    ep.hub().publish(Arc::new(batch));

    let r = http_get(addr, "/metrics");
    assert_eq!(r.status, 200);
    assert!(r.head.contains("text/plain; version=0.0.4"), "{}", r.head);
    let body = r.text();
    assert_eq!(
        metric(&body, "netpulse_sockets{state=\"ESTABLISHED\"}"),
        Some(estab as f64)
    );
    assert_eq!(
        metric(
            &body,
            "netpulse_port_sockets{port=\"443\",side=\"remote\",state=\"ESTABLISHED\"}"
        ),
        Some(on_443 as f64)
    );
    // A configured port with no traffic still shows a zero.
    assert_eq!(
        metric(
            &body,
            "netpulse_port_sockets{port=\"9\",side=\"local\",state=\"ESTABLISHED\"}"
        ),
        Some(0.0)
    );
    assert_eq!(
        metric(&body, "netpulse_tcp_segments_retransmitted_total"),
        Some(1201.0)
    );
    assert_eq!(metric(&body, "netpulse_tcp_retransmit_ratio"), Some(0.01));
    assert_eq!(
        metric(&body, "netpulse_poll_duration_seconds{tier=\"fast\"}"),
        Some(0.012345)
    );
    assert_eq!(metric(&body, "netpulse_skipped_ticks_total"), Some(2.0));
    assert_eq!(metric(&body, "netpulse_write_errors_total"), Some(1.0));
    let connected = 3002.0 - 600.0; // 10 % LISTEN, 10 % TIME_WAIT have no path
    assert_eq!(
        metric(&body, "netpulse_sockets_with_rtt_at_most{seconds=\"+Inf\"}"),
        Some(connected)
    );
    // Bounds are exact decimals, not binary-float noise.
    assert!(body.contains("netpulse_sockets_with_rtt_at_most{seconds=\"0.0001\"}"));
    assert!(body.contains("netpulse_sockets_with_rtt_at_most{seconds=\"0.025\"}"));
    assert!(body.contains("netpulse_sockets_with_cwnd_at_most{bytes=\"65536\"}"));
    // The population is a gauge, not a Prometheus histogram.
    assert!(body.contains("# TYPE netpulse_sockets_with_rtt_at_most gauge"));
    assert!(!body.contains("_bucket"), "no histogram buckets");
    assert!(!body.contains("_total_total"), "no doubled suffixes");
    assert!(
        body.contains("netpulse_build_info{version=\""),
        "build info"
    );
    assert!(
        body.contains("\nprocess_cpu_seconds_total "),
        "process metrics"
    );
    // Per-socket series are capped, worst first, labels escaped.
    let per_socket = body
        .lines()
        .filter(|l| l.starts_with("netpulse_socket_rtt_seconds{"))
        .count();
    assert_eq!(per_socket, 25);
    assert!(
        body.contains(
            "netpulse_socket_rtt_seconds{local=\"127.0.3.1:61001\",remote=\"127.0.3.250:8443\"}"
        ),
        "worst retransmitter missing from per-socket series"
    );
    assert_eq!(
        metric(&body, "netpulse_socket_series_omitted"),
        Some(connected - 25.0)
    );

    // A real parser: promtool (Debian `prometheus`).
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("metrics.txt");
    std::fs::write(&file, &r.body).unwrap();
    let out = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&file).unwrap())
        .output()
        .expect("promtool not found: install the Debian package `prometheus` (.ci/setup.d/60-endpoint.sh)");
    assert!(
        out.status.success(),
        "promtool rejected /metrics:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    rt.block_on(ep.shutdown());
}

#[test]
fn snapshot_holds_the_published_table_and_records() {
    let rt = runtime();
    let _g = rt.enter();
    let cfg = EndpointConfig {
        snapshot_sockets: 100,
        ..http_config(0)
    };
    let ep = Endpoint::spawn(&cfg).unwrap();
    let addr = ep.http_addr().unwrap();

    // Before any sample: a valid, empty document.
    let empty: serde_json::Value =
        serde_json::from_slice(&http_get(addr, "/api/snapshot").body).unwrap();
    assert_eq!(empty["sockets_total"], 0);
    assert!(empty["system"].is_null());

    let batch = Arc::new(test_batch_with_known(7, 500));
    ep.hub().publish(batch.clone());

    let v: serde_json::Value =
        serde_json::from_slice(&http_get(addr, "/api/snapshot").body).unwrap();
    assert_eq!(v["ts"], batch.ts);
    assert_eq!(v["tier"], "fast");
    assert_eq!(v["sockets_total"], 502);
    assert_eq!(v["sockets_omitted"], 402);
    assert_eq!(v["sockets"].as_array().unwrap().len(), 100);
    assert_eq!(v["system"]["poll_us"], 12_345);
    assert_eq!(v["systems"]["fast"]["total_sockets"], 502);
    assert_eq!(
        v["summary"]["state_counts"],
        serde_json::to_value(batch.system.as_ref().unwrap().state_counts).unwrap()
    );
    // Socket objects are the JSON-line records, field for field.
    let first = serde_json::to_value(&batch.sockets[0]).unwrap();
    assert_eq!(v["sockets"][0], first);
    assert_eq!(v["top_rexmit"][0]["local"], "127.0.3.1:61001");
    assert_eq!(v["top_rtt"][0]["command"], "pg \"replica\" <sync>");
    assert_eq!(v["top_rtt"].as_array().unwrap().len(), 10);

    let all: serde_json::Value =
        serde_json::from_slice(&http_get(addr, "/api/snapshot?sockets=all&top=3").body).unwrap();
    assert_eq!(all["sockets"].as_array().unwrap().len(), 502);
    assert_eq!(all["sockets_omitted"], 0);
    assert_eq!(all["top_rexmit"].as_array().unwrap().len(), 3);

    // The other routes and methods.
    let page = http_get(addr, "/");
    assert_eq!(page.status, 200);
    assert!(
        page.head
            .to_ascii_lowercase()
            .contains("content-security-policy")
    );
    assert_eq!(http_get(addr, "/nope").status, 404);
    let post = http_raw(
        addr,
        b"POST /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
        Duration::from_secs(10),
    )
    .unwrap();
    assert_eq!(post.status, 405);
    rt.block_on(ep.shutdown());
}

/// The listener at `a` stops accepting within a few seconds (old listeners
/// close as their task ends, after `reconfigure` returned).
fn closes(a: SocketAddr) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        if TcpStream::connect(a).is_err() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn reconfigure_rebinds_and_a_bad_address_keeps_the_old_listener() {
    let rt = runtime();
    let _g = rt.enter();
    let mut ep = Endpoint::spawn(&http_config(0)).unwrap();
    let a: SocketAddr = ep.http_addr().unwrap();
    ep.hub().publish(Arc::new(test_batch(1, 10)));
    assert_eq!(http_get(a, "/metrics").status, 200);

    // Move to another port (bind port 0 again: a fresh one).
    let blocker = std::net::TcpListener::bind(format!("{TEST_IP}:0")).unwrap();
    let taken = blocker.local_addr().unwrap();
    let err = ep.reconfigure(&http_config(taken.port())).unwrap_err();
    assert!(err.to_string().contains("http_listen"), "{err}");
    assert_eq!(ep.http_addr(), Some(a));
    assert_eq!(http_get(a, "/metrics").status, 200, "old listener lost");

    drop(blocker);
    ep.reconfigure(&http_config(taken.port())).unwrap();
    assert_eq!(ep.http_addr(), Some(taken));
    assert_eq!(http_get(taken, "/api/snapshot").status, 200);
    assert!(closes(a), "old listener still open");

    // Invalid config: every problem, running config untouched.
    let bad = EndpointConfig {
        http_listen: "nowhere".into(),
        unix_socket_mode: "9999".into(),
        ..EndpointConfig::default()
    };
    let err = ep.reconfigure(&bad).unwrap_err().to_string();
    assert!(
        err.contains("http_listen") && err.contains("unix_socket_mode"),
        "{err}"
    );
    assert_eq!(http_get(taken, "/metrics").status, 200);

    // Turning HTTP off closes it.
    ep.reconfigure(&EndpointConfig::default()).unwrap();
    assert_eq!(ep.http_addr(), None);
    assert!(closes(taken), "listener still open after turning HTTP off");
    rt.block_on(ep.shutdown());
}

#[test]
fn the_agent_config_reports_every_endpoint_problem() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[[output]]\ndir = \"{}\"\n[endpoint]\nhttp_port = 1\nunix_socket_mode = \"rw\"\nhttp_listen = \"somewhere\"\nhttp_header_timeout = \"5\"\nunix_max_clients = \"x\"\n",
        dir.path().display()
    );
    let err = netpulse::config::Config::parse(&text).unwrap_err();
    let problems = err.problems();
    for key in [
        "endpoint.http_port",
        "endpoint.unix_socket_mode",
        "endpoint.http_listen",
        "endpoint.http_header_timeout",
        "endpoint.unix_max_clients",
    ] {
        assert!(
            problems.iter().any(|p| p.starts_with(key)),
            "{key} not reported: {problems:#?}"
        );
    }
    // A good table parses into the agent's config.
    let good = format!(
        "[[output]]\ndir = \"{}\"\n[endpoint]\nhttp_listen = \"9477\"\nmetrics_ports = [443]\n",
        dir.path().display()
    );
    let cfg = netpulse::config::Config::parse(&good).unwrap();
    assert_eq!(cfg.endpoint.http_listen, "9477");
    assert_eq!(cfg.endpoint.metrics_ports, vec![443]);
}

#[test]
fn without_a_fast_tier_states_come_from_the_slow_tier_census() {
    let rt = runtime();
    let _g = rt.enter();
    let ep = Endpoint::spawn(&http_config(0)).unwrap();
    let addr = ep.http_addr().unwrap();
    // Test data: a slow-tier batch carries only a system record.
    let mut b = test_batch(3, 50);
    b.tier = Some(netpulse::record::Tier::Slow);
    b.sockets.clear();
    if let Some(s) = b.system.as_mut() {
        s.tier = Some(netpulse::record::Tier::Slow);
    }
    let estab = b.system.as_ref().unwrap().state_counts[TcpState::Established.index()];
    ep.hub().publish(Arc::new(b));
    let m = http_get(addr, "/metrics").text();
    assert_eq!(
        metric(&m, "netpulse_sockets{state=\"ESTABLISHED\"}"),
        Some(estab as f64)
    );
    assert!(m.contains("netpulse_tier_sample_timestamp_seconds{tier=\"slow\"}"));
    rt.block_on(ep.shutdown());
}

#[test]
fn many_different_snapshot_queries_cannot_crowd_out_the_standard_ones() {
    let rt = runtime();
    let _g = rt.enter();
    let ep = Endpoint::spawn(&http_config(0)).unwrap();
    let addr = ep.http_addr().unwrap();
    ep.hub().publish(Arc::new(test_batch(5, 300)));
    let statuses: Vec<u16> = (1..=12)
        .map(|n| http_get(addr, &format!("/api/snapshot?sockets={n}&top=3")).status)
        .collect();
    assert_eq!(
        statuses.iter().filter(|&&s| s == 200).count(),
        8,
        "{statuses:?}"
    );
    assert!(statuses[8..].iter().all(|&s| s == 503), "{statuses:?}");
    // The default, the dashboard's and the whole table still answer.
    for path in [
        "/api/snapshot",
        "/api/snapshot?sockets=0&top=10",
        "/api/snapshot?sockets=all",
    ] {
        assert_eq!(http_get(addr, path).status, 200, "{path}");
    }
    // A new sample starts afresh.
    ep.hub().publish(Arc::new(test_batch(6, 300)));
    assert_eq!(http_get(addr, "/api/snapshot?sockets=11&top=3").status, 200);
    rt.block_on(ep.shutdown());
}
