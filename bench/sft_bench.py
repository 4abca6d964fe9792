#!/usr/bin/env python3
"""`make bench-sft`, the SFT workload (issue 21): `delta-hf prepare` with a chat template, assistant
masks and packing vs TRL 1.16's own preparation + `save_to_disk`.

Usage (with the second venv's Python, which has trl):
    sft_bench.py [--scale S] [--runs N] [--bin PATH] [--data DIR] [--no-save] [--tools delta-hf,trl]

1. Reuses (or generates, sft_gen.py) DATA/sft-scale-S/train: 100,000 x S conversations (2-8 turns,
   30-300 words a turn, a system prompt in a third) and DATA/tokenizer-chatml (a 50k byte-level
   BPE with ChatML tokens and a ChatML template with generation marks).
2. Runs the contenders alternately, N times each, each a child process (wall, CPU, peak RSS from
   rusage, as bench.py measures):
     delta-hf  delta-hf prepare --split train=TABLE --tokenizer TOK --messages-col messages
               --assistant-only-loss --max-length 2048 --packing bfd --output OUT --overwrite --json --quiet
     trl       sft_peer.py: deltalake -> datasets.Dataset -> SFTTrainer(SFTConfig(max_length=2048,
               assistant_only_loss=True, packing=True, packing_strategy="bfd", dataset_num_proc=2))
               -> train_dataset.save_to_disk(OUT)
   Every run is validated, and the outputs must be equal: a digest of `input_ids`, `labels` and
   `seq_lengths`, row for row in order, over every shard. (TRL with dataset_num_proc=2 packs each
   half of the rows in windows of 1,000 from the half's start; delta-hf's windows run from the
   split's start: the same windows when half the rows is a multiple of 1,000, as at SCALE >= 0.02.)
3. Prints the medians and the ratios to the targets; writes bench/sft_results.{json,md}.

Until the build has the SFT flags (`prepare --help` lists --messages-col and --packing), the
delta-hf contender is reported as not available and the TRL peer runs alone.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import bench
import sft_gen

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
TOOLS = ("delta-hf", "trl")
MAX_LENGTH = 2048
PACKING = "bfd"
NUM_PROC = 2
MIB = 1024 * 1024
TARGET_SPEEDUP = 5.0      # trl wall / delta-hf wall >= 5
TARGET_RSS_MIB = 512
COLUMNS = ("input_ids", "labels", "seq_lengths")


def has_sft(binary: Path) -> bool:
    try:
        out = subprocess.run([str(binary), "prepare", "--help"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--messages-col" in out and "--packing" in out


def command(tool: str, binary: Path, table: Path, tok: Path, out: Path) -> list[str]:
    if tool == "delta-hf":
        return [str(binary), "prepare", "--split", f"train={table}", "--tokenizer", str(tok),
                "--messages-col", "messages", "--assistant-only-loss", "--max-length", str(MAX_LENGTH),
                "--packing", PACKING, "--output", str(out / "dataset"), "--overwrite", "--json", "--quiet"]
    return [sys.executable, str(BENCH_DIR / "sft_peer.py"), "--table", str(table), "--tokenizer", str(tok),
            "--output", str(out / "dataset"), "--max-length", str(MAX_LENGTH), "--packing", PACKING,
            "--num-proc", str(NUM_PROC)]


def digest(shard_dir: Path) -> dict:
    """Rows, tokens, trainable tokens and a sha256 of the packed columns, in row order."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    # Lengths and values hashed apart, so the digest depends on the rows, not on where the
    # writer cut its record batches.
    h = {c: hashlib.sha256() for c in COLUMNS}
    hv = {c: hashlib.sha256() for c in COLUMNS}
    rows = tokens = trainable = 0
    files = sorted(shard_dir.glob("data-*.arrow"))
    if not files:
        raise ValueError(f"no data-*.arrow shards in {shard_dir}")
    for f in files:
        with pa.memory_map(str(f)) as src:
            for b in pa.ipc.open_stream(src):
                rows += b.num_rows
                for c in COLUMNS:
                    col = b.column(c)
                    lengths = pc.list_value_length(col).to_numpy(zero_copy_only=False).astype(np.int64)
                    values = pc.list_flatten(col).to_numpy(zero_copy_only=False).astype(np.int64)
                    h[c].update(lengths.tobytes())
                    hv[c].update(values.tobytes())
                    if c == "input_ids":
                        tokens += int(values.size)
                    if c == "labels":
                        trainable += int((values != -100).sum())
    return {"rows": rows, "tokens": tokens, "trainable_tokens": trainable,
            **{f"sha256_{c}": hashlib.sha256(h[c].digest() + hv[c].digest()).hexdigest() for c in COLUMNS}}


