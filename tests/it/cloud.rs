//! Cloud storage and Unity Catalog, end to end on loopback: a real S3-compatible server
//! (moto's), a real Azure Blob Storage emulator (azurite, for the Azure tests) and a Unity
//! Catalog emulator (`tests/python/cloud_emulator.py`) that speaks the REST shapes, vends
//! credentials for those servers and records every call.
//!
//! Tables are written locally with the `deltalake` crate and uploaded; outputs are downloaded
//! and checked with `datasets.load_from_disk` (`check_dataset.py`) and the Python `deltalake`.

use std::path::Path;
use std::process::{Command, Stdio};

use deltalake::protocol::SaveMode;
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjPath;
use serde_json::{Value, json};

use crate::harness::cloud::*;
use crate::harness::*;

#[test]
fn s3_tables_in_dataset_and_label_table_out() {
    let cloud = Cloud::start();
    cloud.setup(json!({"buckets": ["lake"]}));
    let dir = tmp();
    let (train, test) = cloud.upload_splits(dir.path(), "lake");

    let prepare = |extra: &[&str]| {
        let mut c = cloud.bin();
        c.args([
            "prepare",
            "--json",
            "--split",
            "train=s3://lake/tables/train",
            "--split",
            "test=s3://lake/tables/test",
        ])
        .args(["--output", "s3://lake/datasets/reviews", "--label-table", "s3://lake/labels/reviews"])
        .args(["--working-dir", dir.path().join("work").to_str().unwrap()])
        .args(extra);
        c.output().unwrap()
    };
    let o = prepare(&["--max-shard-size", "2KB"]);
    let s = ok_json(&o);
    assert_eq!(s["output"], "s3://lake/datasets/reviews");
    let first = cloud.list("lake", "datasets/reviews");
    assert!(first.iter().filter(|f| f.starts_with("train/data-")).count() >= 2, "{first:?}");

    cloud.check_download(dir.path(), "lake", "datasets/reviews", "labels/reviews", &train, &test);
    // The staging dir is gone.
    assert_eq!(ls(&dir.path().join("work")), Vec::<String>::new());

    // Without --overwrite an existing output is refused before any work.
    let o = prepare(&[]);
    fails(&o, 4, &["already exists", "--overwrite"]);
    assert_eq!(cloud.list("lake", "datasets/reviews"), first);

    // --overwrite replaces the whole dataset: no shard of the first run is left.
    let o = prepare(&["--overwrite", "--num-shards", "1"]);
    ok(&o);
    cloud.check_one_shard_dataset(dir.path(), "lake", "datasets/reviews", &train, &test);
}

/// A partitioned table with deletion vectors and a checkpoint (built by build_tables.py), read
/// by URI from the S3 server: the rows equal those the builder kept.
#[test]
fn s3_table_with_deletion_vectors() {
    let cloud = Cloud::start();
    cloud.setup(json!({"buckets": ["gold"]}));
    let dir = tmp();
    let name = "dv-partitioned-with-checkpoint";
    let built = dir.path().join("built");
    build_table("deletion-vectors", &built);
    cloud.upload(&built.join("delta"), "gold", name);
    let out = dir.path().join("out");
    let o = cloud
        .bin()
        .args(["prepare", "--no-labels", "--quiet", "--split", &format!("train=s3://gold/{name}")])
        .args(["--output", out.to_str().unwrap()])
        .output()
        .unwrap();
    ok(&o);
    check_py("check_golden.py", &[&out, Path::new("train"), &built.join("expected")]);

    // A missing table under a real bucket: exit 3, named.
    let o = cloud
        .bin()
        .args(["prepare", "--split", "train=s3://gold/nothing-here", "--output"])
        .arg(dir.path().join("o2"))
        .output()
        .unwrap();
    fails(&o, 3, &["s3://gold/nothing-here", "not found"]);
    assert!(!dir.path().join("o2").exists());
}

