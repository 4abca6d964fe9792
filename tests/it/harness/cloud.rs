//! The cloud emulators for the storage and Unity Catalog tests, on loopback: a real
//! S3-compatible server (moto's), a real Azure Blob Storage emulator (azurite, for the Azure
//! tests), a GCS emulator and a Unity Catalog emulator (`tests/python/cloud_emulator.py`) that
//! speaks the REST shapes, vends credentials for those servers and records every call; a
//! [`Cloud`] starts them all in one process and hands out the binary pointed at them, stores to
//! upload and download with, and the checks the tests share (no secret anywhere, a downloaded
//! dataset loads with the expected rows).

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

use super::*;

/// The workspace token the tests use; it must never show up anywhere.
pub(crate) const TOKEN: &str = "dapi-SENTINEL-token-5e1f";
pub(crate) const CLIENT_SECRET: &str = "oauth-SENTINEL-secret-a9d0";
/// What the emulator vends (see cloud_emulator.py).
const VENDED_SECRETS: &[&str] =
    &["vended-secret-SENTINEL-7f3a", "vended-session-SENTINEL-91c2", "ya29.vended-SENTINEL-"];
/// The tests' own token for the GCS emulator (see cloud_emulator.py).
const GCS_ADMIN_TOKEN: &str = "gcs-admin-test-token";

/// Every file of a train + test dataset written with `--num-shards 1`, sorted (the report of
/// issue 23 included).
pub(crate) const ONE_SHARD_FILES: [&str; 10] = [
    "dataset_dict.json",
    "label_map.json",
    "report.html",
    "report.json",
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
