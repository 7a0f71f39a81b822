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
 * tcpstats(4): a read-only character device that walks the TCP inpcb list
 * once per snapshot and returns, for every connection the reader may see,
 * a fixed-size record with tcp_info-level state (tcpstats.h).
 *
 * Locking: the walk holds exactly one inpcb read lock at a time (taken and
 * dropped by inp_next()) and touches no user memory.  Records go into a
 * kernel buffer allocated before the walk; uiomove(9) copies it out after
 * every inpcb lock has been released, under the per-descriptor sx lock
 * only.  Nothing in the walk allocates or sleeps.
 */

#include "opt_inet.h"
#include "opt_inet6.h"

#include <sys/param.h>
#include <sys/systm.h>
#include <sys/conf.h>
#include <sys/counter.h>
#include <sys/errno.h>
#include <sys/fcntl.h>
#include <sys/jail.h>
#include <sys/kernel.h>
#include <sys/lock.h>
#include <sys/malloc.h>
#include <sys/module.h>
#include <sys/mutex.h>
#include <sys/priv.h>
#include <sys/proc.h>
#include <sys/rwlock.h>
#include <sys/signalvar.h>
#include <sys/socket.h>
#include <sys/socketvar.h>
#include <sys/sx.h>
#include <sys/sysctl.h>
#include <sys/time.h>
#include <sys/uio.h>

#include <machine/atomic.h>

#include <net/vnet.h>

#include <netinet/in.h>
#include <netinet/in_pcb.h>
#include <netinet/in_systm.h>
#include <netinet/tcp.h>
#include <netinet/tcp_fsm.h>
#include <netinet/tcp_timer.h>
#include <netinet/tcp_var.h>
#include <netinet/cc/cc.h>

#include "tcpstats.h"
#include "tcpstats_subr.h"

/* The ABI mirrors kernel constants; catch a kernel that moved them. */
CTASSERT(TCPSTATS_NSTATES == TCP_NSTATES);
CTASSERT(TCPSTATS_CC_NAME_LEN == TCP_CA_NAME_MAX);
CTASSERT(TCPSTATS_STACK_NAME_LEN == TCP_FUNCTION_NAME_LEN_MAX);
CTASSERT(TCPSTATS_SBT_1MS == SBT_1MS);
CTASSERT(TCPSTATS_SBT_MAX == SBT_MAX);
CTASSERT(TCPSTATS_OPT_TIMESTAMPS == TCPI_OPT_TIMESTAMPS);
CTASSERT(TCPSTATS_OPT_SACK == TCPI_OPT_SACK);
CTASSERT(TCPSTATS_OPT_WSCALE == TCPI_OPT_WSCALE);
CTASSERT(TCPSTATS_OPT_ECN == TCPI_OPT_ECN);
CTASSERT(TCPSTATS_OPT_TOE == TCPI_OPT_TOE);
CTASSERT(TCPSTATS_OPT_TFO == TCPI_OPT_TFO);
CTASSERT(TCPSTATS_OPT_ACE == TCPI_OPT_ACE);
CTASSERT(sizeof(struct in6_addr) ==
    sizeof(((struct tcpstats_record *)0)->tr_laddr));

static MALLOC_DEFINE(M_TCPSTATS, "tcpstats", "tcpstats(4) snapshots");

#define	TCPSTATS_ATTEMPTS	3	/* walks per snapshot, at most */
#define	TCPSTATS_CHECK_EVERY	64	/* records between signal/time checks
					   and clock refreshes */

/* Limits, dev.tcpstats.*; each validated by tcpstats_sysctl_bounded(). */
static u_int tcpstats_max_readers = 8;
static u_int tcpstats_max_readers_per_uid = 2;
static u_int tcpstats_reserved_readers = 2;
static u_int tcpstats_max_bytes = 64 * 1024 * 1024;
static u_int tcpstats_max_read_ms = 1000;
static u_int tcpstats_snapshot_idle_ms = 10000;

struct tcpstats_bound {
	u_int	*tb_val;
	u_int	tb_min;
	u_int	tb_max;
};

static const struct tcpstats_bound tcpstats_bounds[] = {
	{ &tcpstats_max_readers, 1, 256 },
	{ &tcpstats_max_bytes, 64 * 1024, 1024 * 1024 * 1024 },
	{ &tcpstats_max_read_ms, 10, 60 * 1000 },
	{ &tcpstats_max_readers_per_uid, 1, 256 },
	{ &tcpstats_reserved_readers, 0, 256 },
	{ &tcpstats_snapshot_idle_ms, 100, 3600 * 1000 },
};