#[test]
fn unity_catalog_names_to_a_volume_end_to_end() {
    let cloud = Cloud::start();
    let dir = tmp();
    let (train, test) = uc_world(&cloud, dir.path());
    // The first credentials of each target expire within the renewal margin: a run must re-vend.
    cloud.setup(json!({"first_vend_ttl": 60}));
    let prepare = |extra: &[&str]| {
        let mut c = cloud.uc_bin();
        c.args(["prepare", "--json", "--split", "train=main.ml.train", "--split", "test=uc://main.ml.test"])
            .args(["--output", "/Volumes/main/ml/vol/datasets/reviews", "--label-table", "main.ml.labels"])
            .args(["--working-dir", dir.path().join("work").to_str().unwrap()])
            .env("RUST_LOG", "debug")
            .args(extra);
        c.output().unwrap()
    };
    let o1 = prepare(&["--label-table-location", "s3://uc-lake/external/labels"]);
    let s = ok_json(&o1);
    assert_eq!(s["output"], "/Volumes/main/ml/vol/datasets/reviews");

    let calls = cloud.calls();
    assert!(calls.iter().all(|c| c["auth"] == "pat"), "{calls:?}");
    let table_vends = vends(&calls, "temporary-table-credentials");
    assert!(
        table_vends.iter().all(|b| b["operation"] == "READ"),
        "inputs are read with READ: {table_vends:?}"
    );
    assert!(table_vends.len() >= 4, "each table vended again before expiry: {table_vends:?}");
    let path_vends = vends(&calls, "temporary-path-credentials");
    assert_eq!(path_vends[0]["operation"], "PATH_CREATE_TABLE");
    assert_eq!(path_vends[0]["url"], "s3://uc-lake/external/labels");
    let volume_vends = vends(&calls, "temporary-volume-credentials");
    assert!(volume_vends.iter().all(|b| b["operation"] == "WRITE_VOLUME") && !volume_vends.is_empty());
    let created: Vec<_> = calls
        .iter()
        .filter(|c| c["method"] == "POST" && c["path"].as_str().unwrap().ends_with("/tables"))
        .collect();
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["body"]["table_type"], "EXTERNAL");
    assert_eq!(created[0]["body"]["storage_location"], "s3://uc-lake/external/labels");
    let cols: Vec<&str> = created[0]["body"]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(cols, ["id", "label", "count_train", "count_test"]);

    // The dataset landed under the volume's storage location and loads.
    cloud.check_download(
        dir.path(),
        "uc-lake",
        "volumes/vol/datasets/reviews",
        "external/labels",
        &train,
        &test,
    );

    // Second run: the label table now exists in UC and is updated with READ_WRITE credentials.
    let before = cloud.calls().len();
    let o2 = prepare(&["--overwrite", "--report-table", "main.ml.reports"]);
    let s = ok_json(&o2);
    assert_eq!(s["label_table"]["version"], 1);
    let calls = cloud.calls();
    let lt_id =
        calls.iter().rev().find(|c| c["path"].as_str().unwrap().ends_with("tables/main.ml.labels")).is_some();
    assert!(lt_id);
    let rw: Vec<_> = vends(&calls[before..], "temporary-table-credentials")
        .into_iter()
        .filter(|b| b["operation"] == "READ_WRITE")
        .collect();
    assert!(!rw.is_empty(), "the label table is written with READ_WRITE credentials");
    // Issue 23: the report is published with the dataset; --report-table names a new UC table,
    // created under the schema's storage root and registered.
    let published = cloud.list("uc-lake", "volumes/vol/datasets/reviews");
    assert!(published.iter().any(|f| f == "report.json") && published.iter().any(|f| f == "report.html"));
    assert_eq!(s["report_table"]["version"], 0, "{s}");
    let registered: Vec<_> = calls[before..]
        .iter()
        .filter(|c| c["method"] == "POST" && c["path"].as_str().unwrap().ends_with("/tables"))
        .collect();
    assert_eq!(registered.len(), 1, "{registered:?}");
    assert_eq!(registered[0]["body"]["storage_location"], "s3://uc-lake/schemas/ml/reports");
    let reports = dir.path().join("reports");
    cloud.download("uc-lake", "schemas/ml/reports", &reports);
    let rows = py(
        "import sys; from deltalake import DeltaTable; t = DeltaTable(sys.argv[1]).to_pyarrow_table(); \
         print(sorted(t.column('split').to_pylist()))",
        &[reports.to_str().unwrap()],
    );
    assert_eq!(rows.trim(), "['test', 'train']");

    let everything = dir.path().join("everything");
    cloud.download("uc-lake", "volumes", &everything.join("volumes"));
    cloud.download("uc-lake", "external", &everything.join("external"));
    assert_no_secrets(&[&o1, &o2], &[&everything, dir.path()]);
}

