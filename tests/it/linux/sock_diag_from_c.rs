//! The sock_diag parser on a netlink message built by C against the kernel
//! UAPI headers, not from the parser's own offsets: every byte of
//! `struct tcp_info` and `struct inet_diag_msg` holds a different value,
//! and every `INET_DIAG_SKMEMINFO` slot too, so a field read from the
//! wrong place cannot come out right. The same C program prints what each
//! record field must be, reading the structures by member name.
#![cfg(target_os = "linux")]

use crate::support::c_program;

use std::collections::{BTreeMap, BTreeSet};

use netpulse::platform::ScanStats;
use netpulse::platform::linux::sock_diag::{FILLED_FIELDS, Progress, parse_datagram};

const SEQ: u32 = 4242;
const TS: u64 = 1_709_312_400_123_456_789;

/// Builds one reply (socket message + NLMSG_DONE) per timer kind and
/// prints it in hex, then `field value` lines: the record the parser
/// must make of it.
const HELPERS: &str = r#"
static unsigned char buf[4096];
static size_t used;

static void *put(const void *p, size_t n) {
    void *at = buf + used;
    memcpy(at, p, n);
    used += NLMSG_ALIGN(n);
    return at;
}

static void attr(unsigned short type, const void *data, size_t n) {
    struct nlattr a = { .nla_len = (unsigned short)(NLA_HDRLEN + n), .nla_type = type };
    memcpy(buf + used, &a, sizeof a);
    memcpy(buf + used + NLA_HDRLEN, data, n);
    used += NLA_ALIGN(NLA_HDRLEN + n);
}

static double pct(unsigned used_, unsigned hiwat) {
    double x = (double)used_ * 1000.0 / (double)hiwat;
    return (double)(long long)(x + 0.5) / 10.0;
}

