"""The fast tier's ticks as the agent itself reports them, for
benches/daemon_cpu.sh: CPU is divided by the polls the agent ran, never by
wall-clock seconds, and a tick skipped in the measured window fails the run
(a tick the agent did not do costs nothing, so counting it would flatter
the figure). Skips before the window (start-up) do not touch the figure.

The source is the agent's CSV system file (`<prefix>-system.csv`): one row
per poll with `ts` (poll start, ns since the epoch), `tier` and the
cumulative `skipped_ticks`. It stays small, so it can be read while the
agent runs.
"""

import csv
import io


class TickError(Exception):
    """The agent skipped or missed a tick, or did not report its health."""


def fast_rows(path):
    """(ts_ns, skipped_ticks) of every fast-tier row written so far; a
    last line still being written is left out."""
    with open(path, newline="") as f:
        text = f.read()
    text = text[: text.rfind("\n") + 1]
    rows = []
    for r in csv.DictReader(io.StringIO(text)):
        if r.get("tier") != "fast":
            continue
        skipped = r.get("skipped_ticks", "")
        if skipped == "":
            raise TickError(f"{path}: a fast row without skipped_ticks: {r}")
        rows.append((int(r["ts"]), int(skipped)))
    return rows


def ticks_between(path, t0, t1, interval_s=1):
    """Fast polls with a start in (t0, t1] (seconds since the epoch).

    Raises TickError when the agent reports a tick skipped in the window
    (its counter grew between the last poll before the window and the
    last one in it), or when the count is not the number of tick times in
    the window (a tick that went missing without being counted: this also
    covers a skip only the first poll after the window would report)."""
    rows = fast_rows(path)
    before = [s for ts, s in rows if ts / 1e9 <= t0]
    inside = [s for ts, s in rows if t0 < ts / 1e9 <= t1]
    start = before[-1] if before else 0
    if inside and inside[-1] > start:
        raise TickError(
            f"the agent skipped {inside[-1] - start} fast tick(s) in the measured window: "
            "the run does not count")
    ticks = len(inside)
    due = int(t1 // interval_s) - int(t0 // interval_s)
    if ticks != due:
        raise TickError(f"{ticks} fast polls reported in a window with {due} ticks due")
    return ticks
