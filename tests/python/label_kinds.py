#!/usr/bin/env python3
"""Fixtures and expectations for the label-kind tests (tests/it/label_kinds.rs).

Usage:
    label_kinds.py write ROOT CASE            write the CASE's Delta tables under ROOT/<table>/
    label_kinds.py check ROOT CASE OUTPUT [LABEL_TABLE]
                                              check delta-hf's OUTPUT for CASE with `datasets`

The source rows of each case are defined here once; `write` stores them with the `deltalake`
package, `check` derives what the output must hold from the same rows in plain Python
(independently of delta-hf): label names in code-point order over every split, every row's
labels in row order, the features, `label_map.json`, and (with LABEL_TABLE) the label table read
back with `deltalake`, its per-split counts and its commit metadata.

Cases: multi, multi_hot (the multi tables, exported with --multi-hot), token, token_int (integer
tags), regression, decimal, single (a ClassLabel with kept lists, for the compatibility test),
and refusal fixtures: multi_null_element, token_mismatch, map_label.

Exit status: 0 ok (one line on stdout), 1 a check failed (the problems on stderr), 2 bad usage.
"""

from __future__ import annotations

import json
import math
import os
import sys

SPAN = [("start", "int64"), ("end", "int64"), ("kind", "string")]


def _multi_rows():
    # go_emotions-like: text, a list of labels (duplicates, empty lists, labels only in test,
    # upper case and non-ASCII names to pin code-point order), and kept list columns.
    train = [
        ("I love it", ["joy", "love"], ["a", "b"], [(0, 1, "x")]),
        ("meh", [], [], []),
        ("angry and sad", ["sadness", "anger"], None, [(2, 5, "y"), (6, 9, "z")]),
        ("so happy, so happy", ["joy", "joy"], ["c"], None),
        ("Zebra!", ["Zoo"], ["d", "e", "f"], []),
        ("émouvant", ["émoi", "joy"], [], [(1, 2, "é")]),
    ]
    test = [
        ("fine", ["neutral"], ["g"], []),
        ("wow", ["surprise", "joy"], [], [(3, 4, "w")]),
        ("grr", ["anger"], ["h"], None),
    ]
    return {"train": train, "test": test}


def _token_rows():
    train = [
        (["EU", "rejects", "German", "call"], ["B-ORG", "O", "B-MISC", "O"]),
        (["Peter", "Blackburn"], ["B-PER", "I-PER"]),
        ([], []),
        (["Ça", "va"], ["O", "O"]),
    ]
    validation = [
        (["BRUSSELS", "1996-08-22"], ["B-LOC", "O"]),
        (["Bonn"], ["B-LOC"]),
    ]
    return {"train": train, "validation": validation}


def _token_int_rows():
    # POS tags as integers: names are their string forms, in code-point order ("10" < "2").
    return {"train": [(["a", "b", "c"], [2, 10, 2]), (["d"], [1])], "test": [(["e", "f"], [10, 7])]}


def _regression_rows():
    train = [("good", 4.5), ("bad", 0.1), ("not a number", float("nan")), ("missing", None), ("ok", -2.25)]
    test = [("fine", 3.0), ("tiny", 1e-8)]
    return {"train": train, "test": test}


# ---------------------------------------------------------------------------------- writing


def _write(path, table):
    from deltalake import write_deltalake

    write_deltalake(path, table)


def write(root: str, case: str):
    import pyarrow as pa

    span_type = pa.list_(pa.struct([(n, pa.int64() if t == "int64" else pa.string()) for n, t in SPAN]))
    if case in ("multi", "multi_hot", "single", "multi_null_element"):
        rows = _multi_rows()
        if case == "multi_null_element":
            rows["train"][1] = ("meh", ["joy", None], [], [])
            rows["test"][0] = ("fine", [None], ["g"], [])
        for split, rs in rows.items():
            spans = [None if r[3] is None else [dict(zip([n for n, _ in SPAN], s)) for s in r[3]] for r in rs]
            cols = {
                "id": pa.array([f"{split}-{i}" for i in range(len(rs))], pa.string()),
                "text": pa.array([r[0] for r in rs], pa.string()),
                "emotions": pa.array([r[1] for r in rs], pa.list_(pa.string())),
                # a single label too: the first emotion, or "none"
                "main": pa.array([(r[1][0] if r[1] and r[1][0] else "none") for r in rs], pa.string()),
                "tags": pa.array([r[2] for r in rs], pa.list_(pa.string())),
                "spans": pa.array(spans, span_type),
            }
            _write(os.path.join(root, split), pa.table(cols))
    elif case in ("token", "token_mismatch", "token_int"):
        rows = _token_int_rows() if case == "token_int" else _token_rows()
        if case == "token_mismatch":
            rows["train"][1] = (["Peter", "Blackburn"], ["B-PER"])
            rows["train"][3] = (["Ça", "va"], ["O", "O", "O"])
            rows["validation"][0] = (["BRUSSELS"], ["B-LOC", "O"])
        tag_type = pa.list_(pa.int32()) if case == "token_int" else pa.list_(pa.string())
        for split, rs in rows.items():
            cols = {
                "sentence_id": pa.array(list(range(len(rs))), pa.int64()),
                "words": pa.array([r[0] for r in rs], pa.list_(pa.string())),
                "tags": pa.array([r[1] for r in rs], tag_type),
            }
            _write(os.path.join(root, split), pa.table(cols))
    elif case in ("regression", "decimal"):
        import decimal

        for split, rs in _regression_rows().items():
            if case == "decimal":
                rs = [r for r in rs if r[1] is not None and not math.isnan(r[1]) and abs(r[1]) > 1e-3]
                score = pa.array([decimal.Decimal(str(r[1])) for r in rs], pa.decimal128(6, 2))
            else:
                score = pa.array([r[1] for r in rs], pa.float64(), from_pandas=False)
            _write(os.path.join(root, split), pa.table({"text": pa.array([r[0] for r in rs]), "score": score}))
    elif case == "map_label":
        t = pa.table({"text": ["a"], "label": pa.array([[("k", 1)]], pa.map_(pa.string(), pa.int64()))})
        _write(os.path.join(root, "train"), t)
    else:
        raise SystemExit(f"unknown case {case!r}")


