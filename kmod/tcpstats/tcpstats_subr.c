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
 * Pure helpers for tcpstats(4); see tcpstats_subr.h.  Nothing here may
 * sleep, allocate or look at kernel globals: the caller passes hz, tick
 * and the current time in, so that the same code runs under the inpcb
 * lock and in userland tests.
 */

#if defined(_KERNEL)
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/errno.h>
#else
#include <errno.h>
#include <string.h>
#endif

#include "tcpstats_subr.h"

static bool
ports_valid(uint8_t n, const uint16_t *ports, bool active)
{
	unsigned i;

	if (active ? (n == 0 || n > TCPSTATS_FILTER_MAX_PORTS) : n != 0)
		return (false);
	/* Unused slots must be zero so they can gain a meaning later. */
	for (i = n; i < TCPSTATS_FILTER_MAX_PORTS; i++)
		if (ports[i] != 0)
			return (false);
	return (true);
}

/*
 * Returns 0 if the filter is well formed, EINVAL otherwise.  A part that
 * is switched off must be all zero; a part that is on must be able to
 * match something.
 */
int
tcpstats_filter_validate(const struct tcpstats_filter *f)
{

	if (f->tf_version != TCPSTATS_FILTER_VERSION)
		return (EINVAL);
	if ((f->tf_flags & ~(uint32_t)TCPSTATS_FILTER_ALL) != 0)
		return (EINVAL);
	if (f->tf_pad != 0 || f->tf_spare[0] != 0 || f->tf_spare[1] != 0)
		return (EINVAL);
	if ((f->tf_flags & TCPSTATS_FILTER_STATES) != 0) {
		if (f->tf_state_mask == 0 ||
		    (f->tf_state_mask & ~TCPSTATS_STATE_MASK_ALL) != 0)
			return (EINVAL);
	} else if (f->tf_state_mask != 0)
		return (EINVAL);
	if ((f->tf_flags & TCPSTATS_FILTER_FAMILY) != 0) {
		if (f->tf_family != TCPSTATS_AF_INET &&
		    f->tf_family != TCPSTATS_AF_INET6)
			return (EINVAL);
	} else if (f->tf_family != 0)
		return (EINVAL);
	if (!ports_valid(f->tf_nlports, f->tf_lports,
	    (f->tf_flags & TCPSTATS_FILTER_LPORTS) != 0))
		return (EINVAL);
	if (!ports_valid(f->tf_nfports, f->tf_fports,
	    (f->tf_flags & TCPSTATS_FILTER_FPORTS) != 0))
		return (EINVAL);
	return (0);
}

static bool
port_in(uint16_t port, const uint16_t *ports, uint8_t n)
{
	unsigned i;

	for (i = 0; i < n && i < TCPSTATS_FILTER_MAX_PORTS; i++)
		if (ports[i] == port)
			return (true);
	return (false);
}

/* The filter must have passed tcpstats_filter_validate(). */
bool
tcpstats_filter_match(const struct tcpstats_filter *f,
    const struct tcpstats_key *k)
{

	if ((f->tf_flags & TCPSTATS_FILTER_STATES) != 0 &&
	    (k->tk_state >= TCPSTATS_NSTATES ||
	    (f->tf_state_mask & (1U << k->tk_state)) == 0))
		return (false);
	if ((f->tf_flags & TCPSTATS_FILTER_FAMILY) != 0 &&
	    k->tk_family != f->tf_family)
		return (false);
	if ((f->tf_flags & TCPSTATS_FILTER_LPORTS) != 0 &&
	    !port_in(k->tk_lport, f->tf_lports, f->tf_nlports))
		return (false);
	if ((f->tf_flags & TCPSTATS_FILTER_FPORTS) != 0 &&
	    !port_in(k->tk_fport, f->tf_fports, f->tf_nfports))
		return (false);
	return (true);
}

static uint32_t
sat32(uint64_t v)
{

	return (v > UINT32_MAX ? UINT32_MAX : (uint32_t)v);
}

/*
 * An RTT-like tcpcb value in microseconds.  The base stack keeps t_srtt
 * and t_rttvar in ticks scaled by TCP_RTT_SCALE / TCP_RTTVAR_SCALE (pass
 * the matching shift) and t_rxtcur / t_rttlow in plain ticks (shift 0);
 * stacks that set t_tmr_granularity to TCP_TMR_GRANULARITY_USEC (RACK,
 * BBR) keep all of them in unscaled microseconds.
 */
uint32_t
tcpstats_rtt_us(int64_t raw, bool usec_granularity, unsigned shift,
    uint32_t us_per_tick)
{
	uint64_t v;

	if (raw <= 0)
		return (0);
	if (usec_granularity)
		return (sat32((uint64_t)raw));
	if (shift > 31)
		return (0);
	/* raw < 2^31 for an int field and us_per_tick < 2^32: no overflow. */
	if ((uint64_t)raw > UINT32_MAX)
		return (UINT32_MAX);
	v = (uint64_t)raw * us_per_tick;
	return (sat32(v >> shift));
}

/*
 * t_rttlow in microseconds.  The base stack records it from the timestamp
 * echo in milliseconds (tcp_ts_getticks()) when timestamps are in use and
 * in ticks otherwise; microsecond-granularity stacks keep microseconds.
 */
uint32_t
tcpstats_rttlow_us(int64_t raw, bool usec_granularity, bool ts_ms,
    uint32_t us_per_tick)
{

	if (usec_granularity)
		return (tcpstats_rtt_us(raw, true, 0, 0));
	return (tcpstats_rtt_us(raw, false, 0, ts_ms ? 1000 : us_per_tick));
}

