/*
 * /dev/tcpstats streams for the Rust reader's tests, built from the ABI
 * header's own structs by a real compiler for the FreeBSD targets
 * (gen.sh extracts each symbol's bytes). Never edit the .bin files by
 * hand: change this file and run tests/freebsd/tcpstats/gen.sh.
 */
#include <sys/types.h>
#include <sys/param.h>
#include <sys/file.h>
#include <sys/user.h>

#include "tcpstats.h"

#define	HDR	sizeof(struct tcpstats_header)
#define	REC	sizeof(struct tcpstats_record)

/* A known IPv4 connection, fully populated. */
#define	REC_V4_ESTABLISHED {						\
	.tr_gencnt = 1001,						\
	.tr_kaddr = 0xfffff80012345678ULL,				\
	.tr_laddr = { 192, 0, 2, 10 },					\
	.tr_faddr = { 198, 51, 100, 7 },				\
	.tr_lport = 52341,						\
	.tr_fport = 443,						\
	.tr_family = TCPSTATS_AF_INET,					\
	.tr_state = 4,			/* ESTABLISHED */		\
	.tr_snd_wscale = 7,						\
	.tr_rcv_wscale = 9,						\
	.tr_uid = 1001,							\
	.tr_options = TCPSTATS_OPT_TIMESTAMPS | TCPSTATS_OPT_SACK |	\
	    TCPSTATS_OPT_WSCALE,					\
	.tr_rflags = TCPSTATS_RF_HAVE_SOCKET | TCPSTATS_RF_RTT_VALID |	\
	    TCPSTATS_RF_KADDR,						\
	.tr_mss = 1448,							\
	.tr_rtt_us = 23500,						\
	.tr_rttvar_us = 4250,						\
	.tr_rto_us = 231000,						\
	.tr_rtt_min_us = 21000,						\
	.tr_snd_una = 0x10000000,					\
	.tr_snd_nxt = 0x10002000,					\
	.tr_snd_max = 0x10003000,					\
	.tr_rcv_nxt = 0x20000000,					\
	.tr_rcv_adv = 0x20010000,					\
	.tr_snd_cwnd = 28960,						\
	.tr_snd_ssthresh = 1073725440,	/* initial: "none yet" */	\
	.tr_snd_wnd = 262144,						\
	.tr_rcv_wnd = 65536,						\
	.tr_max_sndwnd = 262144,					\
	.tr_rexmit_pack = 17,						\
	.tr_ooo_pack = 3,						\
	.tr_zerowin = 1,						\
	.tr_dupacks = 0,						\
	.tr_rxtshift = 0,						\
	.tr_sack_holes = 2,						\
	.tr_rcv_numsacks = 1,						\
	.tr_dsack_bytes = 2896,						\
	.tr_dsack_pack = 2,						\
	.tr_dsack_tlp_bytes = 0,					\
	.tr_tlp_pack = 4,						\
	.tr_ecn_ce_rcvd = 0,						\
	.tr_tlp_bytes = 5792,						\
	.tr_snd_bytes = 123456789,					\
	.tr_snd_rxt_bytes = 24616,					\
	.tr_timer_rexmt_ms = 230,					\
	.tr_timer_persist_ms = TCPSTATS_TIMER_OFF,			\
	.tr_timer_keep_ms = 7199000,					\
	.tr_timer_2msl_ms = TCPSTATS_TIMER_OFF,				\
	.tr_timer_delack_ms = 40,					\
	.tr_idle_ms = 12,						\
	.tr_snd_buf_used = 8192,					\
	.tr_snd_buf_hiwat = 65536,					\
	.tr_rcv_buf_used = 8061,					\
	.tr_rcv_buf_hiwat = 65536,					\
	.tr_pacing_rate = -1,						\
	.tr_cc = "cubic",						\
	.tr_stack = "freebsd",						\
}

/* A dual-stack IPv6 listener: no RTT measured yet. */
#define	REC_V6_LISTEN {							\
	.tr_gencnt = 1002,						\
	.tr_kaddr = 0xfffff80012345a00ULL,				\
	.tr_lport = 8443,						\
	.tr_family = TCPSTATS_AF_INET6,					\
	.tr_state = 1,			/* LISTEN */			\
	.tr_rflags = TCPSTATS_RF_HAVE_SOCKET | TCPSTATS_RF_LISTEN |	\
	    TCPSTATS_RF_KADDR,						\
	.tr_mss = 536,							\
	.tr_rttvar_us = 750000,		/* initial, not measured */	\
	.tr_rto_us = 1000000,						\
	.tr_snd_ssthresh = 1073725440,					\
	.tr_timer_rexmt_ms = TCPSTATS_TIMER_OFF,			\
	.tr_timer_persist_ms = TCPSTATS_TIMER_OFF,			\
	.tr_timer_keep_ms = TCPSTATS_TIMER_OFF,				\
	.tr_timer_2msl_ms = TCPSTATS_TIMER_OFF,				\
	.tr_timer_delack_ms = TCPSTATS_TIMER_OFF,			\
	.tr_idle_ms = 86400000,						\
	.tr_snd_buf_hiwat = 32768,					\
	.tr_rcv_buf_hiwat = 65536,					\
	.tr_pacing_rate = -1,						\
	.tr_cc = "cubic",						\
	.tr_stack = "freebsd",						\
}

