//! `--format parquet` (issue 22): the Hub layout `push_to_hub` writes. `datasets.load_dataset`
//! of the output returns what `load_from_disk` returns for the `arrow` export of the same
//! tables (features with ClassLabel names, Arrow types, every row in order) in every
//! compatibility release, and the README's metadata is what `huggingface_hub`'s `DatasetCard`
//! reads: `configs` naming each split's files, `dataset_info` with the same features and the
//! row counts.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::harness::*;

fn label_fixture(dir: &Path, case: &str) -> PathBuf {
    let root = dir.join(case);
    let out = run_py_with(&python(), "label_kinds.py", &[Path::new("write"), &root, Path::new(case)]);
    assert!(out.contains("ok"), "{out}");
    root
}

/// `dump_dataset.py` with `python`: the datasets version, the splits and (Hub layout) the card.
fn dump_with(python: &str, out: &Path) -> Value {
    serde_json::from_str(&run_py_with(python, "dump_dataset.py", &[out]))
        .expect("dump_dataset.py prints JSON")
}

/// The Parquet output `got` loads as the arrow output `want` does; its card agrees with it.
#[track_caller]
fn assert_loads_alike(name: &str, release: &str, got: &Value, want: &Value) {
    let (g, w) = (&got["splits"], &want["splits"]);
    let names = |v: &Value| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
    assert_eq!(names(g), names(w), "{name} ({release}): other splits");
    assert!(!names(w).is_empty(), "{name}: nothing loaded: {want}");
    for (split, ws) in w.as_object().unwrap() {
        let gs = &g[split];
        for key in ["features", "arrow", "shard_features"] {
            assert_eq!(gs[key], ws[key], "{name} ({release}) split {split}: {key} differ");
        }
        let (gr, wr) = (gs["rows"].as_array().unwrap(), ws["rows"].as_array().unwrap());
        assert_eq!(gr.len(), wr.len(), "{name} ({release}) split {split}: row counts differ");
        if let Some(i) = (0..gr.len()).find(|i| gr[*i] != wr[*i]) {
            panic!(
                "{name} ({release}) split {split}: row {i} differs:\n parquet: {}\n arrow: {}",
                gr[i], wr[i]
            );
        }
        let card = &got["card"];
        assert_eq!(card["features"], ws["features"], "{name} ({release}): the card's features");
        let info = card["splits"].as_array().unwrap().iter().find(|s| s["name"] == *split).unwrap();
        assert_eq!(info["num_examples"].as_u64(), Some(wr.len() as u64), "{name}: num_examples of {split}");
        assert!(info["num_bytes"].as_u64().unwrap() > 0 || wr.is_empty(), "{name}: num_bytes of {split}");
    }
}

/// Every label kind (single ClassLabel, multi-label Sequence(ClassLabel), multi-hot, token
/// tags, tokenized) with kept list and struct columns: `load_dataset` of the Parquet output
/// equals `load_from_disk` of the arrow output in datasets 2.21, 3.6, 4.x and 5.x.
#[test]
fn parquet_loads_like_arrow_in_datasets_2_21_3_6_4_and_5() {
    let pythons = compat_pythons();
    let releases: Vec<&String> = pythons.keys().collect();
    assert_eq!(releases, ["2.21", "3.6", "4.8", "5.2"], "the compatibility releases");
    let dir = tmp();
    let multi = label_fixture(dir.path(), "multi");
    let token = label_fixture(dir.path(), "token");
    let tok = dir.path().join("tok");
    run_py_with(&python(), "tokenize_ref.py", &[Path::new("fixtures"), &tok]);
    let (train, test) = (multi.join("train"), multi.join("test"));
    let base = |out: &Path| Prepare::new(out).json().train(&train).eval(&test).keep_cols(&["tags", "spans"]);
    let tokens = |out: &Path| {
        Prepare::new(out)
            .json()
            .split("train", token.join("train"))
            .split("validation", token.join("validation"))
            .tokens_col("words")
            .label_col("tags")
    };
    type Case<'a> = (&'a str, Box<dyn Fn(&Path) -> Prepare + 'a>);
    let cases: Vec<Case> = vec![
        ("single", Box::new(|o: &Path| base(o).label_col("main"))),
        ("multi", Box::new(|o: &Path| base(o).label_col("emotions"))),
        ("multi-hot", Box::new(|o: &Path| base(o).label_col("emotions").arg("--multi-hot"))),
        ("token", Box::new(|o: &Path| tokens(o))),
        ("token-tokenized", Box::new(|o: &Path| tokens(o).opt("--tokenizer", tok.join("tok/wordpiece")))),
        // Several shards per split: the names count them, the card's pattern takes them all.
        ("shards", Box::new(|o: &Path| base(o).label_col("main").opt("--num-shards", "3"))),
    ];
    for (name, cmd) in &cases {
        let arrow = dir.path().join(format!("{name}-arrow"));
        let parquet = dir.path().join(format!("{name}-parquet"));
        ok(&cmd(&arrow).run());
        let summary = ok_json(&cmd(&parquet).opt("--format", "parquet").run());
        assert_layout(&parquet, &summary);
        for (release, python) in &pythons {
            let want = dump_with(python, &arrow);
            let got = dump_with(python, &parquet);
            assert!(got["datasets"].as_str().unwrap().starts_with(release.as_str()), "{release}: {got}");
            assert_loads_alike(name, release, &got, &want);
        }
    }
}

