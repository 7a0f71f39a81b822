#!/usr/bin/env bash
# The benchmarks' refusals, checked without the benchmarks (which need
# 40,000 sockets and minutes): benches/daemon_ticks.py fails a run with a
# skipped or missing fast tick, and benches/endpoint_scrapers.py fails when
# a scrape fails. Each check also runs the passing case, so a guard that
# refuses everything fails here too.
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
server=""
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

echo "--- daemon_cpu: ticks counted from the agent's system rows"
PYTHONDONTWRITEBYTECODE=1 python3 - "$PWD/benches" "$work" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
from daemon_ticks import TickError, ticks_between

work = sys.argv[2]
S = 1_700_000_000  # a whole second

def system_csv(rows, partial=""):
    """A system file as the agent writes it: header, one row per poll."""
    path = f"{work}/system.csv"
    with open(path, "w") as f:
        f.write("ts,tier,interval_ms,total_sockets,skipped_ticks\n")
        for ts_s, tier, skipped in rows:
            f.write(f"{int(ts_s * 1e9)},{tier},1000,40000,{skipped}\n")
        f.write(partial)
    return path

def fast(seconds, skipped=0):
    return [(S + k + 0.001, "fast", skipped) for k in seconds]

def refused(path, t0, t1, why):
    try:
        n = ticks_between(path, t0, t1)
    except TickError as e:
        print(f"refused ({why}): {e}")
        return
    sys.exit(f"FAIL: {why} was accepted as {n} ticks")

t0, t1 = S + 2.5, S + 22.5
ok = system_csv(fast(range(25)) + [(S + 0.002, "standard", 0)], partial="17000")
n = ticks_between(ok, t0, t1)
assert n == 20, f"FAIL: {n} ticks in a 20-tick window"
print("accepted: 20 fast polls, none skipped (standard rows and a torn last line ignored)")

refused(system_csv(fast(range(10)) + fast(range(10, 25), skipped=1)), t0, t1,
        "a tick skipped in the window")
n = ticks_between(system_csv(fast(range(2), skipped=1) + fast(range(2, 25), skipped=1)), t0, t1)
assert n == 20, f"FAIL: {n} ticks with a skip before the window"
print("accepted: a tick skipped at start-up, before the window")
refused(system_csv(fast(k for k in range(25) if k != 12)), t0, t1,
        "a tick missing without being counted")
refused(system_csv([(S + k + 0.001, "fast", "") for k in range(25)]), t0, t1,
        "rows without skipped_ticks")
PY

echo "--- endpoint_cpu: a failed scrape fails the benchmark"
# A stand-in endpoint (test double): /metrics answers 200, /api/snapshot
# 200 or, with FAIL_SNAPSHOT set, 500.
cat >"$work/stand_in_endpoint.py" <<'PY'
import http.server, os, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        fail = self.path == "/api/snapshot" and os.environ.get("FAIL_SNAPSHOT")
        body = b"ok\n"
        self.send_response(500 if fail else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
open(sys.argv[1], "w").write(str(server.server_address[1]))
server.serve_forever()
PY

# scrape FAIL_SNAPSHOT(""|1) -> the scrapers' exit status
scrape() {
    rm -f "$work/port" "$work/ready" "$work/stop"
    FAIL_SNAPSHOT=$1 python3 "$work/stand_in_endpoint.py" "$work/port" &
    server=$!
    local n=0
    until [ -s "$work/port" ]; do
        n=$((n + 1)); [ "$n" -lt 600 ] || { echo "stand-in endpoint did not start" >&2; exit 1; }
        sleep 0.05
    done
    python3 benches/endpoint_scrapers.py "127.0.0.1:$(cat "$work/port")" "$work/ready" "$work/stop" &
    local scr=$!
    n=0
    until [ -e "$work/ready" ]; do
        n=$((n + 1)); [ "$n" -lt 600 ] || { echo "scrapers never became ready" >&2; exit 1; }
        sleep 0.05
    done
    # Each scraper still makes its first round of requests.
    touch "$work/stop"
    local rc=0
    wait "$scr" || rc=$?
    kill "$server"; wait "$server" 2>/dev/null || true; server=""
    return "$rc"
}
scrape "" || { echo "FAIL: scrapers failed against a healthy endpoint" >&2; exit 1; }
echo "accepted: every request served"
if scrape 1; then
    echo "FAIL: failed scrapes were not reported" >&2
    exit 1
fi
echo "refused: failed scrapes"
echo "benchmark guards passed"