/* An IPv6 connection on the RACK stack with a slow peer. */
#define	REC_V6_RACK {							\
	.tr_gencnt = 1003,						\
	.tr_kaddr = 0xfffff80012346000ULL,				\
	.tr_laddr = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 },		\
	.tr_faddr = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 },		\
	.tr_lport = 443,						\
	.tr_fport = 61000,						\
	.tr_family = TCPSTATS_AF_INET6,					\
	.tr_state = 4,							\
	.tr_snd_wscale = 6,						\
	.tr_rcv_wscale = 6,						\
	.tr_uid = 80,							\
	.tr_options = TCPSTATS_OPT_TIMESTAMPS | TCPSTATS_OPT_SACK |	\
	    TCPSTATS_OPT_WSCALE | TCPSTATS_OPT_ECN,			\
	.tr_rflags = TCPSTATS_RF_HAVE_SOCKET | TCPSTATS_RF_RTT_VALID |	\
	    TCPSTATS_RF_KADDR,						\
	.tr_mss = 1428,							\
	.tr_rtt_us = 180250,						\
	.tr_rttvar_us = 40125,						\
	.tr_rto_us = 341000,						\
	.tr_rtt_min_us = 150001,					\
	.tr_snd_una = 0xfffffff0,					\
	.tr_snd_nxt = 0x00000010,	/* wrapped */			\
	.tr_snd_max = 0x00000010,					\
	.tr_rcv_nxt = 7,						\
	.tr_rcv_adv = 65543,						\
	.tr_snd_cwnd = 14280,						\
	.tr_snd_ssthresh = 7140,					\
	.tr_snd_wnd = 0,						\
	.tr_rcv_wnd = 65536,						\
	.tr_max_sndwnd = 131072,					\
	.tr_rexmit_pack = 42,						\
	.tr_ooo_pack = 0,						\
	.tr_zerowin = 9,						\
	.tr_rxtshift = 2,						\
	.tr_dsack_bytes = 1428,						\
	.tr_dsack_pack = 1,						\
	.tr_ecn_ce_rcvd = 5,						\
	.tr_snd_bytes = 987654321012ULL,				\
	.tr_snd_rxt_bytes = 59976,					\
	.tr_timer_rexmt_ms = TCPSTATS_TIMER_OFF,			\
	.tr_timer_persist_ms = 1500,					\
	.tr_timer_keep_ms = 7000000,					\
	.tr_timer_2msl_ms = TCPSTATS_TIMER_OFF,				\
	.tr_timer_delack_ms = TCPSTATS_TIMER_OFF,			\
	.tr_idle_ms = 3,						\
	.tr_snd_buf_used = 131072,					\
	.tr_snd_buf_hiwat = 131072,					\
	.tr_rcv_buf_used = 0,						\
	.tr_rcv_buf_hiwat = 65536,					\
	.tr_ecn_ce_sent = 4,						\
	.tr_pacing_rate = 1250000,					\
	.tr_cc = "newreno",						\
	.tr_stack = "rack",						\
}

/* TIME_WAIT: the socket is gone, so no buffers and no address. */
#define	REC_V4_TIME_WAIT {						\
	.tr_gencnt = 998,						\
	.tr_laddr = { 127, 0, 0, 1 },					\
	.tr_faddr = { 127, 0, 0, 1 },					\
	.tr_lport = 8080,						\
	.tr_fport = 40000,						\
	.tr_family = TCPSTATS_AF_INET,					\
	.tr_state = 10,			/* TIME_WAIT */			\
	.tr_uid = 0,							\
	.tr_rflags = TCPSTATS_RF_RTT_VALID,				\
	.tr_mss = 16344,						\
	.tr_rtt_us = 1000,						\
	.tr_rttvar_us = 500,						\
	.tr_rto_us = 30000,						\
	.tr_rtt_min_us = 1000,						\
	.tr_timer_rexmt_ms = TCPSTATS_TIMER_OFF,			\
	.tr_timer_persist_ms = TCPSTATS_TIMER_OFF,			\
	.tr_timer_keep_ms = TCPSTATS_TIMER_OFF,				\
	.tr_timer_2msl_ms = 59000,					\
	.tr_timer_delack_ms = TCPSTATS_TIMER_OFF,			\
	.tr_idle_ms = 1000,						\
	.tr_pacing_rate = -1,						\
	.tr_cc = "cubic",						\
	.tr_stack = "freebsd",						\
}

