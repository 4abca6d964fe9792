//! Azure Data Lake / Blob Storage, end to end against azurite (a real Azure Blob Storage
//! emulator, from the npm registry) on loopback: `abfss://` and `az://` tables read with the
//! usual `AZURE_STORAGE_*` variables, outputs written there and downloaded for
//! `datasets.load_from_disk`; and Unity Catalog tables and volumes on Azure, read and written
//! with the SAS tokens the UC emulator vends (read + list only for READ, so a write with read
//! credentials would be refused by azurite).

use serde_json::json;

use crate::cloud::*;
use crate::harness::*;

fn abfss(container: &str, path: &str) -> String {
    format!("abfss://{container}@{AZ_ACCOUNT}.dfs.core.windows.net/{path}")
}

#[test]
fn azure_tables_in_dataset_and_label_table_out() {
    let cloud = Cloud::start_azure();
    cloud.setup(json!({"containers": ["lake"]}));
    let dir = tmp();
    let (train, test) = write_splits(dir.path());
    cloud.upload(&dir.path().join("train"), "az://lake", "tables/train");
    cloud.upload(&dir.path().join("test"), "az://lake", "tables/test");

    let output = abfss("lake", "datasets/reviews");
    let prepare = |extra: &[&str]| {
        let mut c = cloud.azure_bin(true);
        // Both URI forms: abfss://container@account... and az://container/... (account from env).
        c.args(["prepare", "--json", "--split", &format!("train={}", abfss("lake", "tables/train"))])
            .args(["--split", "test=az://lake/tables/test"])
            .args(["--output", &output, "--label-table", "az://lake/labels/reviews"])
            .args(["--working-dir", dir.path().join("work").to_str().unwrap()])
            .args(extra);
        c.output().unwrap()
    };
    let o = prepare(&["--max-shard-size", "2KB"]);
    let s = ok(&o);
    assert_eq!(s["output"], output.as_str(), "the container stays in the reported output");
    let first = cloud.list("az://lake", "datasets/reviews");
    assert!(first.iter().filter(|f| f.starts_with("train/data-")).count() >= 2, "{first:?}");
    cloud.check_download(dir.path(), "az://lake", "datasets/reviews", "labels/reviews", &train, &test);

    // --overwrite replaces the whole dataset: no shard of the first run is left.
    ok(&prepare(&["--overwrite", "--num-shards", "1"]));
    cloud.check_one_shard_dataset(dir.path(), "az://lake", "datasets/reviews", &train, &test);

    // A wrong account key: refused as an access error, the key never shown, nothing written.
    let wrong = "d3Jvbmcta2V5LVNFTlRJTkVMLWF6dXJl"; // base64 of "wrong-key-SENTINEL-azure"
    let o = cloud
        .azure_bin(true)
        .env("AZURE_STORAGE_ACCOUNT_KEY", wrong)
        .args(["prepare", "--train", &abfss("lake", "tables/train"), "--output", "az://lake/datasets/other"])
        .output()
        .unwrap();
    let err = fails(&o, 6, &["lake"]);
    assert!(!err.contains(wrong) && !stdout(&o).contains(wrong), "{err}");
    assert_eq!(cloud.list("az://lake", "datasets/other"), Vec::<String>::new());
}

#[test]
fn unity_catalog_on_azure_reads_and_writes_with_vended_sas() {
    let cloud = Cloud::start_azure();
    cloud.setup(json!({
        "containers": ["uclake"],
        "token": TOKEN,
        "tables": {
            "main.az.train": {"storage_location": abfss("uclake", "tables/train")},
            "main.az.test": {"storage_location": abfss("uclake", "tables/test")},
        },
        "volumes": {"main.az.vol": abfss("uclake", "volumes/vol")},
        "schemas": {"main.az": abfss("uclake", "schemas/az")},
        // The first SAS of each target expires within the renewal margin: a run must re-vend.
        "first_vend_ttl": 60,
    }));
    let dir = tmp();
    let (train, test) = write_splits(dir.path());
    cloud.upload(&dir.path().join("train"), "az://uclake", "tables/train");
    cloud.upload(&dir.path().join("test"), "az://uclake", "tables/test");

    let prepare = |extra: &[&str]| {
        // Only the endpoint: every byte moves with the vended SAS tokens, no account key.
        let mut c = cloud.azure_bin(false);
        c.env("DATABRICKS_HOST", &cloud.uc).env("DATABRICKS_TOKEN", TOKEN);
        c.args(["prepare", "--json", "--split", "train=main.az.train", "--split", "test=main.az.test"])
            .args(["--output", "/Volumes/main/az/vol/datasets/reviews", "--label-table", "main.az.labels"])
            .args(["--working-dir", dir.path().join("work").to_str().unwrap()])
            .args(extra);
        c.output().unwrap()
    };
    let o1 = prepare(&["--label-table-location", &abfss("uclake", "external/labels")]);
    ok(&o1);
    let calls = cloud.calls();
    let table_vends = vends(&calls, "temporary-table-credentials");
    assert!(table_vends.iter().all(|b| b["operation"] == "READ"), "{table_vends:?}");
    assert!(table_vends.len() >= 4, "each table vended again before expiry: {table_vends:?}");
    let path_vends = vends(&calls, "temporary-path-credentials");
    assert_eq!(path_vends[0]["operation"], "PATH_CREATE_TABLE");
    assert_eq!(path_vends[0]["url"], abfss("uclake", "external/labels").as_str());
    let volume_vends = vends(&calls, "temporary-volume-credentials");
    assert!(!volume_vends.is_empty() && volume_vends.iter().all(|b| b["operation"] == "WRITE_VOLUME"));
    cloud.check_download(
        dir.path(),
        "az://uclake",
        "volumes/vol/datasets/reviews",
        "external/labels",
        &train,
        &test,
    );

    // Second run: the now-registered label table is updated with READ_WRITE credentials.
    let before = calls.len();
    let o2 = prepare(&["--overwrite"]);
    assert_eq!(ok(&o2)["label_table"]["version"], 1);
    let calls = cloud.calls();
    assert!(
        vends(&calls[before..], "temporary-table-credentials").iter().any(|b| b["operation"] == "READ_WRITE"),
        "the label table is written with READ_WRITE credentials"
    );

    // No SAS signature (nor the token) in the output or in anything written.
    let everything = dir.path().join("everything");
    cloud.download("az://uclake", "volumes", &everything.join("volumes"));
    cloud.download("az://uclake", "external", &everything.join("external"));
    assert_no_secrets(&[&o1, &o2], &[&everything, dir.path()]);
    for o in [&o1, &o2] {
        assert!(!stdout(o).contains("sig=") && !stderr(o).contains("sig="), "{}", stderr(o));
    }
    let mut files = Vec::new();
    walk(&everything, &mut files);
    for f in files {
        assert!(!String::from_utf8_lossy(&std::fs::read(&f).unwrap()).contains("sig="), "{}", f.display());
    }
}
