//! Cloud storage and Unity Catalog, end to end on loopback: a real S3-compatible server
//! (moto's), a real Azure Blob Storage emulator (azurite, for the Azure tests) and a Unity
//! Catalog emulator (`tests/python/cloud_emulator.py`) that speaks the REST shapes, vends
//! credentials for those servers and records every call.
//!
//! Tables are written locally with the `deltalake` crate and uploaded; outputs are downloaded
//! and checked with `datasets.load_from_disk` (`check_dataset.py`) and the Python `deltalake`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use deltalake::protocol::SaveMode;
use futures::TryStreamExt;
use object_store::StaticCredentialProvider;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::{GcpCredential, GoogleCloudStorageBuilder};
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt};
use serde_json::{Value, json};

use crate::harness::*;

/// The workspace token the tests use; it must never show up anywhere.
pub(crate) const TOKEN: &str = "dapi-SENTINEL-token-5e1f";
pub(crate) const CLIENT_SECRET: &str = "oauth-SENTINEL-secret-a9d0";
/// What the emulator vends (see cloud_emulator.py).
const VENDED_SECRETS: &[&str] =
    &["vended-secret-SENTINEL-7f3a", "vended-session-SENTINEL-91c2", "ya29.vended-SENTINEL-"];
/// The tests' own token for the GCS emulator (see cloud_emulator.py).
const GCS_ADMIN_TOKEN: &str = "gcs-admin-test-token";

/// Every file of a train + test dataset written with `--num-shards 1`, sorted.
const ONE_SHARD_FILES: [&str; 8] = [
    "dataset_dict.json",
    "label_map.json",
    "test/data-00000-of-00001.arrow",
    "test/dataset_info.json",
    "test/state.json",
    "train/data-00000-of-00001.arrow",
    "train/dataset_info.json",
    "train/state.json",
];

/// azurite's well-known development account (see cloud_emulator.py).
pub(crate) const AZ_ACCOUNT: &str = "devstoreaccount1";
const AZ_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// One emulator process (S3 + UC, and Azure / GCS with [`Cloud::start_with`]); killed when
/// dropped.
pub struct Cloud {
    child: Child,
    pub s3: String,
    pub uc: String,
    /// The azurite blob endpoint (`http://127.0.0.1:PORT/devstoreaccount1`).
    pub azure: Option<String>,
    /// The GCS emulator's base URL.
    pub gcs: Option<String>,
}

impl Drop for Cloud {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Cloud {
    pub fn start() -> Self {
        Self::launch(&[])
    }

    /// Also start `--azure` (azurite: needs DELTA_HF_AZURITE, which `make test` sets) and/or
    /// `--gcs`.
    pub fn start_with(args: &[&str]) -> Self {
        assert!(
            !args.contains(&"--azure") || std::env::var_os("DELTA_HF_AZURITE").is_some(),
            "the Azure tests need azurite: run them with `make test` (it sets DELTA_HF_AZURITE)"
        );
        Self::launch(args)
    }

