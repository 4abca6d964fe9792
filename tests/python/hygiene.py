#!/usr/bin/env python3
"""Dataset hygiene (issue 23): independent recomputations of what `prepare` did.

Usage:
    hygiene.py splits TABLE OUT RATIOS KEYS [--stratify COL] [--group COL]
        Recompute every row's split from TABLE with `xxhash` (xxh64, seed 0, of the key columns'
        canonical forms joined by U+001F; README "Splits from one table") and check OUT's splits
        hold exactly those rows (by `text`); with --stratify, each class within one row of its
        ratio instead (the rows are cut by rank, which only the whole table knows); with --group,
        no group value in two splits.
    hygiene.py same-place OLD NEW
        Every text of OLD (an earlier export) sits in the same split in NEW.
    hygiene.py same-output A B
        Two exports hold the same rows in the same order in every split.
    hygiene.py exact TABLES_JSON OUT
        TABLES_JSON: [[split, table], ...] in order. pandas' drop_duplicates(keep="first") over
        the splits concatenated in that order, on NFKC + casefold + whitespace-collapsed + stripped
        text, equals OUT row for row.
    hygiene.py near-write TABLE
        Write a table of planted near-duplicates, near-misses and unrelated texts; print the truth
        as JSON on stdout ({"dups": [[base, variant], ...], "misses": [[base, other], ...]}).
    hygiene.py near-check TABLE TRUTH SUMMARY OUT THRESHOLD
        Recall >= 0.95 and precision >= 0.99 of the rows dropped as near-duplicates, and agreement
        with datasketch.MinHashLSH (same threshold and num_perm, same shingles) on >= 95% of the
        planted and near-miss pairs; the LSH bands/rows in SUMMARY equal datasketch's.
"""

from __future__ import annotations

import collections
import json
import os
import random
import re
import sys
import unicodedata


def canonical(v) -> str:
    if v is None:
        return "\x00"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (list, tuple)):
        return "\x1e".join(canonical(x) for x in v)
    if isinstance(v, dict):
        # A struct: its fields' forms in field order (pyarrow's to_pylist keeps it).
        return "\x1d".join(canonical(x) for x in v.values())
    return str(v)


def table_rows(path):
    from deltalake import DeltaTable

    return DeltaTable(path).to_pyarrow_table().to_pylist()


def load(out):
    import datasets

    return datasets.load_from_disk(out)


def split_of(h: int, cum: list[float]) -> int:
    u = h / 2**64
    for i, c in enumerate(cum):
        if c > u:
            return i
    return len(cum) - 1


def parse_ratios(ratios):
    """`train=0.8,test=0.2` -> names, ratios, cumulative ratios (summed left to right)."""
    names, rs = zip(*[(p.split("=")[0], float(p.split("=")[1])) for p in ratios.split(",")])
    cum, acc = [], 0.0
    for r in rs:
        acc += r
        cum.append(acc)
    return names, rs, cum


def cmd_splits(table, out, ratios, keys, stratify=None, group=None):
    import xxhash

    names, rs, cum = parse_ratios(ratios)
    keys = keys.split(",")
    rows = table_rows(table)
    ds = load(out)
    assert list(ds.keys()) == list(names), (list(ds.keys()), names)
    got = {n: collections.Counter(ds[n]["text"]) for n in names}
    if stratify:
        classes = collections.Counter(r[stratify] for r in rows)
        names_of = ds[names[0]].features["label"].names
        for c, total in classes.items():
            for n, r in zip(names, rs):
                have = sum(1 for x in ds[n]["label"] if names_of[x] == c)
                assert abs(have - r * total) <= 1 + 1e-9, (c, n, have, r * total)
        assert sum(len(ds[n]) for n in names) == len(rows)
    else:
        want = {n: collections.Counter() for n in names}
        for r in rows:
            key = "\x1f".join(canonical(r[k]) for k in keys)
            want[names[split_of(xxhash.xxh64_intdigest(key.encode("utf-8"), seed=0), cum)]][r["text"]] += 1
        for n in names:
            assert got[n] == want[n], (n, len(got[n]), len(want[n]), list((got[n] - want[n]).items())[:3], list((want[n] - got[n]).items())[:3])
    if group:
        where = {}
        for n in names:
            for g in ds[n][group]:
                assert where.setdefault(g, n) == n, f"group {g!r} in {where[g]} and {n}"
    print("ok", {n: len(ds[n]) for n in names})


