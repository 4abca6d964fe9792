"""Checks of `--format mds` outputs by the real consumer, Mosaic Streaming (run with the ML venv:
DELTA_HF_ML_PYTHON; `import streaming` needs torch).

    check_mds.py compare MDS ARROW [REMOTE]
        every split of the `arrow` export ARROW (`datasets.load_from_disk`) equals what
        `StreamingDataset(local=MDS, split=NAME, shuffle=False)` yields, row for row (with REMOTE,
        an s3:// URI: `StreamingDataset(remote=REMOTE, local=MDS, ...)`, MDS an empty cache
        folder; the S3 endpoint comes from S3_ENDPOINT_URL); the top `index.json` reads as all
        the splits one after the other; the index matches the shard files (sizes, hashes).
    check_mds.py peer MDS ARROW
        for every shard of MDS, `streaming.MDSWriter` writing the same rows (from ARROW) with the
        same columns, encodings, compression, hashes and size limit writes one shard whose index
        entry has the same encodings, sizes, sample count and raw_data (bytes, hashes), and
        whose raw shard has the same bytes.

How values compare (the encodings of the README): `ndarray` columns as lists, NumPy scalars as
Python numbers, booleans as 0/1, dates and timestamps as their ISO 8601 text, `json` columns as
`json.loads(json.dumps(value))` of the `datasets` value (dates and decimals as strings inside).
"""

import datetime
import decimal
import json
import math
import os
import sys
import tempfile

import numpy as np


def _norm_arrow(v):
    """A `datasets` value as our MDS output holds it."""
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, datetime.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(datetime.timezone.utc)
        return v.isoformat()
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, float) and math.isnan(v):
        return "NaN"
    if isinstance(v, list):
        return [_norm_arrow(x) for x in v]
    if isinstance(v, dict):
        return {k: _norm_arrow(x) for k, x in v.items()}
    return v


def _json_of(v):
    """What `json` encoding reads back for a `datasets` value."""
    def prep(x):
        if isinstance(x, (datetime.date, datetime.datetime, decimal.Decimal)):
            return _norm_arrow(x) if not isinstance(x, decimal.Decimal) else str(x)
        if isinstance(x, bytes):
            return list(x)
        if isinstance(x, list):
            return [prep(y) for y in x]
        if isinstance(x, dict):
            return {k: prep(y) for k, y in x.items()}
        return x
    return json.loads(json.dumps(prep(v)))


def _norm_mds(v):
    if isinstance(v, np.ndarray):
        return [_norm_mds(x) for x in v.tolist()]
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return "NaN"
    if isinstance(v, list):
        return [_norm_mds(x) for x in v]
    if isinstance(v, dict):
        return {k: _norm_mds(x) for k, x in v.items()}
    return v


def _split_index(mds, split):
    with open(os.path.join(mds, split, "index.json")) as f:
        return json.load(f)


def _encodings(index):
    s = index["shards"][0]
    return dict(zip(s["column_names"], s["column_encodings"]))


def compare(mds, arrow, remote=None):
    import datasets
    from streaming import StreamingDataset

    dd = datasets.load_from_disk(arrow)
    failures = []
    total = 0
    for split in dd:
        want = dd[split]
        if remote:
            # one local cache per split: streaming refuses a local folder two remote streams share
            local = os.path.join(mds, f"cache-{split}")
            ds = StreamingDataset(remote=remote, local=local, split=split, shuffle=False, batch_size=1)
            index = json.load(open(os.path.join(local, split, "index.json")))
        else:
            ds = StreamingDataset(local=mds, split=split, shuffle=False, batch_size=1)
            index = _split_index(mds, split)
        enc = _encodings(index)
        if sorted(enc) != sorted(want.column_names):
            failures.append(f"{split}: columns {sorted(enc)} != {sorted(want.column_names)}")
            continue
        if len(ds) != len(want):
            failures.append(f"{split}: {len(ds)} rows, the arrow export has {len(want)}")
            continue
        total += len(want)
        for i in range(len(want)):
            got = ds[i]
            row = want[i]
            for col, e in enc.items():
                a = row[col]
                g = got[col]
                expect = _json_of(a) if e == "json" else _norm_arrow(a)
                if isinstance(a, decimal.Decimal):
                    expect = a
                if e.startswith("ndarray") and not isinstance(g, np.ndarray):
                    failures.append(f"{split}[{i}].{col}: {type(g)} is not an ndarray")
                if _norm_mds(g) != expect:
                    failures.append(f"{split}[{i}].{col}: {_norm_mds(g)!r} != {expect!r} ({e})")
        if not remote:
            failures += _check_files(mds, split, index)
    if not remote:
        # The top index: every split's shards, as merge_index writes it.
        top = StreamingDataset(local=mds, shuffle=False, batch_size=1)
        if len(top) != total:
            failures.append(f"the top index.json has {len(top)} rows, the splits {total}")
        merged = json.load(open(os.path.join(mds, "index.json")))
        expect = []
        for split in dd:
            for s in _split_index(mds, split)["shards"]:
                for key in ("raw_data", "zip_data"):
                    if s.get(key):
                        s[key]["basename"] = os.path.join(split, s[key]["basename"])
                expect.append(s)
        if merged != {"version": 2, "shards": expect}:
            failures.append("the top index.json is not the merge of the splits' indexes")
    return failures