static counter_u64_t tcpstats_reads;
static counter_u64_t tcpstats_records;
static counter_u64_t tcpstats_errors;
static counter_u64_t tcpstats_truncations;
static u_int tcpstats_nreaders;		/* under tcpstats_list_lock */
static struct sx tcpstats_list_lock;
static LIST_HEAD(, tcpstats_softc) tcpstats_list =
    LIST_HEAD_INITIALIZER(tcpstats_list);
static struct sysctl_ctx_list tcpstats_sysctl_ctx;
static struct cdev *tcpstats_dev;

enum tcpstats_snap {
	SNAP_NONE,		/* nothing taken yet on this descriptor */
	SNAP_READY,		/* sc_buf holds a stream being read */
	SNAP_DONE,		/* stream read to the end and freed */
	SNAP_EXPIRED,		/* freed unread after snapshot_idle_ms */
};

/* Per open file (devfs_set_cdevpriv(9)). */
struct tcpstats_softc {
	LIST_ENTRY(tcpstats_softc) sc_link;	/* tcpstats_list */
	struct sx		sc_lock;	/* serialises read/ioctl */
	u_int			sc_last_read;	/* ticks at the last read */
	struct tcpstats_filter	sc_filter;
	bool			sc_filtered;
	bool			sc_kaddr;	/* opener may see addresses */
	bool			sc_seq_priv;	/* opener may see every
						   connection's sequence
						   numbers */
	uid_t			sc_uid;		/* opener's effective uid */
	enum tcpstats_snap	sc_state;
	char			*sc_buf;
	size_t			sc_len;
};

/* One walk's outcome. */
struct tcpstats_walk {
	uint32_t	tw_count;	/* records written */
	uint32_t	tw_total;	/* records that matched */
	uint32_t	tw_flags;	/* TCPSTATS_F_* */
	bool		tw_signal;	/* stopped: a signal may be pending */
};

static d_open_t tcpstats_open;
static d_read_t tcpstats_read;
static d_ioctl_t tcpstats_ioctl;

static struct cdevsw tcpstats_cdevsw = {
	.d_version =	D_VERSION,
	.d_open =	tcpstats_open,
	.d_read =	tcpstats_read,
	.d_ioctl =	tcpstats_ioctl,
	.d_name =	TCPSTATS_DEVICE_NAME,
};

static void
tcpstats_dtor(void *arg)
{
	struct tcpstats_softc *sc;

	sc = arg;
	sx_xlock(&tcpstats_list_lock);
	LIST_REMOVE(sc, sc_link);
	tcpstats_nreaders--;
	sx_xunlock(&tcpstats_list_lock);
	free(sc->sc_buf, M_TCPSTATS);
	sx_destroy(&sc->sc_lock);
	free(sc, M_TCPSTATS);
}

/*
 * Free the snapshots other descriptors took and left unread for
 * snapshot_idle_ms: a reader that reads one byte and sleeps must not pin
 * up to max_bytes of kernel memory.  A descriptor busy in read or ioctl is
 * skipped (try-lock: never waits under the list lock).
 */
static void
tcpstats_reclaim(struct tcpstats_softc *self)
{
	struct tcpstats_softc *sc;
	u_int idle;

	idle = atomic_load_int(&tcpstats_snapshot_idle_ms);
	sx_slock(&tcpstats_list_lock);
	LIST_FOREACH(sc, &tcpstats_list, sc_link) {
		if (sc == self || !sx_try_xlock(&sc->sc_lock))
			continue;
		if (sc->sc_state == SNAP_READY && tcpstats_snapshot_stale(
		    sc->sc_last_read, (u_int)ticks, hz, idle)) {
			free(sc->sc_buf, M_TCPSTATS);
			sc->sc_buf = NULL;
			sc->sc_len = 0;
			sc->sc_state = SNAP_EXPIRED;
		}
		sx_xunlock(&sc->sc_lock);
	}
	sx_sunlock(&tcpstats_list_lock);
}

static int
tcpstats_open(struct cdev *dev __unused, int oflags, int devtype __unused,
    struct thread *td)
{
	struct tcpstats_softc *o, *sc;
	u_int mine;
	int error;
	bool privileged;

