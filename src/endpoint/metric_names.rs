//! Prometheus names of the system TCP counters. The records keep FreeBSD's
//! `tcpstat` member names for the first counters (`sndrexmitpack`); an operator reading a
//! dashboard should not need them, so `/metrics` uses plain names with
//! the unit (`_bytes`) and `_total` once. The table below is the documented
//! mapping (also in `netpulse(8)`).

/// One system counter as `/metrics` exposes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CounterMetric {
    /// `TcpCounters` name.
    pub counter: &'static str,
    /// Full metric name, ending in `_total`.
    pub metric: &'static str,
    pub help: &'static str,
    /// FreeBSD `struct tcpstat` member, where FreeBSD keeps the counter.
    pub freebsd: Option<&'static str>,
    /// Linux `/proc/net/snmp` or `/proc/net/netstat` field
    /// (`Prefix:Name`), where Linux keeps it.
    pub linux: Option<&'static str>,
}

const fn m(counter: &'static str, metric: &'static str, help: &'static str) -> CounterMetric {
    CounterMetric {
        counter,
        metric,
        help,
        freebsd: None,
        linux: None,
    }
}

impl CounterMetric {
    const fn freebsd(self, member: &'static str) -> CounterMetric {
        CounterMetric {
            freebsd: Some(member),
            ..self
        }
    }

    const fn linux(self, field: &'static str) -> CounterMetric {
        CounterMetric {
            linux: Some(field),
            ..self
        }
    }
}

/// Every system counter, in `TcpCounters` order. Linux sources are
/// `/proc/net/snmp` `Tcp:` and `/proc/net/netstat` `TcpExt:` fields.
pub const COUNTER_METRICS: &[CounterMetric] = &[
    m(
        "connattempt",
        "netpulse_tcp_active_opens_total",
        "Connections this host initiated, since boot (FreeBSD tcps_connattempt, Linux Tcp:ActiveOpens).",
    )
    .freebsd("tcps_connattempt")
    .linux("Tcp:ActiveOpens"),
    m(
        "accepts",
        "netpulse_tcp_passive_opens_total",
        "Connections this host accepted, since boot (FreeBSD tcps_accepts, Linux Tcp:PassiveOpens).",
    )
    .freebsd("tcps_accepts")
    .linux("Tcp:PassiveOpens"),
    m(
        "connects",
        "netpulse_tcp_connections_established_total",
        "Connections that reached ESTABLISHED, since boot (FreeBSD tcps_connects).",
    )
    .freebsd("tcps_connects"),
    m(
        "drops",
        "netpulse_tcp_connections_dropped_total",
        "Established connections dropped, since boot (FreeBSD tcps_drops).",
    )
    .freebsd("tcps_drops"),
    m(
        "sndtotal",
        "netpulse_tcp_segments_sent_total",
        "Segments sent, since boot (FreeBSD tcps_sndtotal, Linux Tcp:OutSegs).",
    )
    .freebsd("tcps_sndtotal")
    .linux("Tcp:OutSegs"),
    m(
        "sndbyte",
        "netpulse_tcp_sent_bytes_total",
        "Data bytes sent, since boot (FreeBSD tcps_sndbyte).",
    )
    .freebsd("tcps_sndbyte"),
    m(
        "sndrexmitpack",
        "netpulse_tcp_segments_retransmitted_total",
        "Segments retransmitted, since boot (FreeBSD tcps_sndrexmitpack, Linux Tcp:RetransSegs).",
    )
    .freebsd("tcps_sndrexmitpack")
    .linux("Tcp:RetransSegs"),
    m(
        "sndrexmitbyte",
        "netpulse_tcp_retransmitted_bytes_total",
        "Data bytes retransmitted, since boot (FreeBSD tcps_sndrexmitbyte).",
    )
    .freebsd("tcps_sndrexmitbyte"),
    m(
        "rcvtotal",
        "netpulse_tcp_segments_received_total",
        "Segments received, since boot (FreeBSD tcps_rcvtotal, Linux Tcp:InSegs).",
    )
    .freebsd("tcps_rcvtotal")
    .linux("Tcp:InSegs"),
    m(
        "rcvbyte",
        "netpulse_tcp_received_bytes_total",
        "Data bytes received in sequence, since boot (FreeBSD tcps_rcvbyte).",
    )
    .freebsd("tcps_rcvbyte"),
    m(
        "rcvduppack",
        "netpulse_tcp_duplicate_segments_received_total",
        "Duplicate segments received, since boot (FreeBSD tcps_rcvduppack, Linux TcpExt:DelayedACKLost).",
    )
    .freebsd("tcps_rcvduppack")
    .linux("TcpExt:DelayedACKLost"),
    m(
        "rcvbadsum",
        "netpulse_tcp_bad_checksum_segments_received_total",
        "Segments received with a bad checksum, since boot (FreeBSD tcps_rcvbadsum, Linux Tcp:InCsumErrors).",
    )
    .freebsd("tcps_rcvbadsum")
    .linux("Tcp:InCsumErrors"),
    m(
        "listen_overflows",
        "netpulse_tcp_listen_overflows_total",
        "Connections refused because a listen queue was full, since boot (FreeBSD tcps_listendrop, Linux TcpExt:ListenOverflows).",
    )
    .freebsd("tcps_listendrop")
    .linux("TcpExt:ListenOverflows"),
    m(
        "listen_drops",
        "netpulse_tcp_listen_drops_total",
        "Connection attempts a listener dropped for any reason, overflows included, since boot (Linux TcpExt:ListenDrops).",
    )
    .linux("TcpExt:ListenDrops"),
    m(
        "resets_sent",
        "netpulse_tcp_resets_sent_total",
        "Segments sent with RST set, since boot (Linux Tcp:OutRsts).",
    )
    .linux("Tcp:OutRsts"),
    m(
        "retransmit_timeouts",
        "netpulse_tcp_retransmit_timeouts_total",
        "Retransmission timer expiries, since boot (FreeBSD and macOS tcps_rexmttimeo, Linux TcpExt:TCPTimeouts).",
    )
    .freebsd("tcps_rexmttimeo")
    .linux("TcpExt:TCPTimeouts"),
];