def dedup_text(v) -> str:
    """What --dedup compares of one input column: a list's elements' canonical forms joined by
    spaces, anything else its canonical form."""
    if isinstance(v, (list, tuple)):
        return " ".join(canonical(x) for x in v)
    return canonical(v)


def cmd_sft_splits(table, out, ratios, keys, id_col, dedup):
    """SFT inputs cut by --split-from (keys: the input columns) and, with dedup=exact, the first of
    each normalised conversation kept (splits in order, rows in table order): the kept `id_col`
    values per split, recomputed here from the table."""
    import xxhash

    names, rs, cum = parse_ratios(ratios)
    keys = keys.split(",")
    rows = table_rows(table)
    per_split = {n: [] for n in names}
    for r in rows:
        key = "\x1f".join(canonical(r[k]) for k in keys)
        per_split[names[split_of(xxhash.xxh64_intdigest(key.encode("utf-8"), seed=0), cum)]].append(r)
    seen = set()
    want = {}
    for n in names:
        kept = []
        for r in per_split[n]:
            if dedup == "exact":
                t = norm("\n".join(dedup_text(r[k]) for k in keys))
                if t in seen:
                    continue
                seen.add(t)
            kept.append(r[id_col])
        want[n] = collections.Counter(kept)
    ds = load(out)
    assert list(ds.keys()) == list(names), (list(ds.keys()), names)
    for n in names:
        got = collections.Counter(ds[n][id_col])
        assert got == want[n], (n, sorted((got - want[n]).items())[:5], sorted((want[n] - got).items())[:5])
    print("ok", {n: len(ds[n]) for n in names}, "dropped", len(rows) - sum(len(ds[n]) for n in names))


def cmd_same_place(old, new):
    a, b = load(old), load(new)
    place = {t: n for n in b for t in b[n]["text"]}
    moved = [(t, n, place.get(t)) for n in a for t in a[n]["text"] if place.get(t) != n]
    assert not moved, moved[:5]
    assert sum(len(b[n]) for n in b) > sum(len(a[n]) for n in a)
    print("ok")


def cmd_same_output(x, y):
    a, b = load(x), load(y)
    assert list(a.keys()) == list(b.keys())
    for n in a:
        assert a[n].features == b[n].features, n
        assert a[n].to_list() == b[n].to_list(), n
    print("ok")


def norm(t: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", t).casefold()).strip()


def cmd_exact(tables_json, out):
    import pandas as pd

    frames = []
    for split, path in json.loads(tables_json):
        df = pd.DataFrame(table_rows(path))
        df["split"] = split
        frames.append(df)
    df = pd.concat(frames, ignore_index=True)
    df["norm"] = df["text"].map(norm)
    kept = df.drop_duplicates(subset="norm", keep="first")
    ds = load(out)
    for split, _ in json.loads(tables_json):
        want = kept[kept["split"] == split]["text"].tolist()
        got = ds[split]["text"]
        assert got == want, (split, len(got), len(want), [t for t in want if t not in got][:3])
    print("ok", {s: len(ds[s]) for s in ds})


WORDS = [f"w{i}" for i in range(5000)]


def shingles(text: str) -> set[str]:
    w = norm(text).split()
    if len(w) < 5:
        return {" ".join(w)}
    return {" ".join(w[i : i + 5]) for i in range(len(w) - 4)}


def jaccard(a: str, b: str) -> float:
    x, y = shingles(a), shingles(b)
    return len(x & y) / len(x | y)


def variant(rng, words):
    """A word or two changed, then case, width or whitespace changes (Jaccard >= 0.9)."""
    w = list(words)
    for _ in range(rng.choice([1, 1, 2])):
        w[rng.randrange(len(w))] = rng.choice(WORDS)
    text = " ".join(w)
    style = rng.randrange(4)
    if style == 0:
        text = text.upper()
    elif style == 1:
        text = text.replace(" ", "  \t", 3)
    elif style == 2:
        # fullwidth forms of the first word (NFKC maps them back)
        first, rest = text.split(" ", 1)
        text = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in first) + " " + rest
    return text