	if ((oflags & FWRITE) != 0)
		return (EPERM);
	/* Privileged openers are exempt from the per-user limit. */
	privileged = priv_check(td, PRIV_KMEM_READ) == 0;
	sc = malloc(sizeof(*sc), M_TCPSTATS, M_WAITOK | M_ZERO);
	sx_init(&sc->sc_lock, "tcpstats");
	sc->sc_state = SNAP_NONE;
	sc->sc_uid = td->td_ucred->cr_uid;
	sc->sc_last_read = (u_int)ticks;
	tcpstats_reclaim(NULL);
	sx_xlock(&tcpstats_list_lock);
	mine = 0;
	LIST_FOREACH(o, &tcpstats_list, sc_link)
		if (o->sc_uid == sc->sc_uid)
			mine++;
	error = tcpstats_admit(privileged, tcpstats_nreaders, mine,
	    atomic_load_int(&tcpstats_max_readers),
	    atomic_load_int(&tcpstats_max_readers_per_uid),
	    atomic_load_int(&tcpstats_reserved_readers));
	if (error != 0) {
		sx_xunlock(&tcpstats_list_lock);
		sx_destroy(&sc->sc_lock);
		free(sc, M_TCPSTATS);
		counter_u64_add(tcpstats_errors, 1);
		return (error);
	}
	LIST_INSERT_HEAD(&tcpstats_list, sc, sc_link);
	tcpstats_nreaders++;
	sx_xunlock(&tcpstats_list_lock);
	/*
	 * Kernel socket addresses are only for readers that could read
	 * kernel memory anyway; the userland kern.file join needs them.
	 */
	sc->sc_kaddr = privileged;
	/*
	 * Sequence numbers let an off-path attacker inject into or reset a
	 * connection: every one only for readers that may open a raw socket
	 * (and so could read them off the wire), otherwise only for the
	 * reader's own connections.
	 */
	sc->sc_seq_priv = priv_check(td, PRIV_NETINET_RAW) == 0;
	error = devfs_set_cdevpriv(sc, tcpstats_dtor);
	if (error != 0)
		tcpstats_dtor(sc);
	return (error);
}

static void
tcpstats_key(const struct inpcb *inp, const struct tcpcb *tp,
    struct tcpstats_key *k)
{

	k->tk_family = (inp->inp_vflag & INP_IPV6) != 0 ?
	    TCPSTATS_AF_INET6 : TCPSTATS_AF_INET;
	k->tk_state = tp->t_state;
	k->tk_lport = ntohs(inp->inp_lport);
	k->tk_fport = ntohs(inp->inp_fport);
}

static const char *
tcpstats_cc_name(const struct tcpcb *tp)
{

	/* A discarded tcpcb has been detached from its algorithm. */
	return (CC_ALGO(tp) != NULL ? CC_ALGO(tp)->name : "");
}

