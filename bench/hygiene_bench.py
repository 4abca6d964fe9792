#!/usr/bin/env python3
"""`make bench`, the hygiene workload (issue 23): W1's train table cut into train/validation/test
with near-duplicates and leaks dropped, delta-hf vs the Python recipe, and delta-hf's plain W1
export as the baseline.

Usage:
    hygiene_bench.py [--scale S] [--runs N] [--bin PATH] [--data DIR] [--no-save]

Contenders, run alternately N times each as child processes (wall, CPU, peak RSS as bench.py):
    delta-hf        prepare --split-from TRAIN --split-ratios train=0.8,validation=0.1,test=0.1
                    --dedup near --leaks drop
    delta-hf-plain  prepare --split train=TRAIN (W1 without hygiene)
    peer            hygiene_peer.py: deltalake -> pandas train_test_split -> datasketch MinHashLSH
                    (same shingles, threshold 0.8, 128 permutations) -> save_to_disk
Targets (issue 23): peer / delta-hf >= 10 on wall time; delta-hf <= 2x delta-hf-plain; delta-hf's
peak RSS <= 1 GiB at scale 1. The dropped-row counts of both are reported side by side (their
splits differ -- a hash vs a shuffled split -- so the cross-split pairs differ; the count of
rows dropped is the comparable number). Writes bench/hygiene_results.{json,md}.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import sys
from pathlib import Path

import bench
import gen

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RATIOS = "train=0.8,validation=0.1,test=0.1"
TOOLS = ("delta-hf", "delta-hf-plain", "peer")
MIB = 1024 * 1024


def command(tool: str, binary: Path, table: Path, out: Path) -> list[str]:
    if tool == "delta-hf":
        return [str(binary), "prepare", "--split-from", str(table), "--split-ratios", RATIOS, "--dedup", "near",
                "--leaks", "drop", "--output", str(out), "--overwrite", "--json", "--quiet"]
    if tool == "delta-hf-plain":
        return [str(binary), "prepare", "--split", f"train={table}", "--output", str(out), "--overwrite", "--json",
                "--quiet"]
    return [sys.executable, str(BENCH_DIR / "hygiene_peer.py"), "--table", str(table), "--ratios", RATIOS,
            "--output", str(out)]


def dropped(tool: str, summary: dict) -> int | None:
    if tool == "peer":
        return summary["dropped"]
    if tool == "delta-hf":
        return sum(sum(s.get("dropped", {}).values()) for s in summary["splits"])
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--runs", type=int, default=3)
    target_dir = os.environ.get("CARGO_TARGET_DIR")
    default_bin = Path(target_dir) / "release" / "delta-hf" if target_dir else REPO / "target" / "release" / "delta-hf"
    ap.add_argument("--bin", type=Path, default=default_bin)
    ap.add_argument("--data", type=Path, default=BENCH_DIR / "data")
    ap.add_argument("--no-save", action="store_true")
    ap.add_argument("--tools", default=",".join(TOOLS),
                    help="comma-separated contenders (default all; the peer at scale 1 takes many minutes a run)")
    a = ap.parse_args()
    tools = [t for t in a.tools.split(",") if t]
    unknown = [t for t in tools if t not in TOOLS]
    if unknown:
        ap.error(f"unknown tools {unknown}; choose from {', '.join(TOOLS)}")
    binary, data, env = a.bin.resolve(), a.data.resolve(), bench.child_env()
    gen.ensure_data(a.scale, data, False, log=bench.log)
    table = data / gen.scale_name(a.scale) / "train"
    rows = gen.params(a.scale)["train_rows"]
    out_root = data / "hygiene-out"
    shutil.rmtree(out_root, ignore_errors=True)
    (out_root / "logs").mkdir(parents=True)
    runs: dict[str, list[dict]] = {t: [] for t in tools}
    status = {t: "ok" for t in tools}
    drops: dict[str, int] = {}
    for run in range(1, a.runs + 1):
        for tool in tools:
            if status[tool] != "ok":
                continue
            out = out_root / tool
            shutil.rmtree(out, ignore_errors=True)
            res = bench.measure(command(tool, binary, table, out), out_root / "logs", f"{tool}-{run}", env)
            try:
                summary = json.loads(res["stdout"]) if res["exit_code"] == 0 else None
            except ValueError:
                summary = None
            if summary is None:
                status[tool] = f"failed: exit {res['exit_code']}"
                bench.log(f"[run {run}] {tool} FAILED\n{res['stderr'][-2000:]}")
                continue
            d = dropped(tool, summary)
            if d is not None:
                drops.setdefault(tool, d)
            res.pop("stdout"), res.pop("stderr")
            runs[tool].append(res)
            bench.log(f"[run {run}/{a.runs}] {tool}: {res['wall_s']:.2f} s wall, {res['cpu_s']:.2f} s CPU, "
                      f"{res['peak_rss_bytes'] / MIB:.0f} MiB peak RSS, dropped {d}")
            shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(out_root, ignore_errors=True)
    med = {t: {k: statistics.median(r[k] for r in rs) for k in ("wall_s", "cpu_s", "peak_rss_bytes")}
           for t, rs in runs.items() if rs}
    lines = ["| tool | wall s | CPU s | peak RSS MiB | rows dropped |", "|---|---:|---:|---:|---:|"]
    for t, m in med.items():
        lines.append(f"| {t} | {m['wall_s']:.2f} | {m['cpu_s']:.2f} | {m['peak_rss_bytes'] / MIB:.0f} | "
                     f"{drops.get(t, '')} |")
    if "delta-hf" in med and "peer" in med:
        lines.append(f"\npeer / delta-hf wall: {med['peer']['wall_s'] / med['delta-hf']['wall_s']:.1f}x (target >= 10x)")
    if "delta-hf" in med and "delta-hf-plain" in med:
        lines.append(f"delta-hf / plain W1 wall: {med['delta-hf']['wall_s'] / med['delta-hf-plain']['wall_s']:.2f}x "
                     "(target <= 2x)")
    text = "\n".join(lines)
    bench.log(text)
    if not a.no_save:
        # One entry per scale (and set of tools), kept across invocations.
        result = {"scale": a.scale, "rows": rows, "runs_per_tool": a.runs, "status": status, "medians": med,
                  "dropped": drops, "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                  "machine": bench.machine(), "runs": runs, "text": text}
        path = BENCH_DIR / "hygiene_results.json"
        try:
            saved = json.loads(path.read_text())
            saved = saved if isinstance(saved, dict) and "scale" not in saved else {}
        except (OSError, ValueError):
            saved = {}
        saved[f"scale {a.scale:g}: {', '.join(tools)}"] = result
        path.write_text(json.dumps(saved, indent=2) + "\n")
        md = ["# Hygiene workload (issue 23)", "",
              "Written by `bench/hygiene_bench.py`; medians of alternate runs (see the script's docstring).", ""]
        for key, r in saved.items():
            md += [f"## {key} ({r['rows']:,} rows, {r['runs_per_tool']} runs, {r['date']})", "", r["text"], ""]
        (BENCH_DIR / "hygiene_results.md").write_text("\n".join(md))
    return 0 if all(s == "ok" for s in status.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
