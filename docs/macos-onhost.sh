#!/bin/sh
# On-host check of netpulse's macOS source. Run as root on a Mac, with a
# netpulse built for it (cargo build --release, or the aarch64 binary CI
# links):
#	sudo sh docs/macos-onhost.sh [path/to/netpulse]
# It opens a known loopback connection with nc(1), takes one
# `netpulse once --source macos` sample, and compares it with
# `netstat -anv -p tcp` (socket count, IPv4 4-tuples and states) and
# `lsof -iTCP` (which process holds which connection). It also checks the
# known connection's cwnd, MSS, RTT and owner, and that no kernel address
# appears in the output.
#
# This script was syntax-checked (sh -n, shellcheck) on Linux but has not
# been run: no Mac was available where it was written.
set -eu

bin=${1:-./target/release/netpulse}
port=${NETPULSE_ONHOST_PORT:-47811}
failures=0
tmp=$(mktemp -d)
pids=

cleanup() {
	for p in $pids; do
		kill "$p" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}

pass() {
	echo "ok: $*"
}

[ "$(uname -s)" = Darwin ] || { echo "run this on macOS" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "run as root (sudo): libproc shows other users' sockets only to root" >&2; exit 1; }
[ -x "$bin" ] || { echo "no netpulse binary at $bin" >&2; exit 1; }

# A known connection: a listener and a client on loopback, data sent both
# ways so the kernel has an RTT sample.
(sleep 120 | nc -l 127.0.0.1 "$port" > /dev/null) &
pids="$pids $!"
# Wait (bounded) for the listener.
i=0
until netstat -an -p tcp | grep -q "127.0.0.1.$port .*LISTEN"; do
	i=$((i + 1))
	[ "$i" -le 300 ] || { echo "listener on port $port did not start" >&2; exit 1; }
	sleep 0.05
done
(yes netpulse | head -c 200000; sleep 120) | nc 127.0.0.1 "$port" > /dev/null &
pids="$pids $!"
i=0
until netstat -an -p tcp | grep -q "127.0.0.1.$port .*ESTABLISHED"; do
	i=$((i + 1))
	[ "$i" -le 300 ] || { echo "the client did not connect" >&2; exit 1; }
	sleep 0.05
done

netstat -anv -p tcp > "$tmp/netstat.txt"
"$bin" once --source macos --format json > "$tmp/once.jsonl"
lsof -nP -iTCP -FpcnT > "$tmp/lsof.txt" 2>/dev/null || true
netstat -anv -p tcp > "$tmp/netstat2.txt"

# 1. Socket count: netstat's TCP lines against netpulse's total, allowing
# for sockets that came or went between the two reads.
ns1=$(grep -c '^tcp[46]' "$tmp/netstat.txt" || true)
ns2=$(grep -c '^tcp[46]' "$tmp/netstat2.txt" || true)
total=$(sed -n 's/.*"type":"system".*"total_sockets":\([0-9]*\).*/\1/p' "$tmp/once.jsonl")
lines=$(grep -c '"type":"socket"' "$tmp/once.jsonl" || true)
lo=$((ns1 < ns2 ? ns1 : ns2))
hi=$((ns1 > ns2 ? ns1 : ns2))
slack=$((hi / 20 + 5))
if [ "$total" -ge $((lo - slack)) ] && [ "$total" -le $((hi + slack)) ]; then
	pass "socket count: netpulse $total, netstat $ns1/$ns2"
else
	fail "socket count: netpulse $total, netstat $ns1/$ns2"
fi
[ "$lines" -eq "$total" ] || fail "total_sockets $total but $lines socket lines"

