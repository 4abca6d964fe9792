#!/usr/bin/env python3
"""The Python recipe the hygiene workload (issue 23) is measured against: deltalake -> pandas ->
scikit-learn's train_test_split (train/validation/test) -> datasketch MinHashLSH over the same word
5-gram shingles of the same normalised text (NFKC, casefold, whitespace collapsed) -> the first row of
each near-duplicate pair kept, evaluation rows matching a training row dropped -> save_to_disk.

Usage: hygiene_peer.py --table TABLE --ratios train=0.8,validation=0.1,test=0.1 [--threshold 0.8]
                       [--output DIR]
Prints {"rows": {split: n}, "dropped": n} as JSON.
"""

from __future__ import annotations

import argparse
import json
import re
import unicodedata


def norm(t: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", t).casefold()).strip()


def shingles(t: str) -> set[bytes]:
    w = norm(t).split()
    if len(w) < 5:
        return {" ".join(w).encode()}
    return {" ".join(w[i : i + 5]).encode() for i in range(len(w) - 4)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--table", required=True)
    ap.add_argument("--ratios", required=True)
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--output")
    a = ap.parse_args()
    from datasketch import MinHash, MinHashLSH
    from deltalake import DeltaTable
    from sklearn.model_selection import train_test_split

    df = DeltaTable(a.table).to_pandas(columns=["text", "label"])
    names, ratios = zip(*[(p.split("=")[0], float(p.split("=")[1])) for p in a.ratios.split(",")])
    parts, rest, left = {}, df, 1.0
    for n, r in zip(names[:-1], ratios[:-1]):
        take, rest = train_test_split(rest, train_size=r / left, random_state=0)
        parts[n], left = take, left - r
    parts[names[-1]] = rest
    lsh = MinHashLSH(threshold=a.threshold, num_perm=128)
    keep, dropped = {}, 0
    for n in names:
        mask = []
        for i, t in zip(parts[n].index, parts[n]["text"]):
            m = MinHash(num_perm=128)
            m.update_batch(list(shingles(t)))
            dup = any(True for _ in lsh.query(m))
            if not dup:
                lsh.insert(f"{n}/{i}", m)
            dropped += dup
            mask.append(not dup)
        keep[n] = parts[n][mask]
    if a.output:
        import datasets

        datasets.DatasetDict(
            {n: datasets.Dataset.from_pandas(keep[n], preserve_index=False) for n in names}
        ).save_to_disk(a.output)
    print(json.dumps({"rows": {n: len(keep[n]) for n in names}, "dropped": dropped}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
