#!/usr/bin/env python3
"""The SFT benchmark's peer: TRL 1.16's own dataset preparation, then `save_to_disk`.

Usage: sft_peer.py --table DELTA --tokenizer DIR --output DIR [--max-length 2048]
                   [--packing bfd|bfd_split|wrapped|none] [--num-proc 2]

What a user runs today: the Delta table read with `deltalake` into a `datasets.Dataset`, an
`SFTTrainer` built on a tiny random `LlamaForCausalLM` (CPU; its size does not matter, the
preparation never runs it) with `SFTConfig(max_length, assistant_only_loss=True, packing=True,
packing_strategy, dataset_num_proc)` — the constructor prepares the dataset (chat template,
assistant masks, labels, packing) — and `trainer.train_dataset.save_to_disk(OUTPUT)`.
Prints a JSON summary on stdout: rows, tokens, trainable tokens, packed rows, and timings.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--table", required=True)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--max-length", type=int, default=2048)
    ap.add_argument("--packing", default="bfd")
    ap.add_argument("--num-proc", type=int, default=2)
    a = ap.parse_args()
    timings = {}

    t0 = time.perf_counter()
    import datasets
    import pyarrow.compute as pc
    from deltalake import DeltaTable
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
    from trl import SFTConfig, SFTTrainer

    datasets.disable_progress_bars()
    timings["import"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    table = DeltaTable(a.table).to_pyarrow_table(columns=["messages"])
    dataset = datasets.Dataset(table)
    rows_in = len(dataset)
    timings["read"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(a.tokenizer)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=32,
                                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2))
    packing = a.packing != "none"
    with tempfile.TemporaryDirectory() as tmp:
        args = SFTConfig(output_dir=tmp, max_length=a.max_length, assistant_only_loss=True, packing=packing,
                         packing_strategy=a.packing if packing else "bfd", dataset_num_proc=a.num_proc,
                         report_to="none", use_cpu=True)
        trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tok)
        prepared = trainer.train_dataset
    timings["prepare"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    prepared.save_to_disk(a.output)
    timings["save"] = time.perf_counter() - t0

    t = prepared.data.table
    labels = pc.list_flatten(t.column("labels"))
    summary = {
        "rows_in": rows_in,
        "rows_out": t.num_rows,
        "tokens": int(pc.sum(pc.list_value_length(t.column("input_ids"))).as_py() or 0),
        "trainable_tokens": int(pc.sum(pc.not_equal(labels, -100)).as_py() or 0),
        "columns": t.column_names,
        "timings": timings,
        "pid": os.getpid(),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
