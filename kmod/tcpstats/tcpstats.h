/*-
 * SPDX-License-Identifier: BSD-2-Clause
 *
 * Copyright (c) 2026 The netpulse authors
 *
 * Redistribution and use in source and binary forms, with or without
 * modification, are permitted provided that the following conditions
 * are met:
 * 1. Redistributions of source code must retain the above copyright
 *    notice, this list of conditions and the following disclaimer.
 * 2. Redistributions in binary form must reproduce the above copyright
 *    notice, this list of conditions and the following disclaimer in the
 *    documentation and/or other materials provided with the distribution.
 *
 * THIS SOFTWARE IS PROVIDED BY THE AUTHOR AND CONTRIBUTORS ``AS IS'' AND
 * ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE
 * IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE
 * ARE DISCLAIMED.  IN NO EVENT SHALL THE AUTHOR OR CONTRIBUTORS BE LIABLE
 * FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR CONSEQUENTIAL
 * DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS
 * OR SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS INTERRUPTION)
 * HOWEVER CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT
 * LIABILITY, OR TORT (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY
 * OUT OF THE USE OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF
 * SUCH DAMAGE.
 */

/*
 * Public ABI of /dev/tcpstats, shared by the kernel module and its readers.
 *
 * A read returns a stream: one struct tcpstats_header, then th_record_count
 * records of th_record_size bytes each, starting th_header_size bytes into
 * the stream.  All integers are in the kernel's native byte order (every
 * supported platform is little-endian).  A reader must stride by
 * th_record_size, not by sizeof(struct tcpstats_record): a later ABI may
 * append fields to the record, and readers built against this header keep
 * working by reading only the fields they know.  A smaller record size, or
 * an unknown th_version, must be rejected.
 *
 * Every layout fact is pinned by the _Static_assert()s at the bottom of
 * this file; changing one of them is an ABI break and requires bumping
 * TCPSTATS_ABI_VERSION.  So is a change of what a field's value means:
 *
 *	1	the first published layout.
 *	2	TCPSTATS_RF_SEQ_HIDDEN: the sequence fields of another user's
 *		connection are zero for an unprivileged reader.  The layout is
 *		version 1's, but a version-1 reader would take those zeros for
 *		sequence numbers, so it must refuse the stream instead.
 *
 * A reader may accept older versions it knows the meaning of.
 */

#ifndef _TCPSTATS_H_
#define	_TCPSTATS_H_

#if defined(_KERNEL)
#include <sys/types.h>
#else
#include <stdint.h>
#endif
#if defined(_KERNEL) || defined(__FreeBSD__)
#include <sys/ioccom.h>
#endif

#define	TCPSTATS_DEVICE_NAME	"tcpstats"	/* /dev/tcpstats */
#define	TCPSTATS_MAGIC		0x53504354U	/* "TCPS" in memory, LE */
#define	TCPSTATS_ABI_VERSION	2

/* th_flags and ti_flags. */
#define	TCPSTATS_F_TRUNCATED	0x00000001	/* records missing: see
						   th_needed_size */
#define	TCPSTATS_F_KADDR	0x00000002	/* tr_kaddr is filled in */
#define	TCPSTATS_F_FILTERED	0x00000004	/* an ioctl filter applied */
#define	TCPSTATS_F_TIMEDOUT	0x00000008	/* walk hit max_read_ms */
#define	TCPSTATS_F_ALL		0x0000000f

/* Address families in tr_family and tf_family (not AF_*: OS-neutral). */
#define	TCPSTATS_AF_INET	4
#define	TCPSTATS_AF_INET6	6

/* tr_options: negotiated TCP options (mirrors TCPI_OPT_*). */
#define	TCPSTATS_OPT_TIMESTAMPS	0x00000001
#define	TCPSTATS_OPT_SACK	0x00000002
#define	TCPSTATS_OPT_WSCALE	0x00000004
#define	TCPSTATS_OPT_ECN	0x00000008
#define	TCPSTATS_OPT_TOE	0x00000010
#define	TCPSTATS_OPT_TFO	0x00000020
#define	TCPSTATS_OPT_ACE	0x00000040

