//! SFT exports (issue 21): `--messages-col`, `--prompt-col`/`--completion-col` and `--lm` give
//! `input_ids` / `labels` / `attention_mask` equal, row for row, to what TRL 1.16's `SFTTrainer`
//! prepares from the same table (a tiny random `LlamaForCausalLM` on CPU, `tests/python/sft_ref.py`),
//! for the chat templates TRL ships (`trl/chat_templates/*_training.jinja`) with tokenizers trained
//! here with each template's special tokens; one training step on our output; refusals write nothing.
//!
//! Needs `DELTA_HF_ML_PYTHON` (the ML venv: trl, transformers, torch); skipped without it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use deltalake::arrow::array::ArrayRef;
use deltalake::protocol::SaveMode;
use serde_json::{Value, json};

use crate::harness::*;

/// Templates TRL ships with generation marks, each rendered by a tokenizer trained with its tokens.
const TEMPLATES: &[&str] = &[
    "qwen2_5_training",
    "qwen3_training",
    "qwen3_8_training",
    "llama3_training",
    "gemma_training",
    "phi3_training",
    "deepseekv3_training",
    "gptoss_training",
    "cohere_training",
    "glm4moe_training",
    "lfm2_training",
];

/// The ML venv's Python, or a skip.
#[track_caller]
fn ml_python(test: &str) -> Option<String> {
    match std::env::var("DELTA_HF_ML_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ => {
            skip(test, "DELTA_HF_ML_PYTHON is not set (the ML venv with trl: make venv-ml)");
            None
        }
    }
}

/// A tokenizer for one template and the tables of every input shape (`sft_ref.py fixtures`).
struct Fx {
    tok: PathBuf,
    layout: Value,
}

impl Fx {
    fn new(py: &str, dir: &Path, template: &str) -> Fx {
        let o = Command::new(py)
            .arg(root().join("tests/python/sft_ref.py"))
            .args(["fixtures", &s(dir), &format!("{template}.jinja")])
            .output()
            .expect("run sft_ref.py fixtures");
        assert!(o.status.success(), "fixtures failed:\n{}\n{}", stdout(&o), stderr(&o));
        let layout: Value = serde_json::from_slice(&o.stdout).expect("fixture layout");
        Fx { tok: PathBuf::from(layout["tokenizer"].as_str().unwrap()), layout }
    }

