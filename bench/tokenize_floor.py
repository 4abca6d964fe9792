#!/usr/bin/env python3
"""The floor of tokenization: the `tokenizers` library's own `encode_batch_fast` over the same
texts (read with pyarrow from the table's active Parquet files), truncated to N, no output.

Usage:
    tokenize_floor.py --split NAME=TABLE --tokenizer DIR --max-length N

Prints a JSON summary (rows, total tokens, stage seconds) on stdout.
"""

import argparse
import json
import os
import sys
import time
from urllib.parse import unquote, urlparse

T0 = time.perf_counter()

import pyarrow.dataset as pds  # noqa: E402
from deltalake import DeltaTable  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

BATCH = 8192


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", action="append", required=True, metavar="NAME=TABLE")
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--max-length", type=int, required=True)
    a = ap.parse_args()
    timings = {"import": time.perf_counter() - T0}
    tok = Tokenizer.from_file(os.path.join(a.tokenizer, "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(a.max_length)
    rows, tokens = {}, {}
    t = time.perf_counter()
    for name, path in (s.split("=", 1) for s in a.split):
        files = [unquote(urlparse(u).path) if u.startswith("file:") else u for u in DeltaTable(path).file_uris()]
        n = k = 0
        for batch in pds.dataset(files, format="parquet").to_batches(columns=["text"], batch_size=BATCH):
            encs = tok.encode_batch_fast(batch.column(0).to_pylist())
            n += len(encs)
            k += sum(len(e.ids) for e in encs)
        rows[name], tokens[name] = n, k
    timings["tokenize"] = time.perf_counter() - t
    json.dump({"rows": rows, "tokens": tokens, "timings": timings}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