/* Called with the inpcb read-locked; no sleeping, no user memory. */
static void
tcpstats_fill(struct tcpstats_record *tr, struct inpcb *inp,
    const struct tcpstats_key *k, const struct tcpstats_softc *sc,
    sbintime_t now, u_int nticks)
{
	struct tcpcb *tp;
	struct socket *so;
	bool usec;

	INP_LOCK_ASSERT(inp);
	tp = intotcpcb(inp);
	so = inp->inp_socket;

	memset(tr, 0, sizeof(*tr));
	tr->tr_gencnt = inp->inp_gencnt;
	if (k->tk_family == TCPSTATS_AF_INET6) {
		memcpy(tr->tr_laddr, &inp->in6p_laddr, sizeof(tr->tr_laddr));
		memcpy(tr->tr_faddr, &inp->in6p_faddr, sizeof(tr->tr_faddr));
	} else {
		memcpy(tr->tr_laddr, &inp->inp_laddr, sizeof(struct in_addr));
		memcpy(tr->tr_faddr, &inp->inp_faddr, sizeof(struct in_addr));
	}
	tr->tr_lport = k->tk_lport;
	tr->tr_fport = k->tk_fport;
	tr->tr_family = k->tk_family;
	tr->tr_state = k->tk_state;
	tr->tr_uid = inp->inp_cred->cr_uid;
	if (sc->sc_kaddr && so != NULL) {
		tr->tr_kaddr = (uint64_t)(uintptr_t)so;
		tr->tr_rflags |= TCPSTATS_RF_KADDR;
	}

	if ((tp->t_flags & (TF_REQ_TSTMP | TF_RCVD_TSTMP)) ==
	    (TF_REQ_TSTMP | TF_RCVD_TSTMP))
		tr->tr_options |= TCPSTATS_OPT_TIMESTAMPS;
	if ((tp->t_flags & TF_SACK_PERMIT) != 0)
		tr->tr_options |= TCPSTATS_OPT_SACK;
	if ((tp->t_flags & (TF_REQ_SCALE | TF_RCVD_SCALE)) ==
	    (TF_REQ_SCALE | TF_RCVD_SCALE)) {
		tr->tr_options |= TCPSTATS_OPT_WSCALE;
		tr->tr_snd_wscale = tp->snd_scale;
		tr->tr_rcv_wscale = tp->rcv_scale;
	}
	if ((tp->t_flags2 & TF2_ACE_PERMIT) != 0)
		tr->tr_options |= TCPSTATS_OPT_ACE;
	else if ((tp->t_flags2 & TF2_ECN_PERMIT) != 0)
		tr->tr_options |= TCPSTATS_OPT_ECN;
	if ((tp->t_flags & TF_TOE) != 0)
		tr->tr_options |= TCPSTATS_OPT_TOE;
	if ((tp->t_flags & TF_FASTOPEN) != 0)
		tr->tr_options |= TCPSTATS_OPT_TFO;
	tr->tr_mss = tp->t_maxseg;

	/* t_tmr_granularity says whether these are ticks or microseconds. */
	usec = tp->t_tmr_granularity == TCP_TMR_GRANULARITY_USEC;
	if (tp->t_srtt != 0)
		tr->tr_rflags |= TCPSTATS_RF_RTT_VALID;
	tr->tr_rtt_us = tcpstats_rtt_us(tp->t_srtt, usec, TCP_RTT_SHIFT, tick);
	tr->tr_rttvar_us = tcpstats_rtt_us(tp->t_rttvar, usec,
	    TCP_RTTVAR_SHIFT, tick);
	tr->tr_rto_us = tcpstats_rtt_us(tp->t_rxtcur, usec, 0, tick);
	tr->tr_rtt_min_us = tcpstats_rttlow_us(tp->t_rttlow, usec,
	    (tr->tr_options & TCPSTATS_OPT_TIMESTAMPS) != 0, tick);

	if (tcpstats_seq_visible(sc->sc_seq_priv, sc->sc_uid, tr->tr_uid)) {
		tr->tr_snd_una = tp->snd_una;
		tr->tr_snd_nxt = tp->snd_nxt;
		tr->tr_snd_max = tp->snd_max;
		tr->tr_rcv_nxt = tp->rcv_nxt;
		tr->tr_rcv_adv = tp->rcv_adv;
	} else
		tr->tr_rflags |= TCPSTATS_RF_SEQ_HIDDEN;

	tr->tr_snd_cwnd = tp->snd_cwnd;
	tr->tr_snd_ssthresh = tp->snd_ssthresh;
	tr->tr_snd_wnd = tp->snd_wnd;
	tr->tr_rcv_wnd = tp->rcv_wnd;
	tr->tr_max_sndwnd = tp->max_sndwnd;

	tr->tr_rexmit_pack = tp->t_sndrexmitpack;
	tr->tr_ooo_pack = tp->t_rcvoopack;
	tr->tr_zerowin = tp->t_sndzerowin;
	tr->tr_dupacks = tp->t_dupacks;
	tr->tr_rxtshift = tp->t_rxtshift;
	tr->tr_sack_holes = tp->snd_numholes;
	tr->tr_rcv_numsacks = tp->rcv_numsacks;
	tr->tr_dsack_bytes = tp->t_dsack_bytes;
	tr->tr_dsack_pack = tp->t_dsack_pack;
	tr->tr_dsack_tlp_bytes = tp->t_dsack_tlp_bytes;
	tr->tr_tlp_pack = tp->t_sndtlppack;
	tr->tr_ecn_ce_rcvd = tp->t_rcep;
	tr->tr_ecn_ce_sent = tp->t_scep;
	tr->tr_tlp_bytes = tp->t_sndtlpbyte;
	tr->tr_snd_bytes = tp->t_sndbytes;
	tr->tr_snd_rxt_bytes = tp->t_snd_rxt_bytes;
	tr->tr_pacing_rate = tp->t_pacing_rate;

	tr->tr_timer_rexmt_ms = tcpstats_timer_ms(tp->t_timers[TT_REXMT], now);
	tr->tr_timer_persist_ms = tcpstats_timer_ms(tp->t_timers[TT_PERSIST],
	    now);
	tr->tr_timer_keep_ms = tcpstats_timer_ms(tp->t_timers[TT_KEEP], now);
	tr->tr_timer_2msl_ms = tcpstats_timer_ms(tp->t_timers[TT_2MSL], now);
	tr->tr_timer_delack_ms = tcpstats_timer_ms(tp->t_timers[TT_DELACK],
	    now);
	tr->tr_idle_ms = tcpstats_ticks_ms(nticks - tp->t_rcvtime, hz);

	if (so != NULL) {
		tr->tr_rflags |= TCPSTATS_RF_HAVE_SOCKET;
		/* A listening socket's buffers are a union with its queues. */
		if (SOLISTENING(so)) {
			tr->tr_rflags |= TCPSTATS_RF_LISTEN;
			tr->tr_snd_buf_hiwat = so->sol_sbsnd_hiwat;
			tr->tr_rcv_buf_hiwat = so->sol_sbrcv_hiwat;
		} else {
			tr->tr_snd_buf_used = sbused(&so->so_snd);
			tr->tr_snd_buf_hiwat = so->so_snd.sb_hiwat;
			tr->tr_rcv_buf_used = sbused(&so->so_rcv);
			tr->tr_rcv_buf_hiwat = so->so_rcv.sb_hiwat;
		}
	}

	tcpstats_copy_name(tr->tr_cc, sizeof(tr->tr_cc), tcpstats_cc_name(tp),
	    TCP_CA_NAME_MAX);
	if (tp->t_fb != NULL)
		tcpstats_copy_name(tr->tr_stack, sizeof(tr->tr_stack),
		    tp->t_fb->tfb_tcp_block_name, TCP_FUNCTION_NAME_LEN_MAX);
}

