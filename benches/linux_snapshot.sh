#!/usr/bin/env bash
# The snapshot benchmark on this host: hold >= 20,000 established loopback
# connections (40,000 sockets) in several processes on 127.0.1.0/24, then
# alternate runs of netpulse's snapshot and of `ss` on the same sockets.
# Prints median CPU ratios and peak RSS.
#
#   benches/linux_snapshot.sh [--own-netns] [--conns N] [--holders H] [--runs R]
#
# --own-netns (root): run everything in a fresh network namespace so that
# other programs' sockets on a shared host do not enter the measurement
# (both netpulse and ss only see the namespace's sockets; the process scan
# still walks every process of the host, for both).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--own-netns" ]; then
    shift
    if [ -z "${NETPULSE_BENCH_IN_NETNS:-}" ]; then
        exec env NETPULSE_BENCH_IN_NETNS=1 unshare --net -- "$0" --own-netns "$@"
    fi
    ip link set lo up
fi
command -v ss >/dev/null || { echo "ss not found: apt-get install iproute2" >&2; exit 1; }
exe=$(cargo bench --no-run --bench linux_snapshot --message-format=json 2>/dev/null \
    | sed -n 's/.*"executable":"\([^"]*linux_snapshot[^"]*\)".*/\1/p' | tail -1)
[ -x "$exe" ] || { echo "could not build the linux_snapshot bench" >&2; exit 1; }
ulimit -n 20000 2>/dev/null || true
echo "machine: $(nproc) cores, $(uname -sr), $(date -u +%FT%TZ)"
echo "TCP sockets visible before the load: $(ss -tan | tail -n +2 | wc -l)"
exec "$exe" run "$@"
