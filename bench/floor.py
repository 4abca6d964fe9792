#!/usr/bin/env python3
"""The floor: read the tables' Parquet files with pyarrow and write them back as Arrow IPC.

Usage:
    floor.py --split NAME=TABLE [--split NAME=TABLE ...] --output DIR

For each table: its active Parquet files (`DeltaTable(path).file_uris()`), columns `text` and
`label` only, scanned multi-threaded by `pyarrow.dataset`, streamed into one uncompressed Arrow
IPC stream DIR/NAME.arrow. No label work, no `datasets`: the least any exporter has to do.
Prints a JSON summary (rows per split, stage seconds) on stdout.
"""

import argparse
import json
import os
import sys
import time
from urllib.parse import unquote, urlparse

T0 = time.perf_counter()

import pyarrow as pa  # noqa: E402
import pyarrow.dataset as pds  # noqa: E402
from deltalake import DeltaTable  # noqa: E402


def local_path(uri: str) -> str:
    return unquote(urlparse(uri).path) if uri.startswith("file:") else uri


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", action="append", required=True, metavar="NAME=TABLE")
    ap.add_argument("--output", required=True)
    a = ap.parse_args()
    splits = dict(s.split("=", 1) for s in a.split)
    timings = {"import": time.perf_counter() - T0}
    os.makedirs(a.output, exist_ok=True)

    t = time.perf_counter()
    files = {name: [local_path(u) for u in DeltaTable(path).file_uris()] for name, path in splits.items()}
    timings["resolve"] = time.perf_counter() - t

    t = time.perf_counter()
    rows = {}
    for name, paths in files.items():
        scanner = pds.dataset(paths, format="parquet").scanner(columns=["text", "label"], use_threads=True)
        n = 0
        with pa.OSFile(os.path.join(a.output, f"{name}.arrow"), "wb") as sink, \
                pa.ipc.new_stream(sink, scanner.projected_schema) as writer:
            for batch in scanner.to_batches():
                writer.write_batch(batch)
                n += batch.num_rows
        rows[name] = n
    timings["copy"] = time.perf_counter() - t

    json.dump({"rows": rows, "files": {k: len(v) for k, v in files.items()}, "timings": timings}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