/* tr_rflags: what this record carries. */
#define	TCPSTATS_RF_HAVE_SOCKET	0x00000001	/* buffers are valid */
#define	TCPSTATS_RF_LISTEN	0x00000002	/* listening socket */
#define	TCPSTATS_RF_RTT_VALID	0x00000004	/* an RTT was measured */
#define	TCPSTATS_RF_KADDR	0x00000008	/* tr_kaddr is valid */
#define	TCPSTATS_RF_SEQ_HIDDEN	0x00000010	/* sequence numbers withheld
						   from this reader: zero */

/* A timer that is not armed. */
#define	TCPSTATS_TIMER_OFF	0xffffffffU

#define	TCPSTATS_CC_NAME_LEN	16
#define	TCPSTATS_STACK_NAME_LEN	32

/*
 * Stream header.  th_needed_size is the size of the complete stream; when
 * it is larger than what was delivered, TCPSTATS_F_TRUNCATED is set and
 * th_records_total says how many records matched.
 */
struct tcpstats_header {
	uint32_t	th_magic;		/* TCPSTATS_MAGIC */
	uint16_t	th_version;		/* TCPSTATS_ABI_VERSION */
	uint16_t	th_header_size;		/* records start here */
	uint32_t	th_record_size;		/* stride between records */
	uint32_t	th_flags;		/* TCPSTATS_F_* */
	uint64_t	th_generation;		/* ipi_gencnt at start */
	uint64_t	th_uptime_ns;		/* snapshot time, uptime ns */
	uint32_t	th_record_count;	/* records in this stream */
	uint32_t	th_records_total;	/* records that matched */
	uint64_t	th_needed_size;		/* complete stream size */
	uint32_t	th_hz;			/* kernel hz (informational) */
	uint32_t	th_spare32;
	uint64_t	th_spare64;
};

/*
 * One TCP connection.  Units are in the names: _us microseconds, _ms
 * milliseconds, bytes otherwise.  Sequence numbers are the raw values.
 * Ports are in host byte order; an IPv4 address occupies the first four
 * bytes of its 16-byte field (network order), the rest is zero.
 */
struct tcpstats_record {
	/* Identity. */
	uint64_t	tr_gencnt;		/* inp_gencnt: stable id */
	uint64_t	tr_kaddr;		/* socket address, root */
	uint8_t		tr_laddr[16];
	uint8_t		tr_faddr[16];
	uint16_t	tr_lport;
	uint16_t	tr_fport;
	uint8_t		tr_family;		/* TCPSTATS_AF_* */
	uint8_t		tr_state;		/* TCPS_* */
	uint8_t		tr_snd_wscale;
	uint8_t		tr_rcv_wscale;
	uint32_t	tr_uid;			/* socket credential's uid */
	uint32_t	tr_options;		/* TCPSTATS_OPT_* */
	uint32_t	tr_rflags;		/* TCPSTATS_RF_* */
	uint32_t	tr_mss;			/* t_maxseg */

	/* Round-trip times, microseconds. */
	uint32_t	tr_rtt_us;		/* smoothed RTT */
	uint32_t	tr_rttvar_us;		/* RTT variance */
	uint32_t	tr_rto_us;		/* current retransmit timeout */
	uint32_t	tr_rtt_min_us;		/* smallest RTT observed */

	/*
	 * Sequence space: only for a privileged reader or the connection's
	 * own user; otherwise zero and TCPSTATS_RF_SEQ_HIDDEN is set.
	 */
	uint32_t	tr_snd_una;
	uint32_t	tr_snd_nxt;
	uint32_t	tr_snd_max;
	uint32_t	tr_rcv_nxt;
	uint32_t	tr_rcv_adv;

	/* Windows, bytes. */
	uint32_t	tr_snd_cwnd;
	uint32_t	tr_snd_ssthresh;
	uint32_t	tr_snd_wnd;
	uint32_t	tr_rcv_wnd;
	uint32_t	tr_max_sndwnd;

