"""Issue 23: check an export's report against independent recomputations from the output.

    check_report.py check OUTPUT [--tokenizer DIR] [--report-table TABLE]
        report.json's numbers recomputed from the dataset `datasets.load_from_disk` opens:
        rows, per-class counts and scikit-learn's compute_class_weight("balanced"), per-label
        positives and pos_weight (multi-label), length percentiles with NumPy's default
        np.percentile (exactly), the share truncated by tokenizing the written texts again with
        transformers without truncation; label_map.json's weights equal train's; report.html is
        self-contained; the report table read back with `deltalake` holds one row per split of
        this run with the same numbers. Prints `ok`.
    check_report.py screenshot PNG
        The PNG Chromium wrote is not blank: several colours, and enough non-background pixels.
        Prints `ok <distinct colours> <share of non-background pixels>`.
"""

import json
import os
import re
import struct
import sys
import zlib
from pathlib import Path

import numpy as np


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def same(a, b, what):
    if a != b:
        fail(f"{what}: report {a!r}, recomputed {b!r}")


def percentiles(values):
    if len(values) == 0:
        return [None, None, None, None]
    p = np.percentile(np.asarray(values, dtype=np.int64), [50, 90, 99])
    return [float(p[0]), float(p[1]), float(p[2]), int(np.max(values))]


def check_lengths(entry, values, what):
    if entry is None:
        fail(f"{what}: missing from the report")
    same(entry["count"], len(values), f"{what} count")
    got = [entry["p50"], entry["p90"], entry["p99"], entry["max"]]
    same(got, percentiles(values), f"{what} p50/p90/p99/max")
    same(sum(b[2] for b in entry["histogram"]), len(values), f"{what} histogram total")


def check(output, tokenizer=None, report_table=None):
    from datasets import ClassLabel, load_from_disk
    from sklearn.utils.class_weight import compute_class_weight

    output = Path(output)
    report = json.loads((output / "report.json").read_text())
    same(report["format"], "delta-hf-report", "format")
    dd = load_from_disk(str(output))
    names = report["labels"]
    tok = None
    if tokenizer:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(tokenizer)
    weights = {}
    for sp in report["splits"]:
        name = sp["name"]
        ds = dd[name]
        same(sp["rows_out"], len(ds), f"{name} rows out")
        same(sp["rows_in"], sp["rows_out"] + sum(sp["dropped"].values()), f"{name} rows in")
        feats = ds.features
        # Single label (ClassLabel) or token tags (Sequence of ClassLabel): counts and balanced weights.
        y = None
        if "label" in feats and isinstance(feats["label"], ClassLabel):
            y = np.asarray(list(ds["label"]), dtype=np.int64)
        elif "ner_tags" in feats:
            y = np.asarray([t for row in ds["ner_tags"] for t in row if t is not None], dtype=np.int64)
        if y is not None:
            counts = np.bincount(y, minlength=len(names)).tolist()
            same([c["count"] for c in sp["classes"]], counts, f"{name} class counts")
            present = np.unique(y)
            w = compute_class_weight("balanced", classes=present, y=y) if len(y) else []
            expected = [0.0] * len(names)
            for cls, wt in zip(present.tolist(), list(w)):
                expected[cls] = float(wt)
            same([c["weight"] for c in sp["classes"]], expected, f"{name} class weights (sklearn balanced)")
            weights[name] = ("class_weights", expected)
        elif "labels" in feats and "positives" in sp:
            rows = list(ds["labels"])
            n = len(rows)
            hot = np.zeros((n, len(names)), dtype=bool)
            for i, r in enumerate(rows):
                if r is None:
                    continue
                if len(r) == len(names) and all(isinstance(v, float) for v in r):
                    hot[i] = np.asarray(r) > 0  # --multi-hot
                else:
                    hot[i, list(r)] = True
            pos = hot.sum(axis=0)
            same([p["positives"] for p in sp["positives"]], pos.tolist(), f"{name} positives")
            with np.errstate(divide="ignore", invalid="ignore"):
                pw = np.where(pos > 0, (n - pos) / pos, 0.0)
            same([p["pos_weight"] for p in sp["positives"]], [float(x) for x in pw], f"{name} pos_weight")
            weights[name] = ("pos_weight", [float(x) for x in pw])
        if "text" in feats and feats["text"].dtype == "string":
            check_lengths(sp.get("chars"), [len(t) for t in ds["text"] if t is not None], f"{name} chars")
        if "attention_mask" in feats:
            lengths = [int(sum(m)) for m in ds["attention_mask"]]
            check_lengths(sp.get("tokens"), lengths, f"{name} tokens")
            if tok is not None:
                cut = report["max_length"]
                full = tok(list(ds["text"]), truncation=False)["input_ids"]
                truncated = sum(1 for ids in full if len(ids) > cut)
                same(sp["tokens"]["truncated"], truncated, f"{name} rows truncated (max length {cut})")
                same(sp["tokens"]["truncated_share"], truncated / len(ds) if len(ds) else 0.0, f"{name} share truncated")
    # label_map.json: train's weights.
    lm = output / "label_map.json"
    if lm.exists() and "train" in weights:
        key, w = weights["train"]
        same(json.loads(lm.read_text()).get(key), w, f"label_map.json {key}")
    check_html(output / "report.html")
    if report_table:
        check_table(report_table, report)
    print("ok")