/*
 * One pass over the TCP inpcb list into buf (cap bytes, header included).
 * Matching records that do not fit are counted, not written.  Stops early,
 * releasing the current inpcb lock, when the time budget is spent or a
 * signal looks pending; the caller sorts out which.
 */
static void
tcpstats_walk(struct tcpstats_softc *sc, struct thread *td, char *buf,
    size_t cap, struct tcpstats_walk *tw)
{
	struct inpcb_iterator inpi = INP_ALL_ITERATOR(&V_tcbinfo,
	    INPLOOKUP_RLOCKPCB);
	struct tcpstats_header *th;
	struct tcpstats_record *tr;
	struct tcpstats_key k;
	struct inpcb *inp;
	sbintime_t now;
	uint64_t gen, budget;
	uint32_t maxrec, seen;
	u_int start;

	memset(tw, 0, sizeof(*tw));
	maxrec = (cap - sizeof(*th)) / sizeof(*tr);
	budget = (uint64_t)atomic_load_int(&tcpstats_max_read_ms) * hz / 1000;
	if (budget == 0)
		budget = 1;
	if (sc->sc_filtered)
		tw->tw_flags |= TCPSTATS_F_FILTERED;
	if (sc->sc_kaddr)
		tw->tw_flags |= TCPSTATS_F_KADDR;

	now = getsbinuptime();
	start = ticks;
	gen = V_tcbinfo.ipi_gencnt;
	th = (struct tcpstats_header *)buf;
	tcpstats_header_init(th, gen, sbttons(now), hz);

	seen = 0;
	while ((inp = inp_next(&inpi)) != NULL) {
		if (++seen % TCPSTATS_CHECK_EVERY == 0) {
			/*
			 * A long walk takes a while: timers are measured
			 * from a clock at most this many records old.
			 */
			now = getsbinuptime();
			if (td_ast_pending(td, TDA_SIG)) {
				INP_RUNLOCK(inp);
				tw->tw_signal = true;
				break;
			}
			if ((u_int)ticks - start > budget) {
				INP_RUNLOCK(inp);
				tw->tw_flags |= TCPSTATS_F_TIMEDOUT;
				break;
			}
		}
		/* Born after the walk began: not part of this generation. */
		if (inp->inp_gencnt > gen)
			continue;
		tcpstats_key(inp, intotcpcb(inp), &k);
		if (sc->sc_filtered && !tcpstats_filter_match(&sc->sc_filter,
		    &k))
			continue;
		if (cr_canseeinpcb(td->td_ucred, inp) != 0)
			continue;
		if (tw->tw_total < UINT32_MAX)
			tw->tw_total++;
		if (tw->tw_count < maxrec) {
			tr = (struct tcpstats_record *)(buf + sizeof(*th)) +
			    tw->tw_count;
			tcpstats_fill(tr, inp, &k, sc, now,
			    (u_int)ticks);
			tw->tw_count++;
		}
	}
	tcpstats_header_finish(th, tw->tw_count, tw->tw_total, tw->tw_flags);
	tw->tw_flags = th->th_flags;
}

static uint64_t
tcpstats_hint(struct thread *td)
{
	u_int n;

	CURVNET_SET(TD_TO_VNET(td));
	n = V_tcbinfo.ipi_count;	/* unlocked: a hint */
	CURVNET_RESTORE();
	return (tcpstats_size_hint(n));
}

/* Size a buffer for want bytes within the limit, in whole records. */
static size_t
tcpstats_cap(uint64_t want)
{
	uint64_t cap;

	cap = MIN(want, atomic_load_int(&tcpstats_max_bytes));
	cap = MAX(cap, sizeof(struct tcpstats_header));
	cap -= (cap - sizeof(struct tcpstats_header)) %
	    sizeof(struct tcpstats_record);
	return ((size_t)cap);
}

