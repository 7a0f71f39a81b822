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
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
OUT = os.path.join(ROOT, "src", "platform", "freebsd", "layout.rs")
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


def exprs():
    """(key, C expression) for every number we need."""
    out = []
    for _, items in SECTIONS:
        for name, kind, struct, member in items:
            if kind == "size":
                out.append((name, f"sizeof(struct {struct})"))
            elif kind == "field":
                out.append((name + ".offset", f"offsetof(struct {struct}, {member})"))
                out.append((name + ".size", f"sizeof(((struct {struct} *)0)->{member})"))
            else:
                out.append((name, f"({member})"))
    for _, c in TCPSTAT_COUNTERS:
        out.append((f"tcps_{c}.offset", f"offsetof(struct tcpstat, tcps_{c})"))
        out.append((f"tcps_{c}.size", f"sizeof(((struct tcpstat *)0)->tcps_{c})"))
    return out


def compute(target, items):
    cc = os.path.join(HERE, "zig-cc")
    src = INCLUDES + "".join(
        f"const unsigned long long v_{i} = {e};\n" for i, (_, e) in enumerate(items)
    )
    with tempfile.TemporaryDirectory() as d:
        c = os.path.join(d, "layout.c")
        s = os.path.join(d, "layout.s")
        with open(c, "w") as f:
            f.write(src)
        r = subprocess.run(
            [cc, "-target", target, "-S", "-O0", "-g0", "-Wno-unused-command-line-argument",
             "-o", s, c],
            capture_output=True, text=True,
        )
        if r.returncode != 0:
            sys.exit(f"gen_layout: compiling for {target} failed:\n{r.stderr}")
        asm = open(s).read()
    # `v_N:` followed by `.quad V` (x86_64) or `.xword V` (aarch64).
    vals = {int(m.group(1)): int(m.group(2))
            for m in re.finditer(r"^v_(\d+):\s*\n\s*\.(?:quad|xword)\s+(\d+)", asm, re.M)}
    if len(vals) != len(items):
        sys.exit(f"gen_layout: {target}: read {len(vals)} of {len(items)} values from the assembly")
    return {items[i][0]: vals[i] for i in range(len(items))}


def render(v):
    lines = [
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
    for title, items in SECTIONS:
        lines += ["", f"// {title}"]
        for name, kind, struct, member in items:
            if kind == "size":
                lines.append(f"/// `sizeof(struct {struct})`")
                lines.append(f"pub const {name}: usize = {v[name]};")
            elif kind == "field":
                lines.append(f"/// `struct {struct}`: `{member}`")
                lines.append(
                    f"pub const {name}: Field = Field::new({v[name + '.offset']}, "
                    f"{v[name + '.size']});")
            else:
                lines.append(f"/// `{member}`")
                lines.append(f"pub const {name}: u64 = {v[name]};")
    lines += ["", "/// `struct tcpstat` members by `TcpCounters` name (the member is `tcps_`",
              "/// and the name where the two agree; the script lists the others).",
              "pub const TCPSTAT_FIELDS: &[(&str, Field)] = &["]
    for name, c in TCPSTAT_COUNTERS:
        lines.append(
            f"    (\"{name}\", Field::new({v[f'tcps_{c}.offset']}, {v[f'tcps_{c}.size']})),")
    lines.append("];")
    return "\n".join(lines) + "\n"


def main():
    items = exprs()
    per_target = {t: compute(t, items) for t in TARGETS}
    base = per_target[TARGETS[0]]
    bad = [(k, {t: per_target[t][k] for t in TARGETS})
           for k, _ in items if len({per_target[t][k] for t in TARGETS}) != 1]
    if bad:
        for k, vals in bad:
            print(f"gen_layout: {k} differs between targets: {vals}", file=sys.stderr)
        sys.exit("gen_layout: amd64 and arm64 layouts differ; the parsers assume one layout")
    text = render(base)
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "--write":
        with open(OUT, "w") as f:
            f.write(text)
        # Keep the file rustfmt-clean so `cargo fmt --check` and --check agree.
        subprocess.run(["rustfmt", "--edition", "2024",
                        "--config-path", os.path.join(ROOT, "rustfmt.toml"), OUT], check=True)
    elif mode == "--check":
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "layout.rs")
            with open(p, "w") as f:
                f.write(text)
            subprocess.run(["rustfmt", "--edition", "2024",
                            "--config-path", os.path.join(ROOT, "rustfmt.toml"), p], check=True)
            fresh = open(p).read()
        if fresh != open(OUT).read():
            sys.exit(f"gen_layout: {OUT} does not match FreeBSD's headers for "
                     f"{' and '.join(TARGETS)}; run `python3 tests/freebsd/gen_layout.py --write` "
                     "and review the diff")
        print(f"gen_layout: {len(items)} values agree for {' and '.join(TARGETS)} "
              "and match layout.rs")
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
