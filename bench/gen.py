#!/usr/bin/env python3
"""Deterministic benchmark Delta tables for `make bench`.

Usage (normally called by bench.py):
    gen.py [--scale S] [--data DIR] [--force]

Writes DIR/scale-<S>/train (1,000,000 x S rows) and DIR/scale-<S>/eval (100,000 x S rows), each a
Delta table with columns `id` (int64), `text` (string), `label` (string), plus
DIR/scale-<S>/manifest.json. Existing tables are reused when the manifest matches the parameters.

Data: a vocabulary of VOCAB_SIZE pseudo-words built from SEED; every text has 40-400 words
(uniform), words drawn with a Zipf-like frequency; 20 labels `label_00`..`label_19` with a skewed
(Zipf-like) distribution, the same in both splits. Rows are generated and appended in batches of
100,000 (fewer at scales below 1), so the whole table is never in memory and every table has
several Parquet files. Everything is vectorised with numpy; the output depends only on the
parameters (Delta file names and commit timestamps aside).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

GENERATOR_VERSION = 1
SEED = 20240501
VOCAB_SIZE = 4096
NUM_LABELS = 20
MIN_WORDS, MAX_WORDS = 40, 400
TRAIN_ROWS, EVAL_ROWS = 1_000_000, 100_000
BATCH_ROWS = 100_000
WORD_ZIPF = 1.0    # word frequency ~ 1 / rank**WORD_ZIPF
LABEL_ZIPF = 1.1   # label frequency ~ 1 / rank**LABEL_ZIPF

BENCH_DIR = Path(__file__).resolve().parent


def scale_name(scale: float) -> str:
    return f"scale-{scale:g}"


def params(scale: float) -> dict:
    """Everything the generated data depends on; stored as the manifest."""
    batch = max(1, math.ceil(BATCH_ROWS * min(scale, 1.0)))
    return {
        "generator_version": GENERATOR_VERSION,
        "seed": SEED,
        "scale": scale,
        "train_rows": round(TRAIN_ROWS * scale),
        "eval_rows": round(EVAL_ROWS * scale),
        "batch_rows": batch,
        "vocab_size": VOCAB_SIZE,
        "num_labels": NUM_LABELS,
        "words_per_text": [MIN_WORDS, MAX_WORDS],
        "word_zipf": WORD_ZIPF,
        "label_zipf": LABEL_ZIPF,
    }


def make_vocab(seed: int, size: int) -> list[str]:
    """`size` distinct pronounceable pseudo-words (2-11 letters), deterministic in `seed`."""
    rng = np.random.default_rng([seed, 99])
    onsets = ["b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z",
              "br", "ch", "cl", "dr", "fl", "gr", "pl", "sh", "st", "th", "tr"]
    vowels = ["a", "e", "i", "o", "u", "ai", "ea", "io", "ou"]
    codas = ["", "", "", "n", "r", "s", "t", "l", "m", "x", "nd", "st"]
    seen: set[str] = set()
    words: list[str] = []
    while len(words) < size:
        syllables = int(rng.integers(1, 4))
        w = "".join(onsets[rng.integers(len(onsets))] + vowels[rng.integers(len(vowels))]
                    for _ in range(syllables)) + codas[rng.integers(len(codas))]
        if 2 <= len(w) <= 11 and w not in seen:
            seen.add(w)
            words.append(w)
    return words


def zipf_probs(n: int, s: float) -> np.ndarray:
    p = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** s
    return p / p.sum()


class TextMaker:
    """Builds utf8 string arrays of space-joined vocabulary words straight from numpy buffers."""

    def __init__(self, vocab: list[str], word_zipf: float):
        encoded = [w.encode() for w in vocab]
        self.lens = np.array([len(w) for w in encoded], dtype=np.int64)
        width = int(self.lens.max()) + 1  # word + one separator
        # Row v = word v padded with spaces; mask row v = its first len(v)+1 bytes ("word ").
        self.padded = np.full((len(vocab), width), ord(" "), dtype=np.uint8)
        for i, w in enumerate(encoded):
            self.padded[i, : len(w)] = np.frombuffer(w, dtype=np.uint8)
        self.mask = np.arange(width)[None, :] <= self.lens[:, None]
        # Inverse CDF lookup table: 2**16 uniform draws -> Zipf-like word ids.
        cdf = np.cumsum(zipf_probs(len(vocab), word_zipf))
        u = (np.arange(1 << 16) + 0.5) / (1 << 16)
        self.lut = np.minimum(np.searchsorted(cdf, u), len(vocab) - 1).astype(np.int32)

    def texts(self, rng: np.random.Generator, rows: int) -> pa.Array:
        nwords = rng.integers(MIN_WORDS, MAX_WORDS + 1, size=rows)
        total = int(nwords.sum())
        draws = np.frombuffer(rng.bytes(2 * total), dtype=np.uint16)
        ids = self.lut[draws]
        mask = self.mask[ids]
        # The last word of every text loses its trailing separator.
        last = np.cumsum(nwords) - 1
        mask[last, self.lens[ids[last]]] = False
        data = self.padded[ids][mask]
        starts = np.concatenate(([0], np.cumsum(nwords)[:-1]))
        row_bytes = np.add.reduceat(self.lens[ids] + 1, starts) - 1
        offsets = np.zeros(rows + 1, dtype=np.int32)
        np.cumsum(row_bytes, out=offsets[1:])
        assert offsets[-1] == data.size
        return pa.Array.from_buffers(pa.string(), rows, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def label_names(n: int) -> list[str]:
    return [f"label_{i:02d}" for i in range(n)]


def generate_table(path: Path, split_index: int, rows: int, p: dict, maker: TextMaker,
                   label_counts: np.ndarray, log) -> int:
    from deltalake import write_deltalake

    names = np.array(label_names(p["num_labels"]))
    lprobs = zipf_probs(p["num_labels"], p["label_zipf"])
    batches = math.ceil(rows / p["batch_rows"]) if rows else 0
    text_bytes = 0
    for b in range(batches):
        n = min(p["batch_rows"], rows - b * p["batch_rows"])
        rng = np.random.default_rng([p["seed"], split_index, b])
        text = maker.texts(rng, n)
        lab = rng.choice(p["num_labels"], size=n, p=lprobs)
        label_counts += np.bincount(lab, minlength=p["num_labels"])
        text_bytes += text.buffers()[2].size
        table = pa.table({
            "id": pa.array(np.arange(b * p["batch_rows"], b * p["batch_rows"] + n, dtype=np.int64)),
            "text": text,
            "label": pa.array(names[lab].tolist(), type=pa.string()),
        })
        write_deltalake(str(path), table, mode="append")
        log(f"  {path.name}: batch {b + 1}/{batches} ({n:,} rows) appended")
    return text_bytes


def manifest_path(data_dir: Path, scale: float) -> Path:
    return data_dir / scale_name(scale) / "manifest.json"


def ensure_data(scale: float, data_dir: Path, force: bool = False, log=print) -> dict:
    """Return the manifest of DIR/scale-S, generating the tables first if needed."""
    p = params(scale)
    root = data_dir / scale_name(scale)
    mpath = manifest_path(data_dir, scale)
    if not force and mpath.exists():
        try:
            manifest = json.loads(mpath.read_text())
        except ValueError:
            manifest = {}
        if manifest.get("params") == p and all((root / t / "_delta_log").is_dir() for t in ("train", "eval")):
            log(f"[data] reusing {root} (manifest matches; --force regenerates)")
            return manifest
        log(f"[data] {root}: parameters changed, regenerating")
    if root.exists():
        shutil.rmtree(root)
    tmp = data_dir / (scale_name(scale) + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    log(f"[data] generating {p['train_rows']:,} train + {p['eval_rows']:,} eval rows into {root} "
        f"(seed {p['seed']}, {p['batch_rows']:,}-row appends)")
    t0 = time.perf_counter()
    maker = TextMaker(make_vocab(p["seed"], p["vocab_size"]), p["word_zipf"])
    labels = label_names(p["num_labels"])
    splits = {}
    for i, (name, rows) in enumerate((("train", p["train_rows"]), ("eval", p["eval_rows"]))):
        counts = np.zeros(p["num_labels"], dtype=np.int64)
        text_bytes = generate_table(tmp / name, i, rows, p, maker, counts, log)
        splits[name] = {
            "rows": rows,
            "text_bytes": text_bytes,
            "label_counts": {labels[k]: int(c) for k, c in enumerate(counts) if c},
        }
    seconds = time.perf_counter() - t0
    manifest = {"params": p, "splits": splits, "generation_seconds": round(seconds, 2)}
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp, root)
    log(f"[data] generated in {seconds:.1f} s")
    return manifest


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--data", type=Path, default=BENCH_DIR / "data")
    ap.add_argument("--force", action="store_true", help="regenerate even if the data exists")
    a = ap.parse_args()
    if a.scale <= 0:
        ap.error("--scale must be positive")
    ensure_data(a.scale, a.data, a.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
