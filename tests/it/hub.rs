//! `delta-hf size` and `delta-hf pull` against a loopback Hub emulator
//! (`tests/python/hub_emulator.py`, started here on 127.0.0.1, driven through the real `hf-hub`
//! client via `HF_ENDPOINT`), then `prepare` on the pulled tables, checked by `datasets`.
//!
//! The emulator's rows are a pure function of (config, split, index); [`text_of`] / [`label_of`]
//! compute the same rows independently here.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::{Value, json};

use crate::harness::*;

/// A token that must never appear in any output.
pub(crate) const SENTINEL: &str = "hf_SENTINEL_token_must_not_leak_4242";

pub(crate) const EN_NAMES: [&str; 3] = ["neg", "pos", "mixed"];

fn text_of(config: &str, split: &str, i: usize) -> String {
    format!("{config} {split} review {i}")
}

fn label_of(config: &str, split: &str, i: usize) -> usize {
    match (config, split) {
        ("en", "train") => (i * 7) % 3,
        ("en", _) => i % 2,
        ("fr", _) => i % 2,
        _ => i % 3,
    }
}

/// Expected (text, label name) rows of the en config.
pub(crate) fn en_rows(split: &str, n: usize) -> Vec<(String, String)> {
    (0..n).map(|i| (text_of("en", split, i), EN_NAMES[label_of("en", split, i)].to_string())).collect()
}

/// The emulator process; killed on drop (also used by the tokenizer tests).
pub(crate) struct Emulator {
    child: Option<Child>,
    port: u16,
    data: TempDir,
}

