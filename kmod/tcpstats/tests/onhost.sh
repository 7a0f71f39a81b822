#!/bin/sh
# On-host test of tcpstats(4). Run as root on a FreeBSD 15 machine after
# building the module (make -C kmod/tcpstats):
#	sh kmod/tcpstats/tests/onhost.sh [path/to/tcpstats.ko]
# It loads the module, opens a known loopback connection, reads
# /dev/tcpstats, compares socket counts and IPv4 4-tuples with
# sockstat -46, checks the known connection's RTT is non-zero, reads it as
# an unprivileged user (no kernel addresses, root's sequence numbers
# withheld, at most two descriptors), unloads
# while a reader holds the device open, and checks vmstat -m and the
# kernel log for leaked memory. It leaves the module unloaded.
#
# Also: onhost.sh --decode FILE prints a stream captured with cat(1).
#
# This script was syntax-checked (sh -n, shellcheck) on Linux but has not
# been run: no FreeBSD machine was available where it was written.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
ko=${1:-$here/../tcpstats.ko}
pids=
failures=0

cleanup() {
	for p in $pids; do
		kill "$p" 2>/dev/null || true
	done
	rm -rf "$tmp"
}

fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}

die() {
	echo "FATAL: $*" >&2
	exit 1
}

pass() {
	echo "ok: $*"
}

# Decode a stream into lines:
#   header <version> <header_size> <record_size> <count> <total> <flags>
#   rec <family> <laddr> <lport> <faddr> <fport> <state> <rtt_us> <rflags>
# IPv4 addresses are dotted quads; IPv6 ones full hex (not compared).
decode() {
	od -An -v -t u1 "$1" | awk '
	{ for (i = 1; i <= NF; i++) b[n++] = $i }
	function u16(o) { return b[o] + b[o + 1] * 256 }
	function u32(o) { return u16(o) + u16(o + 2) * 65536 }
	function a4(o) { return b[o] "." b[o + 1] "." b[o + 2] "." b[o + 3] }
	function a6(o,	s, i) {
		s = ""
		for (i = 0; i < 16; i += 2)
			s = s sprintf("%s%x", i ? ":" : "", b[o + i] * 256 + b[o + i + 1])
		return s
	}
	END {
		if (n < 64 || u32(0) != 1397769044) { print "bad"; exit }
		hs = u16(6); rs = u32(8); cnt = u32(32)
		printf "header %d %d %d %d %d %d\n", u16(4), hs, rs, cnt, u32(36), u32(12)
		for (r = 0; r < cnt; r++) {
			o = hs + r * rs
			if (o + rs > n) { print "short"; exit }
			fam = b[o + 52]
			la = fam == 4 ? a4(o + 16) : a6(o + 16)
			fa = fam == 4 ? a4(o + 32) : a6(o + 32)
			printf "rec %d %s %d %s %d %d %d %d\n", fam, la, u16(o + 48), \
			    fa, u16(o + 50), b[o + 53], u32(o + 72), u32(o + 64)
		}
	}'
}

# onhost.sh --decode FILE: only print a captured stream (runs anywhere; CI
# checks the decoder against the fixture streams).
if [ "${1:-}" = --decode ]; then
	decode "$2"
	exit 0
fi

[ "$(uname -s)" = FreeBSD ] || die "this test runs on FreeBSD"
tmp=$(mktemp -d -t tcpstats-onhost)
port=$((40000 + $$ % 20000))
trap cleanup EXIT INT TERM
[ "$(id -u)" -eq 0 ] || die "run as root (it loads a kernel module)"
[ -f "$ko" ] || die "$ko not found: build with make -C $here/.."
if kldstat -q -m tcpstats; then
	die "tcpstats is already loaded: kldunload tcpstats first"
fi

# 1. Load.
kldload "$ko" || die "kldload $ko failed (see dmesg)"
if [ -c /dev/tcpstats ]; then
	pass "loaded, /dev/tcpstats exists"
