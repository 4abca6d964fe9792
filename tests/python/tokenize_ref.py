#!/usr/bin/env python3
"""Tokenizer fixtures and the Python reference for `prepare --tokenizer` (issue 12).

Usage:
    tokenize_ref.py fixtures OUT
        Trains one small tokenizer per model family with the Python `tokenizers` library and
        writes it as a model directory (tokenizer.json + tokenizer_config.json):
          OUT/tok/bpe        byte-level BPE, GPT-2/RoBERTa style: <s> $A </s> (RobertaProcessing),
                             an added non-special token `<|custom|>`, model_max_length 24
          OUT/tok/wordpiece  WordPiece with the BERT normaliser and pair template
                             ([CLS] $A [SEP] $B:1 [SEP]:1), token_type_ids in model_input_names,
                             an extra special token `[NEW]` declared only in tokenizer_config.json
                             (transformers adds it to the tokenizer), model_max_length 32
          OUT/tok/unigram    Unigram with Metaspace, T5 style ($A </s>), no model_max_length
                             (no truncation without --max-length)
        and a Delta table per split, OUT/tables/{train,test} (`text`, `text2`, `label`), whose
        texts include unicode, emoji, CJK, empty and whitespace-only strings and texts longer than
        every limit. Prints the layout as JSON.

    tokenize_ref.py check-ner DATASET TABLES TOKENIZER [--max-length N] [--label-all-tokens]
        Token classification (the `token` label kind with --tokenizer): the tables under
        TABLES/ner/{train,test} (`words`, `ner`) tokenized as transformers' run_ner.py does
        (`tok(b["tokens"], truncation=True, is_split_into_words=True)`, then `word_ids()`: -100 on
        special tokens, the word's tag id on its first sub-word, -100 -- or with
        --label-all-tokens the tag id -- on the others), compared with DATASET's `tokens`,
        `ner_tags`, `input_ids`, `token_type_ids`, `attention_mask` and `labels`.

    tokenize_ref.py check DATASET TABLES TOKENIZER [--max-length N] [--padding none|max-length]
                    [--pair-col COL] [--drop-text] [--label-col COL]
        The reference: for each split, the Delta table read with `deltalake`, made a
        `datasets.Dataset`, and tokenized the way users do:
            tok = AutoTokenizer.from_pretrained(dir)   (or PreTrainedTokenizerFast(tokenizer_file=f))
            ds.map(lambda b: tok(b["text"][, b[pair]], truncation=True[, max_length=N]
                                  [, padding="max_length"]), batched=True)
        compared row for row (input_ids, attention_mask, token_type_ids), column for column
        (names, order, Arrow types, features) with `datasets.load_from_disk(DATASET)`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

WORDS = ("the quick brown fox jumps over lazy dog data lake table label text token model train "
         "evaluation review product battery delivery support refund great terrible okay price "
         "quality screen keyboard mouse cable charger shipping arrived broken works perfectly").split()

SPECIAL_TEXTS = [
    "",
    " ",
    "   \t  ",
    "\n",
    "Hello world!",
    "naïve café — déjà vu, Ünïcödé ẞ ǅ ﬁ",
    "emoji 🤗🚀 and a family 👩‍👩‍👧‍👦 with a flag 🇫🇷",
    "日本語のテキストと中文文本，还有标点。",
    "한국어 텍스트입니다",
    "עברית والعربية mixed RTL",
    "zero\u200bwidth and\u00a0nbsp",
    "   leading and trailing spaces   ",
    "special tokens inline: [NEW] <|custom|> [SEP] </s> <s> [CLS]",
    "UPPER lower MiXeD 12345 3.14159 $100 user@example.com",
    "tabs\tand\nnewlines\r\nin the middle",
]


def corpus() -> list[str]:
    """The training texts: deterministic word salad plus the special texts."""
    out = []
    for i in range(400):
        n = 3 + (i * 7) % 17
        out.append(" ".join(WORDS[(i * 13 + j * 5) % len(WORDS)] for j in range(n)))
    return out + SPECIAL_TEXTS * 3


def text_of(split: str, i: int) -> str:
    """Row i's text: the special texts first, then word salad, every 7th row very long."""
    if i < len(SPECIAL_TEXTS):
        return SPECIAL_TEXTS[i]
    if i % 7 == 0:
        return " ".join(WORDS[(i + j) % len(WORDS)] for j in range(120)) + " 🤗 終わり"
    n = 1 + (i * 11) % 29
    return f"{split} row {i}: " + " ".join(WORDS[(i * 3 + j * 7) % len(WORDS)] for j in range(n))


def pair_of(split: str, i: int) -> str:
    """The second text of a pair: short, long, empty, unicode."""
    if i % 5 == 0:
        return ""
    if i % 5 == 1:
        return " ".join(WORDS[(i + j) % len(WORDS)] for j in range(60))
    if i % 5 == 2:
        return SPECIAL_TEXTS[i % len(SPECIAL_TEXTS)]
    return f"answer {i} " + WORDS[i % len(WORDS)]