	/* Cumulative counters over the connection's life. */
	uint32_t	tr_rexmit_pack;		/* t_sndrexmitpack */
	uint32_t	tr_ooo_pack;		/* t_rcvoopack */
	uint32_t	tr_zerowin;		/* t_sndzerowin */
	uint32_t	tr_dupacks;		/* current dup-ACK run */
	uint32_t	tr_rxtshift;		/* current backoff shift */
	uint32_t	tr_sack_holes;		/* snd_numholes */
	uint32_t	tr_rcv_numsacks;
	uint32_t	tr_dsack_bytes;
	uint32_t	tr_dsack_pack;
	uint32_t	tr_dsack_tlp_bytes;
	uint32_t	tr_tlp_pack;		/* t_sndtlppack */
	uint32_t	tr_ecn_ce_rcvd;		/* t_rcep */
	uint64_t	tr_tlp_bytes;		/* t_sndtlpbyte */
	uint64_t	tr_snd_bytes;		/* t_sndbytes */
	uint64_t	tr_snd_rxt_bytes;	/* t_snd_rxt_bytes */

	/* Timers, ms until expiry, TCPSTATS_TIMER_OFF when not armed. */
	uint32_t	tr_timer_rexmt_ms;
	uint32_t	tr_timer_persist_ms;
	uint32_t	tr_timer_keep_ms;
	uint32_t	tr_timer_2msl_ms;
	uint32_t	tr_timer_delack_ms;
	uint32_t	tr_idle_ms;		/* since last receive */

	/* Socket buffers, bytes (TCPSTATS_RF_HAVE_SOCKET). */
	uint32_t	tr_snd_buf_used;
	uint32_t	tr_snd_buf_hiwat;
	uint32_t	tr_rcv_buf_used;
	uint32_t	tr_rcv_buf_hiwat;
	uint32_t	tr_ecn_ce_sent;		/* t_scep */
	uint32_t	tr_spare32;
	int64_t		tr_pacing_rate;		/* bytes/s, -1 unlimited */

	/* NUL-terminated names. */
	char		tr_cc[TCPSTATS_CC_NAME_LEN];
	char		tr_stack[TCPSTATS_STACK_NAME_LEN];
	uint64_t	tr_spare64[2];
};

/*
 * Optional per-descriptor filter (TCPSTATS_SET_FILTER).  Only the parts
 * named in tf_flags apply; unused port slots, tf_pad and tf_spare must be
 * zero so that they can gain a meaning later.
 */
#define	TCPSTATS_FILTER_VERSION		1
#define	TCPSTATS_FILTER_MAX_PORTS	16
#define	TCPSTATS_FILTER_STATES		0x00000001
#define	TCPSTATS_FILTER_LPORTS		0x00000002
#define	TCPSTATS_FILTER_FPORTS		0x00000004
#define	TCPSTATS_FILTER_FAMILY		0x00000008
#define	TCPSTATS_FILTER_ALL		0x0000000f
#define	TCPSTATS_NSTATES		11	/* CLOSED..TIME_WAIT */
#define	TCPSTATS_STATE_MASK_ALL		((1U << TCPSTATS_NSTATES) - 1)

struct tcpstats_filter {
	uint32_t	tf_version;		/* TCPSTATS_FILTER_VERSION */
	uint32_t	tf_flags;		/* TCPSTATS_FILTER_* */
	uint32_t	tf_state_mask;		/* bit (1 << TCPS_x) */
	uint8_t		tf_family;		/* TCPSTATS_AF_* */
	uint8_t		tf_nlports;
	uint8_t		tf_nfports;
	uint8_t		tf_pad;
	uint16_t	tf_lports[TCPSTATS_FILTER_MAX_PORTS];
	uint16_t	tf_fports[TCPSTATS_FILTER_MAX_PORTS];
	uint32_t	tf_spare[2];
};

/* TCPSTATS_GET_INFO */
struct tcpstats_info {
	uint32_t	ti_abi_version;
	uint32_t	ti_header_size;
	uint32_t	ti_record_size;
	uint32_t	ti_flags;		/* TCPSTATS_F_KADDR or 0 */
	uint64_t	ti_size_hint;		/* bytes a read needs now */
	uint64_t	ti_max_bytes;		/* dev.tcpstats.max_bytes */
	uint32_t	ti_filter_max_ports;
	uint32_t	ti_spare32;
	uint64_t	ti_spare64;
};

#if defined(_KERNEL) || defined(__FreeBSD__)
#define	TCPSTATS_GET_INFO	_IOR('T', 1, struct tcpstats_info)
#define	TCPSTATS_SET_FILTER	_IOW('T', 2, struct tcpstats_filter)
#define	TCPSTATS_GET_FILTER	_IOR('T', 3, struct tcpstats_filter)
#define	TCPSTATS_CLEAR_FILTER	_IO('T', 4)
#endif