    fn table(&self, name: &str) -> String {
        self.layout["tables"][name].as_str().unwrap().to_string()
    }
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// `prepare` of split `train` = `table` with the tokenizer and `flags`.
fn prepare(table: &str, tok: &Path, out: &Path, flags: &[&str]) -> Output {
    bin()
        .args(["prepare", "--json", "--split", &format!("train={table}"), "--tokenizer", &s(tok), "--output"])
        .arg(out)
        .args(flags)
        .output()
        .expect("run delta-hf")
}

/// One comparison for `sft_ref.py check-all`.
fn spec(out: &Path, table: &str, tok: &Path, trl: Value) -> Value {
    json!({"dataset": s(out), "table": table, "tokenizer": s(tok), "trl": trl})
}

/// Compare every spec with TRL in one Python process.
#[track_caller]
fn check_all(py: &str, specs: &[Value]) {
    let o = Command::new(py)
        .arg(root().join("tests/python/sft_ref.py"))
        .args(["check-all", &Value::from(specs.to_vec()).to_string()])
        .output()
        .expect("run sft_ref.py check-all");
    assert!(o.status.success(), "output differs from TRL 1.16:\n{}\n{}", stdout(&o), stderr(&o));
}

#[test]
fn conversations_match_trl_for_the_templates_trl_ships() {
    let Some(py) = ml_python("conversations_match_trl_for_the_templates_trl_ships") else { return };
    let dir = tmp();
    let mut specs = Vec::new();
    for (i, t) in TEMPLATES.iter().enumerate() {
        let fx = Fx::new(&py, &dir.path().join(t), t);
        let messages = fx.table("messages");
        // Assistant tokens only, truncated at the start: rows left without a trainable token
        // are dropped as TRL drops them.
        let out = dir.path().join(format!("{t}-assistant"));
        let o = prepare(
            &messages,
            &fx.tok,
            &out,
            &["--messages-col", "messages", "--assistant-only-loss", "--max-length", "320"],
        );
        let summary = ok_json(&o);
        let sft = &summary["sft"]["splits"][0];
        assert_eq!(sft["rows_in"], 36, "{t}: {sft}");
        assert!(sft["truncated_rows"].as_u64().unwrap() > 0, "{t}: {sft}");
        assert!(sft["rows_out"].as_u64().unwrap() > 0, "{t}: {sft}");
        specs.push(spec(&out, &messages, &fx.tok, json!({"assistant_only_loss": true, "max_length": 320})));
        if i % 3 == 0 {
            // Every token, no truncation (TRL's own default would cut at 1024).
            let out = dir.path().join(format!("{t}-all"));
            ok(&prepare(&messages, &fx.tok, &out, &["--messages-col", "messages"]));
            specs.push(spec(&out, &messages, &fx.tok, json!({})));
            // The same conversations as JSON text, the end kept.
            let out = dir.path().join(format!("{t}-json"));
            let flags = [
                "--messages-col",
                "messages",
                "--assistant-only-loss",
                "--max-length",
                "96",
                "--truncation-mode",
                "keep-end",
            ];
            ok(&prepare(&fx.table("messages_json"), &fx.tok, &out, &flags));
            specs.push(spec(
                &out,
                &fx.table("messages_json"),
                &fx.tok,
                json!({"assistant_only_loss": true, "max_length": 96, "truncation_mode": "keep_end"}),
            ));
            if fx.layout["tools"] == true {
                // The tools as a list of structs instead of JSON text (TRL gets them as dicts).
                let table = fx.table("messages_tools_list");
                let out = dir.path().join(format!("{t}-tools-list"));
                ok(&prepare(&table, &fx.tok, &out, &["--messages-col", "messages", "--assistant-only-loss"]));
                specs.push(spec(&out, &table, &fx.tok, json!({"assistant_only_loss": true})));
            }
        }
    }
    check_all(&py, &specs);
}

/// Issue 23 on SFT inputs: `--split-from` hashes the input columns by default (the
/// conversation; the prompt and the completion), `--dedup exact` compares them, and the splits
/// and the rows kept are recomputed in Python. `--stratify` has no classes here: exit 2.
#[test]
fn split_from_and_dedup_on_conversations() {
    let Some(py) = ml_python("split_from_and_dedup_on_conversations") else { return };
    let dir = tmp();
    let fx = Fx::new(&py, &dir.path().join("fx"), "qwen2_5_training");
    let messages = fx.table("messages");
    // Every conversation two or three times over: duplicates in both splits.
    sft_ref(&py, &["append", &messages, "2"]);
    let ratios = "train=0.7,test=0.3";
    let run = |table: &str, out: &Path, flags: &[&str]| {
        bin()
            .args(["prepare", "--json", "--split-from", table, "--split-ratios", ratios, "--tokenizer"])
            .arg(&fx.tok)
            .arg("--output")
            .arg(out)
            .args(flags)
            .output()
            .expect("run delta-hf")
    };
    let checker = |args: &[&str]| {
        let paths: Vec<&Path> = args.iter().map(Path::new).collect();
        let out = run_py_with(&python(), "hygiene.py", &paths);
        assert!(out.contains("ok"), "{out}");
    };
    let chat = ["--messages-col", "messages", "--assistant-only-loss", "--keep-col", "id"];
    let out = dir.path().join("split");
    let summary = ok_json(&run(&messages, &out, &chat));
    assert_eq!(summary["hygiene"]["split_from"]["keys"], json!(["messages"]), "{summary}");
    checker(&["sft-splits", &messages, &s(&out), ratios, "messages", "id", "none"]);

    let out = dir.path().join("dedup");
    let summary = ok_json(&run(&messages, &out, &[&chat[..], &["--dedup", "exact"]].concat()));
    let dropped: u64 = summary["splits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["dropped"]["duplicates"].as_u64().unwrap_or(0))
        .sum();
    assert!(dropped >= 36, "the appended copies are dropped: {summary}");
    checker(&["sft-splits", &messages, &s(&out), ratios, "messages", "id", "exact"]);
    // Without --dedup the leak check runs fused into the write (the batches hashed on their way
    // to the writer, packed or not); its counts equal the separate pass's (--dedup exact).
    let counts = |summary: &Value| -> Vec<(Value, Value)> {
        let splits = summary["hygiene"]["splits"].as_array().expect("hygiene splits").clone();
        splits.iter().map(|x| (x["exact_duplicates"].clone(), x["leaks"].clone())).collect()
    };
    let want = counts(&summary);
    assert!(want.iter().any(|(d, _)| d.as_u64() > Some(0)), "{summary}");
    let unpacked = ok_json(&run(&messages, &dir.path().join("fused"), &chat));
    assert_eq!(counts(&unpacked), want, "{unpacked}");
    let packed_flags = [&chat[..3], &["--max-length", "256", "--packing", "bfd"]].concat();
    let packed = ok_json(&run(&messages, &dir.path().join("fused-packed"), &packed_flags));
    assert_eq!(counts(&packed), want, "{packed}");

    // Prompt-completion pairs: both columns are the key and the compared text.
    let pc = fx.table("pc_plain");
    let out = dir.path().join("pc");
    let summary = ok_json(&run(&pc, &out, &["--prompt-col", "prompt", "--completion-col", "completion"]));
    assert_eq!(summary["hygiene"]["split_from"]["keys"], json!(["prompt", "completion"]), "{summary}");

    let out = dir.path().join("stratify");
    fails(&run(&messages, &out, &[&chat[..], &["--stratify"]].concat()), 2, &["--stratify", "SFT"]);
    assert!(!out.exists());
}

#[test]
fn prompt_completion_and_lm_match_trl() {
    let Some(py) = ml_python("prompt_completion_and_lm_match_trl") else { return };
    let dir = tmp();
    let fx = Fx::new(&py, &dir.path().join("fx"), "qwen2_5_training");
    let pc = ["--prompt-col", "prompt", "--completion-col", "completion"];
    let cases: Vec<(&str, &str, Vec<&str>, Value)> = vec![
        ("pc_chat", "chat", vec![], json!({})),
        (
            "pc_chat",
            "chat-all",
            vec!["--completion-only-loss", "false"],
            json!({"completion_only_loss": false}),
        ),
        ("pc_chat", "chat-assistant", vec!["--assistant-only-loss"], json!({"assistant_only_loss": true})),
        ("pc_plain", "plain", vec!["--max-length", "16"], json!({"max_length": 16})),
        (
            "pc_plain",
            "plain-end",
            vec!["--max-length", "12", "--truncation-mode", "keep-end", "--completion-only-loss", "false"],
            json!({"max_length": 12, "truncation_mode": "keep_end", "completion_only_loss": false}),
        ),
    ];
    let mut specs = Vec::new();
    for (table, name, flags, trl) in cases {
        let out = dir.path().join(name);
        let mut all: Vec<&str> = pc.to_vec();
        all.extend(flags);
        ok(&prepare(&fx.table(table), &fx.tok, &out, &all));
        specs.push(spec(&out, &fx.table(table), &fx.tok, trl));
    }
    for (name, flags, trl) in [
        ("lm", vec!["--lm"], json!({})),
        (
            "lm-cut",
            vec!["--lm", "--max-length", "8", "--truncation-mode", "keep-end"],
            json!({"max_length": 8, "truncation_mode": "keep_end"}),
        ),
    ] {
        let out = dir.path().join(name);
        let summary = ok_json(&prepare(&fx.table("lm"), &fx.tok, &out, &flags));
        if name == "lm" {
            // The empty text becomes the EOS token alone; nothing is dropped without --max-length.
            assert_eq!(summary["sft"]["splits"][0]["rows_out"], summary["sft"]["splits"][0]["rows_in"]);
        }
        specs.push(spec(&out, &fx.table("lm"), &fx.tok, trl));
    }
    check_all(&py, &specs);
}

#[test]
fn one_training_step_on_the_output() {
    let Some(py) = ml_python("one_training_step_on_the_output") else { return };
    let dir = tmp();
    let fx = Fx::new(&py, &dir.path().join("fx"), "llama3_training");
    let out = dir.path().join("out");
    ok(&prepare(
        &fx.table("messages"),
        &fx.tok,
        &out,
        &["--messages-col", "messages", "--assistant-only-loss", "--max-length", "128", "--keep-col", "id"],
    ));
    let o = Command::new(&py)
        .arg(root().join("tests/python/sft_ref.py"))
        .args(["train", &s(&out), &s(&fx.tok)])
        .output()
        .expect("run sft_ref.py train");
    assert!(o.status.success(), "training step failed:\n{}\n{}", stdout(&o), stderr(&o));
    let loss: Value =
        serde_json::from_slice(o.stdout.rsplit(|b| *b == b'\n').find(|l| !l.is_empty()).unwrap()).unwrap();
    assert!(loss["loss"].as_f64().is_some_and(|l| l.is_finite() && l > 0.0), "{loss}");
}

/// A table of one string column `messages` (JSON conversations).
fn json_table(dir: &Path, rows: &[Option<&str>]) -> String {
    let path = dir.join("bad");
    let col: ArrayRef = std::sync::Arc::new(deltalake::arrow::array::StringArray::from(rows.to_vec()));
    write_batches(&path, vec![batch(vec![("messages", col)])], SaveMode::ErrorIfExists);
    s(&path)
}

#[test]
fn refusals_write_nothing() {
    let Some(py) = ml_python("refusals_write_nothing") else { return };
    let dir = tmp();
    let fx = Fx::new(&py, &dir.path().join("fx"), "gemma_training");
    let messages = fx.table("messages");
    let out = dir.path().join("out");
    let gone = |o: &Output| assert!(!out.exists(), "a refusal wrote {}:\n{}", out.display(), stderr(o));

    // Usage: the classification flags clash, --tokenizer is required.
    let o = prepare(&messages, &fx.tok, &out, &["--messages-col", "messages", "--label-col", "x"]);
    fails(&o, 2, &["--messages-col", "--label-col"]);
    gone(&o);
    let o = bin()
        .args(["prepare", "--split", &format!("train={messages}"), "--messages-col", "messages", "--output"])
        .arg(&out)
        .output()
        .unwrap();
    fails(&o, 2, &["--tokenizer"]);
    gone(&o);
    // A template without generation marks and --assistant-only-loss.
    let plain = dir.path().join("plain.jinja");
    std::fs::write(&plain, "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}").unwrap();
    let o = prepare(
        &messages,
        &fx.tok,
        &out,
        &["--messages-col", "messages", "--assistant-only-loss", "--chat-template", &s(&plain)],
    );
    fails(&o, 2, &["generation"]);
    gone(&o);
    // No template at all for conversations.
    let bare = dir.path().join("bare");
    std::fs::create_dir_all(&bare).unwrap();
    std::fs::copy(fx.tok.join("tokenizer.json"), bare.join("tokenizer.json")).unwrap();
    let o = prepare(&messages, &bare, &out, &["--messages-col", "messages"]);
    fails(&o, 2, &["no chat template"]);
    gone(&o);

    // Bad rows: exit 1 naming the split, the row and the message; or dropped and counted.
    let bad = json_table(
        dir.path(),
        &[
            Some(r#"[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]"#),
            Some(r#"[{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}]"#),
            None,
            Some(r#"[{"content": "no role"}]"#),
            Some(r#"[{"role": "user", "content": "only a question"}]"#),
            Some("not json"),
        ],
    );
    let o = prepare(&bad, &fx.tok, &out, &["--messages-col", "messages"]);
    fails(&o, 1, &["split `train`, row 1", "System role not supported"]);
    gone(&o);
    // A fan-out task names the row within its own rows, and the task and its first file.
    let plan = dir.path().join("bad-plan.json");
    let o = bin()
        .args(["plan", "--split", &format!("train={bad}"), "--tokenizer", &s(&fx.tok), "--output"])
        .arg(&out)
        .args(["--messages-col", "messages", "--tasks", "1", "--plan", &s(&plan), "--quiet"])
        .output()
        .unwrap();
    ok(&o);
    let o = bin().args(["run-task", "--plan", &s(&plan), "--task", "0"]).output().unwrap();
    fails(&o, 1, &["split `train`, row 1 of task 0 (whose files begin with `", "System role not supported"]);
    gone(&o);
    let o = prepare(&bad, &fx.tok, &out, &["--messages-col", "messages", "--assistant-only-loss"]);
    fails(&o, 1, &["row 1"]);
    gone(&o);
    let summary = ok_json(&prepare(
        &bad,
        &fx.tok,
        &out,
        &["--messages-col", "messages", "--assistant-only-loss", "--skip-invalid-rows"],
    ));
    let sp = &summary["sft"]["splits"][0];
    assert_eq!((sp["rows_in"].as_u64(), sp["rows_out"].as_u64()), (Some(6), Some(1)), "{sp}");
    let invalid = &sp["invalid"];
    assert_eq!(invalid["template_error"]["first_positions"], json!([1]), "{sp}");
    assert_eq!(invalid["null_conversation"]["first_positions"], json!([2]), "{sp}");
    assert_eq!(invalid["missing_role"]["first_positions"], json!([3]), "{sp}");
    assert_eq!(invalid["no_assistant_tokens"]["first_positions"], json!([4]), "{sp}");
    assert_eq!(invalid["bad_json"]["first_positions"], json!([5]), "{sp}");
    assert_eq!(summary["splits"][0]["dropped"]["invalid"], 5, "{summary}");
    assert_eq!(summary["splits"][0]["num_rows"], 1);
}

#[test]
fn packing_matches_trl() {
    let Some(py) = ml_python("packing_matches_trl") else { return };
    let dir = tmp();
    let fx = Fx::new(&py, &dir.path().join("fx"), "qwen2_5_training");
    let mut specs = Vec::new();
    for (strategy, trl_name, max) in
        [("bfd", "bfd", "300"), ("bfd-split", "bfd_split", "200"), ("wrapped", "wrapped", "128")]
    {
        let out = dir.path().join(strategy);
        let flags = [
            "--messages-col",
            "messages",
            "--assistant-only-loss",
            "--max-length",
            max,
            "--packing",
            strategy,
        ];
        let summary = ok_json(&prepare(&fx.table("messages"), &fx.tok, &out, &flags));
        let p = &summary["sft"]["splits"][0]["packing"];
        assert_eq!(p["rows_in"], 36, "{summary}");
        assert!(p["fill_ratio"].as_f64().is_some_and(|f| f > 0.0 && f <= 1.0), "{p}");
        let max: usize = max.parse().unwrap();
        specs.push(spec(
            &out,
            &fx.table("messages"),
            &fx.tok,
            json!({"assistant_only_loss": true, "max_length": max, "packing": true, "packing_strategy": trl_name}),
        ));
    }
    let out = dir.path().join("lm");
    ok(&prepare(&fx.table("lm"), &fx.tok, &out, &["--lm", "--max-length", "32", "--packing", "bfd-split"]));
    specs.push(spec(
        &out,
        &fx.table("lm"),
        &fx.tok,
        json!({"max_length": 32, "packing": true, "packing_strategy": "bfd_split"}),
    ));
    check_all(&py, &specs);
    // Refused: packing without a length, or with kept columns (TRL packs input_ids and labels only).
    let out = dir.path().join("refused");
    let o =
        prepare(&fx.table("messages"), &fx.tok, &out, &["--messages-col", "messages", "--packing", "bfd"]);
    fails(&o, 2, &["--max-length"]);
    let o = prepare(
        &fx.table("messages"),
        &fx.tok,
        &out,
        &["--messages-col", "messages", "--max-length", "64", "--packing", "bfd", "--keep-col", "id"],
    );
    fails(&o, 2, &["--keep-col", "--packing"]);
    assert!(!out.exists());
}

/// `sft_ref.py CMD ARGS` with the ML venv; panics with its output on failure.
#[track_caller]
fn sft_ref(py: &str, args: &[&str]) -> String {
    let o = Command::new(py)
        .arg(root().join("tests/python/sft_ref.py"))
        .args(args)
        .output()
        .expect("run sft_ref.py");
    assert!(o.status.success(), "sft_ref.py {args:?} failed:\n{}\n{}", stdout(&o), stderr(&o));
    stdout(&o)
}

#[test]
fn fan_out_equals_prepare_packing_included() {
    let Some(py) = ml_python("fan_out_equals_prepare_packing_included") else { return };
    let dir = tmp();
    let fx = Fx::new(&py, &dir.path().join("fx"), "qwen2_5_training");
    let table = fx.table("messages");
    // Many files, so tasks split the table (and windows of 7 rows straddle files).
    sft_ref(&py, &["append", &table, "5"]);
    let cases: [(&str, Vec<&str>); 2] = [
        (
            "masked",
            vec![
                "--messages-col",
                "messages",
                "--assistant-only-loss",
                "--max-length",
                "200",
                "--keep-col",
                "id",
            ],
        ),
        (
            "packed",
            vec![
                "--messages-col",
                "messages",
                "--max-length",
                "150",
                "--packing",
                "bfd",
                "--packing-window",
                "7",
            ],
        ),
    ];
    for (name, flags) in cases {
        let reference = dir.path().join(format!("{name}-prepare"));
        let prepared = ok_json(&prepare(&table, &fx.tok, &reference, &flags));
        let out = dir.path().join(format!("{name}-fanout"));
        let plan = dir.path().join(format!("{name}-plan.json"));
        let o = bin()
            .args([
                "plan",
                "--split",
                &format!("train={table}"),
                "--tokenizer",
                &s(&fx.tok),
                "--output",
                &s(&out),
            ])
            .args(&flags)
            .args(["--tasks", "3", "--plan", &s(&plan), "--json"])
            .output()
            .unwrap();
        ok_json(&o);
        let planned: Value = serde_json::from_slice(&std::fs::read(&plan).unwrap()).unwrap();
        let tasks = planned["splits"][0]["tasks"].as_array().unwrap();
        assert!(tasks.iter().all(|t| !t.as_array().unwrap().is_empty()), "a task without files: {planned}");
        if name == "packed" {
            // Each task begins on a window boundary, inside a file.
            let ranges = planned["splits"][0]["row_ranges"].as_array().unwrap();
            assert!(ranges.iter().all(|r| r["first_row"].as_u64().unwrap() % 7 == 0), "{planned}");
        }
        for i in 0..3 {
            ok(&bin()
                .args(["run-task", "--plan", &s(&plan), "--task", &i.to_string(), "--json"])
                .output()
                .unwrap());
        }
        let committed = ok_json(&bin().args(["commit", "--plan", &s(&plan), "--json"]).output().unwrap());
        sft_ref(&py, &["same", &s(&out), &s(&reference)]);
        // The summary's SFT statistics are prepare's: the tasks' parts merged (counts, exact
        // length percentiles, packing and its fill ratio), and the rows dropped by reason.
        let (want, got) = (&prepared["sft"]["splits"][0], &committed["sft"]["splits"][0]);
        assert!(want["rows_in"].as_u64().unwrap() > 0, "{prepared}");
        for field in [
            "name",
            "rows_in",
            "rows_out",
            "invalid",
            "fully_masked",
            "tokens",
            "trainable_tokens",
            "truncated_rows",
            "length",
            "longer_than_model_max_length",
            "packing",
        ] {
            assert_eq!(got[field], want[field], "{name}: sft.splits[0].{field}\n{committed}\n{prepared}");
        }
        assert_eq!(got, want, "{name}");
        assert_eq!(committed["sft"]["mask_rule"], prepared["sft"]["mask_rule"], "{name}");
        assert_eq!(name == "packed", !got["packing"].is_null(), "{name}: {got}");
        assert_eq!(name == "masked", got["fully_masked"].as_u64().unwrap() > 0, "{name}: {got}");
        let dropped = |v: &Value| {
            v["splits"].as_array().unwrap().iter().map(|sp| sp["dropped"].clone()).collect::<Vec<_>>()
        };
        assert_eq!(dropped(&committed), dropped(&prepared), "{name}");
    }
}

#[test]
fn template_kwargs_and_named_templates_match_trl() {
    let Some(py) = ml_python("template_kwargs_and_named_templates_match_trl") else { return };
    let dir = tmp();
    let mut specs = Vec::new();
    // --template-kwargs: Qwen 3 without thinking (its generation prompt differs), as TRL reads
    // a chat_template_kwargs column.
    let fx = Fx::new(&py, &dir.path().join("qwen3"), "qwen3_training");
    for (name, kwargs) in
        [("think", r#"{"enable_thinking": true}"#), ("nothink", r#"{"enable_thinking": false}"#)]
    {
        let out = dir.path().join(name);
        let flags = ["--prompt-col", "prompt", "--completion-col", "completion", "--template-kwargs", kwargs];
        ok(&prepare(&fx.table("pc_chat"), &fx.tok, &out, &flags));
        let kw: Value = serde_json::from_str(kwargs).unwrap();
        specs.push(spec(&out, &fx.table("pc_chat"), &fx.tok, json!({"row_chat_template_kwargs": kw})));
    }
    // A list of named templates: `tool_use` for the rows with tools, `default` for the others.
    let o = Command::new(&py)
        .env("SFT_REF_NAMED_TEMPLATES", "1")
        .arg(root().join("tests/python/sft_ref.py"))
        .args(["fixtures", &s(&dir.path().join("named")), "qwen2_5_training.jinja"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let layout: Value = serde_json::from_slice(&o.stdout).unwrap();
    let (tok, table) = (
        PathBuf::from(layout["tokenizer"].as_str().unwrap()),
        layout["tables"]["messages"].as_str().unwrap(),
    );
    let out = dir.path().join("named-out");
    let summary =
        ok_json(&prepare(table, &tok, &out, &["--messages-col", "messages", "--assistant-only-loss"]));
    assert_eq!(summary["sft"]["template"]["name"], "default", "{summary}");
    specs.push(spec(&out, table, &tok, json!({"assistant_only_loss": true})));
    check_all(&py, &specs);
    // --chat-template NAME picks one of them for every row; an unknown name is exit 2.
    let out = dir.path().join("named-tool-use");
    let summary =
        ok_json(&prepare(table, &tok, &out, &["--messages-col", "messages", "--chat-template", "tool_use"]));
    assert_eq!(summary["sft"]["template"]["name"], "tool_use", "{summary}");
    let o = prepare(
        table,
        &tok,
        &dir.path().join("refused"),
        &["--messages-col", "messages", "--chat-template", "nope"],
    );
    fails(&o, 2, &["`nope`", "default, tool_use"]);
}
