//! The byte offsets the sock_diag parser uses, checked against the kernel's
//! own UAPI headers (`linux-libc-dev`): a C program compiled here prints
//! `offsetof`/`sizeof`, and every value must match.
#![cfg(target_os = "linux")]

use std::process::Command;

use netpulse::platform::linux::sock_diag::{INET_DIAG_MSG_LEN, REQUEST_LEN, tcpi};

/// (C expression, the offset the parser uses).
fn expectations() -> Vec<(&'static str, usize)> {
    vec![
        ("offsetof(struct tcp_info, tcpi_rto)", tcpi::RTO),
        ("offsetof(struct tcp_info, tcpi_snd_mss)", tcpi::SND_MSS),
        ("offsetof(struct tcp_info, tcpi_unacked)", tcpi::UNACKED),
        ("offsetof(struct tcp_info, tcpi_lost)", tcpi::LOST),
        ("offsetof(struct tcp_info, tcpi_retrans)", tcpi::RETRANS),
        (
            "offsetof(struct tcp_info, tcpi_last_data_recv)",
            tcpi::LAST_DATA_RECV,
        ),
        ("offsetof(struct tcp_info, tcpi_rtt)", tcpi::RTT),
        ("offsetof(struct tcp_info, tcpi_rttvar)", tcpi::RTTVAR),
        (
            "offsetof(struct tcp_info, tcpi_snd_ssthresh)",
            tcpi::SND_SSTHRESH,
        ),
        ("offsetof(struct tcp_info, tcpi_snd_cwnd)", tcpi::SND_CWND),
        (
            "offsetof(struct tcp_info, tcpi_total_retrans)",
            tcpi::TOTAL_RETRANS,
        ),
        (
            "offsetof(struct tcp_info, tcpi_pacing_rate)",
            tcpi::PACING_RATE,
        ),
        (
            "offsetof(struct tcp_info, tcpi_bytes_acked)",
            tcpi::BYTES_ACKED,
        ),
        (
            "offsetof(struct tcp_info, tcpi_bytes_received)",
            tcpi::BYTES_RECEIVED,
        ),
        ("offsetof(struct tcp_info, tcpi_segs_out)", tcpi::SEGS_OUT),
        ("offsetof(struct tcp_info, tcpi_segs_in)", tcpi::SEGS_IN),
        ("offsetof(struct tcp_info, tcpi_min_rtt)", tcpi::MIN_RTT),
        (
            "offsetof(struct tcp_info, tcpi_delivery_rate)",
            tcpi::DELIVERY_RATE,
        ),
        (
            "offsetof(struct tcp_info, tcpi_bytes_sent)",
            tcpi::BYTES_SENT,
        ),
        (
            "offsetof(struct tcp_info, tcpi_bytes_retrans)",
            tcpi::BYTES_RETRANS,
        ),
        (
            "offsetof(struct tcp_info, tcpi_dsack_dups)",
            tcpi::DSACK_DUPS,
        ),
        (
            "offsetof(struct tcp_info, tcpi_rcv_ooopack)",
            tcpi::RCV_OOOPACK,
        ),
        ("offsetof(struct tcp_info, tcpi_snd_wnd)", tcpi::SND_WND),
        // tcpi_rcv_wnd (Linux 6.7) follows tcpi_snd_wnd; headers older
        // than the running kernel lack it, the libc unit test covers it.
        ("offsetof(struct tcp_info, tcpi_snd_wnd) + 4", tcpi::RCV_WND),
        // inet_diag_msg fields the parser reads by offset.
        ("sizeof(struct inet_diag_msg)", INET_DIAG_MSG_LEN),
        ("offsetof(struct inet_diag_msg, id.idiag_sport)", 4),
        ("offsetof(struct inet_diag_msg, id.idiag_dport)", 6),
        ("offsetof(struct inet_diag_msg, id.idiag_src)", 8),
        ("offsetof(struct inet_diag_msg, id.idiag_dst)", 24),
        ("offsetof(struct inet_diag_msg, id.idiag_cookie)", 44),
        ("offsetof(struct inet_diag_msg, idiag_expires)", 52),
        ("offsetof(struct inet_diag_msg, idiag_rqueue)", 56),
        ("offsetof(struct inet_diag_msg, idiag_wqueue)", 60),
        ("offsetof(struct inet_diag_msg, idiag_uid)", 64),
        ("offsetof(struct inet_diag_msg, idiag_inode)", 68),
        (
            "sizeof(struct nlmsghdr) + sizeof(struct inet_diag_req_v2)",
            REQUEST_LEN,
        ),
        ("INET_DIAG_INFO", 2),
        ("INET_DIAG_CONG", 4),
        ("INET_DIAG_SKMEMINFO", 7),
        ("SK_MEMINFO_RMEM_ALLOC", 0),
        ("SK_MEMINFO_RCVBUF", 1),
        ("SK_MEMINFO_SNDBUF", 3),
        ("SK_MEMINFO_WMEM_QUEUED", 5),
        ("SOCK_DIAG_BY_FAMILY", 20),
    ]
}

#[test]
fn parser_offsets_match_the_kernel_uapi_headers() {
    let dir = tempfile::tempdir().unwrap();
    let exps = expectations();
    let mut c = String::from(
        "#include <stdio.h>\n#include <stddef.h>\n#include <linux/netlink.h>\n\
         #include <linux/tcp.h>\n#include <linux/inet_diag.h>\n#include <linux/sock_diag.h>\n\
         int main(void) {\n",
    );
    for (expr, _) in &exps {
        c.push_str(&format!("  printf(\"%zu\\n\", (size_t)({expr}));\n"));
    }
    c.push_str("  return 0;\n}\n");
    let src = dir.path().join("layout.c");
    let bin = dir.path().join("layout");
    std::fs::write(&src, c).unwrap();
    let cc = Command::new("cc")
        .arg(&src)
        .arg("-o")
        .arg(&bin)
        .output()
        .expect("running cc (install gcc and linux-libc-dev: .ci/setup.d/10-linux.sh)");
    assert!(
        cc.status.success(),
        "cc failed (install linux-libc-dev): {}",
        String::from_utf8_lossy(&cc.stderr)
    );
    let out = Command::new(&bin).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let got: Vec<usize> = text.lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(got.len(), exps.len());
    for ((expr, ours), theirs) in exps.iter().zip(got) {
        assert_eq!(
            *ours, theirs,
            "{expr}: parser uses {ours}, header says {theirs}"
        );
    }
}