/// `data/<split>-NNNNN-of-MMMMM.parquet` for every shard the summary counts, `README.md`,
/// `label_map.json` and the run report beside `data/`, nothing else.
#[track_caller]
fn assert_layout(out: &Path, summary: &Value) {
    let mut want = Vec::new();
    for sp in summary["splits"].as_array().unwrap() {
        let (name, n) = (sp["name"].as_str().unwrap(), sp["num_shards"].as_u64().unwrap());
        for i in 0..n {
            want.push(format!("{name}-{i:05}-of-{n:05}.parquet"));
        }
    }
    want.sort();
    assert_eq!(ls(&out.join("data")), want, "{}", out.display());
    let top = ls(out);
    let known = ["README.md", "data", "label_map.json", "report.html", "report.json"];
    assert!(top.iter().all(|f| known.contains(&f.as_str())), "{top:?}");
    let readme = std::fs::read_to_string(out.join("README.md")).unwrap();
    assert!(readme.starts_with("---\ndataset_info:\n  features:\n"), "{readme}");
}

/// The files are written as `datasets`' `to_parquet` writes them: snappy, the page index,
/// content-defined chunking recorded, the `huggingface` features in the schema; row groups cut
/// at 100 MB of Arrow data (`datasets.config.MAX_ROW_GROUP_SIZE`). An empty split is refused
/// (exit 1 naming it, nothing written): `datasets` cannot load one from Parquet.
#[test]
fn parquet_files_as_datasets_writes_them() {
    let dir = tmp();
    let train = dir.path().join("train");
    write_rows(&train, &rows("row", 300, &["a", "b", "c"]), deltalake::protocol::SaveMode::Append);
    let empty = dir.path().join("empty");
    write_text_table(&empty, &[(Some("no label"), None)], deltalake::protocol::SaveMode::Append);
    let out = dir.path().join("out");
    let o = Prepare::new(&out)
        .train(&train)
        .split("test", &empty)
        .arg("--drop-nulls")
        .opt("--format", "parquet")
        .run();
    fails(&o, 1, &["split `test` has no rows", "--format arrow"]);
    assert!(!out.exists(), "a refused export wrote {}", out.display());
    ok(&Prepare::new(&out).json().train(&train).opt("--format", "parquet").run());
    let text = py(
        "import sys, json, pyarrow.parquet as pq, datasets, tempfile\n\
         out = sys.argv[1]\n\
         f = pq.ParquetFile(out + '/data/train-00000-of-00001.parquet')\n\
         md = f.metadata\n\
         kv = {k.decode(): v.decode() for k, v in md.metadata.items()}\n\
         col = md.row_group(0).column(0)\n\
         dd = datasets.load_dataset(out, cache_dir=tempfile.mkdtemp())\n\
         print(json.dumps({'compression': col.compression, 'page_index': col.has_offset_index,\n\
           'cdc': json.loads(kv['content_defined_chunking']), 'hf': b'huggingface' in (f.schema_arrow.metadata or {}),\n\
           'groups': md.num_row_groups, 'rows': {k: v.num_rows for k, v in dd.items()}}))\n",
        &[&out.display().to_string()],
    );
    let v: Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(v["compression"], "SNAPPY", "{v}");
    assert_eq!(v["page_index"], true, "{v}");
    assert_eq!(
        v["cdc"],
        serde_json::json!({"min_chunk_size": 262144, "max_chunk_size": 1048576, "norm_level": 0})
    );
    assert_eq!(v["hf"], true, "{v}");
    assert_eq!(v["groups"], 1, "{v}");
    assert_eq!(v["rows"], serde_json::json!({"train": 300}), "{v}");
}