# --------------------------------------------------------------------------------- checking


def _names(values) -> list:
    """Distinct labels as strings, code-point order (Python's str order is code-point order)."""
    return sorted({str(v) for v in values})


def _value_feature(dtype: str) -> dict:
    return {"dtype": dtype, "_type": "Value"}


def expectations(case: str) -> dict:
    """splits -> {"rows": [row dict as `ds[i]` gives it], ...}, features, label_map, counts."""
    span_feature = [{n: _value_feature(t) for n, t in SPAN}]
    if case in ("multi", "multi_hot", "single"):
        rows = _multi_rows()
        kept = {"tags": {"feature": _value_feature("string"), "_type": "Sequence"}, "spans": span_feature}
        if case == "single":
            names = _names((r[1][0] if r[1] else "none") for rs in rows.values() for r in rs)
            label = lambda r: names.index(r[1][0] if r[1] else "none")  # noqa: E731
            label_feature = {"names": names, "_type": "ClassLabel"}
            label_col = "label"
            counts = {s: {n: sum(1 for r in rs if (r[1][0] if r[1] else "none") == n) for n in names}
                      for s, rs in rows.items()}
            doc = {"id2label": {str(i): n for i, n in enumerate(names)},
                   "label2id": {n: i for i, n in enumerate(names)}, "num_labels": len(names)}
        else:
            names = _names(x for rs in rows.values() for r in rs for x in r[1])
            label_col = "labels"
            if case == "multi":
                label = lambda r: [names.index(x) for x in r[1]]  # noqa: E731
                label_feature = {"feature": {"names": names, "_type": "ClassLabel"}, "_type": "Sequence"}
            else:
                label = lambda r: [1.0 if n in r[1] else 0.0 for n in names]  # noqa: E731
                label_feature = {"feature": _value_feature("float32"), "length": len(names), "_type": "Sequence"}
            # rows containing each label
            counts = {s: {n: sum(1 for r in rs if n in r[1]) for n in names} for s, rs in rows.items()}
            doc = {"id2label": {str(i): n for i, n in enumerate(names)},
                   "label2id": {n: i for i, n in enumerate(names)}, "num_labels": len(names),
                   "problem_type": "multi_label_classification"}
        out_rows = {}
        for s, rs in rows.items():
            out_rows[s] = [{"text": r[0], label_col: label(r), "tags": r[2],
                            "spans": None if r[3] is None else [dict(zip([n for n, _ in SPAN], x)) for x in r[3]]}
                           for r in rs]
        features = {"text": _value_feature("string"), label_col: label_feature, **kept}
        return {"rows": out_rows, "features": features, "label_map": doc, "names": names, "counts": counts,
                "kind": "single" if case == "single" else "multi"}
    if case in ("token", "token_int"):
        rows = _token_int_rows() if case == "token_int" else _token_rows()
        names = _names(t for rs in rows.values() for r in rs for t in r[1])
        out_rows = {s: [{"tokens": r[0], "ner_tags": [names.index(str(t)) for t in r[1]], "sentence_id": i}
                        for i, r in enumerate(rs)] for s, rs in rows.items()}
        counts = {s: {n: sum(1 for r in rs for t in r[1] if str(t) == n) for n in names} for s, rs in rows.items()}
        features = {"tokens": {"feature": _value_feature("string"), "_type": "Sequence"},
                    "ner_tags": {"feature": {"names": names, "_type": "ClassLabel"}, "_type": "Sequence"},
                    "sentence_id": _value_feature("int64")}
        doc = {"id2label": {str(i): n for i, n in enumerate(names)},
               "label2id": {n: i for i, n in enumerate(names)}, "num_labels": len(names)}
        return {"rows": out_rows, "features": features, "label_map": doc, "names": names, "counts": counts,
                "kind": "token"}
    if case in ("regression", "decimal"):
        import numpy as np

        rows = _regression_rows()
        out_rows = {}
        for s, rs in rows.items():
            if case == "decimal":
                rs = [r for r in rs if r[1] is not None and not math.isnan(r[1]) and abs(r[1]) > 1e-3]
            # NaN and null rows are dropped (--drop-nulls); values are float32
            out_rows[s] = [{"text": r[0], "label": float(np.float32(r[1]))} for r in rs
                           if r[1] is not None and not math.isnan(r[1])]
        features = {"text": _value_feature("string"), "label": _value_feature("float32")}
        return {"rows": out_rows, "features": features, "label_map": {"problem_type": "regression", "num_labels": 1},
                "names": None, "counts": None, "kind": "regression"}
    raise SystemExit(f"no expectations for case {case!r}")


