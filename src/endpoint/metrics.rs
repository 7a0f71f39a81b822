//! `/metrics`: the Prometheus text exposition format (version 0.0.4).
//!
//! Low cardinality by default: a fixed set of series whatever the socket
//! count (states, system counters, histograms across sockets, configured
//! ports, agent health). Per-socket series only when configured, capped.
//!
//! Conventions: counters end in `_total` once and only rise (host counters
//! since boot, the agent's own since it started), so `rate()` and
//! `increase()` work; units are base units in the name (`_seconds`,
//! `_bytes`); system counters have plain names (see `metric_names`).
//!
//! The RTT and cwnd distributions describe the socket population at the
//! last sample, not events, so they are gauges, not Prometheus histograms
//! (whose buckets are cumulative counters): `netpulse_sockets_with_rtt_at_most
//! {seconds="B"}` is the number of connected sockets whose RTT is at most B.
//! The median RTT of the current sockets:
//! `histogram_quantile(0.5, sum by (le) (label_replace(
//! netpulse_sockets_with_rtt_at_most, "le", "$1", "seconds", "(.*)")))`.

use std::fmt::Write;

use bytes::Bytes;

use super::hub::EndpointStats;
use super::live::{Histogram, Live, SYSTEM_SLOTS, slot_name};
use super::metric_names::counter_metric;
use crate::record::{STATE_COUNT, SystemRecord, TcpState};

/// Content type of the 0.0.4 text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The part of `/metrics` that depends only on the published data (cached
/// per sample).
pub fn render_data(live: &Live) -> Bytes {
    let mut o = String::with_capacity(16 * 1024);
    let summary = live.summary();

    header(
        &mut o,
        "netpulse_sockets",
        "gauge",
        "TCP sockets by state at the last sample.",
    );
    // From the socket table; with the fast tier off, from the newest
    // system record that counted states (slow tier).
    let counts = match live.table {
        Some(_) => summary.state_counts,
        None => live
            .newest_system(|s| s.total_sockets > 0)
            .map_or([0; STATE_COUNT], |s| s.state_counts),
    };
    for (i, st) in TcpState::ALL.iter().enumerate() {
        let n = counts.get(i).copied().unwrap_or(0);
        let _ = writeln!(o, "netpulse_sockets{{state=\"{}\"}} {n}", st.name());
    }
    if let Some(b) = live.table.as_deref() {
        header(
            &mut o,
            "netpulse_sample_timestamp_seconds",
            "gauge",
            "Time of the last socket-table sample, seconds since the Unix epoch.",
        );
        let _ = writeln!(o, "netpulse_sample_timestamp_seconds {}", ns_to_s(b.ts));
    }

    population(
        &mut o,
        "netpulse_sockets_with_rtt_at_most",
        "seconds",
        "Connected sockets whose smoothed RTT at the last sample was at most `seconds` (cumulative over the bounds; a population, not events).",
        &summary.rtt_us,
        6,
    );
    population(
        &mut o,
        "netpulse_sockets_with_cwnd_at_most",
        "bytes",
        "Connected sockets whose congestion window at the last sample was at most `bytes` (cumulative over the bounds; a population, not events).",
        &summary.cwnd_bytes,
        0,
    );
    header(
        &mut o,
        "netpulse_sockets_retransmits_total",
        "counter",
        "Segments retransmitted by the sampled sockets, summed over every fast-tier interval since the agent started (connections that open and close between two samples are not seen; netpulse_tcp_segments_retransmitted_total counts the whole host).",
    );
    let _ = writeln!(
        o,
        "netpulse_sockets_retransmits_total {}",
        live.socket_retransmits_total
    );
    header(
        &mut o,
        "netpulse_sockets_retransmitting",
        "gauge",
        "Sockets that retransmitted during the last fast-tier interval.",
    );
    let _ = writeln!(
        o,
        "netpulse_sockets_retransmitting {}",
        summary.sockets_retransmitting
    );

    system_counters(&mut o, live);
    ports(&mut o, live);
    health(&mut o, live);
    if live.settings.per_socket_metrics {
        per_socket(&mut o, live);
    }
    Bytes::from(o)
}