impl Emulator {
    pub(crate) fn start() -> Self {
        let data = tmp();
        let mut child = Command::new(python())
            .arg(root().join("tests/python/hub_emulator.py"))
            .arg(data.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start hub emulator");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).expect("emulator port");
        let port = line.trim().strip_prefix("PORT ").and_then(|p| p.parse().ok()).unwrap_or_else(|| {
            let _ = child.kill();
            panic!("hub emulator did not print its port: {line:?}")
        });
        Emulator { child: Some(child), port, data }
    }

    pub(crate) fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub(crate) fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub(crate) fn requests(&self) -> String {
        std::fs::read_to_string(self.data.path().join("requests.log")).unwrap_or_default()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `delta-hf` with the Hub environment pointing at the emulator and a private HF_HOME.
pub(crate) fn hub_cmd(endpoint: &str, home: &Path) -> Command {
    hub_env(bin(), endpoint, home)
}

/// `c` with the Hub environment pointing at the emulator and a private HF_HOME.
fn hub_env(mut c: Command, endpoint: &str, home: &Path) -> Command {
    c.env("HF_ENDPOINT", endpoint)
        .env("HF_HOME", home)
        .env("HF_HUB_CACHE", home.join("hub"))
        .env("HF_TOKEN", SENTINEL)
        .env("DELTA_HF_VIEWER_ENDPOINT", endpoint)
        .env_remove("HF_HUB_OFFLINE")
        .env_remove("HF_TOKEN_PATH");
    c
}

pub(crate) fn run_cmd(mut c: Command, args: &[&str]) -> Output {
    let o = c.args(args).output().expect("run delta-hf");
    no_leak(&o);
    o
}

#[track_caller]
fn no_leak(o: &Output) {
    for (what, s) in [("stdout", stdout(o)), ("stderr", stderr(o))] {
        assert!(!s.contains(SENTINEL), "the token leaked into {what}:\n{s}");
    }
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Rows of a Delta table in scan order, and its latest commit's `delta_hf` metadata, read by
/// the Python `deltalake` package.
pub(crate) fn delta_rows(table: &Path) -> (Vec<(String, Option<String>)>, Value, i64) {
    let out = py(
        "import sys, json, deltalake\n\
         t = deltalake.DeltaTable(sys.argv[1])\n\
         d = t.to_pyarrow_table().to_pydict()\n\
         print(json.dumps({'rows': list(zip(d['text'], d['label'])), 'meta': t.history(1)[0].get('delta_hf'), 'version': t.version()}))",
        &[p(table)],
    );
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    let rows = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r[0].as_str().unwrap().to_string(), r[1].as_str().map(str::to_string)))
        .collect();
    let meta = v["meta"].clone();
    let meta = match meta {
        Value::String(s) => serde_json::from_str(&s).unwrap(),
        m => m,
    };
    (rows, meta, v["version"].as_i64().unwrap())
}

pub(crate) fn as_pairs(rows: &[(String, String)]) -> Vec<(String, Option<String>)> {
    rows.iter().map(|(t, l)| (t.clone(), Some(l.clone()))).collect()
}

#[test]
fn size_of_a_multi_config_card() {
    let emu = Emulator::start();
    let home = tmp();
    let o = run_cmd(hub_cmd(&emu.endpoint(), home.path()), &["size", "acme/reviews", "--json"]);
    let r = ok_json(&o);
    assert_eq!(r["configs"], json!(["en", "fr"]));
    assert_eq!(r["commit"].as_str().unwrap().len(), 40);
    let en = &r["sizes"][0];
    assert_eq!(en["config"], "en");
    assert_eq!(en["download_size"], json!({"bytes": 83446840, "human": "79.58 MiB", "source": "card"}));
    assert_eq!(en["dataset_size"], json!({"bytes": 133190302, "human": "127.02 MiB", "source": "card"}));
    assert_eq!(en["splits"][0]["name"], "train");
    assert_eq!(en["splits"][0]["num_rows"], 300);
    assert_eq!(en["splits"][0]["source"], "card");
    assert_eq!(en["splits"][1]["num_rows"], 50);
    let files: Vec<(String, String)> = en["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["path"].as_str().unwrap().to_string(), f["split"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        files,
        vec![
            ("en/train-00000-of-00002.parquet".to_string(), "train".to_string()),
            ("en/train-00001-of-00002.parquet".into(), "train".into()),
            ("en/test-00000-of-00001.parquet".into(), "test".into()),
        ]
    );
    assert!(en["files"][0]["size"].as_u64().unwrap() > 100);
    let fr = &r["sizes"][1];
    assert_eq!(fr["download_size"]["human"], "4.88 KiB");
    assert_eq!(fr["splits"][0]["num_rows"], 40);
    // The viewer is not asked when the card has every figure.
    assert!(!emu.requests().contains("/size?"), "{}", emu.requests());
    // The token is sent (never printed).
    assert!(
        emu.requests()
            .lines()
            .any(|l| l.starts_with("GET /api/datasets/acme/reviews") && l.ends_with(" token"))
    );

    // The human form, one config.
    let o = run_cmd(hub_cmd(&emu.endpoint(), home.path()), &["size", "acme/reviews", "--config", "fr"]);
    ok(&o);
    let text = stdout(&o);
    assert!(text.contains("download size: 4.88 KiB (card dataset_info)"), "{text}");
    assert!(text.contains("configs: en, fr"), "{text}");
    assert!(!text.contains("config en\n"), "{text}");
    assert!(text.contains("fr/train-00000-of-00001.parquet"), "{text}");
    // An unknown config is a usage error naming the available ones.
    let o = run_cmd(hub_cmd(&emu.endpoint(), home.path()), &["size", "acme/reviews", "--config", "de"]);
    fails(&o, 2, &["config `de`", "en, fr"]);
}

#[test]
fn size_without_card_sizes_falls_back_to_viewer_then_tree() {
    let emu = Emulator::start();
    let home = tmp();
    let o = run_cmd(hub_cmd(&emu.endpoint(), home.path()), &["size", "acme/nosizes", "--json"]);
    let r = ok_json(&o);
    let c = &r["sizes"][0];
    assert_eq!(c["config"], "default");
    assert_eq!(c["download_size"], json!({"bytes": 123456789, "human": "117.74 MiB", "source": "viewer"}));
    assert_eq!(c["dataset_size"], json!({"bytes": 6543210, "human": "6.24 MiB", "source": "viewer"}));
    assert_eq!(
        c["splits"][0],
        json!({"name": "train", "num_rows": 30, "num_bytes": 3300, "human": "3.22 KiB", "source": "viewer"})
    );
    assert_eq!(c["files"][0]["path"], "train.csv");
    assert_eq!(c["files"][0]["split"], "train");
    assert_eq!(c["files"][1]["path"], "test.csv");
    assert_eq!(c["files"][1]["split"], "test");

    // Without the viewer: the download size is the sum of the data files, the rest unknown.
    let o =
        run_cmd(hub_cmd(&emu.endpoint(), home.path()), &["size", "acme/nosizes", "--json", "--no-viewer"]);
    let r = ok_json(&o);
    let c = &r["sizes"][0];
    let sum: u64 = c["files"].as_array().unwrap().iter().map(|f| f["size"].as_u64().unwrap()).sum();
    assert_eq!(c["download_size"]["bytes"], sum);
    assert_eq!(c["download_size"]["source"], "tree");
    assert_eq!(c["dataset_size"], json!({"bytes": null, "human": "Unknown size", "source": null}));
    let o = run_cmd(hub_cmd(&emu.endpoint(), home.path()), &["size", "acme/nosizes", "--no-viewer"]);
    let text = stdout(ok_text(&o));
    assert!(text.contains("dataset size:  Unknown size"), "{text}");
    assert!(text.contains("(sum of repo file sizes)"), "{text}");

    // A viewer that is down is a note, not a failure.
    let mut c = hub_cmd(&emu.endpoint(), home.path());
    c.env("DELTA_HF_VIEWER_ENDPOINT", "http://127.0.0.1:9");
    let r = ok_json(&run_cmd(c, &["size", "acme/nosizes", "--json"]));
    assert_eq!(r["sizes"][0]["download_size"]["source"], "tree");
    assert!(r["notes"][0].as_str().unwrap().contains("not reachable"), "{r}");
}

#[track_caller]
fn ok_text(o: &Output) -> &Output {
    assert!(o.status.success(), "failed:\n{}\n{}", stdout(o), stderr(o));
    o
}

#[test]
fn pull_then_prepare_end_to_end_and_again_from_the_cache() {
    let mut emu = Emulator::start();
    let home = tmp();
    let dir = tmp();
    let tables = dir.path().join("reviews");
    let o = run_cmd(
        hub_cmd(&emu.endpoint(), home.path()),
        &["pull", "acme/reviews", "--to", p(&tables), "--json", "--max-workers", "3"],
    );
    let s = ok_json(&o);
    assert_eq!(s["config"], "en");
    assert_eq!(s["files_from"], "repo");
    assert_eq!(s["from_cache"], false);
    let commit = s["commit"].as_str().unwrap().to_string();
    assert_eq!(s["splits"][0]["split"], "train");
    assert_eq!(s["splits"][0]["rows"], 300);
    assert_eq!(s["splits"][0]["files"], 2);
    assert_eq!(s["splits"][1]["split"], "test");
    assert_eq!(s["splits"][1]["rows"], 50);
    assert_eq!(s["class_labels"]["label"], json!(EN_NAMES));

    // The tables hold exactly the rows, in file order, ClassLabel ids as their names; the
    // commit records where they came from.
    let train_rows = en_rows("train", 300);
    let test_rows = en_rows("test", 50);
    let (rows, meta, version) = delta_rows(&tables.join("train"));
    assert_eq!(version, 0);
    assert_eq!(rows, as_pairs(&train_rows));
    assert_eq!(meta["dataset"], "acme/reviews");
    assert_eq!(meta["config"], "en");
    assert_eq!(meta["commit"], commit.as_str());
    assert_eq!(meta["class_labels"]["label"], json!(EN_NAMES));
    let (rows, _, _) = delta_rows(&tables.join("test"));
    assert_eq!(rows, as_pairs(&test_rows));
    // The files are in the HF cache, at the pinned commit.
    let snap = home.path().join("hub/datasets--acme--reviews/snapshots").join(&commit);
    assert!(snap.join("en/train-00001-of-00002.parquet").exists());
    assert_eq!(
        std::fs::read_to_string(home.path().join("hub/datasets--acme--reviews/refs/main")).unwrap().trim(),
        commit
    );

    // An existing table is refused without --overwrite.
    let o = run_cmd(hub_cmd(&emu.endpoint(), home.path()), &["pull", "acme/reviews", "--to", p(&tables)]);
    fails(&o, 4, &["already exists", "--overwrite"]);

    // prepare with the card's label order: ids match the published dataset (neg=0, pos=1,
    // mixed=2), not the code-point order, even though `test` never shows `mixed`.
    let out = dir.path().join("out-card");
    let o = run_cmd(
        hub_cmd(&emu.endpoint(), home.path()),
        &[
            "prepare",
            "--json",
            "--split",
            &format!("train={}", tables.join("train").display()),
            "--split",
            &format!("test={}", tables.join("test").display()),
            "--labels-from",
            "hf://datasets/acme/reviews:en",
            "--output",
            p(&out),
        ],
    );
    let s = ok_json(&o);
    assert_eq!(s["labels"], json!(EN_NAMES));
    let expect =
        expect_json(dir.path(), &[("train", &train_rows), ("test", &test_rows)], &EN_NAMES, json!({}));
    check_py("check_dataset.py", &[&out, &expect]);

    // The same order from the pulled table's commit metadata.
    let out2 = dir.path().join("out-table");
    let o = run_cmd(
        hub_cmd(&emu.endpoint(), home.path()),
        &[
            "prepare",
            "--json",
            "--train",
            p(&tables.join("train")),
            "--labels-from",
            p(&tables.join("test")),
            "--output",
            p(&out2),
        ],
    );
    assert_eq!(ok_json(&o)["labels"], json!(EN_NAMES));

    // A config whose files are not Parquet comes from refs/convert/parquet.
    let nosizes = dir.path().join("nosizes");
    let s = ok_json(&run_cmd(
        hub_cmd(&emu.endpoint(), home.path()),
        &[
            "pull",
            "acme/nosizes",
            "--split-table",
            &format!("test={}", nosizes.join("t").display()),
            "--json",
        ],
    ));
    assert_eq!(s["files_from"], "refs/convert/parquet");
    assert_eq!(s["splits"].as_array().unwrap().len(), 1);
    assert_eq!(s["splits"][0]["rows"], 12);
    let (rows, _, _) = delta_rows_raw(&nosizes.join("t"));
    let want: Vec<(String, i64)> =
        (0..12).map(|i| (text_of("default", "test", i), label_of("default", "test", i) as i64)).collect();
    assert_eq!(rows, want);

    // The Hub goes away: the same pull is served from the cache, same commit, same rows.
    emu.stop();
    let again = dir.path().join("again");
    let o = run_cmd(
        hub_cmd(&emu.endpoint(), home.path()),
        &["pull", "acme/reviews", "--to", p(&again), "--json"],
    );
    let s = ok_json(&o);
    assert_eq!(s["from_cache"], true);
    assert_eq!(s["commit"], commit.as_str());
    let (rows, _, _) = delta_rows(&again.join("train"));
    assert_eq!(rows, as_pairs(&train_rows));
    // And with HF_HUB_OFFLINE=1, overwriting (a new version).
    let mut c = hub_cmd(&emu.endpoint(), home.path());
    c.env("HF_HUB_OFFLINE", "1");
    let s = ok_json(&run_cmd(c, &["pull", "acme/reviews", "--to", p(&again), "--overwrite", "--json"]));
    assert_eq!(s["splits"][1]["version"], 1);
    // A revision never fetched is a clear error offline.
    let mut c = hub_cmd(&emu.endpoint(), home.path());
    c.env("HF_HUB_OFFLINE", "1");
    let o = run_cmd(c, &["size", "acme/reviews", "--revision", "v2"]);
    fails(&o, 3, &["HF_HUB_OFFLINE", "`v2`", "not in the cache"]);
}

/// Rows of a table with an integer label.
fn delta_rows_raw(table: &Path) -> (Vec<(String, i64)>, Value, i64) {
    let out = py(
        "import sys, json, deltalake\n\
         t = deltalake.DeltaTable(sys.argv[1])\n\
         d = t.to_pyarrow_table().to_pydict()\n\
         print(json.dumps({'rows': list(zip(d['text'], d['label'])), 'version': t.version()}))",
        &[p(table)],
    );
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    let rows = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r[0].as_str().unwrap().to_string(), r[1].as_i64().unwrap()))
        .collect();
    (rows, Value::Null, v["version"].as_i64().unwrap())
}