/*
 * Take a snapshot into sc->sc_buf.  A walk that ran out of room is redone
 * with a buffer sized from what it counted (the table grew since the
 * hint), at most TCPSTATS_ATTEMPTS times and never beyond max_bytes; what
 * still does not fit is reported in the header, not dropped silently.
 */
static int
tcpstats_snapshot(struct tcpstats_softc *sc, struct thread *td)
{
	struct tcpstats_walk tw;
	uint64_t want;
	size_t cap;
	char *buf;
	int attempt, error;

	free(sc->sc_buf, M_TCPSTATS);
	sc->sc_buf = NULL;
	sc->sc_len = 0;
	sc->sc_state = SNAP_NONE;

	want = tcpstats_hint(td);
	for (attempt = 1;; attempt++) {
		cap = tcpstats_cap(want);
		buf = malloc(cap, M_TCPSTATS, M_WAITOK);
		CURVNET_SET(TD_TO_VNET(td));
		tcpstats_walk(sc, td, buf, cap, &tw);
		CURVNET_RESTORE();
		if (tw.tw_signal) {
			/*
			 * The walk stopped part way, so this buffer must not
			 * be delivered: it would look complete.
			 */
			free(buf, M_TCPSTATS);
			error = sig_intr();
			if (error != 0)
				return (error);
			if (attempt == TCPSTATS_ATTEMPTS)
				return (EINTR);
			continue;
		}
		if ((tw.tw_flags & TCPSTATS_F_TRUNCATED) == 0 ||
		    (tw.tw_flags & TCPSTATS_F_TIMEDOUT) != 0 ||
		    want >= atomic_load_int(&tcpstats_max_bytes) ||
		    attempt == TCPSTATS_ATTEMPTS)
			break;
		/* The table grew since the hint: size from what was counted. */
		want = tcpstats_size_hint(tw.tw_total);
		free(buf, M_TCPSTATS);
	}
	if ((tw.tw_flags & (TCPSTATS_F_TRUNCATED | TCPSTATS_F_TIMEDOUT)) != 0)
		counter_u64_add(tcpstats_truncations, 1);
	counter_u64_add(tcpstats_records, tw.tw_count);
	sc->sc_buf = buf;
	sc->sc_len = sizeof(struct tcpstats_header) +
	    (size_t)tw.tw_count * sizeof(struct tcpstats_record);
	sc->sc_state = SNAP_READY;
	return (0);
}

/*
 * A read at offset 0 takes a new snapshot; later offsets continue the
 * same one, so cat(1) and short reads see one consistent stream.  The
 * stream ends (read returns 0) at its last byte.
 */
static int
tcpstats_read(struct cdev *dev __unused, struct uio *uio, int ioflag __unused)
{
	struct tcpstats_softc *sc;
	size_t off, n;
	int error;

	error = devfs_get_cdevpriv((void **)&sc);
	if (error != 0)
		return (error);
	if (uio->uio_offset < 0)
		return (EINVAL);
	error = sx_xlock_sig(&sc->sc_lock);
	if (error != 0)
		return (error);
	sc->sc_last_read = (u_int)ticks;
	if (uio->uio_offset != 0 && sc->sc_state == SNAP_EXPIRED) {
		/* The rest of that stream is gone; start again at 0. */
		error = ETIMEDOUT;
		goto out;
	}
	if (uio->uio_offset == 0 || sc->sc_state == SNAP_NONE) {
		tcpstats_reclaim(sc);
		error = tcpstats_snapshot(sc, uio->uio_td);
		if (error != 0)
			goto out;
		counter_u64_add(tcpstats_reads, 1);
	}
	if (sc->sc_state != SNAP_READY ||
	    (uint64_t)uio->uio_offset >= sc->sc_len)
		goto out;
	off = (size_t)uio->uio_offset;
	n = MIN((size_t)uio->uio_resid, sc->sc_len - off);
	/* Only the sx lock is held here: faulting on user memory is fine. */
	error = uiomove(sc->sc_buf + off, n, uio);
	if (error == 0 && off + n == sc->sc_len) {
		free(sc->sc_buf, M_TCPSTATS);
		sc->sc_buf = NULL;
		sc->sc_len = 0;
		sc->sc_state = SNAP_DONE;
	}
out:
	if (error != 0)
		counter_u64_add(tcpstats_errors, 1);
	sx_xunlock(&sc->sc_lock);
	return (error);
}