# 2. IPv4 4-tuples and states: every ESTABLISHED/LISTEN IPv4 pair netstat
# showed in both reads is in netpulse's output with the same state.
# netstat prints addr.port; netpulse prints addr:port.
tuples() {
	awk 'function conv(x,   i, h, p) {
		if (x == "*.*") return "0.0.0.0:0"
		i = match(x, /\.[^.]*$/)
		h = substr(x, 1, i - 1); p = substr(x, i + 1)
		if (h == "*") h = "0.0.0.0"
		return h ":" p
	}
	$1 == "tcp4" && ($6 == "ESTABLISHED" || $6 == "LISTEN") {
		print conv($4), conv($5), $6
	}' "$1" | sort -u
}
tuples "$tmp/netstat.txt" > "$tmp/t1"
tuples "$tmp/netstat2.txt" > "$tmp/t2"
comm -12 "$tmp/t1" "$tmp/t2" > "$tmp/stable"
sed -n 's/.*"local":"\([0-9.]*:[0-9]*\)","remote":"\([0-9.]*:[0-9]*\)".*"state":"\([A-Z_]*\)".*/\1 \2 \3/p' \
	"$tmp/once.jsonl" | sort -u > "$tmp/ours"
missing=$(comm -23 "$tmp/stable" "$tmp/ours" | wc -l | tr -d ' ')
stable=$(wc -l < "$tmp/stable" | tr -d ' ')
if [ "$missing" -eq 0 ]; then
	pass "all $stable stable IPv4 ESTABLISHED/LISTEN sockets of netstat are in netpulse's output"
else
	fail "$missing of $stable stable IPv4 sockets of netstat are missing from netpulse's output:"
	comm -23 "$tmp/stable" "$tmp/ours" | head -5 >&2
fi

# 3. The known connection: present, ESTABLISHED, with TCP internals and owner.
client=$(grep "\"remote\":\"127.0.0.1:$port\"" "$tmp/once.jsonl" | head -1)
if [ -z "$client" ]; then
	fail "the nc client connection to 127.0.0.1:$port is not in netpulse's output"
else
	for f in cwnd mss rtt_us sock_id pid; do
		echo "$client" | grep -q "\"$f\":[1-9]" || fail "known connection: no positive $f: $client"
	done
	echo "$client" | grep -q '"state":"ESTABLISHED"' || fail "known connection is not ESTABLISHED"
	echo "$client" | grep -q '"command":"nc"' || fail "known connection's command is not nc: $client"
	pass "known connection: $(echo "$client" | cut -c1-200)"
fi

# 4. Owners: for every IPv4 connection lsof names, netpulse has the same pid.
# lsof -F output: p<pid>, c<command>, then per file n<local>-><remote>.
awk '/^p/ { pid = substr($0, 2) } /^n[0-9.]+:[0-9]+->[0-9.]+:[0-9]+$/ {
	split(substr($0, 2), a, "->"); print a[1], a[2], pid }' "$tmp/lsof.txt" |
	sort -u > "$tmp/lsof_owners"
sed -n 's/.*"local":"\([0-9.]*:[0-9]*\)","remote":"\([0-9.]*:[0-9]*\)".*"pid":\([0-9]*\).*/\1 \2 \3/p' \
	"$tmp/once.jsonl" | sort -u > "$tmp/our_owners"
owners=$(wc -l < "$tmp/lsof_owners" | tr -d ' ')
# A socket shared across fork is attributed to the lowest pid by netpulse
# and listed once per process by lsof: compare 4-tuples that have an owner.
differ=0
while read -r l r p; do
	ours=$(awk -v l="$l" -v r="$r" '$1 == l && $2 == r { print $3 }' "$tmp/our_owners")
	[ -n "$ours" ] || continue
	[ "$ours" -le "$p" ] || differ=$((differ + 1))
done < "$tmp/lsof_owners"
if [ "$differ" -eq 0 ]; then
	pass "owners agree with lsof for $owners IPv4 connections"
else
	fail "$differ of $owners lsof owners disagree with netpulse's pid"
fi

# 5. No kernel address: nothing that looks like a kernel pointer.
if grep -Eq '0xffffff|"(so|pcb|inpp|ppcb)":' "$tmp/once.jsonl"; then
	fail "a kernel address (or a pointer field) appears in the output"
else
	pass "no kernel address in the output"
fi

if [ "$failures" -eq 0 ]; then
	echo "all checks passed"
else
	echo "$failures check(s) failed; outputs kept in $tmp" >&2
	trap - EXIT
	exit 1
fi