def with_weights(exp: dict) -> dict:
    """Issue 23: label_map.json also carries the weights of `train`: scikit-learn's balanced class
    weights (single, token: n / (classes present * count), 0 for a class train lacks) or
    `pos_weight` (multi: negatives / positives, 0 without positives)."""
    counts = (exp.get("counts") or {}).get("train")
    if counts is None:
        return exp
    names = exp["names"]
    if exp["kind"] == "multi":
        n = len(exp["rows"]["train"])
        exp["label_map"]["pos_weight"] = [(n - counts[x]) / counts[x] if counts[x] else 0.0 for x in names]
    else:
        n = sum(counts.values())
        present = sum(1 for x in names if counts[x])
        exp["label_map"]["class_weights"] = [n / (present * counts[x]) if counts[x] else 0.0 for x in names]
    return exp


def check(root: str, case: str, output: str, label_table: str | None) -> list:
    import datasets

    datasets.disable_progress_bars()
    exp = with_weights(expectations(case))
    problems = []
    dd = datasets.load_from_disk(output)
    if list(dd.keys()) != list(exp["rows"]):
        problems.append(f"splits {list(dd.keys())}, expected {list(exp['rows'])}")
    want_features = datasets.Features.from_dict(exp["features"])
    for split, want_rows in exp["rows"].items():
        if split not in dd:
            continue
        ds = dd[split]
        if ds.features != want_features:
            problems.append(f"{split}: features {ds.features} != expected {want_features}")
        info = json.load(open(os.path.join(output, split, "dataset_info.json")))
        if info["features"] != exp["features"]:
            problems.append(f"{split}: dataset_info.json features {json.dumps(info['features'])} are not spelled "
                            f"{json.dumps(exp['features'])}")
        got = [ds[i] for i in range(ds.num_rows)]
        if got != want_rows:
            problems.append(f"{split}: rows differ:\n      got      {got}\n      expected {want_rows}")
    doc = json.load(open(os.path.join(output, "label_map.json")))
    if doc != exp["label_map"]:
        problems.append(f"label_map.json is {doc}, expected {exp['label_map']}")
    if label_table:
        problems += check_label_table(label_table, exp)
    return problems


def check_label_table(path: str, exp: dict) -> list:
    from deltalake import DeltaTable

    problems = []
    dt = DeltaTable(path)
    t = dt.to_pyarrow_table()
    splits = list(exp["rows"])
    want_cols = ["id", "label"] + [f"count_{s}" for s in splits]
    if t.column_names != want_cols:
        problems.append(f"label table columns {t.column_names}, expected {want_cols}")
        return problems
    rows = sorted(t.to_pylist(), key=lambda r: r["id"])
    want = [{"id": i, "label": n, **{f"count_{s}": exp["counts"][s][n] for s in splits}}
            for i, n in enumerate(exp["names"])]
    if rows != want:
        problems.append(f"label table rows {rows}, expected {want}")
    meta = dt.history(1)[0].get("delta_hf")
    meta = json.loads(meta) if isinstance(meta, str) else meta
    if not isinstance(meta, dict) or meta.get("label_kind") != exp["kind"]:
        problems.append(f"label table commit metadata `delta_hf` has label_kind "
                        f"{(meta or {}).get('label_kind')!r}, expected {exp['kind']!r}")
    return problems


def main(argv: list) -> int:
    if len(argv) >= 3 and argv[0] == "write":
        write(argv[1], argv[2])
        print(f"ok: wrote {argv[2]} tables under {argv[1]}")
        return 0
    if len(argv) in (4, 5) and argv[0] == "check":
        problems = check(argv[1], argv[2], argv[3], argv[4] if len(argv) == 5 else None)
        if problems:
            print(f"label_kinds: FAIL: {argv[2]}:\n  - " + "\n  - ".join(problems), file=sys.stderr)
            return 1
        print(f"ok: {argv[2]} output {argv[3]}")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    try:
        code = main(sys.argv[1:])
    except SystemExit:
        raise
    except BaseException:  # noqa: BLE001 - a crash is a failed check
        import traceback

        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