static int
tcpstats_ioctl(struct cdev *dev __unused, u_long cmd, caddr_t data,
    int fflag __unused, struct thread *td)
{
	struct tcpstats_softc *sc;
	struct tcpstats_filter *f;
	struct tcpstats_info *ti;
	int error;

	error = devfs_get_cdevpriv((void **)&sc);
	if (error != 0)
		return (error);
	/* data is a kernel copy made by the ioctl layer. */
	switch (cmd) {
	case TCPSTATS_GET_INFO:
		ti = (struct tcpstats_info *)data;
		memset(ti, 0, sizeof(*ti));
		ti->ti_abi_version = TCPSTATS_ABI_VERSION;
		ti->ti_header_size = sizeof(struct tcpstats_header);
		ti->ti_record_size = sizeof(struct tcpstats_record);
		ti->ti_flags = sc->sc_kaddr ? TCPSTATS_F_KADDR : 0;
		ti->ti_size_hint = tcpstats_hint(td);
		ti->ti_max_bytes = atomic_load_int(&tcpstats_max_bytes);
		ti->ti_filter_max_ports = TCPSTATS_FILTER_MAX_PORTS;
		return (0);
	case TCPSTATS_SET_FILTER:
		f = (struct tcpstats_filter *)data;
		error = tcpstats_filter_validate(f);
		if (error != 0)
			break;
		error = sx_xlock_sig(&sc->sc_lock);
		if (error != 0)
			return (error);
		sc->sc_filter = *f;
		sc->sc_filtered = true;
		sx_xunlock(&sc->sc_lock);
		return (0);
	case TCPSTATS_GET_FILTER:
		f = (struct tcpstats_filter *)data;
		error = sx_slock_sig(&sc->sc_lock);
		if (error != 0)
			return (error);
		if (sc->sc_filtered)
			*f = sc->sc_filter;
		else {
			memset(f, 0, sizeof(*f));
			f->tf_version = TCPSTATS_FILTER_VERSION;
		}
		sx_sunlock(&sc->sc_lock);
		return (0);
	case TCPSTATS_CLEAR_FILTER:
		error = sx_xlock_sig(&sc->sc_lock);
		if (error != 0)
			return (error);
		memset(&sc->sc_filter, 0, sizeof(sc->sc_filter));
		sc->sc_filtered = false;
		sx_xunlock(&sc->sc_lock);
		return (0);
	default:
		return (ENOTTY);
	}
	counter_u64_add(tcpstats_errors, 1);
	return (error);
}

static int
tcpstats_sysctl_bounded(SYSCTL_HANDLER_ARGS)
{
	const struct tcpstats_bound *tb;
	u_int v;
	int error;

	tb = arg1;
	v = atomic_load_int(tb->tb_val);
	error = sysctl_handle_int(oidp, &v, 0, req);
	if (error != 0 || req->newptr == NULL)
		return (error);
	if (v < tb->tb_min || v > tb->tb_max)
		return (EINVAL);
	atomic_store_int(tb->tb_val, v);
	return (0);
}