#[test]
fn gated_repo_and_missing_revision_are_clear_errors() {
    let emu = Emulator::start();
    let home = tmp();
    let dir = tmp();
    // With a token the Hub answers 403, without one 401: both say "gated" and what to do.
    let o = run_cmd(hub_cmd(&emu.endpoint(), home.path()), &["size", "acme/gated"]);
    fails(&o, 3, &["`acme/gated` is gated", "accept its conditions", "HF_TOKEN"]);
    let mut c = hub_cmd(&emu.endpoint(), home.path());
    c.env_remove("HF_TOKEN");
    let o = run_cmd(c, &["pull", "acme/gated", "--to", p(&dir.path().join("g"))]);
    fails(&o, 3, &["`acme/gated` is gated", "no token is set"]);
    assert!(!dir.path().join("g").exists());

    let o = run_cmd(
        hub_cmd(&emu.endpoint(), home.path()),
        &["pull", "acme/reviews", "--revision", "no-such-branch", "--to", p(&dir.path().join("r"))],
    );
    fails(&o, 3, &["revision `no-such-branch` not found in dataset `acme/reviews`"]);
    let o = run_cmd(hub_cmd(&emu.endpoint(), home.path()), &["size", "acme/nope"]);
    fails(&o, 3, &["dataset `acme/nope` not found"]);
    let o = run_cmd(hub_cmd(&emu.endpoint(), home.path()), &["pull", "acme/reviews"]);
    fails(&o, 2, &["--to PREFIX", "--split-table"]);
}

