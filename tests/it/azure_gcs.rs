//! Azure and Google Cloud Storage, end to end on loopback, the same runs for both:
//! - tables addressed by URI (`abfss://`, `az://`, `gs://`) with the usual environment
//!   variables, a dataset and a label table written there, downloaded and opened with
//!   `datasets.load_from_disk`; `--overwrite` leaves no old shard; refused credentials exit 6;
//! - Unity Catalog tables, a volume and a new label table on that cloud, read and written only
//!   with the credentials the UC emulator vends (a SAS token / an OAuth token, read-only for
//!   READ), renewed before they expire.
//!
//! Azure is azurite (a real Azure Blob Storage emulator, from npm), signed in with the account
//! key; GCS is the XML-API emulator in `tests/python/gcs_emulator.py`, signed in with a service
//! account key file (whose self-signed JWTs the emulator verifies) or vended OAuth tokens.

use std::path::Path;
use std::process::Command;

use serde_json::json;

use crate::harness::cloud::*;
use crate::harness::*;

/// One cloud under test: how the tests reach its buckets and how the binary is pointed at it.
struct Target<'a> {
    cloud: &'a Cloud,
    /// `az` or `gs`: the helpers' store prefix (`az://container`, `gs://bucket`).
    scheme: &'static str,
    /// The URI of `path` in `bucket` as a user writes it.
    uri: fn(&str, &str) -> String,
    /// The binary signed in with static credentials (`true`) or with none of its own (`false`).
    bin: Box<dyn Fn(bool) -> Command + 'a>,
}

impl Target<'_> {
    fn root(&self, bucket: &str) -> String {
        format!("{}://{bucket}", self.scheme)
    }
}

/// Azure: the account key in AZURE_STORAGE_ACCOUNT_KEY.
fn azure(cloud: &Cloud) -> Target<'_> {
    Target {
        cloud,
        scheme: "az",
        uri: |c, p| format!("abfss://{c}@{AZ_ACCOUNT}.dfs.core.windows.net/{p}"),
        bin: Box::new(move |signed| cloud.azure_bin(signed)),
    }
}

/// GCS: a service account key file in GOOGLE_SERVICE_ACCOUNT (when there is one).
fn gcs<'a>(cloud: &'a Cloud, key: Option<&'a Path>) -> Target<'a> {
    Target {
        cloud,
        scheme: "gs",
        uri: |b, p| format!("gs://{b}/{p}"),
        bin: Box::new(move |signed| cloud.gcs_bin(key.filter(|_| signed))),
    }
}

/// Register a GCS service account and write its key file into `dir`.
fn service_account_key(cloud: &Cloud, dir: &Path) -> std::path::PathBuf {
    let reply = cloud.setup(json!({"gcs_service_account": "trainer@delta-hf-test.iam.gserviceaccount.com"}));
    let key = dir.join("sa-key.json");
    std::fs::write(&key, reply["gcs_service_account_key"].to_string()).unwrap();
    key
}

/// Split tables by URI in, a dataset and a label table out, then `--overwrite`.
fn tables_in_dataset_and_label_table_out(t: &Target, bucket: &str, second_form: &str) {
    let cloud = t.cloud;
    let root = t.root(bucket);
    let dir = tmp();
    let (train, test) = cloud.upload_splits(dir.path(), &root);

    let output = (t.uri)(bucket, "datasets/reviews");
    let prepare = |extra: &[&str]| {
        let mut c = (t.bin)(true);
        c.args(["prepare", "--json", "--split", &format!("train={}", (t.uri)(bucket, "tables/train"))])
            .args(["--split", &format!("test={second_form}")])
            .args(["--output", &output, "--label-table", &(t.uri)(bucket, "labels/reviews")])
            .args(["--working-dir", dir.path().join("work").to_str().unwrap()])
            .args(extra);
        c.output().unwrap()
    };
    let s = ok_json(&prepare(&["--max-shard-size", "2KB"]));
    assert_eq!(s["output"], output.as_str(), "the reported output is the URI given");
    let first = cloud.list(&root, "datasets/reviews");
    assert!(first.iter().filter(|f| f.starts_with("train/data-")).count() >= 2, "{first:?}");
    cloud.check_download(dir.path(), &root, "datasets/reviews", "labels/reviews", &train, &test);

    // --overwrite replaces the whole dataset: no shard of the first run is left.
    ok(&prepare(&["--overwrite", "--num-shards", "1"]));
    cloud.check_one_shard_dataset(dir.path(), &root, "datasets/reviews", &train, &test);
}

