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
 * Userland unit tests of tcpstats_subr.c, the module's pure logic: filter
 * validation and matching, unit conversions, stream sizing.  Built with
 * the host compiler under AddressSanitizer and UndefinedBehaviorSanitizer
 * by .ci/check.d/30-kmod.sh.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tcpstats_subr.h"

static int failures;

#define	CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__,	\
		    __LINE__, #cond);					\
		failures++;						\
	}								\
} while (0)

static struct tcpstats_filter
empty_filter(void)
{
	struct tcpstats_filter f;

	memset(&f, 0, sizeof(f));
	f.tf_version = TCPSTATS_FILTER_VERSION;
	return (f);
}

static void
test_filter_validate(void)
{
	struct tcpstats_filter f;

	f = empty_filter();
	CHECK(tcpstats_filter_validate(&f) == 0);

	f.tf_version = 2;
	CHECK(tcpstats_filter_validate(&f) == EINVAL);

	f = empty_filter();
	f.tf_flags = 0x10;			/* unknown part */
	CHECK(tcpstats_filter_validate(&f) == EINVAL);

	f = empty_filter();
	f.tf_flags = TCPSTATS_FILTER_STATES;
	f.tf_state_mask = 0;			/* matches nothing */
	CHECK(tcpstats_filter_validate(&f) == EINVAL);
	f.tf_state_mask = 1U << 11;		/* no such state */
	CHECK(tcpstats_filter_validate(&f) == EINVAL);
	f.tf_state_mask = TCPSTATS_STATE_MASK_ALL;
	CHECK(tcpstats_filter_validate(&f) == 0);

	f = empty_filter();
	f.tf_state_mask = 1;			/* set but not enabled */
	CHECK(tcpstats_filter_validate(&f) == EINVAL);

	f = empty_filter();
	f.tf_flags = TCPSTATS_FILTER_FAMILY;
	f.tf_family = 5;
	CHECK(tcpstats_filter_validate(&f) == EINVAL);
	f.tf_family = TCPSTATS_AF_INET6;
	CHECK(tcpstats_filter_validate(&f) == 0);
	f.tf_flags = 0;				/* family without the flag */
	CHECK(tcpstats_filter_validate(&f) == EINVAL);

	f = empty_filter();
	f.tf_flags = TCPSTATS_FILTER_LPORTS;
	CHECK(tcpstats_filter_validate(&f) == EINVAL);	/* no ports */
	f.tf_nlports = TCPSTATS_FILTER_MAX_PORTS + 1;
	CHECK(tcpstats_filter_validate(&f) == EINVAL);
	f.tf_nlports = TCPSTATS_FILTER_MAX_PORTS;
	CHECK(tcpstats_filter_validate(&f) == 0);
	f.tf_nlports = 1;
	f.tf_lports[0] = 443;
	f.tf_lports[5] = 80;			/* garbage past the count */
	CHECK(tcpstats_filter_validate(&f) == EINVAL);
	f.tf_lports[5] = 0;
	CHECK(tcpstats_filter_validate(&f) == 0);

	f = empty_filter();
	f.tf_nfports = 1;			/* count without the flag */
	CHECK(tcpstats_filter_validate(&f) == EINVAL);
	f = empty_filter();
	f.tf_fports[3] = 22;			/* port without the flag */
	CHECK(tcpstats_filter_validate(&f) == EINVAL);

	f = empty_filter();
	f.tf_pad = 1;
	CHECK(tcpstats_filter_validate(&f) == EINVAL);
	f = empty_filter();
	f.tf_spare[1] = 1;
	CHECK(tcpstats_filter_validate(&f) == EINVAL);
}

static void
test_filter_match(void)
{
	struct tcpstats_filter f;
	struct tcpstats_key k = { TCPSTATS_AF_INET, 4, 443, 52000 };

	f = empty_filter();
	CHECK(tcpstats_filter_match(&f, &k));	/* empty matches all */

	f.tf_flags = TCPSTATS_FILTER_STATES;
	f.tf_state_mask = 1U << 1;		/* LISTEN only */
	CHECK(!tcpstats_filter_match(&f, &k));
	f.tf_state_mask |= 1U << 4;		/* and ESTABLISHED */
	CHECK(tcpstats_filter_match(&f, &k));
	k.tk_state = 200;			/* corrupt state never matches */
	CHECK(!tcpstats_filter_match(&f, &k));
	k.tk_state = 4;

	f.tf_flags |= TCPSTATS_FILTER_FAMILY;
	f.tf_family = TCPSTATS_AF_INET6;
	CHECK(!tcpstats_filter_match(&f, &k));
	f.tf_family = TCPSTATS_AF_INET;
	CHECK(tcpstats_filter_match(&f, &k));

	f.tf_flags |= TCPSTATS_FILTER_LPORTS;
	f.tf_nlports = 2;
	f.tf_lports[0] = 80;
	f.tf_lports[1] = 8080;
	CHECK(!tcpstats_filter_match(&f, &k));
	f.tf_lports[1] = 443;
	CHECK(tcpstats_filter_match(&f, &k));

	f.tf_flags |= TCPSTATS_FILTER_FPORTS;
	f.tf_nfports = 1;
	f.tf_fports[0] = 52001;
	CHECK(!tcpstats_filter_match(&f, &k));
	f.tf_fports[0] = 52000;
	CHECK(tcpstats_filter_match(&f, &k));
	CHECK(tcpstats_filter_validate(&f) == 0);
}