#[test]
fn corrupt_download_is_detected_and_nothing_is_written() {
    let emu = Emulator::start();
    let home = tmp();
    let dir = tmp();
    let tables = dir.path().join("t");
    let o = run_cmd(hub_cmd(&emu.endpoint(), home.path()), &["pull", "acme/corrupt", "--to", p(&tables)]);
    let err = fails(&o, 3, &["en/test-00000-of-00001.parquet", "failed verification", "sha256"]);
    assert!(err.contains("nothing was written"), "{err}");
    // Fetched twice (one retry), and no table exists, not even the valid split's.
    let gets = emu
        .requests()
        .lines()
        .filter(|l| l.starts_with("GET ") && l.contains("resolve/") && l.contains("en/test-"))
        .count();
    assert_eq!(gets, 2, "{}", emu.requests());
    assert!(!tables.join("train/_delta_log").exists());
    assert!(!tables.join("test/_delta_log").exists());
    // The bad file is not left in the cache as valid: no snapshot link, no blob of its sha256.
    let repo = home.path().join("hub/datasets--acme--corrupt");
    let snaps: Vec<PathBuf> =
        std::fs::read_dir(repo.join("snapshots")).unwrap().map(|e| e.unwrap().path()).collect();
    for s in &snaps {
        assert!(!s.join("en/test-00000-of-00001.parquet").exists(), "corrupt file left in {}", s.display());
        assert!(s.join("en/train-00000-of-00002.parquet").exists());
    }
    let sha = py(
        "import sys, json\n\
         m = json.load(open(sys.argv[1]))\n\
         print([f['sha256'] for f in m['files'] if f['path'] == 'en/test-00000-of-00001.parquet'][0])",
        &[p(&std::fs::read_dir(repo.join("delta-hf")).unwrap().next().unwrap().unwrap().path())],
    );
    assert!(!repo.join("blobs").join(sha.trim()).exists());
}