/// The endpoint's own counters, rendered fresh on every scrape.
pub fn render_endpoint(o: &mut String, s: &EndpointStats) {
    let rows: [(&str, &str, &str, u64); 10] = [
        (
            "netpulse_endpoint_unix_clients",
            "gauge",
            "Clients connected to the Unix stream socket.",
            s.unix_clients,
        ),
        (
            "netpulse_endpoint_unix_clients_dropped_total",
            "counter",
            "Unix stream clients disconnected for falling behind or stalling a write.",
            s.unix_clients_dropped,
        ),
        (
            "netpulse_endpoint_unix_clients_refused_total",
            "counter",
            "Unix stream clients refused at unix_max_clients.",
            s.unix_clients_refused,
        ),
        (
            "netpulse_endpoint_stream_samples_dropped_total",
            "counter",
            "Samples the Unix stream skipped because its encoder was behind.",
            s.stream_samples_dropped,
        ),
        (
            "netpulse_endpoint_published_total",
            "counter",
            "Samples handed to the endpoint by the pipeline.",
            s.published,
        ),
        (
            "netpulse_endpoint_http_connections",
            "gauge",
            "HTTP connections open.",
            s.http_connections,
        ),
        (
            "netpulse_endpoint_http_connections_refused_total",
            "counter",
            "HTTP connections closed on accept at http_max_connections.",
            s.http_connections_refused,
        ),
        (
            "netpulse_endpoint_http_connection_errors_total",
            "counter",
            "HTTP connections ended by malformed or oversized requests or a header timeout.",
            s.http_connection_errors,
        ),
        (
            "netpulse_endpoint_http_connections_timed_out_total",
            "counter",
            "HTTP connections closed at http_connection_timeout.",
            s.http_connections_timed_out,
        ),
        (
            "netpulse_endpoint_http_requests_total",
            "counter",
            "HTTP requests answered.",
            s.http_requests,
        ),
    ];
    for (name, kind, help, v) in rows {
        header(o, name, kind, help);
        let _ = writeln!(o, "{name} {v}");
    }
}

fn system_counters(o: &mut String, live: &Live) {
    let Some(sys) = live.newest_system(|s| s.counters.iter().any(|(_, v)| v.is_some())) else {
        return;
    };
    for (name, v) in sys.counters.iter() {
        let Some(v) = v else { continue };
        match counter_metric(name) {
            Some(m) => {
                header(o, m.metric, "counter", m.help);
                let _ = writeln!(o, "{} {v}", m.metric);
            }
            None => {
                let metric = format!("netpulse_tcp_{name}_total");
                header(o, &metric, "counter", "System TCP counter, since boot.");
                let _ = writeln!(o, "{metric} {v}");
            }
        }
    }
    if let Some(s) = live.newest_system(|s| s.retransmit_rate.is_some()) {
        header(
            o,
            "netpulse_tcp_retransmit_ratio",
            "gauge",
            "Retransmitted segments per segment sent over the last counter window.",
        );
        let _ = writeln!(
            o,
            "netpulse_tcp_retransmit_ratio {}",
            fmt_f64(s.retransmit_rate.unwrap_or(0.0))
        );
    }
    if let Some(s) = live.newest_system(|s| s.dup_rate.is_some()) {
        header(
            o,
            "netpulse_tcp_duplicate_ratio",
            "gauge",
            "Duplicate segments per segment received over the last counter window.",
        );
        let _ = writeln!(
            o,
            "netpulse_tcp_duplicate_ratio {}",
            fmt_f64(s.dup_rate.unwrap_or(0.0))
        );
    }
}

fn ports(o: &mut String, live: &Live) {
    let ports = &live.settings.metrics_ports;
    if ports.is_empty() {
        return;
    }
    // counts[port index][side][state]
    let mut counts = vec![[[0u64; STATE_COUNT]; 2]; ports.len()];
    for r in live.sockets() {
        if let Ok(i) = ports.binary_search(&r.local.port()) {
            counts[i][0][r.state.index()] += 1;
        }
        if r.state != TcpState::Listen {
            if let Ok(i) = ports.binary_search(&r.remote.port()) {
                counts[i][1][r.state.index()] += 1;
            }
        }
    }
    header(
        o,
        "netpulse_port_sockets",
        "gauge",
        "Sockets on a configured port by state; side=local: the port is ours (servers), side=remote: the peer's (clients).",
    );
    for (port, sides) in ports.iter().zip(&counts) {
        for (side, by_state) in ["local", "remote"].iter().zip(sides) {
            for (st, n) in TcpState::ALL.iter().zip(by_state) {
                // Zero series only for ESTABLISHED, so a quiet port still shows.
                if *n > 0 || *st == TcpState::Established {
                    let _ = writeln!(
                        o,
                        "netpulse_port_sockets{{port=\"{port}\",side=\"{side}\",state=\"{}\"}} {n}",
                        st.name()
                    );
                }
            }
        }
    }
}