def cmd_near_write(path):
    import pyarrow as pa
    from deltalake import write_deltalake

    rng = random.Random(23)
    texts, truth = [], {"dups": [], "misses": []}
    bases = []
    for _ in range(150):
        words = [rng.choice(WORDS) for _ in range(rng.randint(80, 140))]
        bases.append(words)
        texts.append(" ".join(words))
    for b in range(100):
        words = bases[b]
        while True:
            v = variant(rng, words)
            if jaccard(" ".join(words), v) >= 0.9:
                break
        truth["dups"].append([" ".join(words), v])
        texts.append(v)
    for b in range(100, 150):
        words = bases[b]
        while True:
            keep = rng.randint(len(words) // 2, int(len(words) * 0.8))
            other = words[:keep] + [rng.choice(WORDS) for _ in range(len(words) - keep)]
            j = jaccard(" ".join(words), " ".join(other))
            if 0.4 <= j <= 0.72:
                break
        truth["misses"].append([" ".join(words), " ".join(other)])
        texts.append(" ".join(other))
    for _ in range(200):
        texts.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(60, 120))))
    labels = [rng.choice(["pos", "neg"]) for _ in texts]
    write_deltalake(path, pa.table({"text": texts, "label": labels}))
    print(json.dumps(truth))


def cmd_near_check(table, truth_path, summary_path, out, threshold):
    from datasketch import MinHash, MinHashLSH

    threshold = float(threshold)
    truth = json.load(open(truth_path))
    summary = json.load(open(summary_path))
    rows = [r["text"] for r in table_rows(table)]
    index = {t: i for i, t in enumerate(rows)}
    ds = load(out)
    kept = set(ds["train"]["text"])
    dropped = [t for t in rows if t not in kept]
    planted = {v for _, v in truth["dups"]}
    recall = sum(1 for v in planted if v not in kept) / len(planted)
    precision = sum(1 for t in dropped if t in planted) / max(1, len(dropped))
    assert recall >= 0.95, recall
    assert precision >= 0.99, precision
    # every near-miss and unrelated text stays
    for a, b in truth["misses"]:
        assert a in kept and b in kept, "a near-miss was dropped"

    # datasketch at the same parameters over the same shingles
    lsh = MinHashLSH(threshold=threshold, num_perm=128)
    h = summary["hygiene"]
    assert (h["lsh_bands"], h["lsh_rows"]) == (lsh.b, lsh.r), (h["lsh_bands"], h["lsh_rows"], lsh.b, lsh.r)
    mh = {}
    for i, t in enumerate(rows):
        m = MinHash(num_perm=128)
        for s in shingles(t):
            m.update(s.encode("utf-8"))
        mh[i] = m
        lsh.insert(str(i), m)
    ours_match = {r["position"]: r["matched_position"] for r in h["dropped_rows"]}
    pairs = [(a, b, True) for a, b in truth["dups"]] + [(a, b, False) for a, b in truth["misses"]]
    rng = random.Random(5)
    for _ in range(200):
        a, b = rng.sample(range(len(rows)), 2)
        pairs.append((rows[a], rows[b], None))
    agree = 0
    for a, b, _ in pairs:
        ia, ib = index[a], index[b]
        ours = ours_match.get(ib) == ia or ours_match.get(ia) == ib
        theirs = str(ia) in lsh.query(mh[ib]) and mh[ia].jaccard(mh[ib]) >= threshold
        agree += ours == theirs
    share = agree / len(pairs)
    assert share >= 0.95, share
    print("ok", {"recall": recall, "precision": precision, "agreement": share, "dropped": len(dropped)})


def main(argv):
    cmd, args = argv[1], argv[2:]
    if cmd == "splits":
        opts = {"--stratify": None, "--group": None}
        pos = []
        it = iter(args)
        for a in it:
            if a in opts:
                opts[a] = next(it)
            else:
                pos.append(a)
        cmd_splits(*pos, stratify=opts["--stratify"], group=opts["--group"])
    elif cmd == "sft-splits":
        cmd_sft_splits(*args)
    elif cmd == "same-place":
        cmd_same_place(*args)
    elif cmd == "same-output":
        cmd_same_output(*args)
    elif cmd == "exact":
        cmd_exact(*args)
    elif cmd == "near-write":
        cmd_near_write(*args)
    elif cmd == "near-check":
        cmd_near_check(*args)
    else:
        raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    main(sys.argv)
    sys.stdout.flush()
    os._exit(0)
