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
#   on:  [endpoint] http_listen, with 10 scrapers (benches/endpoint_scrapers.py)
#        each second GET /metrics and GET /api/snapshot (default 1000 rows);
#        a failed request fails the benchmark (it would cost the agent nothing)
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
waited=0
for i in $(seq 0 $((k - 1))); do
    while [ ! -e "$work/ready.$i" ]; do
        kill -0 "${pids[$i]}" 2>/dev/null || { echo "socket holder $i failed" >&2; exit 1; }
        [ "$waited" -lt 6000 ] || { echo "socket holders not ready after 300 s" >&2; exit 1; }
        sleep 0.05; waited=$((waited + 1))
    done
done

cfg() { # $1 = on|off
    mkdir -p "$work/out-$1"
    cat <<EOF
[[output]]
format = "json"
dir = "$work/out-$1"
sockets = "all"
rotate_size = "256MiB"
keep = 1
EOF
    if [ "$1" = on ]; then printf '[endpoint]\nhttp_listen = "127.0.3.1:%s"\n' "$PORT"; fi
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

run() { # $1 = on|off -> prints "cpu_ms_per_s sockets"; fails when a scrape failed
    cfg "$1" > "$work/$1.toml"
    rm -rf "$work/out-$1"; mkdir -p "$work/out-$1"
    "$BIN" run --config "$work/$1.toml" 2>"$work/$1.log" &
    local agent=$!
    local scr=""
    rm -f "$work/scrapers.ready" "$work/scrapers.stop"
    if [ "$1" = on ]; then
        python3 benches/endpoint_scrapers.py "127.0.3.1:$PORT" \
            "$work/scrapers.ready" "$work/scrapers.stop" &
        scr=$!
        # Measure only once the scrapers are being served.
        while [ ! -e "$work/scrapers.ready" ]; do
            if ! kill -0 "$scr" 2>/dev/null; then
                wait "$scr" || true
                kill -TERM "$agent"; wait "$agent" || true
                echo "the scrapers never reached the endpoint" >&2
                exit 1
            fi
            sleep 0.05
        done
    fi
    sleep 5 # warm-up: first polls and the process scan
    local a b
    a=$(cpu_ticks "$agent")
    sleep "$SECS" # the measured window
    b=$(cpu_ticks "$agent")
    if [ -n "$scr" ]; then
        # Stop the scrapers before the agent, so its exit is no failure.
        touch "$work/scrapers.stop"
        if ! wait "$scr"; then
            echo "a scraper request failed: the endpoint's cost would be understated" >&2
            kill -TERM "$agent"; wait "$agent" || true
            exit 1
        fi
    fi
    kill -TERM "$agent"
    if ! wait "$agent"; then
        echo "the agent did not drain and exit cleanly:" >&2
        tail -5 "$work/$1.log" >&2
        exit 1
    fi
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
        # (An assignment, not `< <(run ...)`: a failed run stops the script.)
        out=$(run "$mode")
        read -r c s <<<"$out"
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
