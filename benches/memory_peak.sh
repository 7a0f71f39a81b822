#!/usr/bin/env bash
# Memory of the agent and of `netpulse once` against the number of sockets
# (not part of CI: it holds up to 160,000 loopback sockets and runs the
# agent through a minute of ticks per size).
#
#   benches/memory_peak.sh [SOCKETS...]      (default: 0 40000 160000)
#
# For each size, in a fresh network namespace:
# - the agent on its default tiers with one JSON file output: start-up,
#   three SIGHUPs, then 60 fast ticks; its VmHWM (peak resident size over
#   the whole run) and its VmRSS at the end (steady state);
# - `netpulse once > /dev/null`, three times: the largest peak RSS (GNU
#   time(1), /usr/bin/time, measures it).
# Then `base + k x sockets`: base is the size at 0 sockets, k the bytes per
# socket at each other size (peak minus base, over the socket count).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -eq 0 ]; then set -- 0 40000 160000; fi
cargo build --release --quiet
BIN=${NETPULSE_BIN:-$PWD/target/release/netpulse}
exec unshare --net sh -c 'ip link set lo up && exec python3 - "$@"' sh "$BIN" "$@" <<'PY'
import glob, os, resource, signal, socket, subprocess, sys, tempfile, time

BIN, SIZES = sys.argv[1], [int(a) for a in sys.argv[2:]]
FDS_PER_PROC = 19_000          # each process may hold 20,000 descriptors
TICKS, HUPS = 60, 3

def hold(ip, pairs_wanted):
    l = socket.socket(); l.bind((ip, 0)); l.listen(4096)
    pairs = []
    for _ in range(pairs_wanted):
        c = socket.create_connection(l.getsockname())
        s, _ = l.accept()
        pairs.append((c, s))
    os.write(1, b"ready\n")
    signal.pause()

def start_load(sockets):
    """sockets / 2 loopback connections, spread over processes."""
    pairs, kids, i = sockets // 2, [], 0
    while pairs > 0:
        n = min(pairs, FDS_PER_PROC // 2)
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r); os.dup2(w, 1)
            resource.setrlimit(resource.RLIMIT_NOFILE, (20_000, 20_000))
            try:
                hold(f"127.0.{3 + i // 200}.{10 + i % 200}", n)
            finally:
                os._exit(0)
        os.close(w)
        if os.read(r, 6) != b"ready\n":
            sys.exit("benchmark failed: a load process could not open its sockets")
        os.close(r)
        kids.append(pid); pairs -= n; i += 1
    return kids

def stop_load(kids):
    for k in kids:
        os.kill(k, signal.SIGTERM)
    for k in kids:
        os.waitpid(k, 0)

def status_kib(pid, key):
    for l in open(f"/proc/{pid}/status"):
        if l.startswith(key + ":"):
            return int(l.split()[1])

def wait_for(what, cond, limit=180.0):
    deadline = time.time() + limit
    while not cond():
        if time.time() > deadline:
            sys.exit(f"benchmark failed: no {what} after {limit:.0f} s")
        time.sleep(0.05)

class FastTicks:
    """Counts the fast tier's system lines as the agent writes them, reading
    only new bytes (and the rest of a file rotated away under it)."""
    def __init__(self, out):
        self.path, self.off, self.count, self.part = f"{out}/netpulse.jsonl", 0, 0, b""
    def poll(self):
        try:
            size = os.path.getsize(self.path)
        except FileNotFoundError:
            return self.count
        if size < self.off:   # rotated: finish the file it became
            rotated = sorted(glob.glob(self.path + ".2*"))
            if rotated:
                with open(rotated[-1], "rb") as f:
                    f.seek(self.off); self._consume(f.read())
            self.off, self.part = 0, b""
        try:
            with open(self.path, "rb") as f:
                f.seek(self.off); data = f.read()
        except FileNotFoundError:   # between a rotation's rename and reopen
            return self.count
        self.off += len(data)
        self._consume(data)
        return self.count
    def _consume(self, data):
        data = self.part + data
        lines = data.split(b"\n"); self.part = lines.pop()
        self.count += sum(1 for l in lines if l.startswith(b'{"type":"system"') and b'"tier":"fast"' in l)

def agent_run(sockets):
    tmp = tempfile.mkdtemp(prefix="np-mem-")
    out = f"{tmp}/out"
    cfg = f"{tmp}/netpulse.toml"
    open(cfg, "w").write(f'[[output]]\nformat = "json"\ndir = "{out}"\nkeep = 2\n')
    log = open(f"{tmp}/log", "w")
    p = subprocess.Popen([BIN, "run", "--config", cfg], stderr=log)
    ticks = FastTicks(out)
    def alive():
        if p.poll() is not None:
            sys.exit(f"benchmark failed: the agent exited with {p.returncode}; log {tmp}/log")
        return True
    for h in range(HUPS):
        want = ticks.poll() + 2
        wait_for("fast polls before a SIGHUP", lambda: alive() and ticks.poll() >= want)
        p.send_signal(signal.SIGHUP)
    want = ticks.poll() + TICKS
    wait_for(f"{TICKS} fast ticks", lambda: alive() and ticks.poll() >= want, limit=TICKS * 4)
    hwm, rss = status_kib(p.pid, "VmHWM"), status_kib(p.pid, "VmRSS")
    p.send_signal(signal.SIGTERM); p.wait(timeout=60)
    subprocess.run(["rm", "-rf", tmp])
    return hwm, rss

def once_peak():
    """Largest peak RSS (KiB) of three `netpulse once > /dev/null`. Measured
    by GNU time, whose child is forked from a small process: a child forked
    from this (large) Python process would carry the parent's resident size
    into its own maximum across exec."""
    peaks = []
    for _ in range(3):
        r = subprocess.run(["/usr/bin/time", "-f", "%M", BIN, "once"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            sys.exit(f"benchmark failed: netpulse once failed: {r.stderr}")
        peaks.append(int(r.stderr.strip().splitlines()[-1]))
    return max(peaks)

MiB = 1024.0
rows = []
for n in SIZES:
    kids = start_load(n)
    try:
        host = sum(1 for _ in open("/proc/net/tcp")) + sum(1 for _ in open("/proc/net/tcp6")) - 2
        hwm, rss = agent_run(n)
        once = once_peak()
    finally:
        stop_load(kids)
    rows.append((n, host, hwm, rss, once))
    print(f"{n:>7} sockets (namespace holds {host}): agent peak {hwm / MiB:.1f} MiB, steady {rss / MiB:.1f} MiB; "
          f"once peak {once / MiB:.1f} MiB", flush=True)
    # The closed connections linger in FIN_WAIT/TIME_WAIT; let them go
    # before the next size so each size is measured alone.
    def lingering():
        f = open("/proc/net/sockstat").read().split("TCP:")[1].split("\n")[0].split()
        v = dict(zip(f[::2], map(int, f[1::2])))
        return v["inuse"] + v["tw"]
    deadline = time.time() + 180
    while lingering() > 0 and time.time() < deadline:
        time.sleep(1)

base = next((r for r in rows if r[0] == 0), None)
if base:
    for n, _, hwm, rss, once in rows:
        if n == 0:
            print(f"base: agent peak {hwm / MiB:.1f} MiB, steady {rss / MiB:.1f} MiB, once {once / MiB:.1f} MiB")
            continue
        k = lambda v, b: (v - b) * 1024 / n
        print(f"k at {n}: agent peak {k(hwm, base[2]):.0f} B/socket, steady {k(rss, base[3]):.0f} B/socket, "
              f"once {k(once, base[4]):.0f} B/socket")
PY