def validate(tool: str, res: dict, out: Path) -> tuple[list[str], dict | None]:
    if res["exit_code"] != 0:
        return [f"exit code {res['exit_code']}"], None
    try:
        # delta-hf prints its summary as one (pretty) JSON document; the peer as its last line.
        text = res["stdout"].strip()
        try:
            res["summary"] = json.loads(text)
        except ValueError:
            res["summary"] = json.loads(text.splitlines()[-1])
    except (ValueError, IndexError):
        return ["stdout is not a JSON summary"], None
    shards = out / "dataset" / "train" if tool == "delta-hf" else out / "dataset"
    try:
        return [], digest(shards)
    except (ValueError, OSError, KeyError) as e:
        return [f"output unreadable: {e}"], None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--runs", type=int, default=3)
    target_dir = os.environ.get("CARGO_TARGET_DIR")
    default_bin = Path(target_dir) / "release" / "delta-hf" if target_dir else REPO / "target" / "release" / "delta-hf"
    ap.add_argument("--bin", type=Path, default=default_bin)
    ap.add_argument("--data", type=Path, default=BENCH_DIR / "data")
    ap.add_argument("--no-save", action="store_true")
    ap.add_argument("--tools", default=",".join(TOOLS))
    a = ap.parse_args()
    tools = [t for t in a.tools.split(",") if t]
    if not tools or any(t not in TOOLS for t in tools):
        ap.error(f"--tools: a comma-separated list of {', '.join(TOOLS)}")
    binary = a.bin.resolve()
    data = a.data.resolve()
    status = {t: "ok" for t in tools}
    if "delta-hf" in tools and not has_sft(binary):
        bench.log(f"[sft] {binary} has no SFT flags (--messages-col, --packing) yet: delta-hf not run")
        status["delta-hf"] = "not available in this build"
    env = bench.child_env()
    table = sft_gen.ensure_table(a.scale, data, log=bench.log)
    tok = sft_gen.ensure_tokenizer(data, log=bench.log)
    rows = sft_gen.params(a.scale)["rows"]
    files = bench.active_files(table)
    bench.log(f"[sft] {rows:,} conversations ({sum(f.stat().st_size for f in files) / 1e6:.1f} MB Parquet), "
              f"--max-length {MAX_LENGTH} --assistant-only-loss --packing {PACKING}, {a.runs} run(s) of "
              f"{', '.join(t for t in tools if status[t] == 'ok')}")
    for f in files:  # warm the page cache
        Path(f).read_bytes()
    out_root = data / "sft-out"
    logs = out_root / "logs"
    shutil.rmtree(out_root, ignore_errors=True)
    logs.mkdir(parents=True)
    runs: dict[str, list[dict]] = {t: [] for t in tools}
    digests: dict[str, dict] = {}
    for run in range(1, a.runs + 1):
        for tool in tools:
            if status[tool] != "ok":
                continue
            out = out_root / tool
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
            os.sync()
            res = bench.measure(command(tool, binary, table, tok, out), logs, f"{tool}-{run}", env)
            problems, d = validate(tool, res, out)
            if problems:
                bench.log(f"[run {run}] {tool} FAILED: {'; '.join(problems)}\n{res['stderr'][-2000:]}")
                status[tool] = "failed: " + "; ".join(problems)
                continue
            digests.setdefault(tool, d)
            s = res.pop("summary")
            res.pop("stdout"), res.pop("stderr")
            res["timings"] = s.get("timings", {})
            runs[tool].append(res)
            bench.log(f"[run {run}/{a.runs}] {tool}: {res['wall_s']:.2f} s wall, {res['cpu_s']:.2f} s CPU, "
                      f"{res['peak_rss_bytes'] / MIB:.0f} MiB peak RSS, {d['rows']:,} packed rows, "
                      f"{d['tokens']:,} tokens  " + ", ".join(f"{k} {v:.2f}" for k, v in res["timings"].items()
                                                              if isinstance(v, (int, float))))
            shutil.rmtree(out)
    shutil.rmtree(out_root, ignore_errors=True)
    equal = None
    if len(digests) > 1:
        equal = len({json.dumps(d, sort_keys=True) for d in digests.values()}) == 1
        if not equal:
            bench.log(f"OUTPUTS DIFFER: {json.dumps(digests, indent=2)}")
            status = {t: (s if s != "ok" else "outputs differ") for t, s in status.items()}
    med = {t: {k: statistics.median(r[k] for r in rs) for k in ("wall_s", "cpu_s", "peak_rss_bytes")}
           for t, rs in runs.items() if rs}
    result = {
        "scale": a.scale, "rows": rows, "max_length": MAX_LENGTH, "packing": PACKING, "num_proc": NUM_PROC,
        "runs_per_tool": a.runs, "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": bench.machine(), "outputs": digests, "outputs_equal": equal, "status": status,
        "medians": med, "runs": runs,
    }
    lines = ["| tool | wall s | CPU s | peak RSS MiB | conversations/s |", "|---|---:|---:|---:|---:|"]
    for t, m in med.items():
        lines.append(f"| {t} | {m['wall_s']:.2f} | {m['cpu_s']:.2f} | {m['peak_rss_bytes'] / MIB:.0f} | "
                     f"{rows / m['wall_s']:,.0f} |")
    if "delta-hf" in med and "trl" in med:
        r = med["trl"]["wall_s"] / med["delta-hf"]["wall_s"]
        lines.append(f"trl wall / delta-hf wall = {r:.2f} (target >= {TARGET_SPEEDUP})")
    if "delta-hf" in med:
        lines.append(f"delta-hf peak RSS = {med['delta-hf']['peak_rss_bytes'] / MIB:.0f} MiB (target <= {TARGET_RSS_MIB})")
    for line in lines:
        bench.log(line)
    if not a.no_save:
        jp, mp = BENCH_DIR / "sft_results.json", BENCH_DIR / "sft_results.md"
        allr = json.loads(jp.read_text()) if jp.exists() else {"scales": {}}
        allr["scales"][f"{a.scale:g}"] = result
        jp.write_text(json.dumps(allr, indent=2) + "\n")
        md = ["# SFT benchmark (`make bench-sft`, bench/sft_bench.py)", ""]
        for k, r in sorted(allr["scales"].items()):
            md += [f"## SCALE={k}: {r['rows']:,} conversations, --max-length {r['max_length']} --assistant-only-loss "
                   f"--packing {r['packing']}, {r['date']}, {r['machine']['cores']} cores", ""]
            md += ["| tool | wall s | CPU s | peak RSS MiB | conversations/s |", "|---|---:|---:|---:|---:|"]
            for t, m in r["medians"].items():
                md.append(f"| {t} | {m['wall_s']:.2f} | {m['cpu_s']:.2f} | {m['peak_rss_bytes'] / MIB:.0f} | "
                          f"{r['rows'] / m['wall_s']:,.0f} |")
            md += ["", f"Outputs equal: {r['outputs_equal']}; status: {r['status']}", ""]
        mp.write_text("\n".join(md) + "\n")
        bench.log(f"wrote {jp.relative_to(REPO)} and {mp.relative_to(REPO)}")
    return 0 if all(s in ("ok", "not available in this build") for s in status.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