/// A fan-out of 3 tasks with `--format parquet` loads as `prepare`'s Parquet output does.
#[test]
fn parquet_fan_out_equals_prepare() {
    let dir = tmp();
    let train = dir.path().join("train");
    for i in 0..5 {
        write_rows(
            &train,
            &rows(&format!("file {i}"), 30 + i, &["x", "y"]),
            deltalake::protocol::SaveMode::Append,
        );
    }
    let args: Vec<String> =
        ["--split".to_string(), format!("train={}", train.display()), "--format".into(), "parquet".into()]
            .to_vec();
    let reference = dir.path().join("ref");
    ok(&bin().arg("prepare").args(&args).arg("--output").arg(&reference).arg("--quiet").output().unwrap());
    let out = dir.path().join("out");
    let plan = dir.path().join("p.json");
    let plan_s = plan.display().to_string();
    let with_out: Vec<String> =
        args.iter().cloned().chain(["--output".to_string(), out.display().to_string()]).collect();
    let summary = fan_out(&bin, &with_out, &plan_s, 3);
    assert_layout(&out, &summary);
    let (got, want) = (dump_with(&python(), &out), dump_with(&python(), &reference));
    assert_loads_alike("fan-out", "main venv", &got, &want);
    assert_eq!(got["card"]["configs"], want["card"]["configs"]);
}

// --- `--output hf://datasets/OWNER/NAME[@BRANCH]` -------------------------------------------

/// The repo `repo` as `huggingface_hub.snapshot_download` fetches it from `endpoint`, loaded by
/// `dump_dataset.py` (`load_dataset` of the snapshot), and the repo's file list.
pub(crate) fn hub_dump(endpoint: &str, repo: &str) -> (Value, Vec<String>) {
    let dir = tmp();
    let snap = py(
        "import sys, os\n\
         os.environ['HF_ENDPOINT'] = sys.argv[1]\n\
         os.environ['HF_HUB_DISABLE_XET'] = '1'\n\
         from huggingface_hub import snapshot_download, HfApi\n\
         p = snapshot_download(sys.argv[2], repo_type='dataset', cache_dir=sys.argv[3], token='t')\n\
         print(p)\n\
         for f in sorted(HfApi(endpoint=sys.argv[1]).list_repo_files(sys.argv[2], repo_type='dataset', token='t')):\n\
         \x20   print(f)\n",
        &[endpoint, repo, &dir.path().display().to_string()],
    );
    let mut lines = snap.lines();
    let path = PathBuf::from(lines.next().unwrap().trim());
    let files = lines.map(String::from).collect();
    (dump_with(&python(), &path), files)
}

/// The emulator's commits.
pub(crate) fn commits(endpoint: &str) -> Vec<Value> {
    let text = py(
        "import sys, urllib.request\nprint(urllib.request.urlopen(sys.argv[1] + '/_commits').read().decode())",
        &[endpoint],
    );
    serde_json::from_str::<Value>(text.trim()).unwrap().as_array().unwrap().clone()
}

pub(crate) fn hub_prepare(
    endpoint: &str,
    home: &Path,
    out: &str,
    train: &Path,
    extra: &[&str],
) -> std::process::Output {
    let mut c = crate::hub::hub_cmd(endpoint, home);
    // Retries are logged at `info`: a signed upload URL must not show there either.
    c.env("DELTA_HF_LOG", "warn,delta_hf=info");
    crate::hub::run_cmd(
        c,
        &[&["prepare", "--split", &format!("train={}", train.display()), "--output", out, "--json"], extra]
            .concat(),
    )
}

