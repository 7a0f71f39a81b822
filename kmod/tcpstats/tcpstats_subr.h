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
 * The parts of tcpstats(4) that touch no kernel state: filter validation
 * and matching, unit conversions and stream sizing.  Compiled into the
 * module and, unchanged, into userland unit tests (tests/test_subr.c).
 */

#ifndef _TCPSTATS_SUBR_H_
#define	_TCPSTATS_SUBR_H_

#include "tcpstats.h"

#if defined(_KERNEL)
#include <sys/types.h>
#else
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#endif

/* sbintime_t: 32.32 fixed point seconds (see sys/time.h). */
#define	TCPSTATS_SBT_1S		((int64_t)1 << 32)
#define	TCPSTATS_SBT_1MS	(TCPSTATS_SBT_1S / 1000)
#define	TCPSTATS_SBT_MAX	INT64_MAX

/* What a filter looks at, taken from the inpcb under its lock. */
struct tcpstats_key {
	uint8_t		tk_family;		/* TCPSTATS_AF_* */
	uint8_t		tk_state;		/* TCPS_* */
	uint16_t	tk_lport;		/* host order */
	uint16_t	tk_fport;		/* host order */
};

int	tcpstats_filter_validate(const struct tcpstats_filter *f);
bool	tcpstats_filter_match(const struct tcpstats_filter *f,
	    const struct tcpstats_key *k);
uint32_t tcpstats_rtt_us(int64_t raw, bool usec_granularity, unsigned shift,
	    uint32_t us_per_tick);
uint32_t tcpstats_rttlow_us(int64_t raw, bool usec_granularity, bool ts_ms,
	    uint32_t us_per_tick);
uint32_t tcpstats_timer_ms(int64_t expiry_sbt, int64_t now_sbt);
uint32_t tcpstats_ticks_ms(uint32_t delta_ticks, uint32_t hz);
int	tcpstats_admit(bool privileged, uint32_t open_total,
	    uint32_t open_by_uid, uint32_t max_readers, uint32_t max_per_uid,
	    uint32_t reserved);
bool	tcpstats_snapshot_stale(uint32_t last_ticks, uint32_t now_ticks,
	    uint32_t hz, uint32_t idle_ms);
bool	tcpstats_seq_visible(bool privileged, uint32_t reader_uid,
	    uint32_t owner_uid);
int	tcpstats_stream_size(uint64_t nrecords, uint64_t *sizep);
uint64_t tcpstats_size_hint(uint64_t nsockets);
void	tcpstats_header_init(struct tcpstats_header *th, uint64_t generation,
	    uint64_t uptime_ns, uint32_t hz);
void	tcpstats_header_finish(struct tcpstats_header *th, uint32_t count,
	    uint32_t total, uint32_t flags);
void	tcpstats_copy_name(char *dst, size_t dstlen, const char *src,
	    size_t srclen);

#endif /* !_TCPSTATS_SUBR_H_ */
