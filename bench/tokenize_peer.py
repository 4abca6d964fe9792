#!/usr/bin/env python3
"""The Python recipe `prepare --tokenizer` replaces: deltalake -> `datasets.Dataset` ->
`map(fast tokenizer, batched=True)` -> `save_to_disk`.

Usage:
    tokenize_peer.py --split NAME=TABLE --tokenizer DIR --max-length N --output DIR

Prints a JSON summary (rows, total tokens, stage seconds) on stdout.
"""

import argparse
import json
import sys
import time

T0 = time.perf_counter()

import datasets  # noqa: E402
from deltalake import DeltaTable  # noqa: E402
from transformers import AutoTokenizer  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", action="append", required=True, metavar="NAME=TABLE")
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--max-length", type=int, required=True)
    ap.add_argument("--output", required=True)
    a = ap.parse_args()
    datasets.disable_progress_bars()
    timings = {"import": time.perf_counter() - T0}
    t = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(a.tokenizer)
    dd = datasets.DatasetDict({
        name: datasets.Dataset(DeltaTable(path).to_pyarrow_table(columns=["text", "label"]))
        for name, path in (s.split("=", 1) for s in a.split)})
    timings["read"] = time.perf_counter() - t
    t = time.perf_counter()
    dd = dd.map(lambda b: tok(b["text"], truncation=True, max_length=a.max_length), batched=True)
    timings["map"] = time.perf_counter() - t
    t = time.perf_counter()
    dd.save_to_disk(a.output)
    timings["save"] = time.perf_counter() - t
    tokens = {name: sum(len(x) for x in ds.data.column("input_ids").to_pylist()) for name, ds in dd.items()}
    json.dump({"rows": {n: ds.num_rows for n, ds in dd.items()}, "tokens": tokens, "timings": timings}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