/*
 * Milliseconds until an absolute sbintime_t deadline (t_timers[]); a timer
 * at SBT_MAX is not armed.  An armed timer never reports
 * TCPSTATS_TIMER_OFF.  Time left is rounded up, so a timer less than 1 ms
 * from expiry reads 1, not 0; only a timer already due reads 0.
 */
uint32_t
tcpstats_timer_ms(int64_t expiry_sbt, int64_t now_sbt)
{
	uint64_t left, ms;

	if (expiry_sbt == TCPSTATS_SBT_MAX)
		return (TCPSTATS_TIMER_OFF);
	if (expiry_sbt <= now_sbt)
		return (0);
	left = (uint64_t)expiry_sbt - (uint64_t)now_sbt;
	ms = left / (uint64_t)TCPSTATS_SBT_1MS +
	    (left % (uint64_t)TCPSTATS_SBT_1MS != 0 ? 1 : 0);
	return (ms >= TCPSTATS_TIMER_OFF ? TCPSTATS_TIMER_OFF - 1 :
	    (uint32_t)ms);
}

/* A tick difference (already wrapped as unsigned) in milliseconds. */
uint32_t
tcpstats_ticks_ms(uint32_t delta_ticks, uint32_t hz)
{

	if (hz == 0)
		return (0);
	return (sat32((uint64_t)delta_ticks * 1000 / hz));
}

/*
 * Whether one more descriptor may be opened: 0 or EBUSY.  Every opener
 * counts against max_readers; an unprivileged one must also leave
 * `reserved` of them free for privileged openers (the agent running as
 * root is never locked out by other users), and may hold at most
 * max_per_uid at once itself.
 */
int
tcpstats_admit(bool privileged, uint32_t open_total, uint32_t open_by_uid,
    uint32_t max_readers, uint32_t max_per_uid, uint32_t reserved)
{

	if (open_total >= max_readers)
		return (EBUSY);
	if (privileged)
		return (0);
	if ((uint64_t)open_total + reserved >= max_readers)
		return (EBUSY);
	if (open_by_uid >= max_per_uid)
		return (EBUSY);
	return (0);
}

/*
 * Whether a snapshot last read at last_ticks has waited idle_ms or more by
 * now_ticks (the tick counter wraps; the unsigned difference does not
 * care).
 */
bool
tcpstats_snapshot_stale(uint32_t last_ticks, uint32_t now_ticks, uint32_t hz,
    uint32_t idle_ms)
{

	if (hz == 0)
		return (false);
	return ((uint64_t)(uint32_t)(now_ticks - last_ticks) * 1000 / hz >=
	    idle_ms);
}

/*
 * Whether a reader may see a connection's sequence numbers.  They are what
 * an off-path attacker needs to inject data into or reset a connection,
 * and pcblist does not export them: only a reader privileged to see the
 * wire anyway, or the user owning the connection, gets them.
 */
bool
tcpstats_seq_visible(bool privileged, uint32_t reader_uid, uint32_t owner_uid)
{

	return (privileged || reader_uid == owner_uid);
}

/* Bytes of a stream with nrecords records; EFBIG if it cannot exist. */
int
tcpstats_stream_size(uint64_t nrecords, uint64_t *sizep)
{

	if (nrecords > (UINT64_MAX - sizeof(struct tcpstats_header)) /
	    sizeof(struct tcpstats_record))
		return (EFBIG);
	*sizep = sizeof(struct tcpstats_header) +
	    nrecords * sizeof(struct tcpstats_record);
	return (0);
}

/*
 * What to tell a reader to allocate for nsockets, with headroom for
 * connections opened between the hint and the read: 1/8 plus 16.
 */
uint64_t
tcpstats_size_hint(uint64_t nsockets)
{
	uint64_t n, size;

	if (nsockets > UINT32_MAX)
		nsockets = UINT32_MAX;
	n = nsockets + nsockets / 8 + 16;
	if (tcpstats_stream_size(n, &size) != 0)
		return (UINT64_MAX);
	return (size);
}

void
tcpstats_header_init(struct tcpstats_header *th, uint64_t generation,
    uint64_t uptime_ns, uint32_t hz)
{

	memset(th, 0, sizeof(*th));
	th->th_magic = TCPSTATS_MAGIC;
	th->th_version = TCPSTATS_ABI_VERSION;
	th->th_header_size = sizeof(struct tcpstats_header);
	th->th_record_size = sizeof(struct tcpstats_record);
	th->th_generation = generation;
	th->th_uptime_ns = uptime_ns;
	th->th_hz = hz;
}

/*
 * Seal the header: count records were delivered out of total that
 * matched.  Delivering fewer than matched always sets
 * TCPSTATS_F_TRUNCATED, whatever the caller passed.
 */
void
tcpstats_header_finish(struct tcpstats_header *th, uint32_t count,
    uint32_t total, uint32_t flags)
{
	uint64_t need;

	if (total < count)
		total = count;
	if (total > count)
		flags |= TCPSTATS_F_TRUNCATED;
	if (tcpstats_stream_size(total, &need) != 0)
		need = UINT64_MAX;
	th->th_record_count = count;
	th->th_records_total = total;
	th->th_needed_size = need;
	th->th_flags = flags & TCPSTATS_F_ALL;
}

/*
 * Copy a name that may lack a terminating NUL within srclen into a
 * NUL-terminated, NUL-padded field (no stale kernel bytes leak out).
 */
void
tcpstats_copy_name(char *dst, size_t dstlen, const char *src, size_t srclen)
{
	size_t i;

	if (dstlen == 0)
		return;
	for (i = 0; i < dstlen - 1 && i < srclen && src[i] != '\0'; i++)
		dst[i] = src[i];
	memset(dst + i, 0, dstlen - i);
}
