#!/usr/bin/env python3
"""Deterministic data for the SFT benchmark (issue 21): conversations and a ChatML tokenizer.

Usage (normally called by sft_bench.py):
    sft_gen.py [--scale S] [--data DIR] [--force]

Writes DIR/sft-scale-<S>/train: a Delta table of 100,000 x S conversations, columns `id` (int64)
and `messages` (list<struct<role: string, content: string>>): 2, 4, 6 or 8 turns alternating
user / assistant (so every conversation ends with an assistant turn), 30-300 words a turn
(uniform; the pseudo-words and Zipf-like frequencies of gen.py), and a system prompt (30-300
words) before the first turn in a third of the conversations. Rows are generated and appended
in batches of 10,000, so the table has several Parquet files and is never whole in memory.
DIR/sft-scale-<S>/manifest.json records the parameters; a table whose manifest matches is reused.

Writes DIR/tokenizer-chatml: the 50,000-entry byte-level BPE of tokenize_bench.py (trained once,
cached in DIR/tokenizer-bpe50k) with the ChatML tokens `<|im_start|>` and `<|im_end|>` added as
special tokens, and a tokenizer_config.json whose `chat_template` is CHATML below: ChatML with
`{% generation %}` marks around each assistant turn's text and its `<|im_end|>`, as TRL's
`*_training.jinja` templates mark them. EOS is `<|im_end|>`, PAD `<|endoftext|>`.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa

import gen

GENERATOR_VERSION = 1
SEED = 20261203
ROWS = 100_000
BATCH_ROWS = 10_000
MIN_WORDS, MAX_WORDS = 30, 300
TURNS = (2, 4, 6, 8)
SYSTEM_SHARE = 1 / 3
BENCH_DIR = Path(__file__).resolve().parent

CHATML = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\\n' }}"
    "{% else %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))


def scale_name(scale: float) -> str:
    return f"sft-scale-{scale:g}"


def params(scale: float) -> dict:
    return {
        "generator_version": GENERATOR_VERSION,
        "seed": SEED,
        "scale": scale,
        "rows": round(ROWS * scale),
        "batch_rows": max(1, math.ceil(BATCH_ROWS * min(scale, 1.0))),
        "vocab_size": gen.VOCAB_SIZE,
        "words_per_turn": [MIN_WORDS, MAX_WORDS],
        "turns": list(TURNS),
        "system_share": SYSTEM_SHARE,
        "word_zipf": gen.WORD_ZIPF,
    }


def conversations(rng: np.random.Generator, maker: gen.TextMaker, start: int, rows: int) -> pa.RecordBatch:
    turns = rng.choice(np.array(TURNS), size=rows)
    system = rng.random(rows) < SYSTEM_SHARE
    per_row = turns + system
    total = int(per_row.sum())
    # TextMaker draws 40-400 words (gen.MIN_WORDS/MAX_WORDS); a turn here has 30-300.
    saved = gen.MIN_WORDS, gen.MAX_WORDS
    gen.MIN_WORDS, gen.MAX_WORDS = MIN_WORDS, MAX_WORDS
    try:
        texts = maker.texts(rng, total)
    finally:
        gen.MIN_WORDS, gen.MAX_WORDS = saved
    roles = []
    for t, s in zip(turns, system):
        if s:
            roles.append("system")
        roles.extend(["user", "assistant"] * (int(t) // 2))
    structs = pa.StructArray.from_arrays([pa.array(roles, pa.string()), texts], names=["role", "content"])
    offsets = np.zeros(rows + 1, dtype=np.int32)
    np.cumsum(per_row, out=offsets[1:])
    messages = pa.ListArray.from_arrays(pa.array(offsets), structs, type=MESSAGES)
    ids = pa.array(np.arange(start, start + rows, dtype=np.int64))
    return pa.RecordBatch.from_arrays([ids, messages], names=["id", "messages"])


def ensure_table(scale: float, data: Path, force: bool = False, log=print) -> Path:
    from deltalake import write_deltalake

    p = params(scale)
    root = data / scale_name(scale)
    manifest = root / "manifest.json"
    table = root / "train"
    if not force and manifest.is_file() and json.loads(manifest.read_text()) == p:
        return table
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    rng = np.random.default_rng(p["seed"])
    maker = gen.TextMaker(gen.make_vocab(p["seed"], p["vocab_size"]), p["word_zipf"])
    log(f"[sft-gen] {p['rows']:,} conversations -> {table}")
    done = 0
    while done < p["rows"]:
        n = min(p["batch_rows"], p["rows"] - done)
        batch = conversations(rng, maker, done, n)
        write_deltalake(str(table), pa.Table.from_batches([batch]), mode="append")
        done += n
    manifest.write_text(json.dumps(p, indent=2) + "\n")
    return table


def ensure_tokenizer(data: Path, log=print) -> Path:
    """The ChatML tokenizer (the benchmark's 50k byte-level BPE plus the ChatML tokens)."""
    out = data / "tokenizer-chatml"
    config = out / "tokenizer_config.json"
    if config.is_file() and json.loads(config.read_text()).get("chat_template") == CHATML:
        return out
    import tokenize_bench
    from tokenizers import AddedToken, Tokenizer

    base = tokenize_bench.train_tokenizer(data / "tokenizer-bpe50k")
    tok = Tokenizer.from_file(str(base / "tokenizer.json"))
    tok.add_special_tokens([AddedToken("<|im_start|>", special=True), AddedToken("<|im_end|>", special=True)])
    out.mkdir(parents=True, exist_ok=True)
    tok.save(str(out / "tokenizer.json"))
    config.write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 32768, "bos_token": None,
        "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
        "chat_template": CHATML}, indent=2))
    log(f"[sft-gen] ChatML tokenizer ({tok.get_vocab_size():,} entries) -> {out}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--data", type=Path, default=BENCH_DIR / "data")
    ap.add_argument("--force", action="store_true")
    a = ap.parse_args()
    print(ensure_table(a.scale, a.data.resolve(), a.force))
    print(ensure_tokenizer(a.data.resolve()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