    fn launch(args: &[&str]) -> Self {
        let mut child = Command::new(python())
            .arg(root().join("tests/python/cloud_emulator.py"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start cloud_emulator.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("emulator said {line:?}"));
        Cloud {
            child,
            s3: v["s3"].as_str().unwrap().into(),
            uc: v["uc"].as_str().unwrap().into(),
            azure: v["azure"].as_str().map(String::from),
            gcs: v["gcs"].as_str().map(String::from),
        }
    }

    /// Configure the emulator (see cloud_emulator.py's docs); returns its reply.
    pub fn setup(&self, cfg: Value) -> Value {
        let (status, body) = http("POST", &format!("{}/_emulator/setup", self.uc), Some(&cfg));
        assert_eq!(status, 200, "emulator setup failed: {body}");
        serde_json::from_str(&body).unwrap()
    }

    /// Every UC call so far.
    pub fn calls(&self) -> Vec<Value> {
        let (_, body) = http("GET", &format!("{}/_emulator/calls", self.uc), None);
        serde_json::from_str::<Value>(&body).unwrap()["calls"].as_array().unwrap().clone()
    }

    /// The binary with S3 and workspace settings in its environment (no other DATABRICKS_*).
    pub fn bin(&self) -> Command {
        let mut c = bin();
        for k in [
            "DATABRICKS_HOST",
            "DATABRICKS_TOKEN",
            "DATABRICKS_CLIENT_ID",
            "DATABRICKS_CLIENT_SECRET",
            "DATABRICKS_CONFIG_PROFILE",
            "DATABRICKS_CONFIG_FILE",
            "AWS_PROFILE",
            "AWS_SESSION_TOKEN",
        ] {
            c.env_remove(k);
        }
        for (k, _) in std::env::vars_os() {
            let k_ = k.to_string_lossy();
            if k_.starts_with("AZURE_") || k_.starts_with("GOOGLE_") {
                c.env_remove(k);
            }
        }
        c.env("AWS_ENDPOINT_URL", &self.s3)
            .env("AWS_ALLOW_HTTP", "true")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing-secret")
            .env("AWS_EC2_METADATA_DISABLED", "true");
        c
    }

    /// Like [`Cloud::bin`], signed in to the UC emulator with the sentinel token.
    pub fn uc_bin(&self) -> Command {
        let mut c = self.bin();
        c.env("DATABRICKS_HOST", &self.uc).env("DATABRICKS_TOKEN", TOKEN);
        c
    }

    /// The binary pointed at azurite (its endpoint, over http); with `key`, also signed in with
    /// the account key through the usual environment variables.
    pub fn azure_bin(&self, key: bool) -> Command {
        let mut c = self.bin();
        c.env("AZURE_STORAGE_ENDPOINT", self.azure.as_ref().unwrap()).env("AZURE_ALLOW_HTTP", "true");
        if key {
            c.env("AZURE_STORAGE_ACCOUNT_NAME", AZ_ACCOUNT).env("AZURE_STORAGE_ACCOUNT_KEY", AZ_KEY);
        }
        c
    }

    /// The binary pointed at the GCS emulator (its URL as storage options, which every gs://
    /// location takes; the environment variables, which locations vended by Unity Catalog
    /// take too); with `key`, signed in with that service account key file
    /// (GOOGLE_SERVICE_ACCOUNT).
    pub fn gcs_bin(&self, key: Option<&Path>) -> Command {
        let mut c = self.bin();
        let url = self.gcs.as_ref().unwrap();
        c.env("DELTA_HF_STORAGE_OPTIONS", format!("google_base_url={url},allow_http=true"));
        c.env("GOOGLE_BASE_URL", url).env("GOOGLE_ALLOW_HTTP", "true");
        if let Some(k) = key {
            c.env("GOOGLE_SERVICE_ACCOUNT", k);
        }
        c
    }

    /// Every request the GCS emulator served: {method, bucket, auth: token|anonymous}.
    pub fn gcs_requests(&self) -> Vec<Value> {
        let (_, body) = http("GET", &format!("{}/_emulator/gcs", self.uc), None);
        serde_json::from_str::<Value>(&body).unwrap()["requests"].as_array().unwrap().clone()
    }

    /// A store for an S3 bucket of the S3 server, for `az://<container>` of azurite, or for
    /// `gs://<bucket>` of the GCS emulator.
    pub(crate) fn store(&self, bucket: &str) -> Arc<dyn ObjectStore> {
        if let Some(b) = bucket.strip_prefix("gs://") {
            let token = GcpCredential { bearer: GCS_ADMIN_TOKEN.into() };
            return Arc::new(
                GoogleCloudStorageBuilder::new()
                    .with_bucket_name(b)
                    .with_base_url(self.gcs.as_deref().expect("started with --gcs"))
                    .with_credentials(Arc::new(StaticCredentialProvider::new(token)))
                    .with_client_options(object_store::ClientOptions::new().with_allow_http(true))
                    .build()
                    .unwrap(),
            );
        }
        if let Some(container) = bucket.strip_prefix("az://") {
            return Arc::new(
                MicrosoftAzureBuilder::new()
                    .with_account(AZ_ACCOUNT)
                    .with_access_key(AZ_KEY)
                    .with_container_name(container)
                    .with_endpoint(self.azure.clone().expect("started with --azure"))
                    .with_allow_http(true)
                    .build()
                    .unwrap(),
            );
        }
        Arc::new(
            AmazonS3Builder::new()
                .with_bucket_name(bucket)
                .with_endpoint(&self.s3)
                .with_allow_http(true)
                .with_region("us-east-1")
                .with_access_key_id("testing")
                .with_secret_access_key("testing-secret")
                .build()
                .unwrap(),
        )
    }

    /// Upload a local directory tree to `s3://bucket/prefix` (or `az://container/prefix`).
    pub fn upload(&self, local: &Path, bucket: &str, prefix: &str) {
        let store = self.store(bucket);
        let mut files = Vec::new();
        walk(local, &mut files);
        block_on(async {
            for f in files {
                let rel = f.strip_prefix(local).unwrap().to_string_lossy().replace('\\', "/");
                let to = ObjPath::from(format!("{prefix}/{rel}"));
                store.put(&to, std::fs::read(&f).unwrap().into()).await.unwrap();
            }
        });
    }

    /// Keys under `s3://bucket/prefix/` (or `az://...`), relative, sorted.
    pub fn list(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let store = self.store(bucket);
        let p = ObjPath::from(prefix);
        let mut v: Vec<String> =
            block_on(async { store.list(Some(&p)).try_collect::<Vec<_>>().await.unwrap() })
                .into_iter()
                .map(|o| o.location.as_ref().strip_prefix(&format!("{prefix}/")).unwrap_or("").to_string())
                .collect();
        v.sort();
        v
    }

    /// Download `s3://bucket/prefix/` (or `az://...`) into `local`.
    pub fn download(&self, bucket: &str, prefix: &str, local: &Path) {
        let store = self.store(bucket);
        for rel in self.list(bucket, prefix) {
            let bytes = block_on(async {
                store.get(&ObjPath::from(format!("{prefix}/{rel}"))).await.unwrap().bytes().await.unwrap()
            });
            let to = local.join(&rel);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::write(to, bytes).unwrap();
        }
    }
}

impl Cloud {
    /// Download a dataset and its label table (version 0) from `bucket` and check them with
    /// `check_dataset.py` against the rows the split tables were written with.
    pub(crate) fn check_download(
        &self,
        dir: &Path,
        bucket: &str,
        dataset: &str,
        labels: &str,
        train: &Rows,
        test: &Rows,
    ) {
        let got = dir.join("got");
        self.download(bucket, dataset, &got);
        let labels_local = dir.join("labels-copy");
        self.download(bucket, labels, &labels_local);
        let expect = expect_json(
            dir,
            &[("train", train), ("test", test)],
            &["eggs", "ham", "spam"],
            json!({"label_table": labels_local, "label_table_version": 0}),
        );
        check_py("check_dataset.py", &[&got, &expect]);
    }
}

impl Cloud {
    /// After `--overwrite --num-shards 1`: exactly one shard per split and the metadata are
    /// there (nothing left of an earlier run), and the dataset loads with the expected rows.
    pub(crate) fn check_one_shard_dataset(
        &self,
        dir: &Path,
        bucket: &str,
        prefix: &str,
        train: &Rows,
        test: &Rows,
    ) {
        assert_eq!(self.list(bucket, prefix), ONE_SHARD_FILES);
        let got = dir.join("got-one-shard");
        self.download(bucket, prefix, &got);
        let expect =
            expect_json(dir, &[("train", train), ("test", test)], &["eggs", "ham", "spam"], json!({}));
        check_py("check_dataset.py", &[&got, &expect]);
    }
}

pub(crate) fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() { walk(&p, out) } else { out.push(p) }
    }
}

