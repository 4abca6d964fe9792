#!/usr/bin/env python3
"""The Python peer of `delta-hf prepare --format mds`: what a user would otherwise write.

Usage (with the ML venv's interpreter, which has mosaicml-streaming):
    mds_peer.py --split NAME=TABLE [--split NAME=TABLE ...] --output DIR

python `deltalake` reads each table (columns `text`, `label`) into pyarrow; the label names are
the sorted distinct labels over all splits (code-point order, as `datasets`), ids their
positions; `streaming.MDSWriter` writes each split to DIR/<split> (`text` str, `label` int,
zstd, the default 64 MiB size limit) and `merge_index` writes DIR/index.json. Prints a JSON
summary (rows per split, label names, stage seconds) on stdout.
"""

import argparse
import json
import sys
import time

T0 = time.perf_counter()

import pyarrow.compute as pc  # noqa: E402
from deltalake import DeltaTable  # noqa: E402
from streaming import MDSWriter  # noqa: E402
from streaming.base.util import merge_index  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", action="append", required=True, metavar="NAME=TABLE")
    ap.add_argument("--output", required=True)
    a = ap.parse_args()
    splits = dict(s.split("=", 1) for s in a.split)
    timings = {"import": time.perf_counter() - T0}
    t = time.perf_counter()
    tables = {name: DeltaTable(path).to_pyarrow_table(columns=["text", "label"]) for name, path in splits.items()}
    timings["read"] = time.perf_counter() - t
    t = time.perf_counter()
    names = sorted(set().union(*(pc.unique(tbl["label"]).to_pylist() for tbl in tables.values())))
    ids = {n: i for i, n in enumerate(names)}
    timings["label"] = time.perf_counter() - t
    t = time.perf_counter()
    rows = {}
    for name, tbl in tables.items():
        with MDSWriter(columns={"text": "str", "label": "int"}, out=f"{a.output}/{name}", compression="zstd") as w:
            for batch in tbl.to_batches():
                for text, label in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist()):
                    w.write({"text": text, "label": ids[label]})
        rows[name] = tbl.num_rows
    merge_index(a.output, keep_local=True)
    timings["save"] = time.perf_counter() - t
    json.dump({"rows": rows, "names": names, "timings": timings}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