/// The metric of a `TcpCounters` name, if it has one.
pub fn counter_metric(counter: &str) -> Option<&'static CounterMetric> {
    COUNTER_METRICS.iter().find(|c| c.counter == counter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::TcpCounters;

    #[test]
    fn every_counter_has_one_readable_name() {
        let names: Vec<&str> = COUNTER_METRICS.iter().map(|c| c.counter).collect();
        assert_eq!(names, TcpCounters::NAMES, "one row per counter, in order");
        for c in COUNTER_METRICS {
            assert!(c.metric.starts_with("netpulse_tcp_"), "{}", c.metric);
            assert!(c.metric.ends_with("_total"), "{}", c.metric);
            assert_eq!(c.metric.matches("_total").count(), 1, "{}", c.metric);
            // No FreeBSD member name leaks into the metric name.
            if let Some(member) = c.freebsd {
                let bare = member.trim_start_matches("tcps_");
                assert!(!c.metric.contains(bare), "{}", c.metric);
            }
            // The help names every source.
            for source in c.freebsd.iter().chain(&c.linux) {
                assert!(c.help.contains(source), "{}: {source}", c.metric);
            }
        }
        let mut metrics: Vec<&str> = COUNTER_METRICS.iter().map(|c| c.metric).collect();
        metrics.sort_unstable();
        metrics.dedup();
        assert_eq!(metrics.len(), COUNTER_METRICS.len());
    }

    #[test]
    fn the_manual_page_documents_the_mapping() {
        let page = include_str!("../../man/netpulse.8");
        for c in COUNTER_METRICS {
            let row = page
                .lines()
                .find(|l| l.starts_with(&format!(".It {} Ta ", c.metric)))
                .unwrap_or_else(|| panic!("netpulse(8) has no row for {}", c.metric));
            let dash = "\\(em";
            let want = format!(
                ".It {} Ta {} Ta {}",
                c.metric,
                c.freebsd.unwrap_or(dash),
                c.linux.unwrap_or(dash)
            );
            assert_eq!(row, want);
        }
    }
}