/// UC tables `main.c.train` / `main.c.test`, volume `main.c.vol` and schema root on `bucket`;
/// two runs to the volume with a new, then existing, UC label table.
fn unity_catalog_with_vended_credentials(t: &Target, bucket: &str) {
    let cloud = t.cloud;
    let root = t.root(bucket);
    let uri = |p: &str| (t.uri)(bucket, p);
    cloud.setup(json!({
        "token": TOKEN,
        "tables": {
            "main.c.train": {"storage_location": uri("tables/train")},
            "main.c.test": {"storage_location": uri("tables/test")},
        },
        "volumes": {"main.c.vol": uri("volumes/vol")},
        "schemas": {"main.c": uri("schemas/c")},
        // The first credentials of each target expire within the renewal margin: a run must
        // re-vend.
        "first_vend_ttl": 60,
    }));
    let dir = tmp();
    let (train, test) = cloud.upload_splits(dir.path(), &root);

    let prepare = |extra: &[&str]| {
        // No credentials of its own: every byte moves with what UC vends.
        let mut c = (t.bin)(false);
        c.env("DATABRICKS_HOST", &cloud.uc).env("DATABRICKS_TOKEN", TOKEN);
        c.args(["prepare", "--json", "--split", "train=main.c.train", "--split", "test=main.c.test"])
            .args(["--output", "/Volumes/main/c/vol/datasets/reviews", "--label-table", "main.c.labels"])
            .args(["--working-dir", dir.path().join("work").to_str().unwrap()])
            .args(extra);
        c.output().unwrap()
    };
    let o1 = prepare(&["--label-table-location", &uri("external/labels")]);
    ok(&o1);
    let calls = cloud.calls();
    let table_vends = vends(&calls, "temporary-table-credentials");
    assert!(table_vends.iter().all(|b| b["operation"] == "READ"), "{table_vends:?}");
    assert!(table_vends.len() >= 4, "each table vended again before expiry: {table_vends:?}");
    let path_vends = vends(&calls, "temporary-path-credentials");
    assert_eq!(path_vends[0]["operation"], "PATH_CREATE_TABLE");
    assert_eq!(path_vends[0]["url"], uri("external/labels").as_str());
    let volume_vends = vends(&calls, "temporary-volume-credentials");
    assert!(!volume_vends.is_empty() && volume_vends.iter().all(|b| b["operation"] == "WRITE_VOLUME"));
    cloud.check_download(dir.path(), &root, "volumes/vol/datasets/reviews", "external/labels", &train, &test);

    // Second run: the now-registered label table is updated with READ_WRITE credentials.
    let before = calls.len();
    let o2 = prepare(&["--overwrite"]);
    assert_eq!(ok_json(&o2)["label_table"]["version"], 1);
    let calls = cloud.calls();
    assert!(
        vends(&calls[before..], "temporary-table-credentials").iter().any(|b| b["operation"] == "READ_WRITE"),
        "the label table is written with READ_WRITE credentials"
    );

    // No vended credential (nor the workspace token) in the output or in anything written.
    let everything = dir.path().join("everything");
    cloud.download(&root, "volumes", &everything.join("volumes"));
    cloud.download(&root, "external", &everything.join("external"));
    assert_no_secrets(&[&o1, &o2], &[&everything, dir.path()]);
    let mut files = Vec::new();
    walk(&everything, &mut files);
    for o in [&o1, &o2] {
        assert!(!stdout(o).contains("sig=") && !stderr(o).contains("sig="), "{}", stderr(o));
    }
    for f in files {
        assert!(!String::from_utf8_lossy(&std::fs::read(&f).unwrap()).contains("sig="), "{}", f.display());
    }
}