def _check_files(mds, split, index):
    failures = []
    for s in index["shards"]:
        info = s["zip_data"] or s["raw_data"]
        path = os.path.join(mds, split, info["basename"])
        data = open(path, "rb").read()
        if len(data) != info["bytes"]:
            failures.append(f"{path}: {len(data)} bytes, the index says {info['bytes']}")
        for algo, h in info["hashes"].items():
            if _hash(algo, data) != h:
                failures.append(f"{path}: {algo} {h} is not the file's")
        if s["zip_data"]:
            import zstd
            raw = zstd.decompress(data)
            r = s["raw_data"]
            if len(raw) != r["bytes"]:
                failures.append(f"{path}: {len(raw)} raw bytes, the index says {r['bytes']}")
            for algo, h in r["hashes"].items():
                if _hash(algo, raw) != h:
                    failures.append(f"{path}: raw {algo} {h} is not the raw shard's")
    return failures


def _hash(algo, data):
    from streaming.base.hashing import get_hash
    return get_hash(algo, data)


def _value_for(enc, v):
    """A `datasets` value as MDSWriter takes it for encoding `enc`."""
    if enc.startswith("ndarray:"):
        return np.array(v, dtype=enc.split(":")[1])
    if enc == "int":
        return int(v)
    if enc == "str_decimal":
        return v
    if enc == "json":
        return _json_of(v)
    if enc in ("uint8",) and isinstance(v, bool):
        return int(v)
    if enc == "str":
        return _norm_arrow(v)
    return v


def peer(mds, arrow):
    import datasets
    from streaming import MDSWriter

    dd = datasets.load_from_disk(arrow)
    failures = []
    for split in dd:
        rows = dd[split]
        start = 0
        for s in _split_index(mds, split)["shards"]:
            cols = dict(zip(s["column_names"], s["column_encodings"]))
            with tempfile.TemporaryDirectory() as tmp:
                out = os.path.join(tmp, "peer")
                with MDSWriter(columns=cols, out=out, compression=s["compression"], hashes=s["hashes"],
                               size_limit=s["size_limit"]) as w:
                    for i in range(start, start + s["samples"]):
                        w.write({c: _value_for(e, rows[i][c]) for c, e in cols.items()})
                theirs = json.load(open(os.path.join(out, "index.json")))["shards"]
                raw_path = os.path.join(mds, split, s["raw_data"]["basename"])
                ours = _raw_bytes(os.path.join(mds, split), s)
                theirs_data = [_raw_bytes(out, t) for t in theirs]
            start += s["samples"]
            if len(theirs) != 1:
                failures.append(f"{split}: MDSWriter cut {raw_path}'s rows into {len(theirs)} shards")
                continue
            t = theirs[0]
            for key in ("column_encodings", "column_names", "column_sizes", "samples", "compression",
                        "hashes", "size_limit", "format", "version"):
                if t[key] != s[key]:
                    failures.append(f"{split} {raw_path}: {key} {s[key]!r}, MDSWriter {t[key]!r}")
            if t["raw_data"] != {**s["raw_data"], "basename": t["raw_data"]["basename"]}:
                failures.append(f"{split} {raw_path}: raw_data {s['raw_data']}, MDSWriter {t['raw_data']}")
            if theirs_data[0] != ours:
                at = next((i for i, (a, b) in enumerate(zip(ours, theirs_data[0])) if a != b), None)
                failures.append(f"{split} {raw_path}: the raw shard differs from MDSWriter's "
                                f"({len(ours)} vs {len(theirs_data[0])} bytes, first difference at {at})")
    return failures


def _raw_bytes(folder, entry):
    """A shard's raw bytes (decompressed when it is compressed)."""
    info = entry["zip_data"] or entry["raw_data"]
    data = open(os.path.join(folder, info["basename"]), "rb").read()
    if entry["zip_data"]:
        import zstd
        data = zstd.decompress(data)
    return data


def main(argv):
    cmd = argv[1]
    if cmd == "compare":
        failures = compare(argv[2], argv[3], argv[4] if len(argv) > 4 else None)
    elif cmd == "peer":
        failures = peer(argv[2], argv[3])
    else:
        raise SystemExit(f"unknown command {cmd!r}")
    for f in failures[:40]:
        print(f)
    if failures:
        print(f"{len(failures)} failures")
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    code = main(sys.argv)
    sys.stdout.flush()
    os._exit(code)