/// A tiny HTTP/1.1 client for the emulator's control endpoints.
pub(crate) fn http(method: &str, url: &str, body: Option<&Value>) -> (u16, String) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut s = TcpStream::connect(host).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp.split(' ').nth(1).unwrap().parse().unwrap();
    let body = resp.split_once("\r\n\r\n").map(|x| x.1.to_string()).unwrap_or_default();
    (status, body)
}

/// (text, label) rows of a split.
pub(crate) type Rows = Vec<(String, String)>;

/// The two split tables used below, written locally with the deltalake crate.
impl Cloud {
    /// [`write_splits`] into `dir`, uploaded to `<bucket>/tables/{train,test}`.
    pub(crate) fn upload_splits(&self, dir: &Path, bucket: &str) -> (Rows, Rows) {
        let splits = write_splits(dir);
        self.upload(&dir.join("train"), bucket, "tables/train");
        self.upload(&dir.join("test"), bucket, "tables/test");
        splits
    }
}

pub(crate) fn write_splits(dir: &Path) -> (Rows, Rows) {
    let train = rows("train text", 60, &["spam", "ham", "eggs"]);
    let test = rows("test text", 12, &["ham", "spam"]);
    write_rows(&dir.join("train"), &train, SaveMode::ErrorIfExists);
    write_rows(&dir.join("test"), &test, SaveMode::ErrorIfExists);
    (train, test)
}

