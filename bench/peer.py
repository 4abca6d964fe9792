#!/usr/bin/env python3
"""The Python peer of `delta-hf prepare`: what a user would otherwise write.

Usage:
    peer.py --split NAME=TABLE [--split NAME=TABLE ...] --output DIR

python `deltalake` reads each table (columns `text`, `label`) into pyarrow; `datasets` wraps
the tables, casts `label` to one global ClassLabel (names = sorted distinct labels over all
splits, code-point order like `datasets` itself) and `DatasetDict.save_to_disk` writes DIR.
Prints a JSON summary (rows per split, label names, stage seconds) on stdout.
"""

import argparse
import json
import sys
import time

T0 = time.perf_counter()

import datasets  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
from deltalake import DeltaTable  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", action="append", required=True, metavar="NAME=TABLE")
    ap.add_argument("--output", required=True)
    a = ap.parse_args()
    splits = dict(s.split("=", 1) for s in a.split)
    datasets.disable_progress_bars()
    timings = {"import": time.perf_counter() - T0}

    t = time.perf_counter()
    tables = {name: DeltaTable(path).to_pyarrow_table(columns=["text", "label"])
              for name, path in splits.items()}
    timings["read"] = time.perf_counter() - t

    t = time.perf_counter()
    names = sorted(set().union(*(pc.unique(tbl["label"]).to_pylist() for tbl in tables.values())))
    dd = datasets.DatasetDict({name: datasets.Dataset(tbl) for name, tbl in tables.items()})
    del tables
    dd = dd.cast_column("label", datasets.ClassLabel(names=names))
    timings["label"] = time.perf_counter() - t

    t = time.perf_counter()
    dd.save_to_disk(a.output)
    timings["save"] = time.perf_counter() - t

    json.dump({"rows": {name: ds.num_rows for name, ds in dd.items()}, "names": names,
               "timings": timings}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
