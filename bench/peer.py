#!/usr/bin/env python3
"""The Python peer of `delta-hf prepare`: what a user would otherwise write.

Usage:
    peer.py --split NAME=TABLE [--split NAME=TABLE ...] --output DIR [--format arrow|parquet]

python `deltalake` reads each table (columns `text`, `label`) into pyarrow; `datasets` wraps
the tables, casts `label` to one global ClassLabel (names = sorted distinct labels over all
splits, code-point order like `datasets` itself) and `DatasetDict.save_to_disk` writes DIR; with
`--format parquet`, the layout `push_to_hub` writes instead, as it writes it (shards of at most
500 MB of Arrow data, `Dataset.to_parquet` with its row groups, the card's metadata built by
`datasets`' own DatasetInfosDict / MetadataConfigs), without the upload.
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
    ap.add_argument("--format", choices=["arrow", "parquet"], default="arrow")
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
    if a.format == "parquet":
        save_hub_layout(dd, a.output)
    else:
        dd.save_to_disk(a.output)
    timings["save"] = time.perf_counter() - t

    json.dump({"rows": {name: ds.num_rows for name, ds in dd.items()}, "names": names,
               "timings": timings}, sys.stdout)
    return 0


def save_hub_layout(dd, out: str) -> None:
    """What `push_to_hub` writes: data/<split>-NNNNN-of-MMMMM.parquet and README.md."""
    import os

    from datasets.info import DatasetInfo, DatasetInfosDict
    from datasets.splits import SplitDict, SplitInfo
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCard, DatasetCardData

    os.makedirs(os.path.join(out, "data"), exist_ok=True)
    features = next(iter(dd.values())).features
    info = DatasetInfo(features=features, splits=SplitDict(), download_size=0, dataset_size=0)
    for name, ds in dd.items():
        nbytes = ds._estimate_nbytes()
        n = int(nbytes / 500_000_000) + 1
        for i in range(n):
            path = os.path.join(out, "data", f"{name}-{i:05d}-of-{n:05d}.parquet")
            ds.shard(num_shards=n, index=i, contiguous=True).to_parquet(path)
            info.download_size += os.path.getsize(path)
        info.splits[name] = SplitInfo(name, num_bytes=nbytes, num_examples=ds.num_rows)
        info.dataset_size += nbytes
    card = DatasetCardData()
    DatasetInfosDict({"default": info}).to_dataset_card_data(card)
    configs = {"data_files": [{"split": s, "path": f"data/{s}-*"} for s in dd]}
    MetadataConfigs({"default": configs}).to_dataset_card_data(card)
    DatasetCard(f"---\n{card}\n---\n").save(os.path.join(out, "README.md"))


if __name__ == "__main__":
    sys.exit(main())