#define	HEADER(flags, count, total) {					\
	.th_magic = TCPSTATS_MAGIC,					\
	.th_version = TCPSTATS_ABI_VERSION,				\
	.th_header_size = HDR,						\
	.th_record_size = REC,						\
	.th_flags = (flags),						\
	.th_generation = 5000,						\
	.th_uptime_ns = 123456789000ULL,				\
	.th_record_count = (count),					\
	.th_records_total = (total),					\
	.th_needed_size = HDR + (total) * REC,				\
	.th_hz = 1000,							\
}

/* A root reader's complete snapshot. */
const struct {
	struct tcpstats_header h;
	struct tcpstats_record r[4];
} normal = {
	HEADER(TCPSTATS_F_KADDR, 4, 4),
	{ REC_V4_ESTABLISHED, REC_V6_LISTEN, REC_V6_RACK, REC_V4_TIME_WAIT },
};

/*
 * An unprivileged reader (uid 1001): no kernel addresses anywhere, and the
 * sequence numbers of root's sshd session withheld; its own connection's
 * are there.
 */
const struct {
	struct tcpstats_header h;
	struct tcpstats_record r[2];
} unprivileged = {
	HEADER(0, 2, 2),
	{ { .tr_gencnt = 1001, .tr_laddr = { 192, 0, 2, 10 },
	    .tr_faddr = { 198, 51, 100, 7 }, .tr_lport = 52341,
	    .tr_fport = 443, .tr_family = TCPSTATS_AF_INET, .tr_state = 4,
	    .tr_uid = 1001, .tr_rflags = TCPSTATS_RF_HAVE_SOCKET,
	    .tr_snd_una = 0x10000000, .tr_snd_nxt = 0x10002000,
	    .tr_snd_max = 0x10003000, .tr_rcv_nxt = 0x20000000,
	    .tr_rcv_adv = 0x20010000,
	    .tr_snd_cwnd = 28960, .tr_cc = "cubic", .tr_stack = "freebsd" },
	  { .tr_gencnt = 990, .tr_laddr = { 192, 0, 2, 10 },
	    .tr_faddr = { 198, 51, 100, 9 }, .tr_lport = 22,
	    .tr_fport = 60022, .tr_family = TCPSTATS_AF_INET, .tr_state = 4,
	    .tr_uid = 0,
	    .tr_rflags = TCPSTATS_RF_HAVE_SOCKET | TCPSTATS_RF_SEQ_HIDDEN,
	    .tr_snd_cwnd = 14480, .tr_cc = "cubic", .tr_stack = "freebsd" } },
};

/*
 * An ssh session over link-local IPv6: the module copies the pcb's
 * addresses as the kernel keeps them, zone (interface 2) in bytes 2-3.
 */
const struct {
	struct tcpstats_header h;
	struct tcpstats_record r[1];
} link_local = {
	HEADER(0, 1, 1),
	{ { .tr_gencnt = 950,
	    .tr_laddr = { 0xfe, 0x80, 0, 2, [15] = 1 },
	    .tr_faddr = { 0xfe, 0x80, 0, 2, [15] = 2 },
	    .tr_lport = 22, .tr_fport = 50000,
	    .tr_family = TCPSTATS_AF_INET6, .tr_state = 4,
	    .tr_rflags = TCPSTATS_RF_HAVE_SOCKET, .tr_mss = 1220,
	    .tr_snd_bytes = 4000, .tr_snd_rxt_bytes = 1220,
	    .tr_timer_rexmt_ms = TCPSTATS_TIMER_OFF,
	    .tr_timer_persist_ms = TCPSTATS_TIMER_OFF,
	    .tr_timer_keep_ms = TCPSTATS_TIMER_OFF,
	    .tr_timer_2msl_ms = TCPSTATS_TIMER_OFF,
	    .tr_timer_delack_ms = TCPSTATS_TIMER_OFF,
	    .tr_cc = "cubic", .tr_stack = "freebsd" } },
};

