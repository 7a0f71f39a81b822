#!/usr/bin/env bash
# The live endpoint's cost to the real agent, side by side with it off.
#
#   benches/endpoint_cpu.sh            # 40,000 sockets, 4 pairs of 20 s runs
#   SOCKETS=40000 SECS=20 PAIRS=4 benches/endpoint_cpu.sh
#
# Holds SOCKETS real loopback sockets (SOCKETS/2 connections on
# 127.0.3.0/24, 5,000 per holder process for the fd limit), then runs the
# release `netpulse run` on its default tiers writing JSON files, alternately
#   off: no [endpoint]
#   on:  [endpoint] http_listen, with 10 scrapers (a separate process) each
#        second GET /metrics and GET /api/snapshot (default 1000 rows)
# and reads the agent's user+system CPU from /proc/<pid>/stat over SECS
# seconds after a 5 s warm-up. The host's other sockets are in the table
# too (the agent dumps everything); the table size is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
SOCKETS=${SOCKETS:-40000}
SECS=${SECS:-20}
PAIRS=${PAIRS:-4}
PORT=${PORT:-19477}
cargo build --release -q
BIN=target/release/netpulse
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# Socket holders.
left=$((SOCKETS / 2)); k=0
while [ "$left" -gt 0 ]; do
    n=$(( left < 5000 ? left : 5000 ))
    python3 - "127.0.3.$((20 + k))" "$n" "$work/ready.$k" <<'EOF' &
import socket, sys, threading, time
ip, n, ready = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ls = socket.socket(); ls.bind((ip, 0)); ls.listen(1024)
acc = []
t = threading.Thread(target=lambda: [acc.append(ls.accept()[0]) for _ in range(n)])
t.start()
cs = [socket.create_connection(ls.getsockname()) for _ in range(n)]
t.join()
open(ready, "w").write("ok")
time.sleep(3600)
EOF
    pids+=($!)
    left=$((left - n)); k=$((k + 1))
done
for i in $(seq 0 $((k - 1))); do
    while [ ! -e "$work/ready.$i" ]; do sleep 0.2; done
done

cfg() { # $1 = on|off
    mkdir -p "$work/out-$1"
    cat <<EOF
[[output]]
format = "json"
dir = "$work/out-$1"
rotate_size = "256MiB"
keep = 1
EOF
    if [ "$1" = on ]; then printf '[endpoint]\nhttp_listen = "127.0.3.1:%s"\n' "$PORT"; fi
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

run() { # $1 = on|off -> prints "cpu_ms_per_s sockets"
    cfg "$1" > "$work/$1.toml"
    rm -rf "$work/out-$1"; mkdir -p "$work/out-$1"
    "$BIN" run --config "$work/$1.toml" 2>"$work/$1.log" &
    local agent=$!
    local scr=""
    if [ "$1" = on ]; then
        python3 - "$PORT" "$((SECS + 8))" <<'EOF' &
import sys, threading, time, urllib.request
port, secs = sys.argv[1], float(sys.argv[2])
end = time.time() + secs
def scrape():
    while time.time() < end:
        t = time.time()
        for path in ("/metrics", "/api/snapshot"):
            try:
                urllib.request.urlopen(f"http://127.0.3.1:{port}{path}", timeout=5).read()
            except Exception:
                pass
        time.sleep(max(0, 1 - (time.time() - t)))
ts = [threading.Thread(target=scrape) for _ in range(10)]
[t.start() for t in ts]; [t.join() for t in ts]
EOF
        scr=$!
    fi
    sleep 5
    local a b
    a=$(cpu_ticks "$agent")
    sleep "$SECS"
    b=$(cpu_ticks "$agent")
    kill -TERM "$agent"; wait "$agent" || true
    [ -n "$scr" ] && { kill "$scr" 2>/dev/null || true; wait "$scr" 2>/dev/null || true; }
    # Mean table size over the run's fast samples.
    local socks
    socks=$(grep -h '"type":"system","ts":[0-9]*,"tier":"fast"' "$work/out-$1"/netpulse.jsonl* |
        sed -n 's/.*"total_sockets":\([0-9]*\).*/\1/p' |
        awk '{ s += $1; n++ } END { print n ? int(s / n) : 0 }')
    echo "$(( (b - a) * 10 / SECS )) ${socks:-0}"
}

# Other tests on a shared host open and close tens of thousands of sockets,
# so the table size moves between runs: compare CPU per 1,000 sockets too.
echo "run  cpu_ms/s  sockets  ms/s_per_1k_sockets"
results=()
for _ in $(seq "$PAIRS"); do
    for mode in off on; do
        read -r c s < <(run "$mode")
        echo "$mode  $c  $s  $(awk -v c="$c" -v s="$s" 'BEGIN { printf "%.2f", s ? c * 1000 / s : 0 }')"
        results+=("$mode $c $s")
    done
done
printf '%s\n' "${results[@]}" | awk '
    { cpu[$1] += $2; per[$1] += ($3 ? $2 * 1000 / $3 : 0); n[$1]++ }
    END {
        off = cpu["off"] / n["off"]; on = cpu["on"] / n["on"]
        poff = per["off"] / n["off"]; pon = per["on"] / n["on"]
        printf "mean cpu: off %.0f ms/s, on %.0f ms/s (%+.1f %%)\n", off, on, (on - off) * 100 / off
        printf "per 1k sockets: off %.2f, on %.2f ms/s: %+.1f %% agent CPU with the endpoint serving 10 scrapers\n", poff, pon, (pon - poff) * 100 / poff
    }'
