#!/usr/bin/env python3
"""`make bench`, the tokenize workload (issue 12): `delta-hf prepare --tokenizer` vs the Python
recipe vs the `tokenizers` floor, on the benchmark's eval table.

Usage:
    tokenize_bench.py [--scale S] [--runs N] [--bin PATH] [--data DIR] [--no-save]
                      [--table eval|train] [--tools delta-hf,peer,floor]

`--table train --tools delta-hf` tokenizes the train table (10x the eval table's rows) with
delta-hf alone: the peak-RSS check from 1x to 10x rows (results under the key `S-train`).

1. Reuses (or generates, see gen.py) DATA/scale-S/eval: 100,000 x S rows of 40-400 words.
2. Trains (once, cached in DATA/tokenizer-bpe50k) a byte-level BPE of 50,000 entries, GPT-2 style
   (<|endoftext|>, no post-processor), with the Python `tokenizers` library on this Python's
   standard library sources and docs (real English and code, so the eval texts' pseudo-words
   split into several sub-words, as real text does), saved with a tokenizer_config.json.
3. Runs the three contenders alternately, N times each, each a child process (wall, CPU, peak
   RSS from rusage, as bench.py measures):
     delta-hf  delta-hf prepare --split test=EVAL --tokenizer TOK --max-length 512 --output OUT
               --overwrite --json --quiet (with its label map: text, label, then the token columns)
     peer      tokenize_peer.py: deltalake -> datasets.Dataset -> map(AutoTokenizer, batched=True,
               truncation=True, max_length=512) -> save_to_disk
     floor     tokenize_floor.py: tokenizers' encode_batch_fast over the same texts (truncation
               512), nothing written
   Every run is validated: rows, and the total number of tokens, which must be the same for all
   three (delta-hf's is summed from its shards).
4. Prints the medians and the ratios to the targets; writes bench/tokenize_results.{json,md}.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
from pathlib import Path

import bench
import gen

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
TOOLS = ("delta-hf", "peer", "floor")
MAX_LENGTH = 512
VOCAB = 50_000
MIB = 1024 * 1024
TARGET_FLOOR_RATIO = 1.0   # delta-hf wall / floor wall <= 1.0
TARGET_SPEEDUP = 1.5       # peer wall / delta-hf wall >= 1.5
TARGET_RSS_MIB = 512


def train_tokenizer(out: Path) -> Path:
    if (out / "tokenizer.json").is_file():
        return out
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(str(p) for p in stdlib.rglob("*") if p.suffix in (".py", ".txt", ".rst") and p.is_file()
                   and "site-packages" not in p.parts)
    bench.log(f"[tokenizer] training a {VOCAB:,}-entry byte-level BPE on {len(files)} files of {stdlib}")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=["<|endoftext|>"], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    def texts():
        for f in files:  # a few stdlib files are not UTF-8
            yield Path(f).read_text(encoding="utf-8", errors="replace")

    tok.train_from_iterator(texts(), trainer)
    out.mkdir(parents=True, exist_ok=True)
    tok.save(str(out / "tokenizer.json"))
    (out / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 1024, "bos_token": "<|endoftext|>",
        "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>"}, indent=2))
    return out


def command(tool: str, binary: Path, table: Path, tok: Path, out: Path) -> list[str]:
    if tool == "delta-hf":
        return [str(binary), "prepare", "--split", f"test={table}", "--tokenizer", str(tok), "--max-length",
                str(MAX_LENGTH), "--output", str(out / "dataset"),
                "--overwrite", "--json", "--quiet"]
    script = BENCH_DIR / f"tokenize_{tool}.py"
    cmd = [sys.executable, str(script), "--split", f"test={table}", "--tokenizer", str(tok),
           "--max-length", str(MAX_LENGTH)]
    return cmd + (["--output", str(out / "dataset")] if tool == "peer" else [])


def shard_tokens(split_dir: Path) -> int:
    import pyarrow as pa
    import pyarrow.compute as pc

    total = 0
    for f in sorted(split_dir.glob("data-*.arrow")):
        with pa.memory_map(str(f)) as src:
            for b in pa.ipc.open_stream(src):
                total += pc.sum(pc.list_value_length(b.column("input_ids"))).as_py() or 0
    return total


def validate(tool: str, res: dict, out: Path, rows: int) -> tuple[list[str], int | None]:
    if res["exit_code"] != 0:
        return [f"exit code {res['exit_code']}"], None
    try:
        s = json.loads(res["stdout"])
    except ValueError:
        return ["stdout is not a JSON summary"], None
    res["summary"] = s
    if tool == "delta-hf":
        got = {x["name"]: x["num_rows"] for x in s["splits"]}
        tokens = shard_tokens(out / "dataset" / "test")
    else:
        got, tokens = s["rows"], s["tokens"]["test"]
    if got != {"test": rows}:
        return [f"rows {got}, expected {rows}"], tokens
    return [], tokens


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--runs", type=int, default=3)
    target_dir = os.environ.get("CARGO_TARGET_DIR")
    default_bin = Path(target_dir) / "release" / "delta-hf" if target_dir else REPO / "target" / "release" / "delta-hf"
    ap.add_argument("--bin", type=Path, default=default_bin)
    ap.add_argument("--data", type=Path, default=BENCH_DIR / "data")
    ap.add_argument("--no-save", action="store_true")
    ap.add_argument("--table", choices=["eval", "train"], default="eval")
    ap.add_argument("--tools", default=",".join(TOOLS))
    a = ap.parse_args()
    tools = [t for t in a.tools.split(",") if t]
    if not tools or any(t not in TOOLS for t in tools):
        ap.error(f"--tools: a comma-separated list of {', '.join(TOOLS)}")
    binary = a.bin.resolve()
    data = a.data.resolve()
    env = bench.child_env()
    gen.ensure_data(a.scale, data, False, log=bench.log)
    table = data / gen.scale_name(a.scale) / a.table
    rows = gen.params(a.scale)[f"{a.table}_rows"]
    tok = train_tokenizer(data / "tokenizer-bpe50k")
    files = bench.active_files(table)
    text_bytes = sum(f.stat().st_size for f in files)
    bench.log(f"[tokenize] {rows:,} rows ({text_bytes / 1e6:.1f} MB Parquet), --max-length {MAX_LENGTH}, "
              f"{a.runs} run(s) of {', '.join(tools)}")
    for f in files:  # warm the page cache
        Path(f).read_bytes()
    out_root = data / "tokenize-out"
    logs = out_root / "logs"
    shutil.rmtree(out_root, ignore_errors=True)
    logs.mkdir(parents=True)
    runs: dict[str, list[dict]] = {t: [] for t in tools}
    status = {t: "ok" for t in tools}
    token_counts: dict[str, int] = {}
    for run in range(1, a.runs + 1):
        for tool in tools:
            if status[tool] != "ok":
                continue
            out = out_root / tool
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
            os.sync()
            res = bench.measure(command(tool, binary, table, tok, out), logs, f"{tool}-{run}", env)
            problems, tokens = validate(tool, res, out, rows)
            if problems:
                bench.log(f"[run {run}] {tool} FAILED: {'; '.join(problems)}\n{res['stderr'][-2000:]}")
                status[tool] = "failed: " + "; ".join(problems)
                continue
            token_counts.setdefault(tool, tokens)
            s = res.pop("summary")
            res.pop("stdout"), res.pop("stderr")
            res["timings"] = s.get("timings", {})
            runs[tool].append(res)
            bench.log(f"[run {run}/{a.runs}] {tool}: {res['wall_s']:.2f} s wall, {res['cpu_s']:.2f} s CPU, "
                      f"{res['peak_rss_bytes'] / MIB:.0f} MiB peak RSS, {tokens:,} tokens  "
                      + ", ".join(f"{k} {v:.2f}" for k, v in res["timings"].items()))
            shutil.rmtree(out)
    shutil.rmtree(out_root, ignore_errors=True)
    if len(set(token_counts.values())) > 1:
        bench.log(f"TOKEN COUNTS DIFFER: {token_counts}")
        status = {t: (s if s != "ok" else "tokens differ") for t, s in status.items()}
    med = {t: {k: statistics.median(r[k] for r in rs) for k in ("wall_s", "cpu_s", "peak_rss_bytes")}
           for t, rs in runs.items() if rs}
    result = {
        "scale": a.scale, "table": a.table, "rows": rows, "max_length": MAX_LENGTH, "vocab": VOCAB, "runs_per_tool": a.runs,
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": bench.machine(), "tokens": token_counts, "status": status, "medians": med,
        "runs": runs,
    }
    lines = [f"| tool | wall s | CPU s | peak RSS MiB | rows/s |", "|---|---:|---:|---:|---:|"]
    for t, m in med.items():
        lines.append(f"| {t} | {m['wall_s']:.2f} | {m['cpu_s']:.2f} | {m['peak_rss_bytes'] / MIB:.0f} | "
                     f"{rows / m['wall_s']:,.0f} |")
    ratios = []
    if "delta-hf" in med and "floor" in med:
        r = med["delta-hf"]["wall_s"] / med["floor"]["wall_s"]
        ratios.append(f"delta-hf wall / floor wall = {r:.2f} (target <= {TARGET_FLOOR_RATIO})")
    if "delta-hf" in med and "peer" in med:
        r = med["peer"]["wall_s"] / med["delta-hf"]["wall_s"]
        ratios.append(f"peer wall / delta-hf wall = {r:.2f} (target >= {TARGET_SPEEDUP})")
    if "delta-hf" in med:
        ratios.append(f"delta-hf peak RSS = {med['delta-hf']['peak_rss_bytes'] / MIB:.0f} MiB "
                      f"(target <= {TARGET_RSS_MIB})")
    for line in lines + ratios:
        bench.log(line)
    if not a.no_save:
        key = f"{a.scale:g}" + ("-train" if a.table == "train" else "")
        jp, mp = BENCH_DIR / "tokenize_results.json", BENCH_DIR / "tokenize_results.md"
        allr = json.loads(jp.read_text()) if jp.exists() else {"scales": {}}
        allr["scales"][key] = result
        jp.write_text(json.dumps(allr, indent=2) + "\n")
        md = ["# Tokenize benchmark (`make bench`, bench/tokenize_bench.py)", ""]
        for k, r in sorted(allr["scales"].items()):
            md += [f"## SCALE={k} ({r.get('table', 'eval')} table): {r['rows']:,} rows, --max-length {r['max_length']}, {r['date']}, "
                   f"{r['machine']['cores']} cores", ""]
            md += [f"| tool | wall s | CPU s | peak RSS MiB | rows/s |", "|---|---:|---:|---:|---:|"]
            for t, m in r["medians"].items():
                md.append(f"| {t} | {m['wall_s']:.2f} | {m['cpu_s']:.2f} | {m['peak_rss_bytes'] / MIB:.0f} | "
                          f"{r['rows'] / m['wall_s']:,.0f} |")
            md += ["", f"Tokens (equal for every tool): {r['tokens']}; status: {r['status']}", ""]
        mp.write_text("\n".join(md) + "\n")
        bench.log(f"wrote {jp.relative_to(REPO)} and {mp.relative_to(REPO)}")
    return 0 if all(s == "ok" for s in status.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
