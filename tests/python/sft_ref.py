#!/usr/bin/env python3
"""Fixtures and the TRL 1.16 reference for SFT exports (issue 21). Run with the ML venv
(`DELTA_HF_ML_PYTHON`: trl, transformers, torch, datasets, deltalake).

Usage:
    sft_ref.py fixtures OUT TEMPLATE
        TEMPLATE is a file name in trl/chat_templates/ (e.g. qwen2_5_training.jinja). Trains a
        byte-level BPE tokenizer with every special-looking token of the template (`<|...|>`,
        `<tag>`, `[TAG]`) added as a special token, saved as a model directory with that chat
        template in tokenizer_config.json (eos_token from the template's tokens), and writes Delta
        tables under OUT/tables: `messages` (array<struct>), `messages_json` (the same as JSON
        text), `pc_plain` (prompt/completion strings), `pc_chat` (prompt/completion
        conversations), `lm` (text). Conversations have system prompts, several turns, unicode,
        CJK and emoji, empty contents, very long turns and (for templates that take them) tools,
        tool calls and reasoning. Prints the layout as JSON. With SFT_REF_NAMED_TEMPLATES set, the
        chat template is a list of named ones (`default`, and `tool_use` = "TOOL MODE\n" + it).

    sft_ref.py check DATASET TABLE TOKDIR COLUMNS_JSON TRL_ARGS_JSON
        Builds `SFTTrainer(model=<tiny random LlamaForCausalLM>, args=SFTConfig(**TRL_ARGS),
        train_dataset=<TABLE read with deltalake, columns renamed by COLUMNS_JSON>,
        processing_class=AutoTokenizer.from_pretrained(TOKDIR))` on CPU (TRL_ARGS's
        `row_chat_template_kwargs`, if any, becomes every row's `chat_template_kwargs`) and compares its prepared
        train dataset (`input_ids`, `labels`), row for row, with split `train` of
        `datasets.load_from_disk(DATASET)` (which must also have `attention_mask` of ones).

    sft_ref.py check-all SPECS_JSON
        `check` for every `{dataset, table, tokenizer, columns, trl}` of a JSON list, in one process.

    sft_ref.py same DATASET_A DATASET_B
        The two datasets load with the same splits, features and rows (fan-out vs prepare).

    sft_ref.py append TABLE N
        Appends N slices of the table's own rows (one file each).

    sft_ref.py train DATASET TOKDIR
        One `SFTTrainer(...).train()` step (max_steps=1, CPU) on split `train` of DATASET.
"""

from __future__ import annotations

import json
import os
import random
import re
import sys
import tempfile

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_DISABLED", "true")

import pyarrow as pa  # noqa: E402

WORDS = ("the quick brown fox jumps over lazy dog data lake table model train answer question tool "
         "weather city sum number think reason step result because therefore").split()

UNICODE = [
    "naïve café — déjà vu, Ünïcödé ẞ",
    "emoji 🤗🚀 and a family 👩‍👩‍👧‍👦 🇫🇷",
    "日本語のテキストと中文文本，还有标点。",
    "한국어 텍스트입니다",
    "עברית والعربية mixed",
]


def words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def special_tokens(template: str) -> list[str]:
    found = re.findall(r"<\|[^|\s'\"]{1,40}\|>|<｜[^｜]{1,40}｜>|</?[a-z_]{2,20}>|\[/?[A-Z_]{2,20}\]", template)
    seen = []
    for t in found:
        if t not in seen:
            seen.append(t)
    return seen


def pick_eos(tokens: list[str]) -> str:
    for cand in ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>", "<｜end▁of▁sentence｜>",
                 "<|return|>", "<|END_OF_TURN_TOKEN|>", "<|endoftext|>", "</s>"):
        if cand in tokens:
            return cand
    return "</s>"


