#!/usr/bin/env python3
"""`make bench`, the fan-out contender: one export as N tasks on this machine (issue 13).

Usage:
    fanout.py --bin PATH --tasks N --split NAME=TABLE ... --output OUT [--label-table LT]

Runs `delta-hf plan` (every prepare flag given here, plus --tasks N), then the N `run-task`
processes at once (as N executors or for-each iterations would), then `commit`, and prints
commit's `--json` summary with `timings` replaced by the three phases' wall seconds
(`plan`, `tasks`, `commit`), so bench.py validates it like `prepare`'s. Exit status: the first
failing phase's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--tasks", type=int, default=2)
    ap.add_argument("--split", action="append", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--label-table")
    a = ap.parse_args()
    out = Path(a.output)
    plan = out.parent / "plan.json"
    flags = [x for s in a.split for x in ("--split", s)] + ["--output", str(out), "--overwrite"]
    if a.label_table:
        flags += ["--label-table", a.label_table]
    timings = {}

    t0 = time.monotonic()
    p = subprocess.run([a.bin, "plan", *flags, "--tasks", str(a.tasks), "--plan", str(plan), "--quiet"])
    timings["plan"] = time.monotonic() - t0
    if p.returncode != 0:
        return p.returncode

    t0 = time.monotonic()
    procs = [subprocess.Popen([a.bin, "run-task", "--plan", str(plan), "--task", str(i), "--quiet"])
             for i in range(a.tasks)]
    codes = [q.wait() for q in procs]
    timings["tasks"] = time.monotonic() - t0
    if any(codes):
        return next(c for c in codes if c)

    t0 = time.monotonic()
    c = subprocess.run([a.bin, "commit", "--plan", str(plan), "--json", "--quiet"], stdout=subprocess.PIPE)
    timings["commit"] = time.monotonic() - t0
    if c.returncode != 0:
        return c.returncode
    summary = json.loads(c.stdout)
    summary["timings"] = timings
    json.dump(summary, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
