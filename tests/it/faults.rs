//! Transient faults, lost answers, cancellation and missing credentials, on loopback: a seeded
//! fault-injecting proxy (`tests/python/fault_proxy.py`) in front of the S3 server, azurite, the
//! GCS, Unity Catalog and Hub emulators.
//!
//! - About 10% of requests fail (5xx, 429 with Retry-After, resets, cut bodies, slow answers):
//!   every command (`prepare` to each store, Unity Catalog with OAuth, `size`, `pull`, a Hub
//!   tokenizer, the fan-out) succeeds with exactly the output of a clean run, one table version
//!   per run.
//! - `Retry-After` is waited out by the object stores too (the proxy's clock says so).
//! - Every request fails: a clean failure (exit 6 naming the store, the object and the
//!   operation) within `--retry-timeout`, the previous output intact, no label-table version.
//! - A commit (or a manifest create, or a multipart completion) applied by the store whose answer
//!   is lost is recognised as ours: one version.
//! - SIGTERM mid-upload: exit 143, nothing published, staging removed.
//!
//! The seed is `DELTA_HF_FAULT_SEED` (default 14); a failing test prints it and the proxy's log.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use deltalake::protocol::SaveMode;
use serde_json::{Value, json};

use crate::harness::cloud::*;
use crate::harness::*;
use crate::hub;

