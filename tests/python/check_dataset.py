#!/usr/bin/env python3
"""Conformance check of a labelled text-classification output of delta-hf, with `datasets` itself.

Usage:
    check_dataset.py DATASET_DIR EXPECT_JSON

DATASET_DIR  a directory written by delta-hf (the `DatasetDict.save_to_disk` layout).
EXPECT_JSON  a JSON file:
    {"splits": {"train": {"texts": ["a", "b"], "labels": ["pos", "neg"]},
                "test":  {"texts": [...],      "labels": [...]}},
     "names": ["neg", "pos"],          the expected ClassLabel names, in id order
     "text_col": "text",               optional, default "text"
     "label_col": "label",             optional, default "label"
     "label_table": "path/to/delta",   optional: the label Delta table to check too
     "label_table_version": 2}         optional: its expected Delta version
    texts[i] and labels[i] form one source row (text, label name).

What it checks:
  * DATASET_DIR/dataset_dict.json lists exactly the expected split names (no duplicates), and
    `datasets.load_from_disk(DATASET_DIR)` returns a DatasetDict with those splits in that order;
  * per split: num_rows equals the expected row count; features[label_col] is a
    `datasets.ClassLabel` whose `.names` equal `names` exactly; features[text_col] is a string
    Value; the features are identical in every split;
  * per split: the rows' (text, int2str(label)) pairs equal the expected pairs as a multiset;
  * per split dir: state.json has all seven keys (_data_files, _fingerprint, _format_columns,
    _format_kwargs, _format_type, _output_all_columns, _split) and every listed shard exists;
    `datasets.Dataset.from_file(first shard)` opens with features equal to the split's (so the
    ClassLabel is carried by the shard's `huggingface` schema metadata), and the shards' row
    counts add up to num_rows;
  * per split dir: dataset_info.json exists, its `features` equal the loaded features and
    `splits[split]["num_examples"]` equals the row count;
  * DATASET_DIR/label_map.json has `id2label` {"0": names[0], ...}, `label2id` {names[i]: i}
    and `num_labels` == len(names);
  * with `label_table`: python `deltalake` reads it; it has columns `id` and `label`;
    {id: label} equals label_map.json's id2label; labels ordered by id equal `names`; with
    `label_table_version`: `DeltaTable(path).version()` equals it.

Exit status: 0 all good (one `ok: ...` line on stdout), 1 a check failed (every problem found is
listed on stderr), 2 bad usage or a malformed EXPECT_JSON.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import traceback

MAX_EXAMPLES = 5
STATE_KEYS = ("_data_files", "_fingerprint", "_format_columns", "_format_kwargs", "_format_type",
              "_output_all_columns", "_split")


class UsageError(Exception):
    pass


def _trunc(s: str, limit: int = 120) -> str:
    return s if len(s) <= limit else s[: limit - 3] + "..."


def _examples(items) -> str:
    items = list(items)
    shown = ", ".join(_trunc(str(x)) for x in items[:MAX_EXAMPLES])
    return shown + (f", ... ({len(items)} in all)" if len(items) > MAX_EXAMPLES else "")


def _read_json(path: str, problems: list, what: str):
    if not os.path.isfile(path):
        problems.append(f"{what}: {path} does not exist")
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        problems.append(f"{what}: {path} is not valid JSON: {e}")
        return None


# --------------------------------------------------------------------------------------------


def load_expect(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            exp = json.load(f)
    except (OSError, ValueError) as e:
        raise UsageError(f"cannot read EXPECT_JSON {path!r}: {e}")
    if not isinstance(exp, dict):
        raise UsageError("EXPECT_JSON must be a JSON object")
    splits, names = exp.get("splits"), exp.get("names")
    if not isinstance(splits, dict) or not splits:
        raise UsageError("EXPECT_JSON needs a non-empty `splits` object")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise UsageError("EXPECT_JSON needs `names`, a list of strings")
    if len(set(names)) != len(names):
        raise UsageError("EXPECT_JSON `names` has duplicates")
    for split, rows in splits.items():
        if not isinstance(rows, dict) or not isinstance(rows.get("texts"), list) \
                or not isinstance(rows.get("labels"), list):
            raise UsageError(f"EXPECT_JSON splits[{split!r}] needs `texts` and `labels` lists")
        if len(rows["texts"]) != len(rows["labels"]):
            raise UsageError(f"EXPECT_JSON splits[{split!r}]: {len(rows['texts'])} texts but "
                             f"{len(rows['labels'])} labels")
        stray = sorted({lab for lab in rows["labels"] if lab not in names}, key=str)
        if stray:
            raise UsageError(f"EXPECT_JSON splits[{split!r}] has labels not in `names`: {stray}")
    exp.setdefault("text_col", "text")
    exp.setdefault("label_col", "label")
    v = exp.get("label_table_version")
    if v is not None and (not isinstance(v, int) or isinstance(v, bool)):
        raise UsageError("EXPECT_JSON `label_table_version` must be an integer")
    if v is not None and not exp.get("label_table"):
        raise UsageError("EXPECT_JSON `label_table_version` needs `label_table`")
    return exp


# --------------------------------------------------------------------------------------------


def check_split_files(datasets, root: str, split: str, features, num_rows: int, problems: list):
    """state.json, shards, Dataset.from_file and dataset_info.json of one split directory."""
    split_dir = os.path.join(root, split)
    where = f"split {split!r}"
    state = _read_json(os.path.join(split_dir, "state.json"), problems, where)
    if isinstance(state, dict):
        missing = [k for k in STATE_KEYS if k not in state]
        if missing:
            problems.append(f"{where}: state.json lacks key(s) {missing}")
        files = state.get("_data_files")
        if not isinstance(files, list) or not files \
                or not all(isinstance(f, dict) and isinstance(f.get("filename"), str) for f in files):
            problems.append(f"{where}: state.json `_data_files` must be a non-empty list of "
                            f"{{\"filename\": ...}}, got {_trunc(json.dumps(files))}")
        else:
            paths = [os.path.join(split_dir, f["filename"]) for f in files]
            absent = [f["filename"] for f, p in zip(files, paths) if not os.path.isfile(p)]
            if absent:
                problems.append(f"{where}: shard(s) listed in state.json do not exist: {_examples(absent)}")
            else:
                shard_rows = 0
                for i, p in enumerate(paths):
                    try:
                        shard = datasets.Dataset.from_file(p)
                    except Exception as e:  # noqa: BLE001
                        problems.append(f"{where}: datasets.Dataset.from_file({p!r}) failed: "
                                        f"{type(e).__name__}: {e}")
                        break
                    if i == 0 and shard.features != features:
                        problems.append(
                            f"{where}: Dataset.from_file(first shard) features differ from the split's "
                            f"(is the `huggingface` schema metadata missing or different?): "
                            f"shard {_trunc(str(shard.features), 300)} vs split {_trunc(str(features), 300)}")
                    shard_rows += shard.num_rows
                else:
                    if shard_rows != num_rows:
                        problems.append(f"{where}: shards hold {shard_rows} rows in all, split has {num_rows}")

    info = _read_json(os.path.join(split_dir, "dataset_info.json"), problems, where)
    if isinstance(info, dict):
        if "features" not in info:
            problems.append(f"{where}: dataset_info.json has no `features`")
        else:
            try:
                info_features = datasets.Features.from_dict(info["features"])
            except Exception as e:  # noqa: BLE001
                info_features = None
                problems.append(f"{where}: dataset_info.json `features` do not parse: {type(e).__name__}: {e}")
            if info_features is not None and info_features != features:
                problems.append(f"{where}: dataset_info.json features {_trunc(str(info_features), 300)} "
                                f"differ from the loaded features {_trunc(str(features), 300)}")
        entry = (info.get("splits") or {}).get(split) if isinstance(info.get("splits"), dict) else None
        if not isinstance(entry, dict):
            problems.append(f"{where}: dataset_info.json has no `splits[{split!r}]` entry")
        elif entry.get("num_examples") != num_rows:
            problems.append(f"{where}: dataset_info.json splits[{split!r}].num_examples is "
                            f"{entry.get('num_examples')!r}, the split has {num_rows} rows")
    elif info is not None:
        problems.append(f"{where}: dataset_info.json is not a JSON object")


def check_rows(ds, split: str, exp_rows: dict, text_col: str, label_col: str, label_feature, problems: list):
    """(text, label name) pairs of a split against the expected pairs, as multisets."""
    where = f"split {split!r}"
    table = ds.with_format("arrow")[:]
    texts = table.column(text_col).to_pylist()
    label_ids = table.column(label_col).to_pylist()
    got = collections.Counter()
    bad = []
    for row, (text, lid) in enumerate(zip(texts, label_ids)):
        if lid is None or lid < 0 or lid >= label_feature.num_classes:
            bad.append(f"row {row} ({text!r}): label id {lid!r}")
            name = f"<invalid id {lid!r}>"
        else:
            name = label_feature.int2str(lid)
        got[(text, name)] += 1
    if bad:
        problems.append(f"{where}: {len(bad)} label(s) not a valid ClassLabel id "
                        f"(0..{label_feature.num_classes - 1}): {_examples(bad)}")
    want = collections.Counter(zip(exp_rows["texts"], exp_rows["labels"]))
    missing, extra = want - got, got - want
    if not (missing or extra):
        return
    lines = [f"{where}: rows differ: {sum(missing.values())} expected (text, label) pair(s) not found, "
             f"{sum(extra.values())} not expected"]
    extra_by_text = collections.defaultdict(list)
    for (text, name), n in extra.items():
        extra_by_text[text].extend([name] * n)
    shown = 0
    for text, name in sorted(missing.elements(), key=repr):
        if shown >= MAX_EXAMPLES:
            lines.append("      ...")
            break
        if extra_by_text.get(text):
            other = extra_by_text[text].pop()
            lines.append(f"      text {_trunc(repr(text), 80)}: expected label {name!r}, got {other!r}")
        else:
            lines.append(f"      missing: ({_trunc(repr(text), 80)}, {name!r})")
        shown += 1
    rest = [(t, n) for t, names in sorted(extra_by_text.items(), key=repr) for n in names]
    for text, name in rest[:MAX_EXAMPLES]:
        lines.append(f"      not expected: ({_trunc(repr(text), 80)}, {name!r})")
    problems.append("\n".join(lines))


def check_label_map(root: str, names: list, problems: list) -> dict | None:
    """label_map.json against `names`; returns its id2label (or None)."""
    lm = _read_json(os.path.join(root, "label_map.json"), problems, "label_map.json")
    if lm is None:
        return None
    if not isinstance(lm, dict):
        problems.append("label_map.json is not a JSON object")
        return None
    want_id2label = {str(i): n for i, n in enumerate(names)}
    want_label2id = {n: i for i, n in enumerate(names)}
    id2label = lm.get("id2label")
    if id2label != want_id2label:
        problems.append(f"label_map.json id2label is {_trunc(json.dumps(id2label), 300)}, "
                        f"expected {_trunc(json.dumps(want_id2label), 300)}")
    label2id = lm.get("label2id")
    if label2id != want_label2id or not all(type(v) is int for v in (label2id or {}).values()):
        problems.append(f"label_map.json label2id is {_trunc(json.dumps(label2id), 300)}, "
                        f"expected {_trunc(json.dumps(want_label2id), 300)} (integer ids)")
    num = lm.get("num_labels")
    if type(num) is not int or num != len(names):
        problems.append(f"label_map.json num_labels is {num!r}, expected {len(names)}")
    return id2label if isinstance(id2label, dict) else None


def check_label_table(path: str, version, id2label: dict | None, names: list, problems: list):
    # The sibling script holds the shared label-table helpers (no __pycache__ left in the repo).
    sys.dont_write_bytecode = True
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import check_label_table as clt

    try:
        table, got_version = clt.read_label_table(path)
    except RuntimeError as e:
        problems.append(str(e))
        return
    rows = clt.label_rows(table, problems)
    if rows is None:
        return
    if id2label is not None:
        clt.compare_id2label(rows, id2label, "label table vs label_map.json id2label", problems)
    by_id = [rows[i] for i in sorted(rows)]
    if by_id != names:
        problems.append(f"label table: labels ordered by id are {_trunc(json.dumps(by_id), 300)}, "
                        f"expected names {_trunc(json.dumps(names), 300)}")
    if version is not None and got_version != version:
        problems.append(f"label table version: expected {version}, got {got_version}")


# --------------------------------------------------------------------------------------------


def run(root: str, exp: dict) -> tuple[list, str]:
    import datasets

    datasets.disable_progress_bars()
    problems: list[str] = []
    text_col, label_col, names = exp["text_col"], exp["label_col"], exp["names"]
    want_splits = list(exp["splits"])

    dd_json = _read_json(os.path.join(root, "dataset_dict.json"), problems, "dataset_dict.json")
    listed = dd_json.get("splits") if isinstance(dd_json, dict) else None
    if dd_json is not None:
        if not isinstance(listed, list) or not all(isinstance(s, str) for s in listed):
            problems.append(f"dataset_dict.json `splits` must be a list of names, got {_trunc(json.dumps(listed))}")
            listed = None
        elif len(set(listed)) != len(listed) or set(listed) != set(want_splits):
            problems.append(f"dataset_dict.json lists splits {listed}, expected {sorted(want_splits)} "
                            f"(any order, no duplicates)")

    try:
        dd = datasets.load_from_disk(root)
    except Exception as e:  # noqa: BLE001 - report whatever the consumer library says
        problems.append(f"datasets.load_from_disk({root!r}) failed: {type(e).__name__}: {e}")
        return problems, ""
    if not isinstance(dd, datasets.DatasetDict):
        problems.append(f"load_from_disk returned a {type(dd).__name__}, expected a DatasetDict")
        return problems, ""
    got_splits = list(dd.keys())
    if set(got_splits) != set(want_splits):
        problems.append(f"DatasetDict has splits {got_splits}, expected {sorted(want_splits)}")
    if listed is not None and got_splits != listed:
        problems.append(f"DatasetDict split order {got_splits} differs from dataset_dict.json {listed}")

    first_features, first_split = None, None
    total = 0
    for split in got_splits:
        if split not in exp["splits"]:
            continue
        ds = dd[split]
        where = f"split {split!r}"
        want_rows = exp["splits"][split]
        features = ds.features
        n = ds.num_rows
        total += n
        if n != len(want_rows["texts"]):
            problems.append(f"{where}: num_rows is {n}, expected {len(want_rows['texts'])}")
        if first_features is None:
            first_features, first_split = features, split
        elif features != first_features:
            problems.append(f"{where}: features {_trunc(str(features), 300)} differ from split "
                            f"{first_split!r}'s {_trunc(str(first_features), 300)}")

        columns_ok = True
        for col in (text_col, label_col):
            if col not in features:
                problems.append(f"{where}: no column {col!r}; columns are {list(features)}")
                columns_ok = False
        label_feature = features.get(label_col)
        if label_col in features:
            if not isinstance(label_feature, datasets.ClassLabel):
                problems.append(f"{where}: features[{label_col!r}] is {label_feature!r}, expected a ClassLabel")
                columns_ok = False
            elif label_feature.names != names:
                problems.append(f"{where}: ClassLabel names are {_trunc(json.dumps(label_feature.names), 300)}, "
                                f"expected {_trunc(json.dumps(names), 300)}")
        text_feature = features.get(text_col)
        if text_col in features and not (isinstance(text_feature, datasets.Value)
                                         and text_feature.dtype in ("string", "large_string", "string_view")):
            problems.append(f"{where}: features[{text_col!r}] is {text_feature!r}, expected a string Value")
            columns_ok = False
        if columns_ok:
            check_rows(ds, split, want_rows, text_col, label_col, label_feature, problems)
        check_split_files(datasets, root, split, features, n, problems)

    id2label = check_label_map(root, names, problems)
    if exp.get("label_table"):
        check_label_table(exp["label_table"], exp.get("label_table_version"), id2label, names, problems)
    summary = (f"ok: {root}: splits {got_splits}, {total} rows, "
               f"ClassLabel {label_col!r} with {len(names)} names"
               + (", label table" if exp.get("label_table") else ""))
    return problems, summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description="Check a delta-hf text-classification output against expected rows and labels.")
    parser.add_argument("dataset_dir", metavar="DATASET_DIR")
    parser.add_argument("expect_json", metavar="EXPECT_JSON")
    args = parser.parse_args(argv)  # exits 2 on bad usage
    try:
        exp = load_expect(args.expect_json)
    except UsageError as e:
        print(f"check_dataset: {e}", file=sys.stderr)
        return 2
    problems, summary = run(args.dataset_dir, exp)
    if problems:
        print(f"check_dataset: FAIL: {args.dataset_dir}: {len(problems)} problem(s):\n  - "
              + "\n  - ".join(problems), file=sys.stderr)
        return 1
    print(summary)
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
