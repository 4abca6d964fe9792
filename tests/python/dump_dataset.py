#!/usr/bin/env python3
"""Load a delta-hf output with whatever `datasets` release this interpreter has, and print its
features and values as JSON, spelled the same way for every release so outputs of different
releases can be compared as they are.

Usage:
    dump_dataset.py DATASET_DIR

A `save_to_disk` output is opened with `load_from_disk`; a Hub-layout output (`README.md` and
`data/`, no `dataset_dict.json`) with `load_dataset(DATASET_DIR)` (into a fresh cache), its
`shard_features` read from the first Parquet file's schema, and its README's metadata parsed by
`huggingface_hub`'s `DatasetCard` (printed as "card": {"configs": ..., "splits": [...]}).

Prints {"datasets": "<version>", "pyarrow": "<version>", "splits": {"<split>": {
    "features": <features, canonical form below>,
    "arrow": {"<column>": "<Arrow type>"},
    "shard_features": <the features Dataset.from_file(first shard) reads from the shard's own
                       schema metadata, canonical form>,
    "rows": [{"<column>": value, ...}, ...]}}}     every row, in order, as `ds[i]` gives it

Canonical features: {"value": dtype}, {"class_label": names}, {"list": feature, "length": n}
(`Sequence` of 2.x/3.x, `List` of 4.x and later, and a Python list `[feature]`; length -1 when
not fixed), {"large_list": feature}, {"struct": {name: feature}}. A `Sequence` of a dict (the
pre-4.0 "struct of lists") is {"sequence_of_dict": ...}: it never equals a list of structs.

Exit status: 0 with the JSON; 1 when loading fails (the library's error on stderr).
"""

from __future__ import annotations

import json
import math
import os
import sys


def canon(f):
    if isinstance(f, dict):
        return {"struct": {k: canon(v) for k, v in f.items()}}
    if isinstance(f, (list, tuple)):
        if len(f) != 1:
            return {"other": repr(f)}
        return {"list": canon(f[0]), "length": -1}
    kind = type(f).__name__
    if kind == "Value":
        return {"value": f.dtype}
    if kind == "ClassLabel":
        return {"class_label": list(f.names)}
    if kind == "Sequence":
        if isinstance(f.feature, dict):
            return {"sequence_of_dict": canon(f.feature), "length": f.length}
        return {"list": canon(f.feature), "length": f.length}
    if kind == "List":
        return {"list": canon(f.feature), "length": -1 if f.length is None else f.length}
    if kind == "LargeList":
        return {"large_list": canon(f.feature)}
    return {"other": repr(f)}


def plain(v):
    """JSON-safe values (NaN would not survive a JSON round trip)."""
    if isinstance(v, float) and math.isnan(v):
        return "NaN"
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, bytes):
        return v.hex()
    return v


def main(argv: list) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    import datasets
    import pyarrow

    datasets.disable_progress_bars()
    root = argv[0]
    if not os.path.exists(os.path.join(root, "dataset_dict.json")):
        return dump_hub_layout(root)
    dd = datasets.load_from_disk(root)
    splits = {}
    for name, ds in dd.items():
        state = json.load(open(os.path.join(root, name, "state.json")))
        first = os.path.join(root, name, state["_data_files"][0]["filename"])
        shard = datasets.Dataset.from_file(first)
        splits[name] = {
            "features": {k: canon(v) for k, v in ds.features.items()},
            "arrow": {f.name: str(f.type) for f in ds.data.schema},
            "shard_features": {k: canon(v) for k, v in shard.features.items()},
            "rows": [plain(ds[i]) for i in range(ds.num_rows)],
        }
    print(json.dumps({"datasets": datasets.__version__, "pyarrow": pyarrow.__version__, "splits": splits}))
    return 0


def dump_hub_layout(root: str) -> int:
    import glob
    import tempfile

    import datasets
    import pyarrow
    import pyarrow.parquet as pq
    from huggingface_hub import DatasetCard

    card = DatasetCard.load(os.path.join(root, "README.md"))
    meta = card.data.to_dict()
    info = meta["dataset_info"]
    dd = datasets.load_dataset(root, cache_dir=tempfile.mkdtemp(prefix="dump-dataset-"))
    splits = {}
    for name, ds in dd.items():
        files = [c for c in (meta["configs"][0]["data_files"]) if c["split"] == name][0]["path"]
        pattern = files if isinstance(files, str) else files[0]
        parquet = sorted(glob.glob(os.path.join(root, pattern)))[0]
        shard = datasets.Features.from_arrow_schema(pq.read_schema(parquet))
        splits[name] = {
            "features": {k: canon(v) for k, v in ds.features.items()},
            "arrow": {f.name: str(f.type) for f in ds.data.schema},
            "shard_features": {k: canon(v) for k, v in shard.items()},
            "rows": [plain(ds[i]) for i in range(ds.num_rows)],
        }
    card_info = {
        "configs": meta["configs"],
        "splits": info["splits"],
        "features": {k: canon(v) for k, v in datasets.Features._from_yaml_list(info["features"]).items()},
        "download_size": info["download_size"],
        "dataset_size": info["dataset_size"],
    }
    out = {"datasets": datasets.__version__, "pyarrow": pyarrow.__version__, "splits": splits, "card": card_info}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    try:
        code = main(sys.argv[1:])
    except Exception as e:  # noqa: BLE001 - report what the library says
        import traceback

        traceback.print_exc()
        print(f"dump_dataset: {type(e).__name__}: {e}", file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