def check_html(path):
    html = path.read_text()
    if not html.startswith("<!DOCTYPE html>"):
        fail("report.html is not an HTML document")
    lowered = html.lower()
    for banned in ("<script", "<link", "<img", "<iframe", "url(", "@import", "src="):
        if banned in lowered:
            fail(f"report.html is not self-contained: it has `{banned}`")
    # The only address in the page is SVG's namespace name (never fetched).
    for addr in re.findall(r"(?:https?:)?//[^\s\"'<>]+", html):
        if addr != "http://www.w3.org/2000/svg":
            fail(f"report.html refers to {addr}")


def check_table(table, report):
    from deltalake import DeltaTable

    rows = [r for r in DeltaTable(table).to_pyarrow_table().to_pylist() if r["run_id"] == report["run_id"]]
    same(sorted(r["split"] for r in rows), sorted(s["name"] for s in report["splits"]), "report table splits")
    for r in rows:
        sp = next(s for s in report["splits"] if s["name"] == r["split"])
        same((r["rows_in"], r["rows_out"]), (sp["rows_in"], sp["rows_out"]), f"report table {r['split']} rows")
        same(json.loads(r["dropped"]), sp["dropped"], f"report table {r['split']} dropped")
        same(json.loads(r["report"]), sp, f"report table {r['split']} report")
        same(r["source_table"], sp["table"], "report table source")
        for what in ("chars", "tokens"):
            entry = sp.get(what)
            if what == "tokens" and entry is not None:
                same(r["truncated_share"], entry["truncated_share"], "report table truncated_share")
            got = [r[f"{what}_p50"], r[f"{what}_p90"], r[f"{what}_p99"], r[f"{what}_max"]]
            want = [entry[k] for k in ("p50", "p90", "p99", "max")] if entry else [None] * 4
            same(got, want, f"report table {r['split']} {what}")
        same(r["created"].isoformat()[:19], report["created"][:19], "report table created")


def png_pixels(path):
    """RGB(A) 8-bit PNG → (width, height, channels, rows of bytes), unfiltered."""
    data = Path(path).read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        fail(f"{path} is not a PNG")
    pos, idat = 8, b""
    width = height = channels = None
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + n]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            if depth != 8 or colour not in (2, 6) or body[12] != 0:
                fail(f"unexpected PNG (depth {depth}, colour type {colour}, interlace {body[12]})")
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, channels, rows


def screenshot(path):
    width, height, channels, rows = png_pixels(path)
    colours = {}
    for line in rows:
        for x in range(0, len(line), channels):
            px = line[x : x + 3]
            colours[px] = colours.get(px, 0) + 1
    background, most = max(colours.items(), key=lambda kv: kv[1])
    share = 1 - most / (width * height)
    if len(colours) < 4 or share < 0.01:
        fail(f"the screenshot looks blank: {len(colours)} colours, {share:.4f} of pixels not the background")
    print(f"ok {len(colours)} {share:.4f}")


if __name__ == "__main__":
    cmd, rest = sys.argv[1], sys.argv[2:]
    if cmd == "check":
        opts = {"--tokenizer": None, "--report-table": None}
        out = rest[0]
        for flag, value in zip(rest[1::2], rest[2::2]):
            opts[flag] = value
        check(out, tokenizer=opts["--tokenizer"], report_table=opts["--report-table"])
        # With both the tokenizers (rayon) and deltalake (tokio) runtimes loaded, the
        # interpreter's shutdown can abort in native code after every check passed: leave
        # without running it.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    elif cmd == "screenshot":
        screenshot(rest[0])
    else:
        fail(f"unknown command {cmd}")