#[test]
fn databricks_profiles_and_oauth_m2m() {
    let cloud = Cloud::start();
    let dir = tmp();
    uc_world(&cloud, dir.path());
    cloud.setup(json!({"client_id": "sp-1234", "client_secret": CLIENT_SECRET}));
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(
        home.join(".databrickscfg"),
        format!(
            "[DEFAULT]\nhost = http://127.0.0.1:1\ntoken = wrong\n\n[ml]\nhost = {}\ntoken = {TOKEN}\n\n[sp]\nhost = {}\nclient_id = sp-1234\nclient_secret = {CLIENT_SECRET}\n",
            cloud.uc, cloud.uc
        ),
    )
    .unwrap();
    let run_with = |profile: &str, out: &str| {
        cloud
            .bin()
            .env("HOME", &home)
            .args([
                "prepare",
                "--json",
                "--profile",
                profile,
                "--train",
                "main.ml.train",
                "--eval",
                "main.ml.test",
            ])
            .args(["--output", dir.path().join(out).to_str().unwrap()])
            .output()
            .unwrap()
    };
    let o1 = run_with("ml", "out-pat");
    ok(&o1);
    assert!(cloud.calls().iter().all(|c| c["auth"] == "pat"));
    let o2 = run_with("sp", "out-oauth");
    ok(&o2);
    let calls = cloud.calls();
    let token_calls: Vec<_> = calls.iter().filter(|c| c["path"] == "/oidc/v1/token").collect();
    assert_eq!(token_calls.len(), 1, "one OAuth token, reused: {token_calls:?}");
    assert_eq!(token_calls[0]["auth"], "basic");
    assert_eq!(token_calls[0]["body"]["grant_type"], "client_credentials");
    assert!(calls.iter().any(|c| c["auth"] == "oauth"));

    // DATABRICKS_CONFIG_PROFILE selects the profile too; an unknown one is a usage error.
    let o = cloud
        .bin()
        .env("HOME", &home)
        .env("DATABRICKS_CONFIG_PROFILE", "nope")
        .args(["prepare", "--train", "main.ml.train", "--output"])
        .arg(dir.path().join("o3"))
        .output()
        .unwrap();
    fails(&o, 2, &["nope", "ml", "sp"]);
    assert_no_secrets(&[&o1, &o2, &o], &[&dir.path().join("out-pat"), &dir.path().join("out-oauth")]);
}

