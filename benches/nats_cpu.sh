#!/usr/bin/env bash
# The [[nats]] output's cost to the real agent, against a proto file output
# in the same config.
#
#   benches/nats_cpu.sh                # 40,000 sockets, 3 pairs of 20 s runs
#   SOCKETS=40000 SECS=20 PAIRS=3 benches/nats_cpu.sh
#
# Holds SOCKETS real loopback sockets (SOCKETS/2 connections on
# 127.0.4.0/24, 5,000 per holder process for the fd limit), starts a local
# `nats-server -js` with a stream over netpulse.>, then runs the release
# `netpulse run` (fast tier 1 s, `sockets = "changed"`), alternately
#   file: [[output]] format = "proto" (every tier)
#   nats: [[nats]] encoding = "proto" (every tier) instead
# both beside a small JSON output of the slow tier (a config needs one
# [[output]]). It reads the agent's user+system CPU from /proc/<pid>/stat
# over SECS seconds after a 5 s warm-up, and its resident size at the end
# of each run. Targets: nats/file CPU <= 1.15, RSS <= 64 MiB. The server's
# own CPU is not the agent's and is not counted.
#
#   BEFORE=/path/to/older/netpulse benches/nats_cpu.sh
# adds a third run to each round, "before": the same [[nats]] config with
# that binary, so a change is measured against what it replaces on the
# same (possibly busy) host, turn and turn about. The largest resident size
# during each run (VmHWM) is printed beside the final one.
set -euo pipefail
cd "$(dirname "$0")/.."
SOCKETS=${SOCKETS:-40000}
SECS=${SECS:-20}
PAIRS=${PAIRS:-3}
cargo build --release -q
BIN=target/release/netpulse
BEFORE=${BEFORE:-}
if [ -n "$BEFORE" ] && [ ! -x "$BEFORE" ]; then
    echo "BEFORE=$BEFORE is not an executable" >&2
    exit 1
fi
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# The server, on a free port, its store under $work.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'listen: "127.0.0.1:%s"\njetstream { store_dir: "%s/store" }\n' "$PORT" "$work" > "$work/nats.conf"
nats-server -c "$work/nats.conf" > "$work/nats.log" 2>&1 &
pids+=($!)
# Create the stream (limits: the runs publish a few GB at most).
python3 - "$PORT" <<'EOF'
import json, socket, sys, time
port = int(sys.argv[1])
deadline = time.time() + 30
while True:
    try:
        s = socket.create_connection(("127.0.0.1", port)); break
    except OSError:
        if time.time() > deadline: sys.exit("nats-server did not start")
        time.sleep(0.05)
f = s.makefile("rb")
f.readline()  # INFO
cfg = json.dumps({"name": "NETPULSE", "subjects": ["netpulse.>"], "storage": "file",
                  "max_bytes": 8 << 30, "discard": "old", "duplicate_window": 120_000_000_000})
s.sendall(b'CONNECT {"verbose":false,"headers":true}\r\nSUB _INBOX.bench 1\r\n')
s.sendall(b"PUB $JS.API.STREAM.CREATE.NETPULSE _INBOX.bench %d\r\n%s\r\nPING\r\n" % (len(cfg), cfg.encode()))
while True:
    line = f.readline()
    if not line: sys.exit("nats-server closed the connection")
    if line.startswith(b"MSG"):
        n = int(line.split()[-1]); body = f.read(n + 2)
        if b'"error"' in body: sys.exit("stream create failed: %s" % body)
        break
EOF

# Socket holders.
left=$((SOCKETS / 2)); k=0
while [ "$left" -gt 0 ]; do
    n=$(( left < 5000 ? left : 5000 ))
    python3 - "127.0.4.$((20 + k))" "$n" "$work/ready.$k" <<'EOF' &
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
        [ "$waited" -lt 6000 ] || { echo "socket holders not ready after 300 s" >&2; exit 1; }
        sleep 0.05; waited=$((waited + 1))
    done
done

cfg() { # $1 = file|nats|before
    cat <<EOF
[[output]]
format = "json"
dir = "$work/out-$1"
prefix = "slow"
tiers = ["slow"]
EOF
    if [ "$1" = file ]; then
        printf '[[output]]\nformat = "proto"\ndir = "%s/out-file"\nsockets = "changed"\nrotate_size = "1GiB"\nkeep = 1\n' "$work"
    else
        printf '[[nats]]\nurl = "nats://127.0.0.1:%s"\nencoding = "proto"\nsockets = "changed"\nspool_dir = "%s/spool"\n' "$PORT" "$work"
    fi
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }

run() { # $1 = file|nats|before -> prints "cpu_ms_per_s rss_kib hwm_kib"
    rm -rf "$work/out-$1" "$work/spool"; mkdir -p "$work/out-$1"
    cfg "$1" > "$work/$1.toml"
    local bin=$BIN
    if [ "$1" = before ]; then bin=$BEFORE; fi
    "$bin" run --config "$work/$1.toml" 2>"$work/$1.log" &
    local agent=$!
    sleep 5 # warm-up: first polls, every socket's first line
    local a b rss hwm
    a=$(cpu_ticks "$agent")
    sleep "$SECS" # the measured window
    b=$(cpu_ticks "$agent")
    rss=$(rss_kib "$agent")
    hwm=$(hwm_kib "$agent")
    kill -TERM "$agent"
    if ! wait "$agent"; then
        echo "the agent did not drain and exit cleanly:" >&2
        tail -5 "$work/$1.log" >&2
        exit 1
    fi
    if [ "$1" != file ] && grep -q "publishing failed\|cannot connect" "$work/nats.log" "$work/$1.log"; then
        echo "the nats output did not publish cleanly:" >&2
        grep "publishing failed\|cannot connect" "$work/$1.log" | tail -3 >&2
        exit 1
    fi
    echo "$(( (b - a) * 10 / SECS )) $rss $hwm"
}

modes="file nats"
if [ -n "$BEFORE" ]; then modes="file before nats"; fi
echo "run      cpu_ms/s  rss_MiB  peak_MiB"
results=()
for _ in $(seq "$PAIRS"); do
    for mode in $modes; do
        out=$(run "$mode")
        echo "$mode $out" | awk '{ printf "%-8s %8d %8.1f %9.1f\n", $1, $2, $3 / 1024, $4 / 1024 }'
        results+=("$mode $out")
    done
done
printf '%s\n' "${results[@]}" | awk '
    { cpu[$1] += $2; n[$1]++; if ($3 > rss[$1]) rss[$1] = $3; if ($4 > hwm[$1]) hwm[$1] = $4 }
    END {
        f = cpu["file"] / n["file"]; s = cpu["nats"] / n["nats"]
        printf "mean cpu per 1 s fast tick: file %.0f ms, nats %.0f ms: nats/file = %.2f (target <= 1.15)\n", f, s, s / f
        printf "largest RSS: file %.1f MiB, nats %.1f MiB (target <= 64 MiB)\n", rss["file"] / 1024, rss["nats"] / 1024
        printf "largest peak (VmHWM): file %.1f MiB, nats %.1f MiB\n", hwm["file"] / 1024, hwm["nats"] / 1024
        if (n["before"] > 0) {
            b = cpu["before"] / n["before"]
            printf "before: cpu %.0f ms (before/file = %.2f), largest RSS %.1f MiB, peak %.1f MiB\n", b, b / f, rss["before"] / 1024, hwm["before"] / 1024
        }
    }'