# train spans several of the tokenizer's chunks of rows (256 on 2 cores; 600 is not a multiple).
ROWS = {"train": 600, "test": 61}
NER_TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def ner_row(i: int) -> list[str]:
    """Row i's words: empty, unicode, emoji, CJK, special-token look-alikes, long."""
    extra = [[], ["Hello"], ["naïve", "café", "Ünïcödé"], ["🤗", "🚀🚀", "日本語の", "テキスト"],
             ["[NEW]", "<|custom|>", "re-jects", "battery's"], ["UPPER", "MiXeD", "12345", "3.14159"]]
    if i < len(extra):
        return extra[i]
    n = 2 + (i * 5) % 13 if i % 9 else 70
    return [WORDS[(i * 3 + j * 7) % len(WORDS)] + ("ing" if (i + j) % 4 == 0 else "") for j in range(n)]
LABELS = ["neg", "pos", "mixed"]


def train_bpe(out: str):
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, min_frequency=1, show_progress=False,
                                  special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus(), trainer)
    tok.post_processor = processors.RobertaProcessing(("</s>", tok.token_to_id("</s>")),
                                                      ("<s>", tok.token_to_id("<s>")),
                                                      trim_offsets=True, add_prefix_space=False)
    tok.add_tokens([AddedToken("<|custom|>", normalized=False)])
    save(tok, out, {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 24,
                    "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>",
                    "mask_token": "<mask>", "model_input_names": ["input_ids", "attention_mask"]})


