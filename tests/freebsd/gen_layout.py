#!/usr/bin/env python3
"""Generate src/platform/freebsd/layout.rs from FreeBSD's own headers.

Every offset, size and constant the FreeBSD parsers use is listed once below
by its C name. The script asks the zig C compiler (ziglang, which ships the
FreeBSD headers) for each value as `offsetof`/`sizeof`, for x86_64-freebsd
AND aarch64-freebsd, refuses to continue if the two targets disagree, and
writes the Rust constants.

    python3 tests/freebsd/gen_layout.py            # print the Rust file
    python3 tests/freebsd/gen_layout.py --write    # rewrite layout.rs
    python3 tests/freebsd/gen_layout.py --check    # CI: fail if layout.rs differs

Nothing here is typed by hand except names: the numbers come from the headers.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import layout_gen  # noqa: E402

TARGETS = ["x86_64-freebsd", "aarch64-freebsd"]

INCLUDES = """
#include <sys/types.h>
#include <sys/param.h>
#include <sys/socket.h>
#include <sys/socketvar.h>
#include <sys/file.h>
#include <sys/user.h>
#include <netinet/in.h>
#include <netinet/in_pcb.h>
#include <netinet/tcp.h>
#include <netinet/tcp_var.h>
#include <netinet/tcp_fsm.h>
#include <stddef.h>
"""

# (section comment, [(RUST_NAME, kind, struct, member or C expression)])
# kind: "size" = sizeof(struct S); "field" = offset and size of a member
# (nested paths allowed, offsets are from the start of S); "value" = a
# constant expression.
SO = "xt_inp.xi_socket."
INC = "xt_inp.inp_inc.inc_ie."
SECTIONS = [
    ("net.inet.tcp.pcblist: struct xinpgen (header and trailer)", [
        ("XINPGEN_SIZE", "size", "xinpgen", None),
        ("XIG_LEN", "field", "xinpgen", "xig_len"),
        ("XIG_COUNT", "field", "xinpgen", "xig_count"),
        ("XIG_GEN", "field", "xinpgen", "xig_gen"),
        ("XIG_SOGEN", "field", "xinpgen", "xig_sogen"),
    ]),
    ("net.inet.tcp.pcblist: struct xtcpcb, offsets from the record start", [
        ("XTCPCB_SIZE", "size", "xtcpcb", None),
        ("XINPCB_SIZE", "size", "xinpcb", None),
        ("XSOCKET_SIZE", "size", "xsocket", None),
        ("XT_LEN", "field", "xtcpcb", "xt_len"),
        ("XT_XI_LEN", "field", "xtcpcb", "xt_inp.xi_len"),
        ("XT_XSO_LEN", "field", "xtcpcb", SO + "xso_len"),
        ("XT_XSO_SO", "field", "xtcpcb", SO + "xso_so"),
        ("XT_SO_UID", "field", "xtcpcb", SO + "so_uid"),
        ("XT_SO_OPTIONS", "field", "xtcpcb", SO + "so_options"),
        ("XT_SO_QLEN", "field", "xtcpcb", SO + "so_qlen"),
        ("XT_SO_QLIMIT", "field", "xtcpcb", SO + "so_qlimit"),
        ("XT_SO_RCV_CC", "field", "xtcpcb", SO + "so_rcv.sb_cc"),
        ("XT_SO_RCV_HIWAT", "field", "xtcpcb", SO + "so_rcv.sb_hiwat"),
        ("XT_SO_SND_CC", "field", "xtcpcb", SO + "so_snd.sb_cc"),
        ("XT_SO_SND_HIWAT", "field", "xtcpcb", SO + "so_snd.sb_hiwat"),
        ("XT_FPORT", "field", "xtcpcb", INC + "ie_fport"),
        ("XT_LPORT", "field", "xtcpcb", INC + "ie_lport"),
        ("XT_FADDR4", "field", "xtcpcb", INC + "ie_dependfaddr.id46_addr.ia46_addr4"),
        ("XT_LADDR4", "field", "xtcpcb", INC + "ie_dependladdr.id46_addr.ia46_addr4"),
        ("XT_FADDR6", "field", "xtcpcb", INC + "ie_dependfaddr.id6_addr"),
        ("XT_LADDR6", "field", "xtcpcb", INC + "ie_dependladdr.id6_addr"),
        ("XT_ZONEID6", "field", "xtcpcb", INC + "ie6_zoneid"),
        ("XT_INP_GENCNT", "field", "xtcpcb", "xt_inp.inp_gencnt"),
        ("XT_INP_VFLAG", "field", "xtcpcb", "xt_inp.inp_vflag"),
        ("XT_STACK", "field", "xtcpcb", "xt_stack"),
        ("XT_CC", "field", "xtcpcb", "xt_cc"),
        ("XT_T_STATE", "field", "xtcpcb", "t_state"),
        ("XT_T_SNDZEROWIN", "field", "xtcpcb", "t_sndzerowin"),
        ("XT_T_SNDREXMITPACK", "field", "xtcpcb", "t_sndrexmitpack"),
        ("XT_T_RCVOOPACK", "field", "xtcpcb", "t_rcvoopack"),
        ("XT_T_RCVTIME", "field", "xtcpcb", "t_rcvtime"),
        ("XT_TT_REXMT", "field", "xtcpcb", "tt_rexmt"),
        ("XT_TT_PERSIST", "field", "xtcpcb", "tt_persist"),
        ("XT_TT_KEEP", "field", "xtcpcb", "tt_keep"),
        ("XT_TT_2MSL", "field", "xtcpcb", "tt_2msl"),
        ("XT_TT_DELACK", "field", "xtcpcb", "tt_delack"),
        ("XT_T_SND_CWND", "field", "xtcpcb", "t_snd_cwnd"),
        ("XT_T_SND_SSTHRESH", "field", "xtcpcb", "t_snd_ssthresh"),
        ("XT_T_MAXSEG", "field", "xtcpcb", "t_maxseg"),
        ("XT_T_RCV_WND", "field", "xtcpcb", "t_rcv_wnd"),
        ("XT_T_SND_WND", "field", "xtcpcb", "t_snd_wnd"),
        ("XT_T_DSACK_BYTES", "field", "xtcpcb", "t_dsack_bytes"),
        ("XT_T_DSACK_PACK", "field", "xtcpcb", "t_dsack_pack"),
        ("INP_IPV4", "value", None, "INP_IPV4"),
        ("INP_IPV6", "value", None, "INP_IPV6"),
        ("SO_ACCEPTCONN", "value", None, "SO_ACCEPTCONN"),
        ("TCPS_SYN_RECEIVED", "value", None, "TCPS_SYN_RECEIVED"),
        ("SSTHRESH_INITIAL", "value", None, "(TCP_MAXWIN << TCP_MAX_WINSHIFT)"),
    ]),
    ("kern.file: struct xfile", [
        ("XFILE_SIZE", "size", "xfile", None),
        ("XF_SIZE", "field", "xfile", "xf_size"),
        ("XF_PID", "field", "xfile", "xf_pid"),
        ("XF_UID", "field", "xfile", "xf_uid"),
        ("XF_FD", "field", "xfile", "xf_fd"),
        ("XF_TYPE", "field", "xfile", "xf_type"),
        ("XF_DATA", "field", "xfile", "xf_data"),
        ("DTYPE_SOCKET", "value", None, "DTYPE_SOCKET"),
    ]),
    ("kern.proc: struct kinfo_proc", [
        ("KINFO_PROC_SIZE", "size", "kinfo_proc", None),
        ("KI_STRUCTSIZE", "field", "kinfo_proc", "ki_structsize"),
        ("KI_PID", "field", "kinfo_proc", "ki_pid"),
        ("KI_COMM", "field", "kinfo_proc", "ki_comm"),
    ]),
    ("net.inet.tcp.stats and net.inet.tcp.states", [
        ("TCPSTAT_SIZE", "size", "tcpstat", None),
        ("TCP_NSTATES", "value", None, "TCP_NSTATES"),
    ]),
]

# struct tcpstat members read, as (TcpCounters name, member without
# `tcps_`). TcpCounters names without a FreeBSD counter of the same meaning
# (listen_drops, resets_sent) are left out; a test lists them.
TCPSTAT_COUNTERS = [
    ("connattempt", "connattempt"), ("accepts", "accepts"), ("connects", "connects"),
    ("drops", "drops"), ("sndtotal", "sndtotal"), ("sndbyte", "sndbyte"),
    ("sndrexmitpack", "sndrexmitpack"), ("sndrexmitbyte", "sndrexmitbyte"),
    ("rcvtotal", "rcvtotal"), ("rcvbyte", "rcvbyte"), ("rcvduppack", "rcvduppack"),
    ("rcvbadsum", "rcvbadsum"),
    # "listen queue overflows": sonewconn() refused the connection.
    ("listen_overflows", "listendrop"),
    ("retransmit_timeouts", "rexmttimeo"),
]


HEADER = [
    "//! FreeBSD struct layouts used by the parsers. GENERATED by",
    "//! `tests/freebsd/gen_layout.py` from FreeBSD's headers (ziglang), where",
    "//! x86_64-freebsd and aarch64-freebsd agree on every value; CI",
    "//! (`.ci/check.d/20-freebsd.sh`) regenerates it and fails on any difference.",
    "//! Do not edit by hand: change the list in the script and run it with `--write`.",
    "",
    "/// A struct member: byte offset from the start of its record, and size.",
    "#[derive(Clone, Copy, Debug, PartialEq, Eq)]",
    "pub struct Field {",
    "    pub offset: usize,",
    "    pub size: usize,",
    "}",
    "",
    "impl Field {",
    "    pub const fn new(offset: usize, size: usize) -> Field {",
    "        Field { offset, size }",
    "    }",
    "",
    "    /// One past the member's last byte.",
    "    pub const fn end(self) -> usize {",
    "        self.offset + self.size",
    "    }",
    "}",
]

if __name__ == "__main__":
    layout_gen.main(layout_gen.Platform(
        name="FreeBSD",
        out="src/platform/freebsd/layout.rs",
        script="tests/freebsd/gen_layout.py",
        targets=TARGETS,
        includes=INCLUDES,
        sections=SECTIONS,
        tcpstat_struct="tcpstat",
        tcpstat_counters=TCPSTAT_COUNTERS,
        header=HEADER,
    ))