static void one(int timer_kind, int listen, unsigned seq, unsigned long long ts) {
    /* The tcp_info the kernel sends, plus the __u32 a newer kernel adds
       after tcpi_snd_wnd (tcpi_rcv_wnd), which older headers lack. */
    unsigned char info[sizeof(struct tcp_info) + 8];
    struct inet_diag_msg m;
    unsigned mem[SK_MEMINFO_VARS];
    size_t i;
    for (i = 0; i < sizeof info; i++) info[i] = (unsigned char)(i + 1);
    for (i = 0; i < sizeof m; i++) ((unsigned char *)&m)[i] = (unsigned char)(0x80 + i);
    for (i = 0; i < SK_MEMINFO_VARS; i++) mem[i] = 1000u * (unsigned)(i + 1) + (unsigned)i;
    m.idiag_family = AF_INET;
    m.idiag_state = listen ? 10 : 1; /* TCP_LISTEN : TCP_ESTABLISHED */
    m.idiag_timer = (unsigned char)timer_kind;

    used = 0;
    struct nlmsghdr h = { .nlmsg_type = SOCK_DIAG_BY_FAMILY, .nlmsg_flags = NLM_F_MULTI,
                          .nlmsg_seq = seq };
    struct nlmsghdr *hp = put(&h, sizeof h);
    put(&m, sizeof m);
    attr(INET_DIAG_INFO, info, sizeof info);
    attr(INET_DIAG_CONG, "bbr", 4);
    attr(INET_DIAG_SKMEMINFO, mem, sizeof mem);
    hp->nlmsg_len = (unsigned)used;
    size_t done_at = used;
    struct nlmsghdr d = { .nlmsg_len = NLMSG_LENGTH(sizeof(int)), .nlmsg_type = NLMSG_DONE,
                          .nlmsg_flags = NLM_F_MULTI, .nlmsg_seq = seq };
    int zero = 0;
    put(&d, sizeof d);
    put(&zero, sizeof zero);
    (void)done_at;

    printf("begin\nmsg ");
    for (i = 0; i < used; i++) printf("%02x", buf[i]);
    printf("\n");

    struct tcp_info t;
    memcpy(&t, info, sizeof t);
    unsigned rcv_wnd;
    memcpy(&rcv_wnd, info + offsetof(struct tcp_info, tcpi_snd_wnd) + sizeof(__u32), sizeof rcv_wnd);
    const unsigned char *s = (const unsigned char *)m.id.idiag_src;
    const unsigned char *dd = (const unsigned char *)m.id.idiag_dst;
    printf("ts %llu\n", ts);
    printf("sock_id %llu\n", (unsigned long long)m.id.idiag_cookie[0] |
                             ((unsigned long long)m.id.idiag_cookie[1] << 32));
    printf("local %u.%u.%u.%u:%u\n", s[0], s[1], s[2], s[3], ntohs(m.id.idiag_sport));
    printf("remote %u.%u.%u.%u:%u\n", dd[0], dd[1], dd[2], dd[3], ntohs(m.id.idiag_dport));
    printf("uid %u\n", m.idiag_uid);
    printf("inode %u\n", m.idiag_inode);
    printf("proc_key %u\n", m.idiag_inode);
    printf("state %s\n", listen ? "LISTEN" : "ESTABLISHED");
    printf("cc bbr\n");
    /* A listener's tcp_info is placeholders: the parser takes none of it. */
    if (!listen) {
    printf("cwnd %llu\n", (unsigned long long)t.tcpi_snd_cwnd * t.tcpi_snd_mss);
    printf("ssthresh %llu\n", (unsigned long long)t.tcpi_snd_ssthresh * t.tcpi_snd_mss);
    printf("mss %u\n", t.tcpi_snd_mss);
    printf("rcv_wnd %u\n", rcv_wnd);
    printf("snd_wnd %u\n", t.tcpi_snd_wnd);
    printf("snd_wscale %u\n", t.tcpi_snd_wscale);
    printf("rcv_wscale %u\n", t.tcpi_rcv_wscale);
    printf("rtt_us %u\n", t.tcpi_rtt);
    printf("rttvar_us %u\n", t.tcpi_rttvar);
    printf("rto_us %u\n", t.tcpi_rto);
    printf("rtt_min_us %u\n", t.tcpi_min_rtt);
    printf("rexmit %u\n", t.tcpi_total_retrans);
    printf("ooo %u\n", t.tcpi_rcv_ooopack);
    printf("dsack_pack %u\n", t.tcpi_dsack_dups);
    printf("bytes_sent %llu\n", (unsigned long long)t.tcpi_bytes_sent);
    printf("bytes_acked %llu\n", (unsigned long long)t.tcpi_bytes_acked);
    printf("bytes_received %llu\n", (unsigned long long)t.tcpi_bytes_received);
    printf("bytes_retrans %llu\n", (unsigned long long)t.tcpi_bytes_retrans);
    printf("segs_out %u\n", t.tcpi_segs_out);
    printf("segs_in %u\n", t.tcpi_segs_in);
    printf("unacked %u\n", t.tcpi_unacked);
    printf("lost %u\n", t.tcpi_lost);
    printf("retrans_out %u\n", t.tcpi_retrans);
    printf("delivery_rate %llu\n", (unsigned long long)t.tcpi_delivery_rate);
    printf("pacing_rate %llu\n", (unsigned long long)t.tcpi_pacing_rate);
    }
    /* idiag_timer kinds: 1 retransmit, 2 keepalive, 3 TIME_WAIT, 4 zero-window probe. */
    const char *timer = timer_kind == 1 ? "timer_rexmt_ms" : timer_kind == 2 ? "timer_keep_ms"
                      : timer_kind == 3 ? "timer_2msl_ms" : "timer_persist_ms";
    printf("%s %u\n", timer, m.idiag_expires);
    if (!listen) printf("idle_ms %u\n", t.tcpi_last_data_recv);
    printf("snd_buf_used %u\n", mem[SK_MEMINFO_WMEM_QUEUED]);
    printf("snd_buf_hiwat %u\n", mem[SK_MEMINFO_SNDBUF]);
    printf("rcv_buf_used %u\n", mem[SK_MEMINFO_RMEM_ALLOC]);
    printf("rcv_buf_hiwat %u\n", mem[SK_MEMINFO_RCVBUF]);
    printf("snd_buf_pct %.17g\n", pct(mem[SK_MEMINFO_WMEM_QUEUED], mem[SK_MEMINFO_SNDBUF]));
    printf("rcv_buf_pct %.17g\n", pct(mem[SK_MEMINFO_RMEM_ALLOC], mem[SK_MEMINFO_RCVBUF]));
    /* A listener's queues count connections: its accept queue and backlog. */
    printf("%s %u\n", listen ? "accept_backlog" : "snd_queue", m.idiag_wqueue);
    printf("%s %u\n", listen ? "accept_queue" : "rcv_queue", m.idiag_rqueue);
    printf("end\n");
}
"#;