/* The kernel's buffer limit was hit: 1 of 3 records delivered. */
const struct {
	struct tcpstats_header h;
	struct tcpstats_record r[1];
} truncated = {
	HEADER(TCPSTATS_F_KADDR | TCPSTATS_F_TRUNCATED, 1, 3),
	{ REC_V4_ESTABLISHED },
};

/* The walk ran out of time. */
const struct {
	struct tcpstats_header h;
	struct tcpstats_record r[1];
} timedout = {
	HEADER(TCPSTATS_F_KADDR | TCPSTATS_F_TIMEDOUT, 1, 1),
	{ REC_V4_ESTABLISHED },
};

/* A later ABI this reader does not know. */
const struct {
	struct tcpstats_header h;
	struct tcpstats_record r[1];
} unknown_version = {
	{ .th_magic = TCPSTATS_MAGIC, .th_version = TCPSTATS_ABI_VERSION + 1,
	  .th_header_size = HDR, .th_record_size = REC,
	  .th_record_count = 1, .th_records_total = 1,
	  .th_needed_size = HDR + REC },
	{ REC_V4_ESTABLISHED },
};

/*
 * A future kernel with a longer header and longer records whose extra
 * bytes this reader must skip, not misread.
 */
struct future_record {
	struct tcpstats_record r;
	unsigned char extra[64];
};
const struct {
	struct tcpstats_header h;
	unsigned char hextra[32];
	struct future_record r[2];
} future = {
	{ .th_magic = TCPSTATS_MAGIC, .th_version = TCPSTATS_ABI_VERSION,
	  .th_header_size = HDR + 32,
	  .th_record_size = sizeof(struct future_record),
	  .th_flags = TCPSTATS_F_KADDR, .th_generation = 5001,
	  .th_record_count = 2, .th_records_total = 2,
	  .th_needed_size = HDR + 32 + 2 * sizeof(struct future_record),
	  .th_hz = 1000 },
	{ [0 ... 31] = 0xee },
	{ { REC_V4_ESTABLISHED, { [0 ... 63] = 0xee } },
	  { REC_V6_RACK, { [0 ... 63] = 0xee } } },
};

/* Records shorter than this reader's: fields would be missing. */
const struct {
	struct tcpstats_header h;
	unsigned char r[256];
} small_record = {
	{ .th_magic = TCPSTATS_MAGIC, .th_version = TCPSTATS_ABI_VERSION,
	  .th_header_size = HDR, .th_record_size = 256,
	  .th_record_count = 1, .th_records_total = 1,
	  .th_needed_size = HDR + 256 },
	{ [0 ... 255] = 0x01 },
};

/* The header claims 7 records but only 2 follow. */
const struct {
	struct tcpstats_header h;
	struct tcpstats_record r[2];
} corrupt_count = {
	HEADER(TCPSTATS_F_KADDR, 7, 7),
	{ REC_V4_ESTABLISHED, REC_V6_RACK },
};

/* Not a tcpstats stream at all (wrong magic). */
const struct {
	struct tcpstats_header h;
} corrupt_magic = {
	{ .th_magic = 0x464c457f, .th_version = TCPSTATS_ABI_VERSION,
	  .th_header_size = HDR, .th_record_size = REC },
};

/* A header size smaller than the header itself. */
const struct {
	struct tcpstats_header h;
} corrupt_header_size = {
	{ .th_magic = TCPSTATS_MAGIC, .th_version = TCPSTATS_ABI_VERSION,
	  .th_header_size = 16, .th_record_size = REC },
};

/*
 * `sysctl -b kern.file` and `sysctl -b kern.proc.all` captured alongside
 * `normal`, so that replay joins records to processes by socket address.
 */
#define	XF(pid, uid, fd, type, data) { .xf_size = sizeof(struct xfile),	\
	.xf_pid = (pid), .xf_uid = (uid), .xf_fd = (fd), .xf_type = (type), \
	.xf_data = (data), .xf_count = 1 }

const struct xfile kern_file[] = {
	XF(4242, 1001, 3, DTYPE_SOCKET, 0xfffff80012345678ULL),	/* v4 conn */
	XF(80, 0, 5, DTYPE_SOCKET, 0xfffff80012345a00ULL),	/* v6 listener */
	XF(80, 80, 6, DTYPE_SOCKET, 0xfffff80012346000ULL),	/* rack conn */
	XF(80, 80, 7, DTYPE_VNODE, 0xfffff800aaaa0000ULL),	/* not a socket */
};

#define	KP(pid, comm) { .ki_structsize = sizeof(struct kinfo_proc),	\
	.ki_pid = (pid), .ki_ppid = 1, .ki_comm = comm }

const struct kinfo_proc kern_proc[] = {
	KP(80, "nginx"),
	KP(4242, "curl"),
};
