#!/usr/bin/env python3
"""Check a label Delta table written by delta-hf, reading it with the python `deltalake` package.

Usage:
    check_label_table.py TABLE_PATH EXPECT_JSON

TABLE_PATH   the label table (a Delta table directory).
EXPECT_JSON  a JSON file:
    {"id2label": {"0": "neg", "1": "pos"},          required
     "version": 3,                                   optional: expected table version
     "counts": {"train": {"neg": 10, "pos": 7}}}     optional: expected per-split counts

What it checks:
  * `deltalake.DeltaTable(TABLE_PATH)` opens and `.to_pyarrow_table()` reads it;
  * it has an integer column `id` and a string column `label`, ids unique and non-null;
  * {str(id): label} equals `id2label` exactly (same ids, same labels);
  * with `version`: `DeltaTable(TABLE_PATH).version() == version`;
  * with `counts`: for every split S there is an int64 column `count_S`, and on the row of each
    label its value equals counts[S][label]; a label missing from counts[S] must count 0, and a
    null cell counts as 0.

Exit status: 0 all good (one `ok: ...` line on stdout), 1 a check failed (details on stderr),
2 bad usage or a malformed EXPECT_JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback

MAX_EXAMPLES = 5


class UsageError(Exception):
    pass


def _examples(items) -> str:
    items = list(items)
    shown = ", ".join(items[:MAX_EXAMPLES])
    return shown + (f", ... ({len(items)} in all)" if len(items) > MAX_EXAMPLES else "")


def read_label_table(path: str):
    """(pyarrow table, version) of the Delta table at `path`; raises RuntimeError if unreadable."""
    from deltalake import DeltaTable

    try:
        dt = DeltaTable(path)
        return dt.to_pyarrow_table(), dt.version()
    except Exception as e:  # noqa: BLE001 - report whatever the library says
        raise RuntimeError(f"deltalake cannot read the label table {path!r}: {type(e).__name__}: {e}")


def label_rows(table, problems: list) -> dict | None:
    """{id (int): label} of a label table, or None (with problems appended) if unusable."""
    import pyarrow as pa

    cols = table.column_names
    missing = [c for c in ("id", "label") if c not in cols]
    if missing:
        problems.append(f"label table lacks column(s) {missing}; it has {cols}")
        return None
    id_type, label_type = table.schema.field("id").type, table.schema.field("label").type
    if not pa.types.is_integer(id_type):
        problems.append(f"label table column 'id' has type {id_type}, expected an integer type")
    if not (pa.types.is_string(label_type) or pa.types.is_large_string(label_type)
            or str(label_type) == "string_view"):
        problems.append(f"label table column 'label' has type {label_type}, expected a string type")
    ids = table.column("id").to_pylist()
    labels = table.column("label").to_pylist()
    if any(i is None for i in ids):
        problems.append("label table has null ids")
    seen, dups = set(), []
    for i in ids:
        if i in seen:
            dups.append(repr(i))
        seen.add(i)
    if dups:
        problems.append(f"label table has duplicate ids: {_examples(dups)}")
    if any(lab is None for lab in labels):
        problems.append("label table has null labels")
    return {i: lab for i, lab in zip(ids, labels) if i is not None}


def compare_id2label(got: dict, expected: dict, what: str, problems: list):
    """Compare {id: label} (int keys) with an id2label dict (str keys)."""
    got_s = {str(k): v for k, v in got.items()}
    missing = sorted(set(expected) - set(got_s), key=_id_order)
    extra = sorted(set(got_s) - set(expected), key=_id_order)
    if missing:
        problems.append(f"{what}: ids missing from the label table: "
                        + _examples(f"{k} ({expected[k]!r})" for k in missing))
    if extra:
        problems.append(f"{what}: unexpected ids in the label table: "
                        + _examples(f"{k} ({got_s[k]!r})" for k in extra))
    wrong = [f"id {k}: expected {expected[k]!r}, got {got_s[k]!r}"
             for k in sorted(set(expected) & set(got_s), key=_id_order) if expected[k] != got_s[k]]
    if wrong:
        problems.append(f"{what}: labels differ: " + _examples(wrong))


def _id_order(k: str):
    try:
        return (0, int(k), k)
    except ValueError:
        return (1, 0, k)


def check_counts(table, counts: dict, problems: list):
    import pyarrow as pa

    label_to_row = {lab: idx for idx, lab in enumerate(table.column("label").to_pylist())}
    for split, per_label in counts.items():
        col = f"count_{split}"
        if col not in table.column_names:
            problems.append(f"label table lacks column {col!r} (counts of split {split!r}); "
                            f"it has {table.column_names}")
            continue
        typ = table.schema.field(col).type
        if typ != pa.int64():
            problems.append(f"label table column {col!r} has type {typ}, expected int64")
        values = table.column(col).to_pylist()
        unknown = sorted(set(per_label) - set(label_to_row))
        if unknown:
            problems.append(f"{col}: expected counts for labels not in the table: {_examples(map(repr, unknown))}")
        wrong = []
        for label, row in sorted(label_to_row.items(), key=lambda kv: str(kv[0])):
            want = per_label.get(label, 0)
            got = values[row] if values[row] is not None else 0
            if got != want:
                wrong.append(f"{label!r}: expected {want}, got {values[row]!r}")
        if wrong:
            problems.append(f"{col}: counts differ: {_examples(wrong)}")


def load_expect(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            exp = json.load(f)
    except (OSError, ValueError) as e:
        raise UsageError(f"cannot read EXPECT_JSON {path!r}: {e}")
    if not isinstance(exp, dict) or not isinstance(exp.get("id2label"), dict):
        raise UsageError("EXPECT_JSON must be an object with an `id2label` object")
    if not all(isinstance(v, str) for v in exp["id2label"].values()):
        raise UsageError("EXPECT_JSON `id2label` values must be strings")
    if "version" in exp and not (isinstance(exp["version"], int) and not isinstance(exp["version"], bool)):
        raise UsageError("EXPECT_JSON `version` must be an integer")
    counts = exp.get("counts")
    if counts is not None:
        ok = isinstance(counts, dict) and all(
            isinstance(v, dict) and all(isinstance(n, int) and not isinstance(n, bool) for n in v.values())
            for v in counts.values())
        if not ok:
            raise UsageError("EXPECT_JSON `counts` must be {split: {label: integer}}")
        labels = set(exp["id2label"].values())
        for split, per_label in counts.items():
            stray = set(per_label) - labels
            if stray:
                raise UsageError(f"EXPECT_JSON counts[{split!r}] names labels not in id2label: {sorted(stray)}")
    return exp


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Check a delta-hf label Delta table with python deltalake.")
    parser.add_argument("table_path", metavar="TABLE_PATH")
    parser.add_argument("expect_json", metavar="EXPECT_JSON")
    args = parser.parse_args(argv)  # exits 2 on bad usage
    try:
        exp = load_expect(args.expect_json)
    except UsageError as e:
        print(f"check_label_table: {e}", file=sys.stderr)
        return 2

    problems: list[str] = []
    try:
        table, version = read_label_table(args.table_path)
    except RuntimeError as e:
        print(f"check_label_table: FAIL: {e}", file=sys.stderr)
        return 1
    rows = label_rows(table, problems)
    if rows is not None:
        compare_id2label(rows, exp["id2label"], "id2label", problems)
        if exp.get("counts"):
            check_counts(table, exp["counts"], problems)
    if "version" in exp and version != exp["version"]:
        problems.append(f"table version: expected {exp['version']}, got {version}")
    if problems:
        print(f"check_label_table: FAIL: label table {args.table_path} is not as expected:\n  - "
              + "\n  - ".join(problems), file=sys.stderr)
        return 1
    extra = f", version {version}" if "version" in exp else ""
    splits = f", counts for {sorted(exp['counts'])}" if exp.get("counts") else ""
    print(f"ok: label table {args.table_path}: {len(rows)} labels{extra}{splits}")
    return 0


def _hard_exit(code: int):
    """Exit without interpreter teardown. pyarrow/deltalake background threads can abort the
    process at shutdown ("terminate called without an active exception", exit 134) after all the
    work is done, a few runs in a hundred (see delta-io/delta-rs#2184, apache/arrow#34314)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    try:
        _code = main()
    except SystemExit:  # argparse: usage errors (2) and --help (0); nothing heavy has run yet
        raise
    except BaseException:  # noqa: BLE001 - an unexpected crash still counts as a failed check
        traceback.print_exc()
        _hard_exit(1)
    _hard_exit(_code)