/*
 * The layout, pinned.  Readers in other languages check their constants
 * against these offsets (see tests/freebsd/tcpstats-layout.sh).
 */
#define	TCPSTATS_OFF(t, m)	__builtin_offsetof(struct t, m)
#define	TCPSTATS_PIN(t, m, o)	\
	_Static_assert(TCPSTATS_OFF(t, m) == (o), #t "." #m " offset")

_Static_assert(sizeof(struct tcpstats_header) == 64, "header size");
TCPSTATS_PIN(tcpstats_header, th_magic, 0);
TCPSTATS_PIN(tcpstats_header, th_version, 4);
TCPSTATS_PIN(tcpstats_header, th_header_size, 6);
TCPSTATS_PIN(tcpstats_header, th_record_size, 8);
TCPSTATS_PIN(tcpstats_header, th_flags, 12);
TCPSTATS_PIN(tcpstats_header, th_generation, 16);
TCPSTATS_PIN(tcpstats_header, th_uptime_ns, 24);
TCPSTATS_PIN(tcpstats_header, th_record_count, 32);
TCPSTATS_PIN(tcpstats_header, th_records_total, 36);
TCPSTATS_PIN(tcpstats_header, th_needed_size, 40);
TCPSTATS_PIN(tcpstats_header, th_hz, 48);
TCPSTATS_PIN(tcpstats_header, th_spare32, 52);
TCPSTATS_PIN(tcpstats_header, th_spare64, 56);

_Static_assert(sizeof(struct tcpstats_record) == 320, "record size");
TCPSTATS_PIN(tcpstats_record, tr_gencnt, 0);
TCPSTATS_PIN(tcpstats_record, tr_kaddr, 8);
TCPSTATS_PIN(tcpstats_record, tr_laddr, 16);
TCPSTATS_PIN(tcpstats_record, tr_faddr, 32);
TCPSTATS_PIN(tcpstats_record, tr_lport, 48);
TCPSTATS_PIN(tcpstats_record, tr_fport, 50);
TCPSTATS_PIN(tcpstats_record, tr_family, 52);
TCPSTATS_PIN(tcpstats_record, tr_state, 53);
TCPSTATS_PIN(tcpstats_record, tr_snd_wscale, 54);
TCPSTATS_PIN(tcpstats_record, tr_rcv_wscale, 55);
TCPSTATS_PIN(tcpstats_record, tr_uid, 56);
TCPSTATS_PIN(tcpstats_record, tr_options, 60);
TCPSTATS_PIN(tcpstats_record, tr_rflags, 64);
TCPSTATS_PIN(tcpstats_record, tr_mss, 68);
TCPSTATS_PIN(tcpstats_record, tr_rtt_us, 72);
TCPSTATS_PIN(tcpstats_record, tr_rttvar_us, 76);
TCPSTATS_PIN(tcpstats_record, tr_rto_us, 80);
TCPSTATS_PIN(tcpstats_record, tr_rtt_min_us, 84);
TCPSTATS_PIN(tcpstats_record, tr_snd_una, 88);
TCPSTATS_PIN(tcpstats_record, tr_snd_nxt, 92);
TCPSTATS_PIN(tcpstats_record, tr_snd_max, 96);
TCPSTATS_PIN(tcpstats_record, tr_rcv_nxt, 100);
TCPSTATS_PIN(tcpstats_record, tr_rcv_adv, 104);
TCPSTATS_PIN(tcpstats_record, tr_snd_cwnd, 108);
TCPSTATS_PIN(tcpstats_record, tr_snd_ssthresh, 112);
TCPSTATS_PIN(tcpstats_record, tr_snd_wnd, 116);
TCPSTATS_PIN(tcpstats_record, tr_rcv_wnd, 120);
TCPSTATS_PIN(tcpstats_record, tr_max_sndwnd, 124);
TCPSTATS_PIN(tcpstats_record, tr_rexmit_pack, 128);
TCPSTATS_PIN(tcpstats_record, tr_ooo_pack, 132);
TCPSTATS_PIN(tcpstats_record, tr_zerowin, 136);
TCPSTATS_PIN(tcpstats_record, tr_dupacks, 140);
TCPSTATS_PIN(tcpstats_record, tr_rxtshift, 144);
TCPSTATS_PIN(tcpstats_record, tr_sack_holes, 148);
TCPSTATS_PIN(tcpstats_record, tr_rcv_numsacks, 152);
TCPSTATS_PIN(tcpstats_record, tr_dsack_bytes, 156);
TCPSTATS_PIN(tcpstats_record, tr_dsack_pack, 160);
TCPSTATS_PIN(tcpstats_record, tr_dsack_tlp_bytes, 164);
TCPSTATS_PIN(tcpstats_record, tr_tlp_pack, 168);
TCPSTATS_PIN(tcpstats_record, tr_ecn_ce_rcvd, 172);
TCPSTATS_PIN(tcpstats_record, tr_tlp_bytes, 176);
TCPSTATS_PIN(tcpstats_record, tr_snd_bytes, 184);
TCPSTATS_PIN(tcpstats_record, tr_snd_rxt_bytes, 192);
TCPSTATS_PIN(tcpstats_record, tr_timer_rexmt_ms, 200);
TCPSTATS_PIN(tcpstats_record, tr_timer_persist_ms, 204);
TCPSTATS_PIN(tcpstats_record, tr_timer_keep_ms, 208);
TCPSTATS_PIN(tcpstats_record, tr_timer_2msl_ms, 212);
TCPSTATS_PIN(tcpstats_record, tr_timer_delack_ms, 216);
TCPSTATS_PIN(tcpstats_record, tr_idle_ms, 220);
TCPSTATS_PIN(tcpstats_record, tr_snd_buf_used, 224);
TCPSTATS_PIN(tcpstats_record, tr_snd_buf_hiwat, 228);
TCPSTATS_PIN(tcpstats_record, tr_rcv_buf_used, 232);
TCPSTATS_PIN(tcpstats_record, tr_rcv_buf_hiwat, 236);
TCPSTATS_PIN(tcpstats_record, tr_ecn_ce_sent, 240);
TCPSTATS_PIN(tcpstats_record, tr_spare32, 244);
TCPSTATS_PIN(tcpstats_record, tr_pacing_rate, 248);
TCPSTATS_PIN(tcpstats_record, tr_cc, 256);
TCPSTATS_PIN(tcpstats_record, tr_stack, 272);
TCPSTATS_PIN(tcpstats_record, tr_spare64, 304);

_Static_assert(sizeof(struct tcpstats_filter) == 88, "filter size");
TCPSTATS_PIN(tcpstats_filter, tf_version, 0);
TCPSTATS_PIN(tcpstats_filter, tf_flags, 4);
TCPSTATS_PIN(tcpstats_filter, tf_state_mask, 8);
TCPSTATS_PIN(tcpstats_filter, tf_family, 12);
TCPSTATS_PIN(tcpstats_filter, tf_nlports, 13);
TCPSTATS_PIN(tcpstats_filter, tf_nfports, 14);
TCPSTATS_PIN(tcpstats_filter, tf_pad, 15);
TCPSTATS_PIN(tcpstats_filter, tf_lports, 16);
TCPSTATS_PIN(tcpstats_filter, tf_fports, 48);
TCPSTATS_PIN(tcpstats_filter, tf_spare, 80);

_Static_assert(sizeof(struct tcpstats_info) == 48, "info size");
TCPSTATS_PIN(tcpstats_info, ti_abi_version, 0);
TCPSTATS_PIN(tcpstats_info, ti_header_size, 4);
TCPSTATS_PIN(tcpstats_info, ti_record_size, 8);
TCPSTATS_PIN(tcpstats_info, ti_flags, 12);
TCPSTATS_PIN(tcpstats_info, ti_size_hint, 16);
TCPSTATS_PIN(tcpstats_info, ti_max_bytes, 24);
TCPSTATS_PIN(tcpstats_info, ti_filter_max_ports, 32);
TCPSTATS_PIN(tcpstats_info, ti_spare32, 36);
TCPSTATS_PIN(tcpstats_info, ti_spare64, 40);

#endif /* !_TCPSTATS_H_ */