/// Push to a new (private) repo, then `snapshot_download` + `load_dataset` equals the local
/// Parquet output; one commit naming the table and its version, Parquet files through LFS.
/// Re-pushing with other shards replaces the data files in one commit (the old ones deleted);
/// re-pushing the same export uploads nothing again.
#[test]
fn hub_push_loads_like_local_and_replaces() {
    let emu = crate::hub::Emulator::start();
    let home = tmp();
    let dir = tmp();
    let train = dir.path().join("train");
    write_rows(&train, &rows("row", 120, &["a", "b", "c"]), deltalake::protocol::SaveMode::Append);
    let local = dir.path().join("local");
    ok(&Prepare::new(&local).train(&train).opt("--format", "parquet").opt("--num-shards", "3").run());

    let o = hub_prepare(
        &emu.endpoint(),
        home.path(),
        "hf://datasets/acme/fresh",
        &train,
        &["--num-shards", "3", "--private"],
    );
    let summary = ok_json(&o);
    assert_eq!(summary["output"], "hf://datasets/acme/fresh");
    let (got, files) = hub_dump(&emu.endpoint(), "acme/fresh");
    let want = dump_with(&python(), &local);
    assert_loads_alike("hub", "main venv", &got, &want);
    assert_eq!(
        files,
        [
            ".gitattributes",
            "README.md",
            "data/train-00000-of-00003.parquet",
            "data/train-00001-of-00003.parquet",
            "data/train-00002-of-00003.parquet",
            "label_map.json",
            "report.html",
            "report.json"
        ]
    );
    let c = commits(&emu.endpoint());
    assert_eq!(c.len(), 1, "{c:?}");
    let summary_line = c[0]["summary"].as_str().unwrap();
    assert!(
        summary_line.contains(&train.display().to_string()) && summary_line.contains("version 0"),
        "{summary_line}"
    );
    let ops: Vec<&str> = c[0]["ops"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(ops.iter().filter(|o| **o == "lfsFile").count(), 3, "{ops:?}");
    let private = py(
        "import sys, json, urllib.request\nprint(json.load(urllib.request.urlopen(sys.argv[1] + '/api/datasets/acme/fresh'))['private'])",
        &[&emu.endpoint()],
    );
    assert_eq!(private.trim(), "True");

    // Another export of more rows in one shard: the three old files go in the same commit.
    write_rows(&train, &rows("more", 30, &["a", "d"]), deltalake::protocol::SaveMode::Append);
    ok(&hub_prepare(
        &emu.endpoint(),
        home.path(),
        "hf://datasets/acme/fresh",
        &train,
        &["--num-shards", "1"],
    ));
    let c = commits(&emu.endpoint());
    assert_eq!(c.len(), 2);
    let ops: Vec<&str> = c[1]["ops"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(ops.iter().filter(|o| **o == "deletedFile").count(), 3, "{ops:?}");
    let (got, files) = hub_dump(&emu.endpoint(), "acme/fresh");
    assert_eq!(
        files,
        [
            ".gitattributes",
            "README.md",
            "data/train-00000-of-00001.parquet",
            "label_map.json",
            "report.html",
            "report.json"
        ]
    );
    assert_eq!(got["splits"]["train"]["rows"].as_array().unwrap().len(), 150);
    assert!(summary_line.contains("version 0") && c[1]["summary"].as_str().unwrap().contains("version 1"));

    // The same export again: nothing uploaded, nothing deleted.
    ok(&hub_prepare(
        &emu.endpoint(),
        home.path(),
        "hf://datasets/acme/fresh",
        &train,
        &["--num-shards", "1"],
    ));
    let c = commits(&emu.endpoint());
    let ops: Vec<&str> = c[2]["ops"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(!ops.contains(&"lfsFile") && !ops.contains(&"deletedFile"), "{ops:?}");
}

/// Refused with exit 3 naming the repo, before any row is read, nothing committed: no token
/// (401), a repo the token may not create (403), a read-only token, a model repo, a branch that does not exist; `--format`
/// other than parquet and `plan` to the Hub are usage errors.
#[test]
fn hub_push_refusals() {
    let emu = crate::hub::Emulator::start();
    let home = tmp();
    let dir = tmp();
    let train = dir.path().join("train");
    write_rows(&train, &rows("row", 20, &["a", "b"]), deltalake::protocol::SaveMode::Append);
    let ep = emu.endpoint();

    let mut anon = crate::hub::hub_cmd(&ep, home.path());
    anon.env_remove("HF_TOKEN");
    let o = crate::hub::run_cmd(
        anon,
        &["prepare", "--split", &format!("train={}", train.display()), "--output", "hf://datasets/acme/x"],
    );
    fails(&o, 3, &["acme/x", "HF_TOKEN", "write access"]);
    let o = hub_prepare(&ep, home.path(), "hf://datasets/other/x", &train, &[]);
    fails(&o, 3, &["other/x", "403", "cannot create it under `other`"]);
    let mut read_only = crate::hub::hub_cmd(&ep, home.path());
    read_only.env("HF_TOKEN", "hf_read-only-token");
    let o = crate::hub::run_cmd(
        read_only,
        &["prepare", "--split", &format!("train={}", train.display()), "--output", "hf://datasets/acme/x"],
    );
    fails(&o, 3, &["acme/x", "read-only", "write access"]);
    // Shards the Hub would want in parts: refused before anything is read.
    let o = hub_prepare(&ep, home.path(), "hf://datasets/acme/x", &train, &["--max-shard-size", "6GB"]);
    fails(&o, 2, &["--max-shard-size 6GB", "5 GB"]);
    let o = hub_prepare(&ep, home.path(), "hf://acme/tiny-bert", &train, &[]);
    fails(&o, 3, &["acme/tiny-bert", "model repo", "hf://datasets/acme/tiny-bert"]);
    ok(&hub_prepare(&ep, home.path(), "hf://datasets/acme/b", &train, &[]));
    let o = hub_prepare(&ep, home.path(), "hf://datasets/acme/b@nope", &train, &[]);
    fails(&o, 3, &["acme/b", "branch `nope` does not exist"]);
    assert_eq!(commits(&ep).len(), 1, "only the one good push committed");
    let o = hub_prepare(&ep, home.path(), "hf://datasets/acme/b", &train, &["--format", "parquet"]);
    ok(&o);
    let o = crate::hub::run_cmd(
        crate::hub::hub_cmd(&ep, home.path()),
        &[
            "plan",
            "--split",
            &format!("train={}", train.display()),
            "--output",
            "hf://datasets/acme/b",
            "--tasks",
            "2",
            "--plan",
            &dir.path().join("p.json").display().to_string(),
        ],
    );
    fails(&o, 2, &["plan cannot publish to the Hub"]);
}

/// To an object store: `prepare --format parquet` publishes the Hub layout there, and a fan-out
/// of 3 tasks whose staging is the store leaves the shards where the tasks uploaded them and
/// lists them in the card; both load as the local output does.
#[test]
fn parquet_on_s3_prepare_and_fan_out() {
    use crate::harness::cloud::Cloud;
    let cloud = Cloud::start();
    cloud.setup(serde_json::json!({"buckets": ["lake"]}));
    let dir = tmp();
    let train = dir.path().join("train");
    for i in 0..4 {
        write_rows(
            &train,
            &rows(&format!("file {i}"), 25 + i, &["x", "y", "z"]),
            deltalake::protocol::SaveMode::Append,
        );
    }
    cloud.upload(&train, "lake", "tables/train");
    let local = dir.path().join("local");
    ok(&Prepare::new(&local).train(&train).opt("--format", "parquet").run());
    let want = dump_with(&python(), &local);
    let base = ["--split", "train=s3://lake/tables/train", "--format", "parquet"];

    let o = cloud
        .bin()
        .arg("prepare")
        .args(base)
        .args(["--output", "s3://lake/out/one", "--quiet"])
        .output()
        .unwrap();
    ok(&o);
    let got_dir = dir.path().join("one");
    cloud.download("lake", "out/one", &got_dir);
    assert_loads_alike("s3 prepare", "main venv", &dump_with(&python(), &got_dir), &want);

    let plan = "s3://lake/plans/p.json";
    let with_out: Vec<&str> = base.iter().copied().chain(["--output", "s3://lake/out/fan"]).collect();
    fan_out(&|| cloud.bin(), &with_out, plan, 3);
    let fan_dir = dir.path().join("fan");
    cloud.download("lake", "out/fan", &fan_dir);
    let got = dump_with(&python(), &fan_dir);
    assert_loads_alike("s3 fan-out", "main venv", &got, &want);
    let paths = &got["card"]["configs"][0]["data_files"][0]["path"];
    assert!(paths.as_array().is_some_and(|p| p.len() >= 3), "the card lists the tasks' files: {paths}");
}