else
	fail "/dev/tcpstats missing after kldload"
fi

# 2. A known connection with traffic, so that the RTT has been measured.
nc -l 127.0.0.1 "$port" >/dev/null &
pids="$pids $!"
sleep 1
(i=0; while [ $i -lt 50 ]; do echo ping; sleep 0.05; i=$((i + 1)); done; sleep 30) |
    nc 127.0.0.1 "$port" >/dev/null &
pids="$pids $!"
sleep 3

# 3. Read it twice around sockstat (the table is live; the rest of the
# host may open and close connections in between).
cat /dev/tcpstats >"$tmp/s1"
sockstat -46 -P tcp -q >"$tmp/sockstat"
cat /dev/tcpstats >"$tmp/s2"
decode "$tmp/s1" >"$tmp/d1"
decode "$tmp/s2" >"$tmp/d2"
read -r _ ver hs rs cnt total flags <"$tmp/d1" || die "empty stream"
if [ "$ver" -eq 2 ] && [ "$hs" -eq 64 ] && [ "$rs" -eq 320 ]; then
	pass "header: version $ver, header $hs, record $rs bytes"
else
	fail "unexpected header: version $ver header $hs record $rs"
fi
if [ "$cnt" -eq "$total" ] && [ $((flags & 9)) -eq 0 ]; then
	pass "$cnt records, complete"
else
	fail "snapshot incomplete: $cnt of $total records, flags $flags"
fi
if [ $((flags & 2)) -ne 0 ]; then
	pass "root sees kernel socket addresses"
else
	fail "root reader did not get TCPSTATS_F_KADDR"
fi
size=$(stat -f %z "$tmp/s1")
if [ "$size" -eq $((hs + cnt * rs)) ]; then
	pass "stream is $size bytes"
else
	fail "stream is $size bytes, header says $((hs + cnt * rs))"
fi

# 4. Counts and 4-tuples against sockstat. sockstat prints a socket once
# per owning descriptor, and once with '?' if it has none; dedupe by tuple.
awk '$5 ~ /^tcp/ { print $6, $7 }' "$tmp/sockstat" | sort -u >"$tmp/ss_tuples"
ss_n=$(wc -l <"$tmp/ss_tuples")
n1=$(grep -c '^rec' "$tmp/d1" || true)
n2=$(grep -c '^rec' "$tmp/d2" || true)
lo=$((n1 < n2 ? n1 : n2))
hi=$((n1 > n2 ? n1 : n2))
slack=$(((hi - lo) + hi / 20 + 2))
if [ "$ss_n" -ge $((lo - slack)) ] && [ "$ss_n" -le $((hi + slack)) ]; then
	pass "socket count: tcpstats $n1/$n2, sockstat $ss_n"
else
	fail "socket count: tcpstats $n1/$n2, sockstat $ss_n (slack $slack)"
fi
# Our own connection, both ends, as IPv4 4-tuples in both tools.
awk -v p="$port" '$1 == "rec" && $2 == 4 && ($4 == p || $6 == p) &&
    $7 == 4 { print $3 ":" $4, $5 ":" $6 }' "$tmp/d1" | sort >"$tmp/ours"
if [ "$(wc -l <"$tmp/ours")" -eq 2 ]; then
	pass "both ends of 127.0.0.1:$port seen"
else
	fail "expected 2 ESTABLISHED records for port $port, got: $(cat "$tmp/ours")"
fi
while read -r l f; do
	if grep -qx "$l $f" "$tmp/ss_tuples"; then
		pass "sockstat agrees on $l $f"
	else
		fail "sockstat lacks $l $f"
	fi
done <"$tmp/ours"

# 5. The known connection has a measured, non-zero RTT (rflags bit 4).
if awk -v p="$port" '$1 == "rec" && $2 == 4 && $6 == p && $7 == 4 {
	print "rtt_us", $8
	if ($8 > 0 && int($9 / 4) % 2 == 1)
		ok = 1
} END { exit !ok }' "$tmp/d1"; then
	pass "client RTT is non-zero and measured"
