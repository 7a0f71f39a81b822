#!/usr/bin/env python3
"""Generate src/platform/macos/layout.rs.

Two kinds of source, both compiled by zig's clang (the `ziglang` package)
for x86_64-macos AND aarch64-macos, which must agree on every value:

* public structures (libproc: struct socket_fdinfo, proc_fdinfo,
  proc_bsdinfo, and the PROC_* constants) come from the macOS SDK headers
  zig ships (`sys/proc_info.h`, `libproc.h`);
* the pcblist_n and tcpstat structures macOS does not publish come from
  tests/macos/xnu_private.h, which restates them from XNU's sources and
  names the file each comes from.

    python3 tests/macos/gen_layout.py            # print the Rust file
    python3 tests/macos/gen_layout.py --write    # rewrite layout.rs
    python3 tests/macos/gen_layout.py --check    # CI: fail if layout.rs differs
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import layout_gen  # noqa: E402

TARGETS = ["x86_64-macos", "aarch64-macos"]

INCLUDES = """
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/proc_info.h>
#include <libproc.h>
#include <netinet/in.h>
#include <stddef.h>
#include "xnu_private.h"
"""

PSI = "psi."
INSI = "psi.soi_proto.pri_tcp.tcpsi_ini."
TCPSI = "psi.soi_proto.pri_tcp."

# (section comment, [(RUST_NAME, kind, struct, member or C expression)])
# kind: "size" = sizeof(struct S); "field" = offset and size of a member
# (offsets from the start of S); "value" = a constant expression.
SECTIONS = [
    ("net.inet.tcp.pcblist_n: struct xinpgen (XNU bsd/netinet/in_pcb.h)", [
        ("XINPGEN_SIZE", "size", "xinpgen", None),
        ("XIG_LEN", "field", "xinpgen", "xig_len"),
        ("XIG_COUNT", "field", "xinpgen", "xig_count"),
        ("XIG_GEN", "field", "xinpgen", "xig_gen"),
    ]),
    ("pcblist_n item: struct xinpcb_n (XNU bsd/netinet/in_pcb.h)", [
        ("XINPCB_N_SIZE", "size", "xinpcb_n", None),
        ("XI_FPORT", "field", "xinpcb_n", "inp_fport"),
        ("XI_LPORT", "field", "xinpcb_n", "inp_lport"),
        ("XI_GENCNT", "field", "xinpcb_n", "inp_gencnt"),
        ("XI_VFLAG", "field", "xinpcb_n", "inp_vflag"),
        ("XI_FADDR4", "field", "xinpcb_n", "inp_dependfaddr.inp46_foreign.ia46_addr4"),
        ("XI_LADDR4", "field", "xinpcb_n", "inp_dependladdr.inp46_local.ia46_addr4"),
        ("XI_FADDR6", "field", "xinpcb_n", "inp_dependfaddr.inp6_foreign"),
        ("XI_LADDR6", "field", "xinpcb_n", "inp_dependladdr.inp6_local"),
        ("INP_IPV4", "value", None, "INP_IPV4"),
        ("INP_IPV6", "value", None, "INP_IPV6"),
    ]),
    ("pcblist_n item: struct xsocket_n (XNU bsd/sys/socketvar.h)", [
        ("XSOCKET_N_SIZE", "size", "xsocket_n", None),
        ("XSO_UID", "field", "xsocket_n", "so_uid"),
    ]),
    ("pcblist_n item: struct xsockbuf_n (XNU bsd/sys/socketvar.h)", [
        ("XSOCKBUF_N_SIZE", "size", "xsockbuf_n", None),
        ("XSB_CC", "field", "xsockbuf_n", "sb_cc"),
        ("XSB_HIWAT", "field", "xsockbuf_n", "sb_hiwat"),
    ]),
    ("pcblist_n item: struct xsockstat_n (XNU bsd/sys/socketvar.h)", [
        ("XSOCKSTAT_N_SIZE", "size", "xsockstat_n", None),
    ]),
    ("pcblist_n item: struct xtcpcb_n (XNU bsd/netinet/tcp_var.h)", [
        ("XTCPCB_N_SIZE", "size", "xtcpcb_n", None),
        ("XT_STATE", "field", "xtcpcb_n", "t_state"),
        ("XT_SND_UNA", "field", "xtcpcb_n", "snd_una"),
        ("XT_SND_MAX", "field", "xtcpcb_n", "snd_max"),
        ("XT_SND_NXT", "field", "xtcpcb_n", "snd_nxt"),
        ("XT_RCV_NXT", "field", "xtcpcb_n", "rcv_nxt"),
        ("XT_RCV_ADV", "field", "xtcpcb_n", "rcv_adv"),
        ("XT_RCV_WND", "field", "xtcpcb_n", "rcv_wnd"),
        ("XT_SND_WND", "field", "xtcpcb_n", "snd_wnd"),
        ("XT_SND_CWND", "field", "xtcpcb_n", "snd_cwnd"),
        ("XT_SND_SSTHRESH", "field", "xtcpcb_n", "snd_ssthresh"),
        ("XT_RXTCUR", "field", "xtcpcb_n", "t_rxtcur"),
        ("XT_MAXSEG", "field", "xtcpcb_n", "t_maxseg"),
        ("XT_SRTT", "field", "xtcpcb_n", "t_srtt"),
        ("XT_RTTVAR", "field", "xtcpcb_n", "t_rttvar"),
        ("XT_SND_SCALE", "field", "xtcpcb_n", "snd_scale"),
        ("XT_RCV_SCALE", "field", "xtcpcb_n", "rcv_scale"),
        ("TCP_RTT_SHIFT", "value", None, "XNU_TCP_RTT_SHIFT"),
        ("TCP_RTTVAR_SHIFT", "value", None, "XNU_TCP_RTTVAR_SHIFT"),
    ]),
    ("pcblist_n item kinds (XNU bsd/sys/socketvar.h)", [
        ("XSO_SOCKET", "value", None, "XSO_SOCKET"),
        ("XSO_RCVBUF", "value", None, "XSO_RCVBUF"),
        ("XSO_SNDBUF", "value", None, "XSO_SNDBUF"),
        ("XSO_STATS", "value", None, "XSO_STATS"),
        ("XSO_INPCB", "value", None, "XSO_INPCB"),
        ("XSO_TCPCB", "value", None, "XSO_TCPCB"),
    ]),
    ("libproc: struct socket_fdinfo (SDK sys/proc_info.h)", [
        ("SOCKET_FDINFO_SIZE", "size", "socket_fdinfo", None),
        ("SOI_UID", "field", "socket_fdinfo", PSI + "soi_stat.vst_uid"),
        ("SOI_FAMILY", "field", "socket_fdinfo", PSI + "soi_family"),
        ("SOI_PROTOCOL", "field", "socket_fdinfo", PSI + "soi_protocol"),
        ("SOI_KIND", "field", "socket_fdinfo", PSI + "soi_kind"),
        ("SOI_RCV_CC", "field", "socket_fdinfo", PSI + "soi_rcv.sbi_cc"),
        ("SOI_RCV_HIWAT", "field", "socket_fdinfo", PSI + "soi_rcv.sbi_hiwat"),
        ("SOI_SND_CC", "field", "socket_fdinfo", PSI + "soi_snd.sbi_cc"),
        ("SOI_SND_HIWAT", "field", "socket_fdinfo", PSI + "soi_snd.sbi_hiwat"),
        ("INSI_FPORT", "field", "socket_fdinfo", INSI + "insi_fport"),
        ("INSI_LPORT", "field", "socket_fdinfo", INSI + "insi_lport"),
        ("INSI_GENCNT", "field", "socket_fdinfo", INSI + "insi_gencnt"),
        ("INSI_VFLAG", "field", "socket_fdinfo", INSI + "insi_vflag"),
        ("INSI_FADDR4", "field", "socket_fdinfo", INSI + "insi_faddr.ina_46.i46a_addr4"),
        ("INSI_LADDR4", "field", "socket_fdinfo", INSI + "insi_laddr.ina_46.i46a_addr4"),
        ("INSI_FADDR6", "field", "socket_fdinfo", INSI + "insi_faddr.ina_6"),
        ("INSI_LADDR6", "field", "socket_fdinfo", INSI + "insi_laddr.ina_6"),
        ("TCPSI_STATE", "field", "socket_fdinfo", TCPSI + "tcpsi_state"),
        ("TCPSI_MSS", "field", "socket_fdinfo", TCPSI + "tcpsi_mss"),
        ("SOCKINFO_TCP", "value", None, "SOCKINFO_TCP"),
        ("INI_IPV4", "value", None, "INI_IPV4"),
        ("INI_IPV6", "value", None, "INI_IPV6"),
    ]),
    ("libproc: struct proc_fdinfo and struct proc_bsdinfo (SDK sys/proc_info.h)", [
        ("PROC_FDINFO_SIZE", "size", "proc_fdinfo", None),
        ("PROC_FD", "field", "proc_fdinfo", "proc_fd"),
        ("PROC_FDTYPE", "field", "proc_fdinfo", "proc_fdtype"),
        ("PROC_BSDINFO_SIZE", "size", "proc_bsdinfo", None),
        ("PBI_PID", "field", "proc_bsdinfo", "pbi_pid"),
        ("PBI_UID", "field", "proc_bsdinfo", "pbi_uid"),
        ("PBI_COMM", "field", "proc_bsdinfo", "pbi_comm"),
        ("PBI_NAME", "field", "proc_bsdinfo", "pbi_name"),
    ]),
    ("libproc calls and socket constants (SDK sys/proc_info.h, sys/socket.h)", [
        ("PROC_ALL_PIDS", "value", None, "PROC_ALL_PIDS"),
        ("PROC_PIDLISTFDS", "value", None, "PROC_PIDLISTFDS"),
        ("PROC_PIDTBSDINFO", "value", None, "PROC_PIDTBSDINFO"),
        ("PROC_PIDFDSOCKETINFO", "value", None, "PROC_PIDFDSOCKETINFO"),
        ("PROX_FDTYPE_SOCKET", "value", None, "PROX_FDTYPE_SOCKET"),
        ("AF_INET", "value", None, "AF_INET"),
        ("AF_INET6", "value", None, "AF_INET6"),
        ("IPPROTO_TCP", "value", None, "IPPROTO_TCP"),
    ]),
    ("net.inet.tcp.stats: struct tcpstat (XNU bsd/netinet/tcp_var.h)", [
        ("TCPSTAT_PREFIX_SIZE", "size", "tcpstat_prefix", None),
    ]),
]

# struct tcpstat members read, as (TcpCounters name, member without
# `tcps_`), from the leading members restated in xnu_private.h.
TCPSTAT_COUNTERS = [
    ("connattempt", "connattempt"), ("accepts", "accepts"), ("connects", "connects"),
    ("drops", "drops"), ("sndtotal", "sndtotal"), ("sndbyte", "sndbyte"),
    ("sndrexmitpack", "sndrexmitpack"), ("sndrexmitbyte", "sndrexmitbyte"),
    ("rcvtotal", "rcvtotal"), ("rcvbyte", "rcvbyte"), ("rcvduppack", "rcvduppack"),
    ("rcvbadsum", "rcvbadsum"),
    ("retransmit_timeouts", "rexmttimeo"),
]


HEADER = [
    "//! macOS struct layouts used by the parsers. GENERATED by",
    "//! `tests/macos/gen_layout.py`: public libproc structures from the macOS SDK",
    "//! headers zig ships, unpublished sysctl structures from",
    "//! `tests/macos/xnu_private.h` (restated from XNU's sources), compiled for",
    "//! x86_64-macos and aarch64-macos, which agree on every value. CI",
    "//! (`.ci/check.d/25-macos.sh`) regenerates it and fails on any difference.",
    "//! Do not edit by hand: change the list in the script and run it with `--write`.",
    "",
    "pub use crate::platform::freebsd::layout::Field;",
]

if __name__ == "__main__":
    layout_gen.main(layout_gen.Platform(
        name="macOS",
        out="src/platform/macos/layout.rs",
        script="tests/macos/gen_layout.py",
        targets=TARGETS,
        includes=INCLUDES,
        sections=SECTIONS,
        tcpstat_struct="tcpstat_prefix",
        tcpstat_counters=TCPSTAT_COUNTERS,
        header=HEADER,
        cflags=["-I", os.path.dirname(os.path.abspath(__file__))],
    ))