/// One message and what C says each field must be.
struct Case {
    message: Vec<u8>,
    want: BTreeMap<String, String>,
}

fn cases() -> Vec<Case> {
    let body = format!(
        "  for (int k = 1; k <= 4; k++) one(k, 0, {SEQ}u, {TS}ull);\n  one(1, 1, {SEQ}u, {TS}ull);\n"
    );
    let out = String::from_utf8(c_program::compile_and_run(HELPERS, &body)).unwrap();
    let mut cases = Vec::new();
    let mut cur: Option<Case> = None;
    for line in out.lines() {
        match line.split_once(' ') {
            None if line == "begin" => {
                cur = Some(Case {
                    message: Vec::new(),
                    want: BTreeMap::new(),
                })
            }
            None if line == "end" => cases.push(cur.take().expect("begin before end")),
            Some(("msg", hex)) => {
                cur.as_mut().unwrap().message = (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                    .collect()
            }
            Some((k, v)) => {
                let prev = cur.as_mut().unwrap().want.insert(k.into(), v.into());
                assert!(prev.is_none(), "{k} printed twice");
            }
            None => panic!("unexpected line {line:?}"),
        }
    }
    assert_eq!(cases.len(), 5);
    cases
}

/// The record's fields as text: JSON values, plus the hidden process key.
fn fields_of(r: &netpulse::record::SocketRecord) -> BTreeMap<String, String> {
    let json = serde_json::to_value(r).unwrap();
    let mut got: BTreeMap<String, String> = json
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), text)
        })
        .collect();
    if let Some(k) = r.proc_key() {
        got.insert("proc_key".into(), k.to_string());
    }
    got
}

#[test]
fn every_field_comes_from_its_own_member_of_the_c_structures() {
    let mut checked = BTreeSet::new();
    for case in cases() {
        let mut out = Vec::new();
        let mut stats = ScanStats::default();
        let r = parse_datagram(&case.message, SEQ, TS, &mut out, &mut stats).unwrap();
        assert_eq!(r, Progress::Done);
        assert_eq!(stats, ScanStats::default());
        assert_eq!(out.len(), 1);
        let got = fields_of(&out[0]);
        let got_keys: BTreeSet<&String> = got.keys().collect();
        let want_keys: BTreeSet<&String> = case.want.keys().collect();
        assert_eq!(got_keys, want_keys, "fields present");
        for (k, want) in &case.want {
            let have = &got[k];
            if k.ends_with("_pct") {
                let (a, b): (f64, f64) = (have.parse().unwrap(), want.parse().unwrap());
                assert_eq!(a, b, "{k}");
            } else {
                assert_eq!(have, want, "{k}");
            }
        }
        // Distinct bytes give distinct values: no two numeric fields read
        // from different places can agree by accident.
        let mut by_value: BTreeMap<&String, &String> = BTreeMap::new();
        for (k, v) in &case.want {
            let derived =
                ["proc_key", "ts", "state", "cc"].contains(&k.as_str()) || k.ends_with("_pct");
            if !derived && let Some(other) = by_value.insert(v, k) {
                panic!("{k} and {other} share the value {v}: the test cannot tell them apart");
            }
        }
        checked.extend(case.want.keys().cloned());
    }
    let filled: BTreeSet<String> = FILLED_FIELDS.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        checked, filled,
        "every field the parser fills is checked here"
    );
}