else
	fail "client side of 127.0.0.1:$port has no measured RTT"
fi

# 5b. An unprivileged reader (nobody): no kernel addresses, and the
# sequence numbers of root's connection (ours) withheld, flagged in rflags
# (TCPSTATS_RF_SEQ_HIDDEN, 16). Other users' sockets are visible only with
# security.bsd.see_other_uids=1.
if su -m nobody -c 'cat /dev/tcpstats' >"$tmp/s3"; then
	decode "$tmp/s3" >"$tmp/d3"
	read -r _ _ _ _ _ _ uflags <"$tmp/d3" || uflags=0
	if [ $((uflags & 2)) -eq 0 ]; then
		pass "unprivileged reader gets no kernel socket addresses"
	else
		fail "unprivileged reader got TCPSTATS_F_KADDR"
	fi
	if [ "$(sysctl -n security.bsd.see_other_uids)" -eq 1 ]; then
		if awk -v p="$port" '$1 == "rec" && $2 == 4 && ($4 == p || $6 == p) {
			n++
			if (int($9 / 16) % 2 == 1)
				hidden++
		} END { exit !(n >= 2 && hidden == n) }' "$tmp/d3"; then
			pass "unprivileged reader: root's sequence numbers withheld"
		else
			fail "unprivileged reader saw root's sequence numbers (or fewer than 2 records)"
		fi
	else
		echo "skip: security.bsd.see_other_uids=0, nobody cannot see root's sockets"
	fi
else
	fail "reading /dev/tcpstats as nobody failed"
fi

# 5c. Reader limits: an unprivileged user may hold 2 descriptors
# (dev.tcpstats.max_readers_per_uid); a third open is refused.
limits=$(su -m nobody -c 'exec 3</dev/tcpstats; exec 4</dev/tcpstats; echo two
	if cat /dev/tcpstats >/dev/null 2>&1; then echo three; fi' || true)
case $limits in
two) pass "a third descriptor for one unprivileged user is refused" ;;
*) fail "per-user reader limit: expected only two opens, got: $limits" ;;
esac

# 6. Counters moved.
reads=$(sysctl -n dev.tcpstats.reads)
if [ "$reads" -ge 2 ]; then
	pass "dev.tcpstats.reads = $reads"
else
	fail "dev.tcpstats.reads = $reads after two reads"
fi

for p in $pids; do
	kill "$p" 2>/dev/null || true
done
pids=

# 7. No memory held with no reader open.
inuse=$(vmstat -m | awk '$1 == "tcpstats" { print $2 }')
if [ "${inuse:-0}" -eq 0 ]; then
	pass "vmstat -m: tcpstats InUse 0 with no readers"
else
	fail "vmstat -m: tcpstats InUse $inuse with no readers (leak)"
fi

# 8. Unload while a reader holds the device open mid-stream.
sh -c 'exec 3</dev/tcpstats; dd bs=64 count=1 <&3 >/dev/null 2>&1; sleep 5' &
pids="$pids $!"
sleep 1
dmesg_before=$(dmesg | wc -l)
if kldunload tcpstats; then
	pass "unloaded with a reader open"
else
	fail "kldunload with a reader open failed"
fi
if [ ! -e /dev/tcpstats ]; then
	pass "/dev/tcpstats is gone"
else
	fail "/dev/tcpstats still exists after unload"
fi
if dmesg | tail -n +"$((dmesg_before + 1))" | grep -q 'tcpstats.*leak'; then
	fail "kernel reported leaked tcpstats memory on unload"
else
	pass "no leak reported on unload"
fi
if vmstat -m | awk '$1 == "tcpstats"' | grep -q .; then
	fail "malloc type tcpstats still listed after unload"
else
	pass "malloc type tcpstats gone"
fi

if [ "$failures" -ne 0 ]; then
	echo "$failures check(s) FAILED" >&2
	exit 1
fi
echo "all on-host checks passed"
