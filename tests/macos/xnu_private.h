/*
 * Layout facts for the structures macOS exports through sysctl but does not
 * publish in its SDK. Each declaration below restates, member for member,
 * a structure of Apple's open-source XNU kernel (github.com/apple-oss-
 * distributions/xnu); the file each one comes from is named above it. The
 * members keep their kernel names so the generated offsets can be compared
 * with the kernel source by eye.
 *
 * XNU declares the pcblist_n structures between `#pragma pack(4)` and
 * `#pragma pack()`, so 64-bit members may sit on 4-byte boundaries; the
 * same packing is applied here. Compiled by gen_layout.py and
 * gen_fixtures.sh for x86_64-macos and aarch64-macos with the SDK headers
 * zig ships (for struct in6_addr and the fixed-width types).
 */
#ifndef NETPULSE_XNU_PRIVATE_H
#define NETPULSE_XNU_PRIVATE_H

#include <stdint.h>
#include <netinet/in.h>

/* bsd/sys/socketvar.h: item kinds in the pcblist_n stream. */
#define XSO_SOCKET	0x001
#define XSO_RCVBUF	0x002
#define XSO_SNDBUF	0x004
#define XSO_STATS	0x008
#define XSO_INPCB	0x010
#define XSO_TCPCB	0x020

/* bsd/netinet/in_pcb.h */
#define INP_IPV4	0x1
#define INP_IPV6	0x2

/* bsd/netinet/in_pcblist.c: every item starts on an 8-byte boundary. */
#define XNU_ROUNDUP64(x)	(((x) + 7u) & ~(size_t)7u)

/* bsd/sys/socketvar.h (SO_TC_STATS_MAX, struct data_stats) */
#define XNU_SO_TC_STATS_MAX	4
struct xnu_data_stats {
	uint64_t	rxpackets;
	uint64_t	rxbytes;
	uint64_t	txpackets;
	uint64_t	txbytes;
};

#pragma pack(4)

/* bsd/netinet/in_pcb.h: struct in_addr_4in6 */
struct xnu_in_addr_4in6 {
	uint32_t	ia46_pad32[3];
	struct in_addr	ia46_addr4;
};

/* bsd/netinet/in_pcb.h: struct xinpgen (header and trailer of the list) */
struct xinpgen {
	uint32_t	xig_len;
	uint32_t	xig_count;
	uint64_t	xig_gen;
	uint64_t	xig_sogen;
};

/* bsd/netinet/in_pcb.h: struct xinpcb_n */
struct xinpcb_n {
	uint32_t	xi_len;
	uint32_t	xi_kind;
	uint64_t	xi_inpp;
	uint16_t	inp_fport;
	uint16_t	inp_lport;
	uint64_t	inp_ppcb;
	uint64_t	inp_gencnt;
	int32_t		inp_flags;
	uint32_t	inp_flow;
	uint8_t		inp_vflag;
	uint8_t		inp_ip_ttl;
	uint8_t		inp_ip_p;
	union {
		struct xnu_in_addr_4in6	inp46_foreign;
		struct in6_addr		inp6_foreign;
	} inp_dependfaddr;
	union {
		struct xnu_in_addr_4in6	inp46_local;
		struct in6_addr		inp6_local;
	} inp_dependladdr;
	struct {
		uint8_t	inp4_ip_tos;
	} inp_depend4;
	struct {
		uint8_t		inp6_hlim;
		int32_t		inp6_cksum;
		uint16_t	inp6_ifindex;
		int16_t		inp6_hops;
	} inp_depend6;
	uint32_t	inp_flowhash;
	uint32_t	inp_flags2;
};

#pragma pack()
#pragma pack(4)

/* bsd/sys/socketvar.h: struct xsocket_n */
struct xsocket_n {
	uint32_t	xso_len;
	uint32_t	xso_kind;
	uint64_t	xso_so;
	int16_t		so_type;
	uint32_t	so_options;
	int16_t		so_linger;
	int16_t		so_state;
	uint64_t	so_pcb;
	int32_t		xso_protocol;
	int32_t		xso_family;
	int16_t		so_qlen;
	int16_t		so_incqlen;
	int16_t		so_qlimit;
	int16_t		so_timeo;
	uint16_t	so_error;
	int32_t		so_pgid;
	uint32_t	so_oobmark;
	uint32_t	so_uid;
	int32_t		so_last_pid;
	int32_t		so_e_pid;
	uint64_t	so_gencnt;
	uint32_t	so_flags;
	uint32_t	so_flags1;
	int32_t		so_usecount;
	int32_t		so_retaincnt;
	uint32_t	xso_filter_flags;
};