static void
test_rtt(void)
{

	/* hz=1000: tick = 1000 us.  srtt 40 ticks << 5 = 1280 -> 40 ms. */
	CHECK(tcpstats_rtt_us(40 << 5, false, 5, 1000) == 40000);
	/* Fractions survive: 1.5 ticks scaled = 48. */
	CHECK(tcpstats_rtt_us(48, false, 5, 1000) == 1500);
	/* rttvar is scaled by 16. */
	CHECK(tcpstats_rtt_us(10 << 4, false, 4, 1000) == 10000);
	/* hz=100: tick = 10000 us, rto 30 ticks = 300 ms. */
	CHECK(tcpstats_rtt_us(30, false, 0, 10000) == 300000);
	/* Microsecond-granularity stacks keep unscaled us. */
	CHECK(tcpstats_rtt_us(12345, true, 5, 1000) == 12345);
	CHECK(tcpstats_rtt_us(0, false, 5, 1000) == 0);
	CHECK(tcpstats_rtt_us(-7, false, 5, 1000) == 0);
	CHECK(tcpstats_rtt_us(INT32_MAX, false, 0, UINT32_MAX) == UINT32_MAX);
	CHECK(tcpstats_rtt_us(INT64_MAX, true, 0, 1) == UINT32_MAX);
	CHECK(tcpstats_rtt_us(100, false, 40, 1000) == 0);

	/* t_rttlow: ms with timestamps, ticks without, us for RACK. */
	CHECK(tcpstats_rttlow_us(7, false, true, 10000) == 7000);
	CHECK(tcpstats_rttlow_us(7, false, false, 10000) == 70000);
	CHECK(tcpstats_rttlow_us(7, true, true, 10000) == 7);
	CHECK(tcpstats_rttlow_us(0, false, true, 1000) == 0);
}

static void
test_admit(void)
{

	/* 8 readers, 2 per uid, 2 reserved for privileged openers. */
	CHECK(tcpstats_admit(false, 0, 0, 8, 2, 2) == 0);
	CHECK(tcpstats_admit(false, 1, 1, 8, 2, 2) == 0);
	CHECK(tcpstats_admit(false, 2, 2, 8, 2, 2) == EBUSY);
	CHECK(tcpstats_admit(false, 5, 0, 8, 2, 2) == 0);
	CHECK(tcpstats_admit(false, 6, 0, 8, 2, 2) == EBUSY);
	/* Privileged: no per-uid limit, the reserve is theirs. */
	CHECK(tcpstats_admit(true, 6, 6, 8, 2, 2) == 0);
	CHECK(tcpstats_admit(true, 7, 7, 8, 2, 2) == 0);
	CHECK(tcpstats_admit(true, 8, 0, 8, 2, 2) == EBUSY);
	/* A reserve as large as the limit shuts unprivileged openers out. */
	CHECK(tcpstats_admit(false, 0, 0, 4, 2, 4) == EBUSY);
	CHECK(tcpstats_admit(false, 0, 0, 4, 2, UINT32_MAX) == EBUSY);
}

static void
test_stale(void)
{

	CHECK(!tcpstats_snapshot_stale(1000, 1000, 1000, 10000));
	CHECK(!tcpstats_snapshot_stale(1000, 10999, 1000, 10000));
	CHECK(tcpstats_snapshot_stale(1000, 11000, 1000, 10000));
	CHECK(!tcpstats_snapshot_stale(100, 1099, 100, 10000));
	CHECK(tcpstats_snapshot_stale(0, 1000, 100, 10000));
	/* The tick counter wrapped between the two. */
	CHECK(tcpstats_snapshot_stale(UINT32_MAX - 5000, 5000, 1000, 10000));
	CHECK(!tcpstats_snapshot_stale(UINT32_MAX - 5000, 4000, 1000, 10000));
	CHECK(!tcpstats_snapshot_stale(0, UINT32_MAX, 0, 1));
}

static void
test_seq_visibility(void)
{

	CHECK(tcpstats_seq_visible(true, 1001, 0));
	CHECK(tcpstats_seq_visible(false, 1001, 1001));
	CHECK(!tcpstats_seq_visible(false, 1001, 0));
	CHECK(!tcpstats_seq_visible(false, 0, 1001));
}