/// No sentinel secret in the run's output or in any file under `dirs`.
#[track_caller]
pub(crate) fn assert_no_secrets(outputs: &[&std::process::Output], dirs: &[&Path]) {
    let secrets: Vec<&str> = [TOKEN, CLIENT_SECRET].iter().chain(VENDED_SECRETS).copied().collect();
    for o in outputs {
        for s in &secrets {
            assert!(
                !stdout(o).contains(s) && !stderr(o).contains(s),
                "secret {s} printed:\n{}{}",
                stdout(o),
                stderr(o)
            );
        }
    }
    for d in dirs {
        let mut files = Vec::new();
        if d.exists() {
            walk(d, &mut files);
        }
        for f in files {
            let bytes = std::fs::read(&f).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            for s in &secrets {
                assert!(!text.contains(s), "secret {s} written to {}", f.display());
            }
        }
    }
}

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
    let s = ok(&o);
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

/// Sets up UC tables `main.ml.train` / `main.ml.test` on S3, and the volume `main.ml.vol`.
pub(crate) fn uc_world(cloud: &Cloud, dir: &Path) -> (Rows, Rows) {
    cloud.setup(json!({
        "buckets": ["uc-lake"],
        "token": TOKEN,
        "tables": {
            "main.ml.train": {"storage_location": "s3://uc-lake/tables/train"},
            "main.ml.test": {"storage_location": "s3://uc-lake/tables/test"},
            "main.ml.a_view": {"storage_location": "s3://uc-lake/tables/train", "table_type": "VIEW"},
        },
        "volumes": {"main.ml.vol": "s3://uc-lake/volumes/vol"},
        "schemas": {"main.ml": "s3://uc-lake/schemas/ml"},
    }));
    cloud.upload_splits(dir, "uc-lake")
}

pub(crate) fn vends<'a>(calls: &'a [Value], endpoint: &str) -> Vec<&'a Value> {
    calls.iter().filter(|c| c["path"].as_str().unwrap().ends_with(endpoint)).map(|c| &c["body"]).collect()
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
    let s = ok(&o1);
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
    let o2 = prepare(&["--overwrite"]);
    let s = ok(&o2);
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
            c.args(rest).arg(crate::harness::exe());
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