/* bsd/sys/socketvar.h: struct xsockbuf_n */
struct xsockbuf_n {
	uint32_t	xsb_len;
	uint32_t	xsb_kind;
	uint32_t	sb_cc;
	uint32_t	sb_hiwat;
	uint32_t	sb_mbcnt;
	uint32_t	sb_mbmax;
	int32_t		sb_lowat;
	int16_t		sb_flags;
	int16_t		sb_timeo;
};

/* bsd/sys/socketvar.h: struct xsockstat_n */
struct xsockstat_n {
	uint32_t		xst_len;
	uint32_t		xst_kind;
	struct xnu_data_stats	xst_tc_stats[XNU_SO_TC_STATS_MAX];
};

#pragma pack()
#pragma pack(4)

/* bsd/netinet/tcp_timer.h: TCPT_NTIMERS_EXT */
#define XNU_TCPT_NTIMERS_EXT	4

/* bsd/netinet/tcp_var.h: struct xtcpcb_n */
struct xtcpcb_n {
	uint32_t	xt_len;
	uint32_t	xt_kind;
	uint64_t	t_segq;
	int32_t		t_dupacks;
	int32_t		t_timer[XNU_TCPT_NTIMERS_EXT];
	int32_t		t_state;
	uint32_t	t_flags;
	int32_t		t_force;
	uint32_t	snd_una;
	uint32_t	snd_max;
	uint32_t	snd_nxt;
	uint32_t	snd_up;
	uint32_t	snd_wl1;
	uint32_t	snd_wl2;
	uint32_t	iss;
	uint32_t	irs;
	uint32_t	rcv_nxt;
	uint32_t	rcv_adv;
	uint32_t	rcv_wnd;
	uint32_t	rcv_up;
	uint32_t	snd_wnd;
	uint32_t	snd_cwnd;
	uint32_t	snd_ssthresh;
	uint32_t	t_maxopd;
	uint32_t	t_rcvtime;
	uint32_t	t_starttime;
	int32_t		t_rtttime;
	uint32_t	t_rtseq;
	int32_t		t_rxtcur;
	uint32_t	t_maxseg;
	int32_t		t_srtt;
	int32_t		t_rttvar;
	int32_t		t_rxtshift;
	uint32_t	t_rttmin;
	uint32_t	t_rttupdated;
	uint32_t	max_sndwnd;
	int32_t		t_softerror;
	char		t_oobflags;
	char		t_iobc;
	uint8_t		snd_scale;
	uint8_t		rcv_scale;
	uint8_t		request_r_scale;
	uint8_t		requested_s_scale;
	uint32_t	ts_recent;
	uint32_t	ts_recent_age;
	uint32_t	last_ack_sent;
	uint32_t	cc_send;
	uint32_t	cc_recv;
	uint32_t	snd_recover;
	uint32_t	snd_cwnd_prev;
	uint32_t	snd_ssthresh_prev;
};

#pragma pack()

/* bsd/netinet/tcp_var.h: srtt and rttvar are fixed point, in ms. */
#define XNU_TCP_RTT_SHIFT	5
#define XNU_TCP_RTTVAR_SHIFT	4

/*
 * bsd/netinet/tcp_var.h: struct tcpstat, the leading members (all
 * uint32_t) up to the last one netpulse reads. The kernel's structure is
 * longer; members are only appended.
 */
struct tcpstat_prefix {
	uint32_t	tcps_connattempt;
	uint32_t	tcps_accepts;
	uint32_t	tcps_connects;
	uint32_t	tcps_drops;
	uint32_t	tcps_conndrops;
	uint32_t	tcps_closed;
	uint32_t	tcps_segstimed;
	uint32_t	tcps_rttupdated;
	uint32_t	tcps_delack;
	uint32_t	tcps_timeoutdrop;
	uint32_t	tcps_rexmttimeo;
	uint32_t	tcps_persisttimeo;
	uint32_t	tcps_keeptimeo;
	uint32_t	tcps_keepprobe;
	uint32_t	tcps_keepdrops;
	uint32_t	tcps_sndtotal;
	uint32_t	tcps_sndpack;
	uint32_t	tcps_sndbyte;
	uint32_t	tcps_sndrexmitpack;
	uint32_t	tcps_sndrexmitbyte;
	uint32_t	tcps_sndacks;
	uint32_t	tcps_sndprobe;
	uint32_t	tcps_sndurg;
	uint32_t	tcps_sndwinup;
	uint32_t	tcps_sndctrl;
	uint32_t	tcps_rcvtotal;
	uint32_t	tcps_rcvpack;
	uint32_t	tcps_rcvbyte;
	uint32_t	tcps_rcvbadsum;
	uint32_t	tcps_rcvbadoff;
	uint32_t	tcps_rcvmemdrop;
	uint32_t	tcps_rcvshort;
	uint32_t	tcps_rcvduppack;
};

#endif
