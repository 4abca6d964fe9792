#!/usr/bin/env python3
"""Check that a delta-hf `label_map.json` builds a transformers model config as documented.

Usage:
    check_model_config.py LABEL_MAP_JSON EXPECT_JSON

EXPECT_JSON: {"names": ["neg", "pos"] | null, "problem_type": "multi_label_classification" | null,
              "num_labels": N}

What it checks (transformers from PyPI, no torch needed):
  * the document is what `AutoConfig.for_model` takes: every key is one of num_labels, id2label,
    label2id, problem_type, besides the loss weights of issue 23 (`class_weights` or
    `pos_weight`: one float per label);
  * `AutoConfig.for_model("bert", num_labels=..., id2label={int(k): v}, label2id=...,
    problem_type=...)` (the keys present) builds, and its num_labels, id2label, label2id and
    problem_type equal the expected ones (ids 0..n-1 in `names` order; regression: one label,
    transformers' default names);
  * the config survives save_pretrained / AutoConfig.from_pretrained with the same fields.

Exit status: 0 ok (one line on stdout), 1 a check failed (the problems on stderr), 2 bad usage.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile

ALLOWED = {"num_labels", "id2label", "label2id", "problem_type"}
# Issue 23: the loss weights computed on `train`, one per label (not AutoConfig arguments; the
# training script passes them to the loss).
WEIGHTS = {"class_weights", "pos_weight"}


def fields(cfg) -> dict:
    return {"num_labels": cfg.num_labels, "id2label": dict(cfg.id2label), "label2id": dict(cfg.label2id),
            "problem_type": cfg.problem_type}


def main(argv: list) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    import transformers

    doc = json.load(open(argv[0], encoding="utf-8"))
    exp = json.load(open(argv[1], encoding="utf-8"))
    problems = []
    stray = sorted(set(doc) - ALLOWED - WEIGHTS)
    if stray:
        problems.append(f"label_map.json has keys AutoConfig does not take: {stray}")
    for key in sorted(WEIGHTS & set(doc)):
        w = doc[key]
        if not (isinstance(w, list) and len(w) == doc.get("num_labels") and all(isinstance(x, float) for x in w)):
            problems.append(f"label_map.json {key} is {w!r}, not one float per label")
    kwargs = {"num_labels": doc.get("num_labels")}
    if "id2label" in doc:
        kwargs["id2label"] = {int(k): v for k, v in doc["id2label"].items()}
    if "label2id" in doc:
        kwargs["label2id"] = doc["label2id"]
    if "problem_type" in doc:
        kwargs["problem_type"] = doc["problem_type"]
    cfg = transformers.AutoConfig.for_model("bert", **kwargs)

    n = exp["num_labels"]
    names = exp.get("names")
    if names is None:  # regression: transformers names its one output itself
        names = [f"LABEL_{i}" for i in range(n)]
    want = {"num_labels": n, "id2label": dict(enumerate(names)),
            "label2id": {name: i for i, name in enumerate(names)}, "problem_type": exp.get("problem_type")}
    got = fields(cfg)
    for key in want:
        if got[key] != want[key]:
            problems.append(f"config.{key} is {got[key]!r}, expected {want[key]!r}")
    with tempfile.TemporaryDirectory() as d:
        cfg.save_pretrained(d)
        again = fields(transformers.AutoConfig.from_pretrained(d))
        if again != got:
            problems.append(f"after save_pretrained/from_pretrained the config is {again!r}, was {got!r}")
    if problems:
        print("check_model_config: FAIL:\n  - " + "\n  - ".join(problems), file=sys.stderr)
        return 1
    print(f"ok: transformers {transformers.__version__}: {cfg.model_type} config with {cfg.num_labels} "
          f"label(s), problem_type {cfg.problem_type!r}")
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