static void
tcpstats_sysctl_init(void)
{
	struct sysctl_oid_list *children;
	struct sysctl_oid *oid;

	sysctl_ctx_init(&tcpstats_sysctl_ctx);
	oid = SYSCTL_ADD_NODE(&tcpstats_sysctl_ctx,
	    SYSCTL_STATIC_CHILDREN(_dev), OID_AUTO, "tcpstats",
	    CTLFLAG_RD | CTLFLAG_MPSAFE, NULL,
	    "tcpstats(4) TCP connection snapshots");
	children = SYSCTL_CHILDREN(oid);
	SYSCTL_ADD_COUNTER_U64(&tcpstats_sysctl_ctx, children, OID_AUTO,
	    "reads", CTLFLAG_RD, &tcpstats_reads, "Snapshots taken");
	SYSCTL_ADD_COUNTER_U64(&tcpstats_sysctl_ctx, children, OID_AUTO,
	    "records", CTLFLAG_RD, &tcpstats_records, "Records delivered");
	SYSCTL_ADD_COUNTER_U64(&tcpstats_sysctl_ctx, children, OID_AUTO,
	    "errors", CTLFLAG_RD, &tcpstats_errors,
	    "Failed opens, reads and ioctls");
	SYSCTL_ADD_COUNTER_U64(&tcpstats_sysctl_ctx, children, OID_AUTO,
	    "truncations", CTLFLAG_RD, &tcpstats_truncations,
	    "Snapshots flagged truncated or timed out");
	SYSCTL_ADD_UINT(&tcpstats_sysctl_ctx, children, OID_AUTO, "readers",
	    CTLFLAG_RD, &tcpstats_nreaders, 0, "Open descriptors");
	SYSCTL_ADD_PROC(&tcpstats_sysctl_ctx, children, OID_AUTO,
	    "max_readers", CTLTYPE_UINT | CTLFLAG_RWTUN | CTLFLAG_MPSAFE,
	    __DECONST(void *, &tcpstats_bounds[0]), 0,
	    tcpstats_sysctl_bounded, "IU", "Open descriptors allowed (1-256)");
	SYSCTL_ADD_PROC(&tcpstats_sysctl_ctx, children, OID_AUTO,
	    "max_readers_per_uid", CTLTYPE_UINT | CTLFLAG_RWTUN | CTLFLAG_MPSAFE,
	    __DECONST(void *, &tcpstats_bounds[3]), 0,
	    tcpstats_sysctl_bounded, "IU",
	    "Open descriptors per unprivileged user (1-256)");
	SYSCTL_ADD_PROC(&tcpstats_sysctl_ctx, children, OID_AUTO,
	    "reserved_readers", CTLTYPE_UINT | CTLFLAG_RWTUN | CTLFLAG_MPSAFE,
	    __DECONST(void *, &tcpstats_bounds[4]), 0,
	    tcpstats_sysctl_bounded, "IU",
	    "Of max_readers, kept for privileged openers (0-256)");
	SYSCTL_ADD_PROC(&tcpstats_sysctl_ctx, children, OID_AUTO,
	    "snapshot_idle_ms", CTLTYPE_UINT | CTLFLAG_RWTUN | CTLFLAG_MPSAFE,
	    __DECONST(void *, &tcpstats_bounds[5]), 0,
	    tcpstats_sysctl_bounded, "IU",
	    "Free a snapshot left unread this long, ms (100-3600000)");
	SYSCTL_ADD_PROC(&tcpstats_sysctl_ctx, children, OID_AUTO,
	    "max_bytes", CTLTYPE_UINT | CTLFLAG_RWTUN | CTLFLAG_MPSAFE,
	    __DECONST(void *, &tcpstats_bounds[1]), 0,
	    tcpstats_sysctl_bounded, "IU",
	    "Largest snapshot per descriptor, bytes (64 KiB-1 GiB)");
	SYSCTL_ADD_PROC(&tcpstats_sysctl_ctx, children, OID_AUTO,
	    "max_read_ms", CTLTYPE_UINT | CTLFLAG_RWTUN | CTLFLAG_MPSAFE,
	    __DECONST(void *, &tcpstats_bounds[2]), 0,
	    tcpstats_sysctl_bounded, "IU",
	    "Time budget of one walk, ms (10-60000)");
}

static void
tcpstats_counters_free(void)
{

	counter_u64_free(tcpstats_reads);
	counter_u64_free(tcpstats_records);
	counter_u64_free(tcpstats_errors);
	counter_u64_free(tcpstats_truncations);
}

static int
tcpstats_modevent(module_t mod __unused, int type, void *data __unused)
{
	struct make_dev_args args;
	int error;

	switch (type) {
	case MOD_LOAD:
		sx_init(&tcpstats_list_lock, "tcpstats readers");
		tcpstats_reads = counter_u64_alloc(M_WAITOK);
		tcpstats_records = counter_u64_alloc(M_WAITOK);
		tcpstats_errors = counter_u64_alloc(M_WAITOK);
		tcpstats_truncations = counter_u64_alloc(M_WAITOK);
		/* Counters exist before anything can reach them. */
		tcpstats_sysctl_init();
		make_dev_args_init(&args);
		args.mda_flags = MAKEDEV_WAITOK | MAKEDEV_CHECKNAME;
		args.mda_devsw = &tcpstats_cdevsw;
		args.mda_uid = UID_ROOT;
		args.mda_gid = GID_WHEEL;
		args.mda_mode = 0444;
		error = make_dev_s(&args, &tcpstats_dev, TCPSTATS_DEVICE_NAME);
		if (error != 0) {
			sysctl_ctx_free(&tcpstats_sysctl_ctx);
			tcpstats_counters_free();
			sx_destroy(&tcpstats_list_lock);
		}
		return (error);
	case MOD_UNLOAD:
		/*
		 * destroy_dev(9) waits for every thread inside our methods
		 * and runs the cdevpriv destructor of every open descriptor,
		 * so nothing can reach the counters once it returns.
		 */
		destroy_dev(tcpstats_dev);
		tcpstats_dev = NULL;
		sysctl_ctx_free(&tcpstats_sysctl_ctx);
		tcpstats_counters_free();
		sx_destroy(&tcpstats_list_lock);
		return (0);
	case MOD_SHUTDOWN:
		return (0);
	default:
		return (EOPNOTSUPP);
	}
}

DEV_MODULE(tcpstats, tcpstats_modevent, NULL);
MODULE_VERSION(tcpstats, TCPSTATS_ABI_VERSION);