def fixtures(out: str, template_name: str) -> None:
    import trl
    from tokenizers import Tokenizer, models, pre_tokenizers, decoders, trainers
    import deltalake

    tpl_path = os.path.join(os.path.dirname(trl.__file__), "chat_templates", template_name)
    template = open(tpl_path, encoding="utf-8").read()
    rng = random.Random(21)
    specials = special_tokens(template)
    eos = pick_eos(specials)
    if eos not in specials:
        specials.append(eos)
    tok_dir = os.path.join(out, "tok")
    os.makedirs(tok_dir, exist_ok=True)
    corpus = [words(rng, 30) for _ in range(200)] + UNICODE * 5
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=600, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok.save(os.path.join(tok_dir, "tokenizer.json"))
    bos = "<|begin_of_text|>" if "<|begin_of_text|>" in specials else ("<bos>" if "<bos>" in specials else None)
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "eos_token": eos,
        "pad_token": eos,
        "chat_template": template,
        "model_max_length": 128,
    }
    if bos:
        config["bos_token"] = bos
    if os.environ.get("SFT_REF_NAMED_TEMPLATES"):
        # A list of named templates: `tool_use` for rows with tools, `default` for the others.
        config["chat_template"] = [{"name": "default", "template": template},
                                   {"name": "tool_use", "template": "TOOL MODE\n" + template}]
    with open(os.path.join(tok_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, ensure_ascii=False)

    with_tools = "tool_calls" in template
    with_reasoning = "reasoning_content" in template
    with_system = "System role not supported" not in template
    convs = conversations(rng, with_tools, with_reasoning, with_system)
    msg_type = pa.list_(pa.struct([
        ("role", pa.string()),
        ("content", pa.string()),
        ("reasoning_content", pa.string()),
        ("tool_calls", pa.list_(pa.struct([
            ("type", pa.string()),
            ("function", pa.struct([("name", pa.string()), ("arguments", pa.struct([("city", pa.string())]))])),
        ]))),
    ]))
    tools_json = json.dumps([{"type": "function", "function": {
        "name": "get_weather", "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}])

    def full(m):
        return {"role": m["role"], "content": m.get("content"), "reasoning_content": m.get("reasoning_content"),
                "tool_calls": m.get("tool_calls")}

    tables = {}
    rows = [[full(m) for m in c] for c, _ in convs]
    tools = [tools_json if t else None for _, t in convs]
    tables["messages"] = pa.table({"messages": pa.array(rows, type=msg_type), "tools": pa.array(tools, pa.string()),
                                   "id": pa.array(range(len(rows)), pa.int64())})
    tables["messages_json"] = pa.table({
        "messages": pa.array([json.dumps([{k: v for k, v in m.items()} for m in c], ensure_ascii=False)
                              for c, _ in convs], pa.string()),
        "tools": pa.array(tools, pa.string())})
    if with_tools:
        # The tools as a list of structs (Arrow's own types) rather than JSON text.
        tables["messages_tools_list"] = pa.table({
            "messages": pa.array(rows, type=msg_type),
            "tools": pa.array([json.loads(tools_json) if t else None for _, t in convs])})
    pc = [(c[:-1], c[-1:]) for c, t in convs if not t and c[-1]["role"] == "assistant" and len(c) >= 2]
    tables["pc_chat"] = pa.table({"prompt": pa.array([[full(m) for m in p] for p, _ in pc], type=msg_type),
                                  "completion": pa.array([[full(m) for m in q] for _, q in pc], type=msg_type)})
    plain = [(words(rng, rng.randint(0, 12)) + rng.choice(["", " ", "? "]), rng.choice(UNICODE + [words(rng, 9), ""]))
             for _ in range(40)]
    plain.append(("long " + words(rng, 200), "short"))
    plain.append(("q", "ends with eos" + eos))
    tables["pc_plain"] = pa.table({"prompt": [p for p, _ in plain], "completion": [c for _, c in plain]})
    texts = [words(rng, rng.randint(0, 50)) for _ in range(30)] + UNICODE + ["", "already " + eos, words(rng, 300)]
    tables["lm"] = pa.table({"text": texts})
    paths = {}
    for name, t in tables.items():
        p = os.path.join(out, "tables", name)
        deltalake.write_deltalake(p, t)
        paths[name] = p
    print(json.dumps({"tokenizer": tok_dir, "tables": paths, "eos": eos, "tools": with_tools}))


def conversations(rng: random.Random, with_tools: bool, with_reasoning: bool, with_system: bool):
    out = []
    for i in range(36):
        msgs = []
        if i % 3 == 0 and with_system:
            msgs.append({"role": "system", "content": "You are helpful. " + words(rng, 5)})
        turns = 1 + i % 4
        for t in range(turns):
            user = words(rng, rng.randint(1, 15))
            if (i + t) % 5 == 0:
                user += " " + UNICODE[(i + t) % len(UNICODE)]
            if i == 7 and t == 0:
                user = words(rng, 400)  # a very long turn
            msgs.append({"role": "user", "content": user})
            answer = words(rng, rng.randint(1, 20))
            if (i + t) % 7 == 3:
                answer = ""
            if i == 11 and t == turns - 1:
                answer = words(rng, 400)
            if (i + t) % 4 == 1:
                answer += " " + UNICODE[(i * 3 + t) % len(UNICODE)]
            m = {"role": "assistant", "content": answer}
            if with_reasoning and i % 5 == 2 and t == turns - 1:
                m["reasoning_content"] = "let me think " + words(rng, 6)
            msgs.append(m)
        tools = False
        if with_tools and i % 6 == 5:
            tools = True
            msgs.append({"role": "user", "content": "What is the weather in Paris?"})
            msgs.append({"role": "assistant", "content": "", "tool_calls": [
                {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]})
            msgs.append({"role": "tool", "content": json.dumps({"temp": 21, "sky": "clear ☀"}, ensure_ascii=False)})
            msgs.append({"role": "assistant", "content": "It is 21 degrees and clear ☀."})
        out.append((msgs, tools))
    return out


def tiny_model(tok):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=4096,
                      pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    return LlamaForCausalLM(cfg)


def trainer(dataset, tok_dir: str, trl_args: dict, out_dir: str):
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer
    tok = AutoTokenizer.from_pretrained(tok_dir)
    args = SFTConfig(output_dir=out_dir, report_to=[], use_cpu=True, per_device_train_batch_size=2,
                     dataset_num_proc=None, **trl_args)
    return SFTTrainer(model=tiny_model(tok), args=args, train_dataset=dataset, processing_class=tok)


def check_all(specs: str) -> None:
    """Every `{dataset, table, tokenizer, columns, trl}` of the JSON list `specs`, in one process."""
    for spec in json.loads(specs):
        print(spec["dataset"], end=" ", flush=True)
        check(spec["dataset"], spec["table"], spec["tokenizer"], json.dumps(spec.get("columns", {})),
              json.dumps(spec.get("trl", {})))


def parse_json_columns(ds):
    """Conversations held as JSON text, as a user hands them to TRL: parsed (`json.loads`)."""
    for name in ("messages", "prompt", "completion"):
        if name in ds.column_names and getattr(ds.features[name], "dtype", None) == "string":
            first = next((v for v in ds[name] if v is not None), "")
            if first.lstrip().startswith("["):
                ds = ds.map(lambda r, n=name: {n: json.loads(r[n])})
    return ds


def check(dataset_dir: str, table: str, tok_dir: str, columns: str, trl_args: str) -> None:
    import datasets
    import deltalake
    rename = json.loads(columns)
    t = deltalake.DeltaTable(table).to_pyarrow_table()
    t = t.rename_columns([rename.get(c, c) for c in t.column_names])
    ds = parse_json_columns(datasets.Dataset(t))
    trl = json.loads(trl_args)
    trl.setdefault("max_length", None)  # TRL's default is 1024; ours is no truncation
    row_kwargs = trl.pop("row_chat_template_kwargs", None)
    if row_kwargs is not None:
        # What --template-kwargs gives every row: TRL reads a `chat_template_kwargs` column.
        ds = ds.map(lambda r: {"chat_template_kwargs": row_kwargs})
    with tempfile.TemporaryDirectory() as tmp:
        ref = trainer(ds, tok_dir, trl, tmp).train_dataset
    ours = datasets.load_from_disk(dataset_dir)["train"]
    assert ours.features["input_ids"].feature.dtype == "int32", ours.features
    assert ours.features["labels"].feature.dtype == "int64", ours.features
    packed = trl.get("packing", False)
    if packed:
        want = ["input_ids", "labels"] + (["seq_lengths"] if "seq_lengths" in ref.column_names else [])
        assert ours.column_names == want, (ours.column_names, ref.column_names)
    else:
        assert ours.features["attention_mask"].feature.dtype == "int8", ours.features
    assert len(ours) == len(ref), f"rows: ours {len(ours)}, TRL {len(ref)}"
    for i, (a, b) in enumerate(zip(ours, ref)):
        assert a["input_ids"] == b["input_ids"], f"row {i} input_ids differ:\nours {a['input_ids']}\nTRL  {b['input_ids']}"
        assert a["labels"] == b["labels"], f"row {i} labels differ:\nours {a['labels']}\nTRL  {b['labels']}"
        if packed:
            if "seq_lengths" in b:
                assert a["seq_lengths"] == b["seq_lengths"], f"row {i} seq_lengths: {a['seq_lengths']} {b['seq_lengths']}"
        else:
            assert a["attention_mask"] == [1] * len(a["input_ids"]), f"row {i} attention_mask"
    trainable = sum(sum(1 for x in r["labels"] if x != -100) for r in ref)
    print(json.dumps({"rows": len(ours), "trainable": trainable}))


def same(a: str, b: str) -> None:
    """Two datasets load with the same splits, features and rows (fan-out vs prepare)."""
    import datasets
    da, db = datasets.load_from_disk(a), datasets.load_from_disk(b)
    assert list(da) == list(db), (list(da), list(db))
    for split in db:
        x, y = da[split], db[split]
        assert x.features == y.features, (x.features, y.features)
        assert len(x) == len(y), f"{split}: {len(x)} rows vs {len(y)}"
        for i, (r, q) in enumerate(zip(x, y)):
            assert r == q, f"{split} row {i}:\n{r}\n{q}"
    print(json.dumps({s: len(db[s]) for s in db}))


def append(table: str, times: int) -> None:
    """Append slices of the table's own rows `times` times: many files whose order matters."""
    import deltalake
    t = deltalake.DeltaTable(table).to_pyarrow_table()
    for i in range(times):
        deltalake.write_deltalake(table, t.slice(i * 3 % t.num_rows, t.num_rows - i * 3 % t.num_rows), mode="append")


def train(dataset_dir: str, tok_dir: str) -> None:
    import datasets
    ds = datasets.load_from_disk(dataset_dir)["train"]
    with tempfile.TemporaryDirectory() as tmp:
        tr = trainer(ds, tok_dir, {"max_steps": 1, "logging_steps": 1}, tmp)
        # Taken as prepared: TRL sees input_ids and labels and keeps them.
        assert tr.train_dataset["input_ids"] == ds["input_ids"]
        out = tr.train()
    print(json.dumps({"loss": out.training_loss}))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "fixtures":
        fixtures(sys.argv[2], sys.argv[3])
    elif cmd == "check":
        check(*sys.argv[2:7])
    elif cmd == "check-all":
        check_all(sys.argv[2])
    elif cmd == "same":
        same(sys.argv[2], sys.argv[3])
    elif cmd == "append":
        append(sys.argv[2], int(sys.argv[3]))
    elif cmd == "train":
        train(sys.argv[2], sys.argv[3])
    else:
        sys.exit(f"unknown command {cmd}")