static void
test_timers(void)
{
	int64_t now = 1000 * TCPSTATS_SBT_1S;

	CHECK(tcpstats_timer_ms(TCPSTATS_SBT_MAX, now) == TCPSTATS_TIMER_OFF);
	CHECK(tcpstats_timer_ms(now, now) == 0);
	CHECK(tcpstats_timer_ms(now - 5, now) == 0);
	/* Under 1 ms left: still running, rounded up, never 0. */
	CHECK(tcpstats_timer_ms(now + 1, now) == 1);
	CHECK(tcpstats_timer_ms(now + TCPSTATS_SBT_1MS - 1, now) == 1);
	CHECK(tcpstats_timer_ms(now + TCPSTATS_SBT_1MS, now) == 1);
	CHECK(tcpstats_timer_ms(now + TCPSTATS_SBT_1MS + 1, now) == 2);
	CHECK(tcpstats_timer_ms(now + 200 * TCPSTATS_SBT_1MS, now) == 200);
	CHECK(tcpstats_timer_ms(now + 3 * TCPSTATS_SBT_1S, now) == 3000 ||
	    tcpstats_timer_ms(now + 3 * TCPSTATS_SBT_1S, now) == 3001);
	CHECK(tcpstats_timer_ms(TCPSTATS_SBT_MAX - 1, 0) ==
	    TCPSTATS_TIMER_OFF - 1);
	CHECK(tcpstats_timer_ms(0, INT64_MIN) == TCPSTATS_TIMER_OFF - 1);

	CHECK(tcpstats_ticks_ms(1500, 1000) == 1500);
	CHECK(tcpstats_ticks_ms(15, 100) == 150);
	CHECK(tcpstats_ticks_ms(UINT32_MAX, 1) == UINT32_MAX);
	CHECK(tcpstats_ticks_ms(5, 0) == 0);
	/* ticks wrapped: the caller's unsigned subtraction stays small. */
	CHECK(tcpstats_ticks_ms((uint32_t)5 - (uint32_t)UINT32_MAX, 1000) ==
	    6);
}

static void
test_stream(void)
{
	struct tcpstats_header th;
	uint64_t size;

	CHECK(tcpstats_stream_size(0, &size) == 0 && size == 64);
	CHECK(tcpstats_stream_size(3, &size) == 0 && size == 64 + 3 * 320);
	CHECK(tcpstats_stream_size((UINT64_MAX - 64) / 320, &size) == 0);
	CHECK(tcpstats_stream_size((UINT64_MAX - 64) / 320 + 1, &size) ==
	    EFBIG);
	CHECK(tcpstats_size_hint(0) == 64 + 16 * 320);
	CHECK(tcpstats_size_hint(800) == 64 + (800 + 100 + 16) * 320);
	CHECK(tcpstats_size_hint(UINT64_MAX) ==
	    64 + ((uint64_t)UINT32_MAX + UINT32_MAX / 8 + 16) * 320);

	memset(&th, 0xa5, sizeof(th));
	tcpstats_header_init(&th, 77, 123456789, 1000);
	CHECK(th.th_magic == TCPSTATS_MAGIC);
	CHECK(memcmp(&th, "TCPS", 4) == 0);
	CHECK(th.th_version == TCPSTATS_ABI_VERSION);
	CHECK(th.th_header_size == 64 && th.th_record_size == 320);
	CHECK(th.th_generation == 77 && th.th_uptime_ns == 123456789);
	CHECK(th.th_spare32 == 0 && th.th_spare64 == 0);

	tcpstats_header_finish(&th, 5, 5, TCPSTATS_F_KADDR);
	CHECK(th.th_flags == TCPSTATS_F_KADDR);
	CHECK(th.th_needed_size == 64 + 5 * 320);
	/* Fewer delivered than matched is always flagged. */
	tcpstats_header_finish(&th, 5, 9, 0);
	CHECK(th.th_flags == TCPSTATS_F_TRUNCATED);
	CHECK(th.th_record_count == 5 && th.th_records_total == 9);
	CHECK(th.th_needed_size == 64 + 9 * 320);
	/* total below count is corrected, unknown flags dropped. */
	tcpstats_header_finish(&th, 5, 2, 0x100);
	CHECK(th.th_records_total == 5 && th.th_flags == 0);
}

static void
test_copy_name(void)
{
	char dst[8];
	const char src[4] = { 'r', 'a', 'c', 'k' };	/* no NUL */

	memset(dst, 'x', sizeof(dst));
	tcpstats_copy_name(dst, sizeof(dst), "cubic", 16);
	CHECK(strcmp(dst, "cubic") == 0);
	CHECK(dst[6] == '\0' && dst[7] == '\0');	/* padded */

	tcpstats_copy_name(dst, sizeof(dst), src, sizeof(src));
	CHECK(strcmp(dst, "rack") == 0);

	tcpstats_copy_name(dst, sizeof(dst), "newreno-long", 16);
	CHECK(strcmp(dst, "newreno") == 0);		/* truncated, NUL */

	tcpstats_copy_name(dst, 0, "x", 1);		/* no write */
	CHECK(strcmp(dst, "newreno") == 0);
}

int
main(void)
{

	test_filter_validate();
	test_filter_match();
	test_rtt();
	test_admit();
	test_stale();
	test_seq_visibility();
	test_timers();
	test_stream();
	test_copy_name();
	if (failures != 0) {
		fprintf(stderr, "test_subr: %d failure(s)\n", failures);
		return (1);
	}
	printf("test_subr: all checks passed\n");
	return (0);
}
