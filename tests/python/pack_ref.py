"""The reference for `--packing`: TRL 1.16's `pack_dataset`, applied as `SFTTrainer` applies it.

Usage: pack_ref.py INPUT.json CASES.json OUT.json

INPUT.json: {"input_ids": [[int]], "labels": [[int]]} (ragged token rows). CASES.json: a list of
{"strategy": "bfd"|"bfd_split"|"wrapped", "max_length": N, "window": N|null}. For each case the rows
become a `datasets.Dataset` (input_ids list<int32>, labels list<int64>, plus an attention_mask as
the tokenizer writes one) saved to disk and loaded back (memory-mapped, like a prepared dataset),
then, as `SFTTrainer._prepare_dataset` does with `packing=True`: `select_columns(["input_ids",
"labels"])` and `trl.pack_dataset(dataset, max_length, packing_strategy, map_kwargs)`, with
`map_kwargs["batch_size"]` = window when a window is given (default: `Dataset.map`'s 1,000).
OUT.json: per case, the packed columns and their Arrow types.
"""

import json
import sys
import tempfile

import datasets
from trl import pack_dataset

datasets.disable_progress_bars()


def main(input_path, cases_path, out_path):
    with open(input_path) as f:
        rows = json.load(f)
    with open(cases_path) as f:
        cases = json.load(f)
    features = datasets.Features(
        {
            "input_ids": datasets.List(datasets.Value("int32")),
            "labels": datasets.List(datasets.Value("int64")),
            "attention_mask": datasets.List(datasets.Value("int8")),
        }
    )
    rows["attention_mask"] = [[1] * len(r) for r in rows["input_ids"]]
    with tempfile.TemporaryDirectory() as tmp:
        datasets.Dataset.from_dict(rows, features=features).save_to_disk(tmp + "/ds")
        ds = datasets.load_from_disk(tmp + "/ds")
        out = []
        for case in cases:
            map_kwargs = {"num_proc": None, "desc": "Packing train dataset"}
            if case.get("window") is not None:
                map_kwargs["batch_size"] = case["window"]
            packed = pack_dataset(
                ds.select_columns(["input_ids", "labels"]), case["max_length"], case["strategy"], map_kwargs
            )
            table = packed.data.table
            result = {name: table.column(name).to_pylist() for name in table.column_names}
            result["types"] = {f.name: str(f.type) for f in table.schema}
            out.append(result)
    with open(out_path, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main(*sys.argv[1:])