#[test]
fn azure_tables_in_dataset_and_label_table_out() {
    let cloud = Cloud::start_with(&["--azure"]);
    cloud.setup(json!({"containers": ["lake"]}));
    // The second split by its az://container/path form (the account from the environment).
    tables_in_dataset_and_label_table_out(&azure(&cloud), "lake", "az://lake/tables/test");

    // A wrong account key: refused as an access error, the key never shown, nothing written.
    let wrong = "d3Jvbmcta2V5LVNFTlRJTkVMLWF6dXJl"; // base64 of "wrong-key-SENTINEL-azure"
    let o = cloud
        .azure_bin(true)
        .env("AZURE_STORAGE_ACCOUNT_KEY", wrong)
        .args(["prepare", "--train", "az://lake/tables/train", "--output", "az://lake/datasets/other"])
        .output()
        .unwrap();
    let err = fails(&o, 6, &["az://lake/tables/train", "refused"]);
    assert!(!err.contains(wrong) && !stdout(&o).contains(wrong), "{err}");
    assert_eq!(cloud.list("az://lake", "datasets/other"), Vec::<String>::new());
}

#[test]
fn unity_catalog_on_azure_reads_and_writes_with_vended_sas() {
    let cloud = Cloud::start_with(&["--azure"]);
    cloud.setup(json!({"containers": ["uclake"]}));
    unity_catalog_with_vended_credentials(&azure(&cloud), "uclake");
}

#[test]
fn gcs_tables_in_dataset_and_label_table_out() {
    let cloud = Cloud::start_with(&["--gcs"]);
    cloud.setup(json!({"gcs_buckets": ["lake"]}));
    let keys = tmp();
    let key = service_account_key(&cloud, keys.path());
    tables_in_dataset_and_label_table_out(&gcs(&cloud, Some(&key)), "lake", "gs://lake/tables/test");
    let reqs = cloud.gcs_requests();
    assert!(reqs.iter().any(|r| r["auth"] == "service_account"), "{reqs:?}");

    // Unsigned requests are refused: exit 6, nothing written.
    let dir = tmp();
    let out = dir.path().join("out");
    let o = cloud
        .gcs_bin(None)
        .env("GOOGLE_SKIP_SIGNATURE", "true")
        .args(["prepare", "--train", "gs://lake/tables/train", "--output", out.to_str().unwrap()])
        .output()
        .unwrap();
    fails(&o, 6, &["gs://lake/tables/train"]);
    assert!(!out.exists());
}

#[test]
fn unity_catalog_on_gcs_reads_and_writes_with_vended_tokens() {
    let cloud = Cloud::start_with(&["--gcs"]);
    cloud.setup(json!({"gcs_buckets": ["uclake"]}));
    unity_catalog_with_vended_credentials(&gcs(&cloud, None), "uclake");
    // Every request reached GCS with a token (the emulator refuses the others with 401).
    let reqs = cloud.gcs_requests();
    assert!(reqs.iter().all(|r| r["auth"] == "token"), "{reqs:?}");
}

/// Credentials that may read but not write the label table (UC vends read-only ones): the run
/// fails with exit 6 naming the label table, shows no panic, and publishes nothing.
#[test]
fn read_only_credentials_for_the_label_table_fail_cleanly() {
    let cloud = Cloud::start_with(&["--gcs"]);
    cloud.setup(json!({"gcs_buckets": ["uclake"]}));
    let t = gcs(&cloud, None);
    let uri = |p: &str| (t.uri)("uclake", p);
    cloud.setup(json!({
        "token": TOKEN,
        "tables": {"main.c.train": {"storage_location": uri("tables/train")}},
        "volumes": {"main.c.vol": uri("volumes/vol")},
        "read_only": true,
    }));
    let dir = tmp();
    write_splits(dir.path());
    cloud.upload(&dir.path().join("train"), "gs://uclake", "tables/train");
    let o = (t.bin)(false)
        .env("DATABRICKS_HOST", &cloud.uc)
        .env("DATABRICKS_TOKEN", TOKEN)
        .args(["prepare", "--train", "main.c.train", "--output", "/Volumes/main/c/vol/datasets/reviews"])
        .args(["--label-table", "main.c.labels", "--label-table-location", &uri("external/labels")])
        .output()
        .unwrap();
    let err = fails(&o, 6, &["label table `main.c.labels`", "refused"]);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(cloud.list("gs://uclake", "volumes"), Vec::<String>::new(), "nothing published");
    assert_no_secrets(&[&o], &[]);
}