/// `pull --to uc://catalog.schema`: one Unity Catalog table per split, created as EXTERNAL under
/// the schema's storage root (on the S3 server) and registered; the rows read back by the
/// Python `deltalake` package from S3, and `prepare` reads the pulled tables by their names.
#[test]
fn pull_to_unity_catalog_registers_one_table_per_split() {
    use crate::harness::cloud::{Cloud, TOKEN, assert_no_secrets, vends};

    let cloud = Cloud::start();
    cloud.setup(
        json!({"buckets": ["hub-lake"], "token": TOKEN, "schemas": {"main.ml": "s3://hub-lake/schemas/ml"}}),
    );
    let emu = Emulator::start();
    let home = tmp();
    let dir = tmp();
    let pull = |extra: &[&str]| run_cmd(hub_env(cloud.uc_bin(), &emu.endpoint(), home.path()), extra);
    let o1 = pull(&["pull", "acme/reviews", "--to", "uc://main.ml", "--json"]);
    let s = ok_json(&o1);
    assert_eq!(s["splits"][0]["split"], "train");
    assert_eq!(s["splits"][0]["rows"], 300);
    assert_eq!(s["splits"][1]["split"], "test");
    assert_eq!(s["splits"][1]["rows"], 50);

    // Each split's table was created EXTERNAL under the schema's root, registered, with columns.
    let calls = cloud.calls();
    let created: Vec<&Value> = calls
        .iter()
        .filter(|c| c["method"] == "POST" && c["path"].as_str().unwrap().ends_with("/tables"))
        .map(|c| &c["body"])
        .collect();
    let names: Vec<String> = created
        .iter()
        .map(|b| {
            format!(
                "{}.{}.{}",
                b["catalog_name"].as_str().unwrap(),
                b["schema_name"].as_str().unwrap(),
                b["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(names, ["main.ml.train", "main.ml.test"], "{created:?}");
    let mut locations = Vec::new();
    for b in &created {
        assert_eq!(b["table_type"], "EXTERNAL");
        assert_eq!(b["data_source_format"], "DELTA");
        let loc = b["storage_location"].as_str().unwrap().to_string();
        assert!(loc.starts_with("s3://hub-lake/schemas/ml/"), "{loc}");
        let cols: Vec<&str> =
            b["columns"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
        assert_eq!(cols, ["text", "label"], "{b}");
        locations.push(loc);
    }
    assert!(
        vends(&calls, "temporary-path-credentials").iter().all(|b| b["operation"] == "PATH_CREATE_TABLE")
    );

    // The rows, read from S3 by the Python deltalake package, and the commit's provenance.
    for (loc, split, n) in [(&locations[0], "train", 300), (&locations[1], "test", 50)] {
        let out = py(
            "import sys, json, deltalake\n\
             t = deltalake.DeltaTable(sys.argv[1], storage_options=json.loads(sys.argv[2]))\n\
             d = t.to_pyarrow_table().to_pydict()\n\
             m = t.history(1)[0].get('delta_hf')\n\
             print(json.dumps({'rows': list(zip(d['text'], d['label'])), 'meta': json.loads(m) if isinstance(m, str) else m, 'version': t.version()}))",
            &[
                loc,
                &json!({"AWS_ENDPOINT_URL": cloud.s3, "AWS_ALLOW_HTTP": "true", "AWS_REGION": "us-east-1",
                        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing-secret"})
                .to_string(),
            ],
        );
        let v: Value = serde_json::from_str(out.trim()).unwrap();
        let rows: Vec<(String, Option<String>)> = v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r[0].as_str().unwrap().to_string(), r[1].as_str().map(str::to_string)))
            .collect();
        assert_eq!(rows, as_pairs(&en_rows(split, n)), "{split}");
        assert_eq!(v["version"], 0);
        assert_eq!(v["meta"]["dataset"], "acme/reviews");
        assert_eq!(v["meta"]["split"], split);
        assert_eq!(v["meta"]["class_labels"]["label"], json!(EN_NAMES));
    }

    // prepare reads them by name, the label order from the pulled table's commit metadata.
    let out = dir.path().join("out");
    let o2 = run_cmd(
        cloud.uc_bin(),
        &[
            "prepare",
            "--json",
            "--train",
            "main.ml.train",
            "--eval",
            "uc://main.ml.test",
            "--labels-from",
            "main.ml.test",
            "--output",
            p(&out),
        ],
    );
    assert_eq!(ok_json(&o2)["labels"], json!(EN_NAMES));
    let expect = expect_json(
        dir.path(),
        &[("train", &en_rows("train", 300)), ("test", &en_rows("test", 50))],
        &EN_NAMES,
        json!({}),
    );
    check_py("check_dataset.py", &[&out, &expect]);

    // Again: refused without --overwrite; with it, a new version of the registered tables.
    let o3 = pull(&["pull", "acme/reviews", "--to", "uc://main.ml"]);
    fails(&o3, 4, &["main.ml.train", "already exists", "--overwrite"]);
    let before = cloud.calls().len();
    let o4 = pull(&["pull", "acme/reviews", "--to", "uc://main.ml", "--overwrite", "--json"]);
    let s = ok_json(&o4);
    assert_eq!(s["splits"][0]["version"], 1);
    assert_eq!(s["splits"][1]["version"], 1);
    let again = cloud.calls();
    assert!(
        !again[before..]
            .iter()
            .any(|c| c["method"] == "POST" && c["path"].as_str().unwrap().ends_with("/tables")),
        "an existing table is not registered again"
    );
    // A schema Unity Catalog does not have: the tables cannot be written there (exit 4, not an
    // access failure), and nothing is downloaded or registered.
    let o5 = pull(&["pull", "acme/reviews", "--to", "uc://main.nosuch"]);
    fails(&o5, 4, &["main.nosuch", "create the schema"]);
    assert_no_secrets(&[&o1, &o2, &o3, &o4, &o5], &[&out]);
}