def train_wordpiece(out: str):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=500, show_progress=False,
                                        special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tok.train_from_iterator(corpus(), trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    save(tok, out, {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 32,
                    "do_lower_case": True, "unk_token": "[UNK]", "sep_token": "[SEP]",
                    "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]",
                    "extra_special_tokens": ["[NEW]"],
                    "model_input_names": ["input_ids", "token_type_ids", "attention_mask"]})


def train_unigram(out: str):
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.UnigramTrainer(vocab_size=400, show_progress=False, special_tokens=["<pad>", "</s>", "<unk>"],
                                      unk_token="<unk>")
    tok.train_from_iterator(corpus(), trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", tok.token_to_id("</s>"))])
    save(tok, out, {"tokenizer_class": "PreTrainedTokenizerFast", "eos_token": "</s>",
                    "unk_token": "<unk>", "pad_token": "<pad>"})


def save(tok, out: str, config: dict):
    os.makedirs(out, exist_ok=True)
    tok.save(os.path.join(out, "tokenizer.json"))
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump(config, f, indent=2)


FAMILIES = {"bpe": train_bpe, "wordpiece": train_wordpiece, "unigram": train_unigram}


def fixtures(out: str) -> dict:
    import pyarrow as pa
    from deltalake import write_deltalake

    layout = {"tokenizers": {}, "tables": {}}
    for name, train in FAMILIES.items():
        d = os.path.join(out, "tok", name)
        train(d)
        layout["tokenizers"][name] = d
    for split, n in ROWS.items():
        t = pa.table({
            "text": pa.array([text_of(split, i) for i in range(n)], pa.string()),
            "text2": pa.array([pair_of(split, i) for i in range(n)], pa.string()),
            "label": pa.array([LABELS[(i * 7) % 3] for i in range(n)], pa.string()),
        })
        p = os.path.join(out, "tables", split)
        write_deltalake(p, t, mode="overwrite")
        layout["tables"][split] = p
        words = [ner_row(i) for i in range(n)]
        tags = [[NER_TAGS[(i + j) % len(NER_TAGS)] for j in range(len(w))] for i, w in enumerate(words)]
        p = os.path.join(out, "tables", "ner", split)
        write_deltalake(p, pa.table({"words": pa.array(words, pa.list_(pa.string())),
                                     "ner": pa.array(tags, pa.list_(pa.string()))}), mode="overwrite")
    return layout


def check_ner(args) -> int:
    """run_ner.py's tokenize_and_align_labels over the NER tables, against DATASET."""
    import datasets
    from deltalake import DeltaTable

    tok = load_tokenizer(args.tokenizer)
    ours = datasets.load_from_disk(args.dataset)
    failures = []
    for split in ours:
        got = ours[split]
        names = got.features["ner_tags"].feature.names
        arrow = DeltaTable(os.path.join(args.tables, "ner", split)).to_pyarrow_table()
        ds = datasets.Dataset.from_dict({
            "tokens": arrow.column("words").to_pylist(),
            "ner_tags": [[names.index(t) for t in row] for row in arrow.column("ner").to_pylist()],
        })
        kwargs = {"truncation": True, "is_split_into_words": True}
        if args.max_length is not None:
            kwargs["max_length"] = args.max_length

        def align(b):
            enc = tok(b["tokens"], **kwargs)
            labels = []
            for i, tags in enumerate(b["ner_tags"]):
                previous, row = None, []
                for w in enc.word_ids(batch_index=i):
                    if w is None:
                        row.append(-100)
                    elif w != previous or args.label_all_tokens:
                        row.append(tags[w])
                    else:
                        row.append(-100)
                    previous = w
                labels.append(row)
            enc["labels"] = labels
            return enc

        ref = ds.map(align, batched=True, keep_in_memory=True)
        if got.column_names != ref.column_names:
            failures.append(f"{split}: columns {got.column_names}, want {ref.column_names}")
            continue
        for c in ref.column_names:
            if c != "ner_tags":
                gt, rt = got.data.schema.field(c).type, ref.data.schema.field(c).type
                if gt != rt:
                    failures.append(f"{split}.{c}: Arrow type {gt}, Dataset.map wrote {rt}")
            g, r = got[c], ref[c]
            bad = [i for i in range(len(r)) if g[i] != r[i]]
            if bad:
                i = bad[0]
                failures.append(f"{split}.{c}: {len(bad)} rows differ; first row {i} (words {ref['tokens'][i]!r}):\n"
                                f"  ours {g[i]}\n  ref  {r[i]}")
        sub = sum(x != -100 for row in ref["labels"] for x in row)
        print(f"{split}: {ref.num_rows} rows equal; {sub} labelled sub-words; columns {got.column_names}")
    if failures:
        print("\n".join(failures), file=sys.stderr)
        return 1
    return 0


def load_tokenizer(src: str):
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    if os.path.isdir(src):
        return AutoTokenizer.from_pretrained(src)
    return PreTrainedTokenizerFast(tokenizer_file=src)


def reference(table: str, tok, args):
    import datasets
    from deltalake import DeltaTable

    arrow = DeltaTable(table).to_pyarrow_table()
    cols = {"text": arrow.column(args.text_col)}
    if args.label_col:
        cols["label"] = arrow.column(args.label_col)
    if args.pair_col:
        cols[args.pair_col] = arrow.column(args.pair_col)
    ds = datasets.Dataset.from_dict({k: v.to_pylist() for k, v in cols.items()})
    kwargs = {"truncation": True}
    if args.max_length is not None:
        kwargs["max_length"] = args.max_length
    if args.padding == "max-length":
        kwargs["padding"] = "max_length"

    def fn(b):
        if args.pair_col:
            return tok(b["text"], b[args.pair_col], **kwargs)
        return tok(b["text"], **kwargs)

    return ds.map(fn, batched=True, keep_in_memory=True)


def check(args) -> int:
    import datasets

    tok = load_tokenizer(args.tokenizer)
    ours = datasets.load_from_disk(args.dataset)
    failures = []
    for split in ours:
        ref = reference(os.path.join(args.tables, split), tok, args)
        got = ours[split]
        model_cols = [c for c in ref.column_names if c in ("input_ids", "token_type_ids", "attention_mask")]
        want_cols = [c for c in ref.column_names if c not in model_cols]
        if args.drop_text:
            want_cols = [c for c in want_cols if c not in ("text", args.pair_col)]
        want_cols += model_cols
        if got.column_names != want_cols:
            failures.append(f"{split}: columns {got.column_names}, want {want_cols}")
            continue
        if got.num_rows != ref.num_rows:
            failures.append(f"{split}: {got.num_rows} rows, want {ref.num_rows}")
            continue
        for c in model_cols:
            gt, rt = got.data.schema.field(c).type, ref.data.schema.field(c).type
            if gt != rt:
                failures.append(f"{split}.{c}: Arrow type {gt}, Dataset.map wrote {rt}")
            if got.features[c] != ref.features[c]:
                failures.append(f"{split}.{c}: feature {got.features[c]}, Dataset.map has {ref.features[c]}")
            g, r = got[c], ref[c]
            bad = [i for i in range(len(r)) if g[i] != r[i]]
            if bad:
                i = bad[0]
                failures.append(f"{split}.{c}: {len(bad)} rows differ; first row {i} (text {ref['text'][i]!r}):\n"
                                f"  ours {g[i]}\n  ref  {r[i]}")
        for c in want_cols:
            if c in model_cols or c == "label":
                continue
            if got[c] != ref[c]:
                failures.append(f"{split}.{c}: the kept column differs from the table")
        lengths = [len(x) for x in ref["input_ids"]]
        print(f"{split}: {ref.num_rows} rows equal; lengths {min(lengths)}..{max(lengths)}; "
              f"columns {got.column_names}")
    if failures:
        print("\n".join(failures), file=sys.stderr)
        return 1
    return 0


def main() -> int:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fixtures")
    f.add_argument("out")
    c = sub.add_parser("check")
    c.add_argument("dataset")
    c.add_argument("tables")
    c.add_argument("tokenizer")
    c.add_argument("--max-length", type=int)
    c.add_argument("--padding", default="none", choices=["none", "max-length"])
    c.add_argument("--pair-col")
    c.add_argument("--drop-text", action="store_true")
    c.add_argument("--text-col", default="text")
    c.add_argument("--label-col", default="label")
    n = sub.add_parser("check-ner")
    n.add_argument("dataset")
    n.add_argument("tables")
    n.add_argument("tokenizer")
    n.add_argument("--max-length", type=int)
    n.add_argument("--label-all-tokens", action="store_true")
    args = p.parse_args()
    if args.cmd == "check-ner":
        return check_ner(args)
    if args.cmd == "fixtures":
        print(json.dumps(fixtures(args.out)))
        return 0
    return check(args)


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # python deltalake can abort at interpreter shutdown
