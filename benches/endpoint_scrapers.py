"""Scrapers for benches/endpoint_cpu.sh: THREADS clients, each once a second
GET /metrics and GET /api/snapshot from the agent's endpoint.

    python3 benches/endpoint_scrapers.py HOST:PORT READY STOP

Waits (up to 30 s) until the endpoint answers, then creates the file READY
and scrapes until the file STOP exists (each client at least once). Every request must succeed: a
refused, failed, timed-out, non-200 or empty response is counted, and any
failure makes the exit status 1. A failed scrape costs the agent less than
a served one, so counting it would flatter the endpoint's cost.
"""

import os
import sys
import threading
import time
import urllib.request

THREADS = 10
PATHS = ("/metrics", "/api/snapshot")
READY_WITHIN = 30.0
REQUEST_TIMEOUT = 5.0


def get(base, path):
    """One request; returns None when it was served, else why not."""
    try:
        with urllib.request.urlopen(base + path, timeout=REQUEST_TIMEOUT) as r:
            if r.status != 200:
                return f"{path}: HTTP {r.status}"
            if not r.read():
                return f"{path}: empty body"
    except Exception as e:  # every failure counts, whatever its kind
        return f"{path}: {e}"
    return None


def main():
    addr, ready, stop = sys.argv[1:4]
    base = f"http://{addr}"
    deadline = time.time() + READY_WITHIN
    while get(base, "/metrics") is not None:
        if time.time() > deadline:
            print(f"scrapers: {base} did not answer within {READY_WITHIN:.0f} s", file=sys.stderr)
            return 1
        time.sleep(0.05)
    open(ready, "w").close()

    lock = threading.Lock()
    served, failures = [0], []

    def scrape():
        # At least one round each, however soon STOP appears.
        while True:
            t = time.time()
            for path in PATHS:
                why = get(base, path)
                with lock:
                    if why is None:
                        served[0] += 1
                    else:
                        failures.append(why)
            if os.path.exists(stop):
                return
            time.sleep(max(0.0, 1.0 - (time.time() - t)))

    threads = [threading.Thread(target=scrape) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"scrapers: {served[0]} requests served, {len(failures)} failed", file=sys.stderr)
    if failures:
        for why in failures[:5]:
            print(f"scrapers: failed: {why}", file=sys.stderr)
        return 1
    if served[0] == 0:
        print("scrapers: no request was made", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