/// The proxy process; killed when dropped.
struct Proxy {
    child: Child,
    /// One proxy URL per upstream, in the order given.
    urls: Vec<String>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proxy {
    fn start(upstreams: &[&str]) -> Self {
        let mut child = Command::new(python())
            .arg(root().join("tests/python/fault_proxy.py"))
            .args(upstreams)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start fault_proxy.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let urls = serde_json::from_str(&line).unwrap_or_else(|_| panic!("fault_proxy.py said {line:?}"));
        Proxy { child, urls }
    }

    fn control(&self) -> String {
        let u = &self.urls[0];
        let host_end = u["http://".len()..].find('/').map(|i| i + "http://".len()).unwrap_or(u.len());
        u[..host_end].to_string()
    }

    /// Replace the fault config (see fault_proxy.py); resets the counters.
    fn setup(&self, cfg: Value) {
        let (status, body) = http("POST", &format!("{}/_fault/setup", self.control()), Some(&cfg));
        assert_eq!(status, 200, "{body}");
    }

    fn stats(&self) -> Value {
        let (_, body) = http("GET", &format!("{}/_fault/stats", self.control()), None);
        serde_json::from_str(&body).unwrap()
    }

    /// Faults injected since the last setup.
    fn faults(&self) -> u64 {
        self.stats()["faults"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum()
    }
}

fn seed() -> u64 {
    std::env::var("DELTA_HF_FAULT_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(14)
}

/// About one request in ten fails, each kind of fault possible.
fn flaky() -> Value {
    json!({"seed": seed(), "rate": 0.1, "slow_seconds": 0.5, "retry_after": 1})
}

/// Assert success, with the seed and the proxy's log when not.
#[track_caller]
fn ok_under_faults(o: &Output, proxy: &Proxy) {
    assert!(
        o.status.success(),
        "failed under faults (seed {}, DELTA_HF_FAULT_SEED reproduces it), exit {:?}\nstderr:\n{}\nproxy: {}",
        seed(),
        o.status.code(),
        stderr(o),
        proxy.stats()
    );
}

/// [`ok_under_faults`], then the `--json` summary (stdout that is not JSON fails).
#[track_caller]
fn json_under_faults(o: &Output, proxy: &Proxy) -> Value {
    ok_under_faults(o, proxy);
    json_stdout(o)
}

/// The commit files of a table under `bucket/prefix`.
fn commits(cloud: &Cloud, bucket: &str, prefix: &str) -> Vec<String> {
    cloud
        .list(bucket, &format!("{prefix}/_delta_log"))
        .into_iter()
        .filter(|f| f.ends_with(".json") && !f.contains('/'))
        .collect()
}

fn versions(n: usize) -> Vec<String> {
    (0..n).map(|v| format!("{v:020}.json")).collect()
}

/// `prepare` of the two split tables on one store into a dataset and a label table on that same
/// store, through a flaky proxy, twice (the second `--overwrite --num-shards 1`): exactly the
/// rows, label table versions 0 and 1 and nothing more.
#[test]
fn prepare_to_every_store_survives_a_flaky_network() {
    let cloud = Cloud::start_with(&["--azure", "--gcs"]);
    let dir = tmp();
    let (train, test) = uc_world(&cloud, dir.path());
    cloud.setup(json!({"buckets": ["flaky"], "containers": ["flaky"], "gcs_buckets": ["flaky"]}));
    let keys = tmp();
    let reply = cloud.setup(json!({"gcs_service_account": "trainer@delta-hf-test.iam.gserviceaccount.com"}));
    let key = keys.path().join("sa-key.json");
    std::fs::write(&key, reply["gcs_service_account_key"].to_string()).unwrap();
    let (azure, gcs) = (cloud.azure.clone().unwrap(), cloud.gcs.clone().unwrap());
    let proxy = Proxy::start(&[&cloud.s3, &azure, &gcs, &cloud.uc]);
    let (s3p, azp, gcsp, ucp) = (&proxy.urls[0], &proxy.urls[1], &proxy.urls[2], &proxy.urls[3]);

    // (store root for the helpers, URI form, the binary pointed at that store through the proxy)
    type Bin<'a> = Box<dyn Fn() -> Command + 'a>;
    type Store<'a> = (String, fn(&str) -> String, Bin<'a>);
    let stores: Vec<Store> = vec![
        (
            "flaky".into(),
            |p| format!("s3://flaky/{p}"),
            Box::new(|| {
                let mut c = cloud.bin();
                c.env("AWS_ENDPOINT_URL", s3p);
                c
            }),
        ),
        (
            "az://flaky".into(),
            |p| format!("abfss://flaky@{AZ_ACCOUNT}.dfs.core.windows.net/{p}"),
            Box::new(|| {
                let mut c = cloud.azure_bin(true);
                c.env("AZURE_STORAGE_ENDPOINT", azp);
                c
            }),
        ),
        (
            "gs://flaky".into(),
            |p| format!("gs://flaky/{p}"),
            Box::new(|| {
                let mut c = cloud.gcs_bin(Some(&key));
                c.env("DELTA_HF_STORAGE_OPTIONS", format!("google_base_url={gcsp},allow_http=true"));
                c.env("GOOGLE_BASE_URL", gcsp);
                c
            }),
        ),
    ];
    let mut faults = 0;
    for (root, uri, bin) in &stores {
        cloud.upload(&dir.path().join("train"), root, "tables/train");
        cloud.upload(&dir.path().join("test"), root, "tables/test");
        proxy.setup(flaky());
        let run = |extra: &[&str]| {
            let mut c = bin();
            c.args(["prepare", "--json", "--split", &format!("train={}", uri("tables/train"))])
                .args(["--split", &format!("test={}", uri("tables/test"))])
                .args(["--output", &uri("datasets/reviews"), "--label-table", &uri("labels/reviews")])
                .args(["--working-dir", dir.path().join("work").to_str().unwrap()])
                .args(extra);
            c.output().unwrap()
        };
        let s = json_under_faults(&run(&["--max-shard-size", "2KB"]), &proxy);
        assert_eq!(s["output"], uri("datasets/reviews"));
        assert_eq!(s["label_table"]["version"], 0, "{s}");
        let sub = dir.path().join(root.replace("://", "-"));
        cloud.check_download(&sub_dir(&sub), root, "datasets/reviews", "labels/reviews", &train, &test);
        let s = json_under_faults(&run(&["--overwrite", "--num-shards", "1"]), &proxy);
        assert_eq!(s["label_table"]["version"], 1, "{s}");
        cloud.check_one_shard_dataset(&sub, root, "datasets/reviews", &train, &test);
        assert_eq!(commits(&cloud, root, "labels/reviews"), versions(2), "one version per run");
        assert_eq!(ls(&dir.path().join("work")), Vec::<String>::new(), "staging removed");
        faults += proxy.faults();
    }

    // Unity Catalog names in, a volume out, signed in with OAuth M2M: the token endpoint, the
    // REST API, credential vending and the store; the answers to the token request and to the
    // label table's registration (a create, applied) are lost once each.
    cloud.setup(json!({"client_id": "sp-1234", "client_secret": CLIENT_SECRET}));
    let mut cfg = flaky();
    cfg["drop"] = json!([
        {"method": "POST", "path": "/unity-catalog/tables$", "count": 1},
        {"method": "POST", "path": "/oidc/v1/token$", "count": 1},
    ]);
    proxy.setup(cfg);
    let o = cloud
        .bin()
        .env("DATABRICKS_HOST", ucp)
        .env("DATABRICKS_CLIENT_ID", "sp-1234")
        .env("DATABRICKS_CLIENT_SECRET", CLIENT_SECRET)
        // The retries are logged: never with a secret.
        .env("DELTA_HF_LOG", "info")
        .env("AWS_ENDPOINT_URL", s3p)
        .args(["prepare", "--json", "--split", "train=main.ml.train", "--split", "test=main.ml.test"])
        .args(["--output", "/Volumes/main/ml/vol/datasets/reviews", "--label-table", "main.ml.labels"])
        .args(["--label-table-location", "s3://uc-lake/external/labels"])
        .output()
        .unwrap();
    ok_under_faults(&o, &proxy);
    assert_no_secrets(&[&o], &[]);
    assert_eq!(
        proxy.stats()["dropped"],
        json!(["POST /oidc/v1/token", "POST /api/2.1/unity-catalog/tables"]),
        "the answers to the token request and the create were lost"
    );
    assert!(cloud.calls().iter().any(|c| c["auth"] == "oauth"), "signed in with OAuth");
    faults += proxy.faults();
    cloud.check_download(
        &sub_dir(&dir.path().join("uc")),
        "uc-lake",
        "volumes/vol/datasets/reviews",
        "external/labels",
        &train,
        &test,
    );
    assert_eq!(commits(&cloud, "uc-lake", "external/labels"), versions(1));
    assert!(faults >= 10, "the proxy injected only {faults} faults: the test proves nothing");
}

/// A store that answers `429 Retry-After: 2` is not asked again before those 2 seconds: the
/// reads of each table's first commit are refused once, on S3, Azure, GCS and an S3 location
/// vended by Unity Catalog, and the proxy's clock shows every retry came at least that late.
#[test]
fn object_stores_wait_as_long_as_retry_after_says() {
    const AFTER: f64 = 2.0;
    let cloud = Cloud::start_with(&["--azure", "--gcs"]);
    let dir = tmp();
    let (train, _) = uc_world(&cloud, dir.path());
    cloud.setup(json!({"buckets": ["polite"], "containers": ["polite"], "gcs_buckets": ["polite"]}));
    let reply = cloud.setup(json!({"gcs_service_account": "trainer@delta-hf-test.iam.gserviceaccount.com"}));
    let key = dir.path().join("sa-key.json");
    std::fs::write(&key, reply["gcs_service_account_key"].to_string()).unwrap();
    let (azure, gcs) = (cloud.azure.clone().unwrap(), cloud.gcs.clone().unwrap());
    let proxy = Proxy::start(&[&cloud.s3, &azure, &gcs]);
    let (s3p, azp, gcsp) = (proxy.urls[0].clone(), proxy.urls[1].clone(), proxy.urls[2].clone());
    for root in ["polite", "az://polite", "gs://polite"] {
        cloud.upload(&dir.path().join("train"), root, "tables/train");
    }
    let s3 = |mut c: Command| {
        c.env("AWS_ENDPOINT_URL", &s3p);
        c
    };
    let cases: Vec<(&str, Command, String)> = vec![
        ("S3", s3(cloud.bin()), "s3://polite/tables/train".into()),
        (
            "Azure",
            {
                let mut c = cloud.azure_bin(true);
                c.env("AZURE_STORAGE_ENDPOINT", &azp);
                c
            },
            format!("abfss://polite@{AZ_ACCOUNT}.dfs.core.windows.net/tables/train"),
        ),
        (
            "GCS",
            {
                let mut c = cloud.gcs_bin(Some(&key));
                c.env("DELTA_HF_STORAGE_OPTIONS", format!("google_base_url={gcsp},allow_http=true"));
                c.env("GOOGLE_BASE_URL", &gcsp);
                c
            },
            "gs://polite/tables/train".into(),
        ),
        ("S3 vended by Unity Catalog", s3(cloud.uc_bin()), "main.ml.train".into()),
    ];
    for (name, mut c, table) in cases {
        // The first commit of the table, in any store's spelling of the path.
        proxy.setup(json!({
            "rate": 1.0, "kinds": ["429"], "max_faults": 1, "retry_after": AFTER as u64,
            "match": "^GET .*(_|%5F)delta(_|%5F)log(/|%2F)0{20}(\\.|%2E)json",
        }));
        let out = dir.path().join(format!("out-{}", name.replace(' ', "-")));
        let o = c
            .args(["prepare", "--json", "--train", &table, "--output", out.to_str().unwrap()])
            .output()
            .unwrap();
        ok_under_faults(&o, &proxy);
        let expect = expect_json(dir.path(), &[("train", &train)], &["eggs", "ham", "spam"], json!({}));
        check_py("check_dataset.py", &[&out, &expect]);
        let times = proxy.stats()["times"].as_array().unwrap().clone();
        let refused: Vec<&Value> = times.iter().filter(|t| t[3] == "429").collect();
        assert!(
            !refused.is_empty(),
            "{name}: nothing was refused: the test proves nothing: {}",
            proxy.stats()
        );
        for r in refused {
            let retry = times
                .iter()
                .find(|t| t[1] == r[1] && t[2] == r[2] && t[0].as_f64() > r[0].as_f64())
                .unwrap_or_else(|| panic!("{name}: {r} was never retried: {times:?}"));
            let waited = retry[0].as_f64().unwrap() - r[0].as_f64().unwrap();
            assert!(
                waited >= AFTER - 0.05,
                "{name}: {} {} retried after {waited:.2}s, not {AFTER}s",
                r[1],
                r[2]
            );
        }
    }
}

/// The fan-out (`plan`, `run-task` ×2, `commit`) from S3 tables to an S3 output through a flaky
/// network, the answer to task 0's manifest create lost after S3 applied it: exactly the rows,
/// one label-table version.
#[test]
fn fan_out_on_s3_survives_a_flaky_network() {
    let cloud = Cloud::start();
    cloud.setup(json!({"buckets": ["fan"]}));
    let dir = tmp();
    let (train, test) = cloud.upload_splits(dir.path(), "fan");
    let proxy = Proxy::start(&[&cloud.s3]);
    let work = dir.path().join("work");
    let cmd = || {
        let mut c = cloud.bin();
        c.env("AWS_ENDPOINT_URL", &proxy.urls[0]).env("DELTA_HF_WORKING_DIR", &work);
        c
    };
    let plan = "s3://fan/plans/reviews.json";
    // Small tables, few requests: one in five fails.
    let mut cfg = flaky();
    cfg["rate"] = json!(0.2);
    cfg["drop"] = json!([{"method": "PUT", "path": "_fanout-[^/]+/task-00000\\.json$", "count": 1}]);
    proxy.setup(cfg);
    let o = cmd()
        .args(["plan", "--split", "train=s3://fan/tables/train", "--split", "test=s3://fan/tables/test"])
        .args(["--max-shard-size", "1KB", "--output", "s3://fan/datasets/reviews"])
        .args(["--label-table", "s3://fan/labels/reviews", "--tasks", "2", "--plan", plan, "--quiet"])
        .output()
        .unwrap();
    ok_under_faults(&o, &proxy);
    for task in ["0", "1"] {
        let o = cmd().args(["run-task", "--plan", plan, "--task", task, "--json"]).output().unwrap();
        ok_under_faults(&o, &proxy);
    }
    let s = json_under_faults(&cmd().args(["commit", "--plan", plan, "--json"]).output().unwrap(), &proxy);
    assert_eq!(s["label_table"]["version"], 0, "{s}");
    let dropped = proxy.stats()["dropped"].clone();
    assert!(
        dropped.as_array().unwrap().len() == 1 && dropped[0].as_str().unwrap().ends_with("/task-00000.json"),
        "the manifest create's answer was not lost: {dropped}"
    );
    assert!(
        proxy.faults() >= 5,
        "the proxy injected only {} faults: the test proves nothing",
        proxy.faults()
    );
    cloud.check_download(
        &sub_dir(&dir.path().join("got")),
        "fan",
        "datasets/reviews",
        "labels/reviews",
        &train,
        &test,
    );
    assert_eq!(commits(&cloud, "fan", "labels/reviews"), versions(1), "one label-table version");
    let published = cloud.list("fan", "datasets/reviews");
    assert!(
        !published.iter().any(|f| f.contains("_fanout-") && f.ends_with(".json")),
        "manifests left: {published:?}"
    );
    assert_eq!(ls(&work), Vec::<String>::new(), "scratch left in the working dir");
}

fn sub_dir(p: &Path) -> std::path::PathBuf {
    std::fs::create_dir_all(p).unwrap();
    p.to_path_buf()
}

/// `size` and `pull` through a flaky Hub, and `pull` into S3 through a flaky store whose answer
/// to the first commit of each table is lost after the store applied it: the same report as
/// without faults, exactly the rows, one version per table.
#[test]
fn size_and_pull_survive_a_flaky_hub_and_store() {
    let emu = hub::Emulator::start();
    let cloud = Cloud::start();
    cloud.setup(json!({"buckets": ["pulled"]}));
    let proxy = Proxy::start(&[&emu.endpoint(), &cloud.s3]);
    let (hubp, s3p) = (&proxy.urls[0], &proxy.urls[1]);
    proxy.setup(flaky());
    for dataset in ["acme/reviews", "acme/nosizes"] {
        let clean = ok_json(
            &hub::hub_cmd(&emu.endpoint(), tmp().path()).args(["size", dataset, "--json"]).output().unwrap(),
        );
        let o = hub::hub_cmd(hubp, tmp().path()).args(["size", dataset, "--json"]).output().unwrap();
        assert_eq!(json_under_faults(&o, &proxy), clean, "{dataset}");
    }
    let mut faults = proxy.faults();

    let home = tmp();
    let mut cfg = flaky();
    cfg["drop"] =
        json!([{"method": "PUT", "path": "^/pulled/reviews/(train|test)/_delta_log/0+\\.json$", "count": 2}]);
    proxy.setup(cfg);
    let mut c = hub::hub_cmd(hubp, home.path());
    c.env("AWS_ENDPOINT_URL", s3p)
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing-secret")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    let s = json_under_faults(
        &c.args(["pull", "acme/reviews", "--to", "s3://pulled/reviews", "--json"]).output().unwrap(),
        &proxy,
    );
    assert_eq!(proxy.stats()["dropped"].as_array().unwrap().len(), 2, "both first commits lost their answer");
    faults += proxy.faults();
    assert_eq!(s["splits"][0]["rows"], 300);
    let dir = tmp();
    for (split, n) in [("train", 300), ("test", 50)] {
        assert_eq!(commits(&cloud, "pulled", &format!("reviews/{split}")), versions(1), "{split}");
        let local = dir.path().join(split);
        cloud.download("pulled", &format!("reviews/{split}"), &local);
        let (rows, meta, version) = hub::delta_rows(&local);
        assert_eq!(version, 0);
        assert_eq!(rows, hub::as_pairs(&hub::en_rows(split, n)));
        assert_eq!(meta["dataset"], "acme/reviews");
    }

    // `prepare --tokenizer hf://...` fetches the tokenizer through the flaky Hub: the same shards
    // as with a clean Hub.
    let tables = sub_dir(&dir.path().join("tables"));
    write_splits(&tables);
    let train = tables.join("train");
    let tokenized =
        |endpoint: &str, out: &Path| {
            let mut c = hub::hub_cmd(endpoint, tmp().path());
            c.args(["prepare", "--train", train.to_str().unwrap(), "--tokenizer", "hf://acme/tiny-bert"])
                .args(["--output", out.to_str().unwrap(), "--retry-timeout", "20s"]);
            c.output().unwrap()
        };
    let clean = dir.path().join("tokenized-clean");
    ok(&tokenized(&emu.endpoint(), &clean));
    // Every request of the few it makes fails (up to twice).
    let mut cfg = flaky();
    cfg["rate"] = json!(1.0);
    proxy.setup(cfg);
    let flaky_out = dir.path().join("tokenized-flaky");
    ok_under_faults(&tokenized(hubp, &flaky_out), &proxy);
    assert!(
        proxy.faults() >= 2,
        "the tokenizer's fetch met only {} faults: {}",
        proxy.faults(),
        proxy.stats()
    );
    faults += proxy.faults();
    let shard = "train/data-00000-of-00001.arrow";
    assert!(
        std::fs::read(clean.join(shard)).unwrap() == std::fs::read(flaky_out.join(shard)).unwrap(),
        "the tokenized shard differs from a clean run's"
    );
    assert!(faults >= 3, "the proxy injected only {faults} faults: the test proves nothing");

    // The Hub down: `size`, `pull` and a Hub tokenizer stop within the budget, exit 6 naming
    // the dataset or model and the call; nothing written.
    proxy.setup(json!({"fail_all": true, "retry_after": 1}));
    let out = dir.path().join("written-while-down");
    let out_s = out.to_str().unwrap();
    let train_s = train.to_str().unwrap();
    for (args, named) in [
        (vec!["size", "acme/reviews"], "acme/reviews"),
        (vec!["pull", "acme/reviews", "--to", out_s], "acme/reviews"),
        (
            vec!["prepare", "--train", train_s, "--tokenizer", "hf://acme/tiny-bert", "--output", out_s],
            "tiny-bert",
        ),
    ] {
        let start = Instant::now();
        let o =
            hub::hub_cmd(hubp, tmp().path()).args(&args).args(["--retry-timeout", "2s"]).output().unwrap();
        fails(&o, 6, &[named, "503", "--retry-timeout"]);
        assert!(start.elapsed() < Duration::from_secs(30), "{args:?} took {:?}", start.elapsed());
        assert!(!out.exists(), "{args:?} wrote something");
    }
}

/// The label table's commit is applied but its answer lost, on the first and on a later
/// version: each run succeeds and adds exactly one version.
#[test]
fn a_label_table_commit_whose_answer_is_lost_is_ours() {
    let cloud = Cloud::start();
    cloud.setup(json!({"buckets": ["lost"]}));
    let dir = tmp();
    let (train, test) = cloud.upload_splits(dir.path(), "lost");
    let proxy = Proxy::start(&[&cloud.s3]);
    for (version, out) in [(0, "datasets/a"), (1, "datasets/b")] {
        proxy.setup(json!({"drop": [{"method": "PUT", "path": format!("^/lost/labels/_delta_log/{version:020}\\.json$")}]}));
        let o = cloud
            .bin()
            .env("AWS_ENDPOINT_URL", &proxy.urls[0])
            .args([
                "prepare",
                "--json",
                "--split",
                "train=s3://lost/tables/train",
                "--split",
                "test=s3://lost/tables/test",
            ])
            .args(["--output", &format!("s3://lost/{out}"), "--label-table", "s3://lost/labels"])
            .output()
            .unwrap();
        let s = json_under_faults(&o, &proxy);
        assert_eq!(proxy.stats()["dropped"].as_array().unwrap().len(), 1, "the answer was dropped");
        assert_eq!(s["label_table"]["version"], version, "{s}");
        assert_eq!(commits(&cloud, "lost", "labels"), versions(version as usize + 1));
        if version == 0 {
            cloud.check_download(dir.path(), "lost", "datasets/a", "labels", &train, &test);
        }
    }
}

/// Every request fails: each run stops within its `--retry-timeout` with exit 6 naming the
/// store, the object and the operation; the previous output is intact and the label table has
/// no new version.
#[test]
fn every_request_failing_is_a_clean_failure_within_the_budget() {
    let cloud = Cloud::start_with(&["--azure", "--gcs"]);
    let dir = tmp();
    uc_world(&cloud, &sub_dir(&dir.path().join("uc")));
    cloud.setup(json!({"buckets": ["down"], "containers": ["down"], "gcs_buckets": ["down"]}));
    cloud.upload_splits(dir.path(), "down");
    let (azure, gcs) = (cloud.azure.clone().unwrap(), cloud.gcs.clone().unwrap());
    let proxy = Proxy::start(&[&cloud.s3, &cloud.uc, &azure, &gcs]);
    let out = dir.path().join("out");
    let lt = dir.path().join("labels");
    let prepare = |train: &str, output: &str, extra: &[&str]| {
        let mut c = cloud.bin();
        c.env("AWS_ENDPOINT_URL", &proxy.urls[0])
            .args(["prepare", "--quiet", "--retry-timeout", "2s", "--train", train, "--output", output])
            .args(["--label-table", lt.to_str().unwrap()])
            .args(["--working-dir", dir.path().join("work").to_str().unwrap()])
            .args(extra);
        let start = Instant::now();
        let o = c.output().unwrap();
        (o, start.elapsed())
    };
    let (o, _) = prepare("s3://down/tables/train", out.to_str().unwrap(), &[]);
    ok(&o);
    let before = std::fs::read(out.join("train/state.json")).unwrap();

    proxy.setup(json!({"fail_all": true, "retry_after": 1}));
    let budget = Duration::from_secs(30);
    // The input store fails: the old dataset and the label table stay as they were.
    let (o, took) = prepare("s3://down/tables/train", out.to_str().unwrap(), &["--overwrite"]);
    fails(&o, 6, &["s3://down/tables/train", "503", "--retry-timeout"]);
    assert!(took < budget, "took {took:?}");
    assert_eq!(std::fs::read(out.join("train/state.json")).unwrap(), before, "the old output changed");
    check_py_load_dir(&out);
    assert_eq!(label_table_versions(&lt), 1);

    // The output store fails: nothing there, no label-table version for the export.
    let local_train = dir.path().join("train");
    let (o, took) = prepare(local_train.to_str().unwrap(), "s3://down/datasets/new", &[]);
    fails(&o, 6, &["s3://down/datasets/new", "503", "--retry-timeout"]);
    assert!(took < budget, "took {took:?}");
    assert_eq!(label_table_versions(&lt), 1);
    // Only its uploads fail (the label table is committed by then): that commit is taken back.
    proxy.setup(json!({"fail_all": ["PUT", "POST"], "retry_after": 1}));
    let (o, took) = prepare(local_train.to_str().unwrap(), "s3://down/datasets/new", &[]);
    fails(&o, 6, &["s3://down/datasets/new", "503", "--retry-timeout"]);
    assert!(took < budget, "took {took:?}");
    proxy.setup(json!({}));
    assert_eq!(cloud.list("down", "datasets/new"), Vec::<String>::new(), "something was published");
    assert_eq!(label_table_versions(&lt), 1, "a label-table version for an export that did not publish");

    // An Azure or GCS input store fails: the same, naming it.
    let reply = cloud.setup(json!({"gcs_service_account": "trainer@delta-hf-test.iam.gserviceaccount.com"}));
    let key = dir.path().join("sa-key.json");
    std::fs::write(&key, reply["gcs_service_account_key"].to_string()).unwrap();
    for root in ["az://down", "gs://down"] {
        cloud.upload(&dir.path().join("train"), root, "tables/train");
    }
    let mut az = cloud.azure_bin(true);
    az.env("AZURE_STORAGE_ENDPOINT", &proxy.urls[2]);
    let mut gs = cloud.gcs_bin(Some(&key));
    gs.env("DELTA_HF_STORAGE_OPTIONS", format!("google_base_url={},allow_http=true", proxy.urls[3]))
        .env("GOOGLE_BASE_URL", &proxy.urls[3]);
    let azure_table = format!("abfss://down@{AZ_ACCOUNT}.dfs.core.windows.net/tables/train");
    proxy.setup(json!({"fail_all": true, "retry_after": 1}));
    for (mut c, table) in [(az, azure_table.as_str()), (gs, "gs://down/tables/train")] {
        let start = Instant::now();
        let o = c
            .args([
                "prepare",
                "--quiet",
                "--retry-timeout",
                "2s",
                "--train",
                table,
                "--output",
                out.to_str().unwrap(),
            ])
            .args(["--overwrite", "--label-table", lt.to_str().unwrap()])
            .output()
            .unwrap();
        fails(&o, 6, &[table, "503", "--retry-timeout"]);
        assert!(start.elapsed() < budget, "{table}: took {:?}", start.elapsed());
        assert_eq!(std::fs::read(out.join("train/state.json")).unwrap(), before, "the old output changed");
        assert_eq!(label_table_versions(&lt), 1);
    }

    // Unity Catalog fails: exit 6 naming it and the call, within the budget; asked to come back
    // after longer than the budget, it gives up at once, saying so.
    for (after, timeout, said, within) in
        [(1, "2s", "503", budget), (600, "20s", "retry in 600s", Duration::from_secs(10))]
    {
        proxy.setup(json!({"fail_all": true, "retry_after": after}));
        let start = Instant::now();
        let o = cloud
            .uc_bin()
            .env("DATABRICKS_HOST", &proxy.urls[1])
            .args(["prepare", "--retry-timeout", timeout, "--train", "main.ml.train", "--output"])
            .arg(dir.path().join("uc-out"))
            .output()
            .unwrap();
        fails(&o, 6, &["Unity Catalog", "main.ml.train", said, "--retry-timeout"]);
        assert!(start.elapsed() < within, "Retry-After {after}: took {:?}", start.elapsed());
    }
    assert!(!dir.path().join("uc-out").exists());
    assert_eq!(ls(&dir.path().join("work")), Vec::<String>::new(), "staging removed");
}

fn label_table_versions(lt: &Path) -> usize {
    ls(&lt.join("_delta_log")).iter().filter(|f| f.ends_with(".json")).count()
}

fn check_py_load_dir(out: &Path) {
    py(
        "import sys, datasets\nd = datasets.load_from_disk(sys.argv[1])\nassert d['train'].num_rows > 0",
        &[out.to_str().unwrap()],
    );
}

/// A shard over the single-PUT limit goes up as a multipart upload; the answer to its
/// CompleteMultipartUpload is lost after S3 applied it (`drop`, plus `then_error` for the retried
/// completion when given). The run succeeds and the dataset loads. Returns the proxy's stats.
fn lost_completion(bucket: &str, drop: Value) -> Value {
    let cloud = Cloud::start();
    cloud.setup(json!({"buckets": [bucket]}));
    let dir = tmp();
    let train = dir.path().join("train");
    // About 20 MB of text in one shard: two 16 MiB parts.
    let big: Vec<(String, String)> = (0..2000)
        .map(|i| {
            (format!("{i} ") + &"lorem ipsum dolor sit amet ".repeat(370), ["a", "b"][i % 2].to_string())
        })
        .collect();
    write_rows(&train, &big, SaveMode::ErrorIfExists);
    let proxy = Proxy::start(&[&cloud.s3]);
    proxy.setup(json!({ "drop": [drop] }));
    let output = format!("s3://{bucket}/ds");
    let o = cloud
        .bin()
        .env("AWS_ENDPOINT_URL", &proxy.urls[0])
        .args(["prepare", "--json", "--train", train.to_str().unwrap(), "--output", &output])
        .args(["--num-shards", "1", "--working-dir", dir.path().join("work").to_str().unwrap()])
        .output()
        .unwrap();
    let s = ok_json(&o);
    assert_eq!(s["splits"][0]["num_rows"], 2000, "{s}");
    let stats = proxy.stats();
    let dropped = stats["dropped"].clone();
    assert_eq!(
        dropped.as_array().map(Vec::len),
        Some(1),
        "the completion's answer was not dropped: {dropped}"
    );
    let local = dir.path().join("down");
    cloud.download(bucket, "ds", &local);
    check_py_load_dir(&local);
    stats
}

/// moto, like S3 within a while, accepts the repeated completion.
#[test]
fn a_multipart_completion_whose_answer_is_lost_is_ours() {
    lost_completion("mpu", json!({"method": "POST", "path": "^/mpu/ds/train/data-.*uploadId=", "count": 1}));
}

/// A store that refuses the repeated completion (`NoSuchUpload`: the upload is complete, so
/// gone): the object of our exact size at the path counts as ours (`sink::remote`).
#[test]
fn a_multipart_completion_refused_after_its_lost_answer_is_ours() {
    let stats = lost_completion(
        "mpu2",
        json!({"method": "POST", "path": "^/mpu2/ds/train/data-.*uploadId=", "count": 1, "then_error": "NoSuchUpload"}),
    );
    assert_eq!(
        stats["faults"]["then_error:NoSuchUpload"], 1,
        "the retried completion was not refused with NoSuchUpload: {stats}"
    );
}

/// SIGTERM (what a cancelled Databricks run sends) while shards go up to S3: exit 143, nothing
/// published, the staging directory removed, no label table.
#[test]
fn sigterm_mid_upload_to_s3_publishes_nothing() {
    let cloud = Cloud::start();
    cloud.setup(json!({"buckets": ["term"]}));
    let dir = tmp();
    let train = dir.path().join("train");
    write_rows(&train, &rows("text", 400, &["a", "b", "c"]), SaveMode::ErrorIfExists);
    let proxy = Proxy::start(&[&cloud.s3]);
    // Every request slowed down, so the upload is still going when the signal lands.
    proxy.setup(json!({"rate": 1.0, "kinds": ["slow"], "max_faults": 1000000, "slow_seconds": 0.3}));
    let work = dir.path().join("work");
    let lt = dir.path().join("labels");
    let mut child = cloud
        .bin()
        .env("AWS_ENDPOINT_URL", &proxy.urls[0])
        .args(["prepare", "--quiet", "--train", train.to_str().unwrap(), "--output", "s3://term/ds"])
        .args(["--max-shard-size", "2KB", "--working-dir", work.to_str().unwrap()])
        .args(["--label-table", lt.to_str().unwrap()])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        let log = proxy.stats()["log"].to_string();
        if log.contains("PUT /term/ds/train/data-") {
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "the run ended before uploading");
        assert!(start.elapsed() < Duration::from_secs(60), "no upload seen: {log}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: plain kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(143), "{}", stderr(&o));
    assert!(stderr(&o).contains("interrupted"), "{}", stderr(&o));
    proxy.setup(json!({}));
    assert_eq!(cloud.list("term", "ds"), Vec::<String>::new(), "something was published");
    assert_eq!(ls(&work), Vec::<String>::new(), "staging left behind");
    assert!(!lt.join("_delta_log").exists() || label_table_versions(&lt) == 0, "a label-table version");
}

/// No credentials at all: what was tried and what to set, exit 6, for each cloud — never an
/// instance-metadata error. (Instance metadata is switched off or pointed at a closed loopback
/// port: the tests have no network.)
#[test]
fn missing_credentials_say_what_was_tried_and_what_to_set() {
    let cloud = Cloud::start_with(&["--azure", "--gcs"]);
    cloud.setup(json!({"buckets": ["cred"], "containers": ["cred"], "gcs_buckets": ["cred"]}));
    let dir = tmp();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let out = dir.path().join("out");
    let attempt = |mut c: Command, table: &str| {
        c.env("HOME", &home)
            .env("AZURE_MSI_ENDPOINT", "http://127.0.0.1:1/metadata/identity/oauth2/token")
            .env("GCE_METADATA_HOST", "127.0.0.1:1")
            .env("GCE_METADATA_IP", "127.0.0.1:1")
            .args(["prepare", "--retry-timeout", "2s", "--train", table, "--output", out.to_str().unwrap()]);
        c.output().unwrap()
    };
    let no_aws = |endpoint: bool| {
        let mut c = cloud.bin();
        c.env_remove("AWS_ACCESS_KEY_ID").env_remove("AWS_SECRET_ACCESS_KEY");
        if !endpoint {
            c.env_remove("AWS_ENDPOINT_URL").env_remove("AWS_ALLOW_HTTP");
        }
        c
    };
    for endpoint in [true, false] {
        let o = attempt(no_aws(endpoint), "s3://cred/tables/train");
        let err = fails(
            &o,
            6,
            &["no AWS credentials", "s3://cred/tables/train", "AWS_ACCESS_KEY_ID", "--storage-option"],
        );
        assert!(!err.contains("169.254.169.254"), "{err}");
    }
    let o = attempt(
        cloud.azure_bin(false),
        &format!("abfss://cred@{AZ_ACCOUNT}.dfs.core.windows.net/tables/train"),
    );
    let err = fails(
        &o,
        6,
        &["no Azure credentials", "abfss://cred@", "AZURE_STORAGE_ACCOUNT_KEY", "--storage-option"],
    );
    assert!(!err.contains("169.254.169.254"), "{err}");
    let o = attempt(cloud.gcs_bin(None), "gs://cred/tables/train");
    let err = fails(
        &o,
        6,
        &[
            "no Google Cloud credentials",
            "gs://cred/tables/train",
            "GOOGLE_SERVICE_ACCOUNT",
            "--storage-option",
        ],
    );
    assert!(!err.contains("169.254.169.254"), "{err}");
    assert!(!out.exists());
}

/// `prepare --output hf://...` through a flaky Hub (issue 22): the preupload, LFS batch, uploads,
/// verifies and the commit are retried; one commit, and the repo loads as the local output.
#[test]
fn hub_push_survives_a_flaky_hub() {
    let emu = hub::Emulator::start();
    let proxy = Proxy::start(&[&emu.endpoint()]);
    let home = tmp();
    let dir = tmp();
    let train = dir.path().join("train");
    write_rows(&train, &rows("row", 200, &["a", "b", "c"]), deltalake::protocol::SaveMode::Append);
    let local = dir.path().join("local");
    ok(&Prepare::new(&local).train(&train).opt("--format", "parquet").opt("--num-shards", "4").run());
    let mut cfg = flaky();
    cfg["rate"] = json!(0.3);
    proxy.setup(cfg);
    let o = crate::parquet::hub_prepare(
        &proxy.urls[0],
        home.path(),
        "hf://datasets/acme/flaky",
        &train,
        &["--num-shards", "4"],
    );
    ok_under_faults(&o, &proxy);
    assert!(proxy.faults() > 0, "no fault was injected");
    assert_eq!(crate::parquet::commits(&emu.endpoint()).len(), 1);
    let (got, _) = crate::parquet::hub_dump(&emu.endpoint(), "acme/flaky");
    let want: Value = serde_json::from_str(&run_py_with(&python(), "dump_dataset.py", &[&local])).unwrap();
    assert_eq!(got["splits"], want["splits"]);

    // The commit applied but its answer lost: the retry finds the branch moved, and holding
    // exactly this export, reports success; still one commit more.
    let mut cfg = json!({"seed": seed(), "rate": 0.0});
    cfg["drop"] = json!([{"method": "POST", "path": "^/api/datasets/acme/flaky/commit/main$", "count": 1}]);
    proxy.setup(cfg);
    let o = crate::parquet::hub_prepare(&proxy.urls[0], home.path(), "hf://datasets/acme/flaky", &train, &[]);
    ok_under_faults(&o, &proxy);
    assert_eq!(proxy.stats()["dropped"].as_array().unwrap().len(), 1, "the commit's answer was dropped");
    assert_eq!(crate::parquet::commits(&emu.endpoint()).len(), 2);

    // Every upload's connection reset once: retried, and the signed upload URL (its query is
    // the token sentinel) never shows in the retry log or anywhere else (`run_cmd` checks).
    proxy.setup(json!({"seed": seed(), "rate": 1.0, "kinds": ["reset"], "max_faults": 1, "match": "^PUT "}));
    let o = crate::parquet::hub_prepare(
        &proxy.urls[0],
        home.path(),
        "hf://datasets/acme/flaky",
        &train,
        &["--num-shards", "2"],
    );
    ok_under_faults(&o, &proxy);
    assert_eq!(proxy.faults(), 2, "each of the 2 uploads reset once");
    assert!(stderr(&o).contains("retry 1"), "the retries are logged: {}", stderr(&o));
}