#[test]
fn unity_catalog_errors_are_clear_and_write_nothing() {
    let cloud = Cloud::start();
    let dir = tmp();
    uc_world(&cloud, dir.path());
    // A table whose protocol needs typeWidening, registered in UC.
    let tw = dir.path().join("widened");
    copy_tree(&dir.path().join("train"), &tw);
    let log = tw.join("_delta_log/00000000000000000000.json");
    let text = std::fs::read_to_string(&log).unwrap();
    let patched: Vec<String> = text
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            if v.get("protocol").is_some() {
                v["protocol"] = json!({"minReaderVersion": 3, "minWriterVersion": 7,
                    "readerFeatures": ["typeWidening"], "writerFeatures": ["typeWidening"]});
            }
            v.to_string()
        })
        .collect();
    std::fs::write(&log, patched.join("\n") + "\n").unwrap();
    cloud.upload(&tw, "uc-lake", "tables/widened");
    cloud.setup(json!({
        "tables": {
            "main.ml.widened": {"storage_location": "s3://uc-lake/tables/widened"},
            "main.secret.train": {"storage_location": "s3://uc-lake/tables/train"},
        },
        "deny": ["main.secret.train"],
    }));

    let attempt = |table: &str, env: &[(&str, &str)]| {
        let mut c = cloud.uc_bin();
        for (k, v) in env {
            c.env(k, v);
        }
        c.args(["prepare", "--train", table, "--output", "/Volumes/main/ml/vol/err"]);
        c.output().unwrap()
    };
    let mut outs = Vec::new();
    outs.push(attempt("main.ml.nope", &[]));
    fails(outs.last().unwrap(), 3, &["main.ml.nope", "not found", "Unity Catalog"]);
    outs.push(attempt("main.secret.train", &[]));
    fails(outs.last().unwrap(), 6, &["PERMISSION_DENIED", "EXTERNAL USE SCHEMA"]);
    outs.push(attempt("main.ml.widened", &[]));
    fails(outs.last().unwrap(), 3, &["main.ml.widened", "`typeWidening`"]);
    outs.push(attempt("main.ml.a_view", &[]));
    fails(outs.last().unwrap(), 3, &["main.ml.a_view", "VIEW"]);
    outs.push(attempt("main.ml.train", &[("DATABRICKS_TOKEN", "dapi-wrong")]));
    fails(outs.last().unwrap(), 6, &["401", "token"]);
    outs.push(attempt("main.ml.train", &[("DATABRICKS_HOST", "http://127.0.0.1:1")]));
    fails(outs.last().unwrap(), 6, &["cannot reach", "127.0.0.1:1"]);
    cloud.setup(json!({"vend_ttl": -30}));
    outs.push(attempt("main.ml.train", &[]));
    fails(outs.last().unwrap(), 6, &["expired", "main.ml.train"]);
    cloud.setup(json!({"vend_ttl": 3600}));
    // A missing volume.
    let o = cloud
        .uc_bin()
        .args(["prepare", "--train", "main.ml.train", "--output", "/Volumes/main/ml/novol/x"])
        .output()
        .unwrap();
    fails(&o, 4, &["main.ml.novol", "no volume"]);
    outs.push(o);

    assert_eq!(cloud.list("uc-lake", "volumes"), Vec::<String>::new(), "nothing was written");
    let refs: Vec<&std::process::Output> = outs.iter().collect();
    assert_no_secrets(&refs, &[]);
}