fn health(o: &mut String, live: &Live) {
    let mut poll = String::new();
    let mut stamp = String::new();
    for i in 0..SYSTEM_SLOTS {
        let Some(sys) = live.systems[i].as_deref().and_then(|b| b.system.as_ref()) else {
            continue;
        };
        let tier = slot_name(i);
        if let Some(us) = sys.poll_us {
            let _ = writeln!(
                poll,
                "netpulse_poll_duration_seconds{{tier=\"{tier}\"}} {}",
                fixed(us, 6)
            );
        }
        let _ = writeln!(
            stamp,
            "netpulse_tier_sample_timestamp_seconds{{tier=\"{tier}\"}} {}",
            ns_to_s(sys.ts)
        );
    }
    if !poll.is_empty() {
        header(
            o,
            "netpulse_poll_duration_seconds",
            "gauge",
            "Time the tier's last poll spent collecting.",
        );
        o.push_str(&poll);
    }
    if !stamp.is_empty() {
        header(
            o,
            "netpulse_tier_sample_timestamp_seconds",
            "gauge",
            "Time of the tier's last sample, seconds since the Unix epoch.",
        );
        o.push_str(&stamp);
    }
    type Field = fn(&SystemRecord) -> Option<u64>;
    let agent: [(&str, &str, Field); 4] = [
        (
            "netpulse_skipped_ticks_total",
            "Ticks skipped because the previous poll was still busy.",
            |s| s.skipped_ticks,
        ),
        (
            "netpulse_dropped_samples_total",
            "Samples dropped on full pipeline queues.",
            |s| s.dropped,
        ),
        (
            "netpulse_write_errors_total",
            "Failed output writes (full disk, I/O errors).",
            |s| s.write_errors,
        ),
        (
            "netpulse_parse_errors_total",
            "Kernel records skipped as malformed.",
            |s| s.parse_errors,
        ),
    ];
    for (name, help, field) in agent {
        if let Some(v) = live.newest_system(|s| field(s).is_some()).and_then(field) {
            header(o, name, "counter", help);
            let _ = writeln!(o, "{name} {v}");
        }
    }
}

fn per_socket(o: &mut String, live: &Live) {
    let socks = live.sockets();
    let chosen = &live.per_socket;
    header(
        o,
        "netpulse_socket_series_omitted",
        "gauge",
        "Connected sockets left out of per-socket series by per_socket_metrics_limit.",
    );
    let _ = writeln!(o, "netpulse_socket_series_omitted {}", chosen.omitted);
    // Only the 4-tuple: state, pid and command change during a
    // connection's life (the owner is joined later), and a label that
    // changes starts a new series.
    let labels: Vec<String> = chosen
        .rows
        .iter()
        .map(|&i| {
            let r = &socks[i];
            format!("local=\"{}\",remote=\"{}\"", r.local, r.remote)
        })
        .collect();
    type Value = fn(&crate::record::SocketRecord) -> Option<String>;
    let series: [(&str, &str, &str, Value); 3] = [
        (
            "netpulse_socket_rtt_seconds",
            "gauge",
            "Smoothed RTT of one connection.",
            |r| r.rtt_us().map(|v| fixed(u64::from(v), 6)),
        ),
        (
            "netpulse_socket_cwnd_bytes",
            "gauge",
            "Congestion window of one connection, bytes.",
            |r| r.cwnd().map(|v| v.to_string()),
        ),
        (
            "netpulse_socket_retransmits_total",
            "counter",
            "Segments one connection retransmitted over its life.",
            |r| r.rexmit().map(|v| v.to_string()),
        ),
    ];
    for (name, kind, help, value) in series {
        header(o, name, kind, help);
        for (&i, l) in chosen.rows.iter().zip(&labels) {
            if let Some(v) = value(&socks[i]) {
                let _ = writeln!(o, "{name}{{{l}}} {v}");
            }
        }
    }
}

fn header(o: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A distribution of the current sockets as one gauge per bound: how
/// many sockets have a value at most the bound (`+Inf`: all of them).
fn population(
    o: &mut String,
    name: &str,
    bound_label: &str,
    help: &str,
    h: &Histogram,
    decimals: u32,
) {
    header(o, name, "gauge", help);
    let mut cum = 0u64;
    for (bound, n) in h.bounds.iter().zip(&h.counts) {
        cum += n;
        let _ = writeln!(
            o,
            "{name}{{{bound_label}=\"{}\"}} {cum}",
            fixed(*bound, decimals)
        );
    }
    let _ = writeln!(o, "{name}{{{bound_label}=\"+Inf\"}} {}", h.count);
}

fn fmt_f64(v: f64) -> String {
    if v.is_finite() {
        // Rust's Display is the shortest round-trip form and never uses
        // exponents: "0.0001", not "1e-4".
        format!("{v}")
    } else {
        "NaN".into()
    }
}

/// An integer count of 10^-`decimals` units as an exact decimal
/// (microseconds → seconds with 6): no binary-float noise such as
/// "0.00009999999999999999" in bucket labels.
fn fixed(v: u64, decimals: u32) -> String {
    if decimals == 0 {
        return v.to_string();
    }
    let div = 10u64.pow(decimals);
    let frac = format!("{:0width$}", v % div, width = decimals as usize);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        (v / div).to_string()
    } else {
        format!("{}.{frac}", v / div)
    }
}

fn ns_to_s(ns: u64) -> String {
    format!("{}.{:09}", ns / 1_000_000_000, ns % 1_000_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_are_plain() {
        assert_eq!(fmt_f64(0.0001), "0.0001");
        assert_eq!(fmt_f64(2.5), "2.5");
        assert_eq!(fmt_f64(1e-7), "0.0000001");
        assert_eq!(fixed(100, 6), "0.0001");
        assert_eq!(fixed(25_000, 6), "0.025");
        assert_eq!(fixed(2_500_000, 6), "2.5");
        assert_eq!(fixed(1_000_000, 6), "1");
        assert_eq!(fixed(4096, 0), "4096");
        assert_eq!(ns_to_s(1_500_000_000), "1.500000000");
    }
}