/// Two runs adding different new labels to one label table at the same time: the table stays a
/// valid map, and every published dataset's ids agree with it.
#[test]
fn concurrent_runs_never_give_one_id_two_labels() {
    let cloud = Cloud::start();
    cloud.setup(json!({"buckets": ["race"]}));
    let dir = tmp();
    let base = rows("base", 20, &["a", "b"]);
    write_rows(&dir.path().join("t0"), &base, SaveMode::ErrorIfExists);
    let mut r1 = base.clone();
    r1.extend(rows("one", 5, &["c1"]));
    let mut r2 = base.clone();
    r2.extend(rows("two", 5, &["c2"]));
    write_rows(&dir.path().join("t1"), &r1, SaveMode::ErrorIfExists);
    write_rows(&dir.path().join("t2"), &r2, SaveMode::ErrorIfExists);
    for t in ["t0", "t1", "t2"] {
        cloud.upload(&dir.path().join(t), "race", t);
    }
    let lt = "s3://race/labels";
    let start = |t: &str, out: &str| {
        cloud
            .bin()
            .args(["prepare", "--json", "--train", &format!("s3://race/{t}"), "--label-table", lt])
            .args(["--output", dir.path().join(out).to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    ok(&start("t0", "out0").wait_with_output().unwrap());
    for round in 0..3 {
        let a = start("t1", &format!("out1-{round}"));
        let b = start("t2", &format!("out2-{round}"));
        let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        let mut published = Vec::new();
        for (o, out) in [(&a, format!("out1-{round}")), (&b, format!("out2-{round}"))] {
            if o.status.success() {
                published.push(dir.path().join(out));
            } else {
                fails(o, 4, &["label table", "another run"]);
                assert!(!dir.path().join(&out).exists(), "a failed run published");
            }
        }
        assert!(!published.is_empty());
        // The table as Python deltalake reads it; each published label_map.json agrees with it.
        let local = dir.path().join(format!("lt-{round}"));
        cloud.download("race", "labels", &local);
        let map = py(
            "import sys, json, deltalake\nt = deltalake.DeltaTable(sys.argv[1]).to_pyarrow_table().to_pylist()\n\
             ids = sorted(r['id'] for r in t)\nassert ids == list(range(len(t))), ids\n\
             print(json.dumps({str(r['id']): r['label'] for r in t}))",
            &[local.to_str().unwrap()],
        );
        let table: Value = serde_json::from_str(map.trim()).unwrap();
        let labels: Vec<&str> = table.as_object().unwrap().values().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(labels.len(), labels.iter().collect::<std::collections::HashSet<_>>().len(), "{table}");
        for p in published {
            let doc: Value =
                serde_json::from_slice(&std::fs::read(p.join("label_map.json")).unwrap()).unwrap();
            for (id, label) in doc["id2label"].as_object().unwrap() {
                assert_eq!(&table[id], label, "{} disagrees with the table {table}", p.display());
            }
        }
    }
}

/// A shard larger than one upload request goes up as a multipart upload (its ETag says so) and
/// loads whole.
#[test]
fn s3_large_shard_is_a_multipart_upload() {
    let cloud = Cloud::start();
    cloud.setup(json!({"buckets": ["big"]}));
    let dir = tmp();
    // ~24 MB of text in one split: one shard, above the 16 MiB single-request limit.
    let chunk = "lorem ipsum dolor sit amet ".repeat(400);
    let train: Vec<(String, String)> =
        (0..2200).map(|i| (format!("{i} {chunk}"), ["x", "y"][i % 2].to_string())).collect();
    write_rows(&dir.path().join("train"), &train, SaveMode::ErrorIfExists);
    let o = cloud
        .bin()
        .args(["prepare", "--quiet", "--train", dir.path().join("train").to_str().unwrap()])
        .args(["--output", "s3://big/ds"])
        .output()
        .unwrap();
    ok(&o);
    let store = cloud.store("big");
    let meta =
        block_on(async { store.head(&ObjPath::from("ds/train/data-00000-of-00001.arrow")).await.unwrap() });
    assert!(meta.size > 16 * 1024 * 1024, "shard of {} bytes", meta.size);
    let etag = meta.e_tag.unwrap_or_default();
    assert!(etag.trim_matches('"').contains('-'), "not a multipart upload: ETag {etag}");
    let got = dir.path().join("got");
    cloud.download("big", "ds", &got);
    let expect = expect_json(dir.path(), &[("train", &train)], &["x", "y"], json!({}));
    check_py("check_dataset.py", &[&got, &expect]);
}

/// On a Databricks cluster `/Volumes` is a FUSE mount (no rename, no append, no random writes):
/// the dataset is staged elsewhere and copied in as whole files, with no Unity Catalog call.
/// Here the mount is a directory named by DELTA_HF_VOLUMES_MOUNT; when `strace` is installed the
/// run is traced and must neither rename nor open for append anything under the mount.
#[test]
fn volume_mount_on_a_cluster_gets_whole_files_and_no_catalog_calls() {
    let dir = tmp();
    let (train, test) = write_splits(dir.path());
    let mount = dir.path().join("Volumes");
    let vol = mount.join("main/ml/vol");
    std::fs::create_dir_all(&vol).unwrap();
    let run = |prefix: &[&str], extra: &[&str]| {
        let mut c = if let Some((first, rest)) = prefix.split_first() {
            let mut c = Command::new(first);
            c.args(rest).arg(exe());
            c
        } else {
            bin()
        };
        for k in
            ["DATABRICKS_HOST", "DATABRICKS_TOKEN", "DATABRICKS_CONFIG_PROFILE", "DATABRICKS_CONFIG_FILE"]
        {
            c.env_remove(k);
        }
        // No workspace to ask: a catalog call would fail the run.
        c.env("HOME", dir.path()).env("DELTA_HF_VOLUMES_MOUNT", &mount);
        c.args(["prepare", "--quiet", "--split", &format!("train={}", dir.path().join("train").display())])
            .args(["--split", &format!("test={}", dir.path().join("test").display())])
            .args(["--output", "/Volumes/main/ml/vol/datasets/reviews"])
            .args(["--label-table", dir.path().join("labels").to_str().unwrap()])
            .args(["--working-dir", dir.path().join("work").to_str().unwrap()])
            .args(extra);
        c.output().unwrap()
    };
    ok(&run(&[], &["--max-shard-size", "2KB"]));
    let out = vol.join("datasets/reviews");
    let expect = expect_json(
        dir.path(),
        &[("train", &train), ("test", &test)],
        &["eggs", "ham", "spam"],
        json!({"label_table": dir.path().join("labels"), "label_table_version": 0}),
    );
    check_py("check_dataset.py", &[&out, &expect]);
    assert_eq!(ls(&dir.path().join("work")), Vec::<String>::new(), "staging removed");

    // --overwrite: no shard of the first run is left, and nothing but the dataset is there.
    let traced = Command::new("strace").arg("-V").output().is_ok_and(|o| o.status.success());
    let trace = dir.path().join("trace.txt");
    let trace_s = trace.to_str().unwrap();
    let prefix: &[&str] = if traced {
        &["strace", "-f", "-qq", "-e", "trace=rename,renameat,renameat2,open,openat", "-o", trace_s]
    } else {
        skip(
            "volume_mount_on_a_cluster_gets_whole_files_and_no_catalog_calls (its no-rename / no-append check)",
            "strace is not installed (`apt-get install strace`; .ci/run installs it)",
        );
        &[]
    };
    ok(&run(prefix, &["--overwrite", "--num-shards", "1"]));
    let mut files = Vec::new();
    walk(&out, &mut files);
    let mut rel: Vec<String> =
        files.iter().map(|f| f.strip_prefix(&out).unwrap().to_string_lossy().into_owned()).collect();
    rel.sort();
    assert_eq!(rel, ONE_SHARD_FILES);
    let expect =
        expect_json(dir.path(), &[("train", &train), ("test", &test)], &["eggs", "ham", "spam"], json!({}));
    check_py("check_dataset.py", &[&out, &expect]);
    if traced {
        let text = std::fs::read_to_string(&trace).unwrap();
        let m = mount.to_str().unwrap();
        let writes_into_mount: Vec<&str> = text.lines().filter(|l| l.contains(m)).collect();
        assert!(!writes_into_mount.is_empty(), "the trace saw the copies:\n{text}");
        for l in writes_into_mount {
            assert!(!l.contains("rename"), "renamed on the volume mount: {l}");
            assert!(!l.contains("O_APPEND"), "appended on the volume mount: {l}");
        }
    }
}

/// S3 credentials from a named profile of the AWS shared files (AWS_PROFILE), as the AWS CLI
/// reads them, with no key in the environment: the tables, the label table and the output all
/// use them. An unknown profile is an access error (exit 6) that writes nothing.
#[test]
fn s3_credentials_from_an_aws_profile() {
    let cloud = Cloud::start();
    cloud.setup(json!({"buckets": ["prof"]}));
    let dir = tmp();
    let (train, test) = cloud.upload_splits(dir.path(), "prof");
    let aws = dir.path().join("aws");
    std::fs::create_dir_all(&aws).unwrap();
    std::fs::write(
        aws.join("credentials"),
        "[ml]\naws_access_key_id = testing\naws_secret_access_key = testing-secret\n",
    )
    .unwrap();
    std::fs::write(aws.join("config"), "[profile ml]\nregion = us-east-1\n").unwrap();
    let run = |profile: &str, output: &str| {
        let mut c = cloud.bin();
        for k in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"] {
            c.env_remove(k);
        }
        // With a custom endpoint (the S3 server here) deltalake takes it for an S3-alike and skips
        // the AWS SDK's credential chain unless told to load it; against AWS it always does.
        c.env("AWS_FORCE_CREDENTIAL_LOAD", "true")
            .env("AWS_SHARED_CREDENTIALS_FILE", aws.join("credentials"))
            .env("AWS_CONFIG_FILE", aws.join("config"))
            .env("AWS_PROFILE", profile)
            .args(["prepare", "--quiet", "--split", "train=s3://prof/tables/train"])
            .args(["--split", "test=s3://prof/tables/test", "--output", output])
            .args(["--label-table", "s3://prof/labels/reviews"]);
        c.output().unwrap()
    };
    ok(&run("ml", "s3://prof/datasets/reviews"));
    cloud.check_download(dir.path(), "prof", "datasets/reviews", "labels/reviews", &train, &test);

    let o = run("nobody", "s3://prof/datasets/other");
    fails(&o, 6, &["s3://prof/tables/"]);
    assert_eq!(cloud.list("prof", "datasets/other"), Vec::<String>::new());
}
