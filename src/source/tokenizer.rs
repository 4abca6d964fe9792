//! Where `--tokenizer SRC` comes from: a `tokenizer.json`, a model directory, an object-store
//! or volume location, or `hf://MODEL_ID[@REVISION]` through `hf-hub` into the Hugging Face cache;
//! read, parsed with the `tokenizers` crate and fingerprinted (sha256 of `tokenizer.json`).
//!
//! Beside `tokenizer.json`, a directory or Hub model may hold `tokenizer_config.json`,
//! `special_tokens_map.json` and `config.json`; they are read when present (what
//! `AutoTokenizer.from_pretrained` reads). A bare `tokenizer.json` has none: it is what
//! `PreTrainedTokenizerFast(tokenizer_file=...)` sees.
//!
//! Every failure here is exit 3 naming the source, raised before anything is written.

use std::path::{Path, PathBuf};

use hf_hub::HFError;
use serde_json::Value;
use sha2::{Digest, Sha256};

use object_store::ObjectStoreExt as _;

use crate::error::{Error, Result};
use crate::storage::connector::Connector;
use crate::storage::hub::client::{Hub, HubEnv, hf_verdict, is_commit_hash, is_repo_id};
use crate::storage::retry::{self, Outcome};

/// The version of the `tokenizers` crate compiled in (the Python package of the same minor
/// version writes and reads the same files).
pub const TOKENIZERS_VERSION: &str = "0.23";

/// The files that make a tokenizer besides `tokenizer.json`, all optional.
/// `chat_template.jinja` is where newer transformers saves the chat template (SFT exports).
const OPTIONAL_FILES: [&str; 4] =
    ["tokenizer_config.json", "special_tokens_map.json", "config.json", "chat_template.jinja"];

/// A parsed `--tokenizer` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenizerSpec {
    /// A local `tokenizer.json` or a directory holding one.
    Local(PathBuf),
    /// `hf://MODEL_ID[@REVISION]` (revision default `main`).
    Hub { repo: String, revision: String },
    /// An object-store URI or `/Volumes/...` path: a `tokenizer.json` or a directory holding one.
    Remote(String),
}

impl TokenizerSpec {
    /// Parse `--tokenizer`.
    pub fn parse(s: &str) -> Result<Self> {
        let s = s.trim();
        if s.is_empty() {
            return Err(Error::Usage(
                "--tokenizer needs a value: a tokenizer.json, a directory, or hf://MODEL_ID".into(),
            ));
        }
        if let Some(rest) = s.strip_prefix("hf://") {
            let rest = rest.strip_prefix("models/").unwrap_or(rest);
            let (repo, revision) = match rest.rsplit_once('@') {
                Some((r, rev)) if !rev.is_empty() => (r, rev),
                Some(_) => return Err(Error::Usage(format!("--tokenizer `{s}`: empty revision after `@`"))),
                None => (rest, "main"),
            };
            validate_model_id(repo, s)?;
            return Ok(TokenizerSpec::Hub { repo: repo.to_string(), revision: revision.to_string() });
        }
        let is_uri = s.split_once("://").is_some_and(|(scheme, _)| {
            !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        });
        if (is_uri && !s.starts_with("file://")) || s.starts_with("/Volumes/") {
            return Ok(TokenizerSpec::Remote(s.to_string()));
        }
        let path = s.strip_prefix("file://").unwrap_or(s);
        Ok(TokenizerSpec::Local(PathBuf::from(path)))
    }

    /// As the user wrote it (for messages and provenance).
    pub fn shown(&self) -> String {
        match self {
            TokenizerSpec::Local(p) => p.display().to_string(),
            TokenizerSpec::Hub { repo, revision } if revision == "main" => format!("hf://{repo}"),
            TokenizerSpec::Hub { repo, revision } => format!("hf://{repo}@{revision}"),
            TokenizerSpec::Remote(s) => s.clone(),
        }
    }
}

fn validate_model_id(repo: &str, shown: &str) -> Result<()> {
    if is_repo_id(repo) {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "--tokenizer `{shown}`: `{repo}` is not a model id; use hf://OWNER/NAME[@REVISION] \
             (e.g. hf://google-bert/bert-base-uncased)"
        )))
    }
}

/// The raw files of a tokenizer, before parsing.
#[derive(Debug, Default)]
pub struct RawTokenizer {
    pub tokenizer_json: Vec<u8>,
    /// `tokenizer_config.json`, `special_tokens_map.json`, `config.json` (name, bytes) when present.
    pub extra: Vec<(&'static str, Vec<u8>)>,
    /// The commit sha a Hub revision resolved to.
    pub sha: Option<String>,
}

/// A loaded tokenizer: the parsed `tokenizer.json`, its companion configs and where it came from.
pub struct LoadedTokenizer {
    pub tokenizer: tokenizers::Tokenizer,
    /// `tokenizer_config.json` (Null when absent).
    pub config: Value,
    /// `special_tokens_map.json` (Null when absent).
    pub special_tokens_map: Value,
    /// `config.json`'s `model_type`, when present.
    pub model_type: Option<String>,
    pub provenance: Provenance,
    /// `chat_template.jinja` beside `tokenizer.json`, when present (SFT exports).
    pub chat_template_file: Option<String>,
}

/// What the output records about the tokenizer.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Provenance {
    /// `--tokenizer` as given.
    pub source: String,
    /// The Hub revision asked for, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// The commit sha it resolved to, if from the Hub.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision_sha: Option<String>,
    /// sha256 of `tokenizer.json` (hex).
    pub sha256: String,
}

/// Parse the raw files of `spec` into a tokenizer (exit 3 naming the source on failure).
pub fn parse(spec: &TokenizerSpec, raw: RawTokenizer) -> Result<LoadedTokenizer> {
    let shown = spec.shown();
    let sha256 = hex::encode(Sha256::digest(&raw.tokenizer_json));
    let tokenizer = parse_tokenizer_json(&raw.tokenizer_json, &shown)?;
    let mut config = Value::Null;
    let mut special_tokens_map = Value::Null;
    let mut model_type = None;
    let mut chat_template_file = None;
    for (name, bytes) in &raw.extra {
        if *name == "chat_template.jinja" {
            chat_template_file = Some(String::from_utf8(bytes.clone()).map_err(|_| Error::Tokenizer {
                spec: shown.clone(),
                reason: "`chat_template.jinja` is not UTF-8 text".into(),
            })?);
            continue;
        }
        let v: Value = serde_json::from_slice(bytes).map_err(|e| Error::Tokenizer {
            spec: shown.clone(),
            reason: format!("`{name}` is not valid JSON: {e}"),
        })?;
        match *name {
            "tokenizer_config.json" => config = v,
            "special_tokens_map.json" => special_tokens_map = v,
            _ => model_type = v.get("model_type").and_then(Value::as_str).map(String::from),
        }
    }
    let (revision, revision_sha) = match spec {
        TokenizerSpec::Hub { revision, .. } => (Some(revision.clone()), raw.sha.clone()),
        _ => (None, None),
    };
    Ok(LoadedTokenizer {
        tokenizer,
        config,
        special_tokens_map,
        model_type,
        provenance: Provenance { source: shown, revision, revision_sha, sha256 },
        chat_template_file,
    })
}

/// `tokenizer.json` through the crate, with a reason a user can act on.
fn parse_tokenizer_json(bytes: &[u8], shown: &str) -> Result<tokenizers::Tokenizer> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| Error::Tokenizer {
        spec: shown.to_string(),
        reason: format!("not a tokenizer: `tokenizer.json` is not valid JSON ({e})"),
    })?;
    if value.get("model").is_none() {
        return Err(Error::Tokenizer {
            spec: shown.to_string(),
            reason: "not a tokenizer: `tokenizer.json` has no `model` (is it a tokenizer saved by the \
                     Hugging Face `tokenizers` library?)"
                .into(),
        });
    }
    tokenizers::Tokenizer::from_bytes(bytes).map_err(|e| {
        let format = value.get("version").and_then(Value::as_str).unwrap_or("unknown");
        let reason = if format != "1.0" {
            format!(
                "`tokenizer.json` has format version {format}, written by a `tokenizers` release newer \
                 than {TOKENIZERS_VERSION} (which reads format 1.0): {e}. Re-save it with `tokenizers` \
                 {TOKENIZERS_VERSION}.x or use an older revision of the model"
            )
        } else if let Some(part) = unknown_component(&value) {
            format!(
                "`tokenizer.json` uses a component this build (tokenizers {TOKENIZERS_VERSION}) does not \
                 know: {part}. It was probably written by a newer `tokenizers` release; re-save it with \
                 `tokenizers` {TOKENIZERS_VERSION}.x ({e})"
            )
        } else {
            format!("not a tokenizer `tokenizers` {TOKENIZERS_VERSION} can read: {e}")
        };
        Error::Tokenizer { spec: shown.to_string(), reason }
    })
}

/// The first part of a `tokenizer.json` the crate cannot read on its own, as
/// "`normalizer` of type `X`".
fn unknown_component(v: &Value) -> Option<String> {
    fn fails<T: serde::de::DeserializeOwned>(v: &Value) -> bool {
        !v.is_null() && serde_json::from_value::<T>(v.clone()).is_err()
    }
    type Check = fn(&Value) -> bool;
    let parts: [(&str, Check); 5] = [
        ("normalizer", fails::<tokenizers::NormalizerWrapper>),
        ("pre_tokenizer", fails::<tokenizers::PreTokenizerWrapper>),
        ("model", fails::<tokenizers::ModelWrapper>),
        ("post_processor", fails::<tokenizers::PostProcessorWrapper>),
        ("decoder", fails::<tokenizers::DecoderWrapper>),
    ];
    parts.iter().find(|(key, bad)| bad(&v[*key])).map(|(key, _)| {
        match v[*key].get("type").and_then(Value::as_str) {
            Some(t) => format!("`{key}` of type `{t}`"),
            None => format!("`{key}`"),
        }
    })
}

/// Read a local file or directory.
pub fn read_local(spec: &TokenizerSpec, path: &Path) -> Result<RawTokenizer> {
    let shown = spec.shown();
    let missing = |what: String| Error::Tokenizer { spec: shown.clone(), reason: what };
    let meta =
        std::fs::metadata(path).map_err(|e| missing(format!("cannot read `{}`: {e}", path.display())))?;
    let read =
        |p: &Path| std::fs::read(p).map_err(|e| missing(format!("cannot read `{}`: {e}", p.display())));
    if meta.is_file() {
        return Ok(RawTokenizer { tokenizer_json: read(path)?, ..Default::default() });
    }
    let file = path.join("tokenizer.json");
    if !file.is_file() {
        return Err(missing(format!(
            "directory `{}` holds no `tokenizer.json` (a fast tokenizer saved with `save_pretrained`)",
            path.display()
        )));
    }
    let mut raw = RawTokenizer { tokenizer_json: read(&file)?, ..Default::default() };
    for name in OPTIONAL_FILES {
        let p = path.join(name);
        if p.is_file() {
            raw.extra.push((name, read(&p)?));
        }
    }
    Ok(raw)
}

/// Fetch `tokenizer.json` (required) and the optional files of a Hub model into the cache.
pub async fn read_hub(spec: &TokenizerSpec, repo: &str, revision: &str) -> Result<RawTokenizer> {
    let hub = Hub::new(HubEnv::from_env())?;
    let shown = spec.shown();
    let main = download(&hub, &shown, repo, revision, "tokenizer.json")
        .await?
        .map_err(|e| hub_error(&hub, e, &shown, "tokenizer.json"))?;
    let Some(main) = main else {
        // A 404 on the file: the model, its revision or only the file may be missing.
        let (owner, name) = hf_hub::split_id(repo);
        let info = hub.client.model(owner, name).info().revision(revision.to_string()).send().await;
        return Err(match info {
            Ok(_) => Error::Tokenizer {
                spec: shown.clone(),
                reason: format!(
                    "model `{repo}` at `{revision}` has no `tokenizer.json` (only fast tokenizers are supported)"
                ),
            },
            Err(e) => hub_error(&hub, e, &shown, "tokenizer.json"),
        });
    };
    // …/snapshots/<sha>/tokenizer.json
    let sha = main
        .parent()
        .and_then(Path::file_name)
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| is_commit_hash(s));
    let at = sha.clone().unwrap_or_else(|| revision.to_string());
    let read = |p: &Path| {
        std::fs::read(p).map_err(|e| Error::Tokenizer {
            spec: shown.clone(),
            reason: format!("cannot read the cached `{}`: {e}", p.display()),
        })
    };
    let mut raw = RawTokenizer { tokenizer_json: read(&main)?, sha, ..Default::default() };
    for name in OPTIONAL_FILES {
        // Absent at this commit, as the cache remembers: nothing to ask (hf-hub does not consult
        // its "absent" markers when the Hub cannot be reached).
        if known_absent(&hub, repo, &at, name) {
            continue;
        }
        let got =
            download(&hub, &shown, repo, &at, name).await?.map_err(|e| hub_error(&hub, e, &shown, name))?;
        if let Some(p) = got {
            raw.extra.push((name, read(&p)?));
        }
    }
    Ok(raw)
}

/// Read a tokenizer from an object store URI (a `tokenizer.json`, or a directory holding one) or
/// from the `/Volumes` mount of a Databricks cluster.
pub async fn read_remote(spec: &TokenizerSpec, location: &str, cx: &Connector) -> Result<RawTokenizer> {
    let shown = spec.shown();
    if let Some(rest) = location.strip_prefix("/Volumes/") {
        let mount = std::env::var_os("DELTA_HF_VOLUMES_MOUNT")
            .map(PathBuf::from)
            .unwrap_or_else(|| "/Volumes".into());
        if !mount.is_dir() {
            return Err(Error::Tokenizer {
                spec: shown,
                reason:
                    "volume paths are read through the `/Volumes` mount of a Databricks cluster, and there \
                         is none here; pass the volume's storage URI (s3://, abfss://, gs://) or a local copy"
                        .into(),
            });
        }
        return read_local(spec, &mount.join(rest));
    }
    let url = url::Url::parse(location.trim_end_matches('/'))
        .map_err(|e| Error::Usage(format!("--tokenizer `{shown}`: {e}")))?;
    let store = cx.store(&url)?;
    let base = object_store::path::Path::from(url.path().trim_matches('/'));
    let get = |name: Option<&str>| {
        let path = match name {
            Some(n) => base.clone().join(n),
            None => base.clone(),
        };
        let store = store.clone();
        async move {
            match store.get(&path).await {
                Ok(r) => r.bytes().await.map(|b| Some(b.to_vec())),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        }
    };
    // A store that refuses us, or keeps failing past the budget, is exit 6 as for any input.
    let fail = |e: object_store::Error| {
        Error::upstream(e, &format!("tokenizer `{shown}`"), |m| Error::Tokenizer {
            spec: shown.clone(),
            reason: format!("cannot read it: {m}"),
        })
    };
    let (tokenizer_json, is_dir) = if url.path().ends_with(".json") {
        (get(None).await.map_err(fail)?, false)
    } else {
        (get(Some("tokenizer.json")).await.map_err(fail)?, true)
    };
    let tokenizer_json = tokenizer_json.ok_or_else(|| Error::Tokenizer {
        spec: shown.clone(),
        reason: if is_dir { "no `tokenizer.json` there".into() } else { "no such file".into() },
    })?;
    let mut raw = RawTokenizer { tokenizer_json, ..Default::default() };
    if is_dir {
        for name in OPTIONAL_FILES {
            if let Some(bytes) = get(Some(name)).await.map_err(fail)? {
                raw.extra.push((name, bytes));
            }
        }
    }
    Ok(raw)
}

/// Read and parse `spec` (exit 3 naming it on any failure).
pub async fn load(spec: &TokenizerSpec, cx: &Connector) -> Result<LoadedTokenizer> {
    let raw = match spec {
        TokenizerSpec::Local(p) => read_local(spec, p)?,
        TokenizerSpec::Hub { repo, revision } => read_hub(spec, repo, revision).await?,
        TokenizerSpec::Remote(location) => read_remote(spec, location, cx).await?,
    };
    parse(spec, raw)
}

/// Whether the cache records that `file` does not exist at commit `sha` (Python's layout:
/// `models--owner--name/.no_exist/<sha>/<file>`).
fn known_absent(hub: &Hub, repo: &str, sha: &str, file: &str) -> bool {
    let folder = format!("models--{}", repo.replace('/', "--"));
    is_commit_hash(sha) && hub.env.cache_dir.join(folder).join(".no_exist").join(sha).join(file).is_file()
}

/// One file at `revision`, retried within the budget like every Hub call; `None` when the model
/// has no such file. The inner error is the Hub's answer; the outer one a Hub that kept failing
/// past `--retry-timeout` (exit 6).
async fn download(
    hub: &Hub,
    shown: &str,
    repo: &str,
    revision: &str,
    file: &str,
) -> Result<std::result::Result<Option<PathBuf>, HFError>> {
    let (owner, name) = hf_hub::split_id(repo);
    let what = format!("download of `{file}` of model `{repo}`");
    let got = retry::retry(&what, hf_verdict, || async {
        hub.client
            .model(owner, name)
            .download_file()
            .filename(file.to_string())
            .revision(revision.to_string())
            .local_files_only(hub.env.offline)
            .send()
            .await
    })
    .await;
    match got {
        Ok(p) => Ok(Ok(Some(p))),
        Err(Outcome::Failed(HFError::EntryNotFound { .. })) => Ok(Ok(None)),
        Err(Outcome::Failed(e)) => Ok(Err(e)),
        Err(Outcome::Exhausted { last, elapsed }) => Err(Error::access(format!(
            "tokenizer `{shown}`: {}",
            retry::exhausted("the download of", &format!("{repo}/{file}"), &last.to_string(), elapsed)
        ))),
    }
}

/// A Hub failure as exit 3 naming the model, never the token.
fn hub_error(hub: &Hub, e: HFError, shown: &str, file: &str) -> Error {
    let token_hint = if hub.env.token.is_some() {
        "the token in HF_TOKEN does not give access to it"
    } else {
        "no token is set: set HF_TOKEN to a token of an account with access"
    };
    let reason = match e {
        HFError::LocalEntryNotFound { .. } if hub.env.offline => format!(
            "HF_HUB_OFFLINE is set and `{file}` is not in the cache `{}`; run once with the Hub reachable",
            hub.env.cache_dir.display()
        ),
        HFError::LocalEntryNotFound { .. } | HFError::Request { .. } => format!(
            "the Hub at {} cannot be reached and `{file}` is not in the cache `{}`",
            hub.env.endpoint,
            hub.env.cache_dir.display()
        ),
        HFError::AuthRequired { context } | HFError::Forbidden { context } => {
            if context.error_code.as_deref() == Some("GatedRepo") {
                format!(
                    "the model is gated (HTTP {}): accept its conditions on its Hub page with your \
                     account, then set HF_TOKEN to a token of that account ({token_hint})",
                    context.status.as_u16()
                )
            } else {
                format!("the model needs authentication (HTTP {}): {token_hint}", context.status.as_u16())
            }
        }
        HFError::RepoNotFound { .. } => format!(
            "model not found on {} (check the name; a private model needs HF_TOKEN)",
            hub.env.endpoint
        ),
        HFError::RevisionNotFound { .. } => {
            "revision not found; check the branch, tag or commit after `@`".to_string()
        }
        HFError::Http { context } if context.status.is_server_error() => format!(
            "the Hub at {} answered HTTP {} and `{file}` is not in the cache",
            hub.env.endpoint, context.status
        ),
        other => format!("cannot download `{file}`: {other}"),
    };
    Error::Tokenizer { spec: shown.to_string(), reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        assert_eq!(
            TokenizerSpec::parse("hf://acme/tiny@v1").unwrap(),
            TokenizerSpec::Hub { repo: "acme/tiny".into(), revision: "v1".into() }
        );
        assert_eq!(
            TokenizerSpec::parse("hf://gpt2").unwrap(),
            TokenizerSpec::Hub { repo: "gpt2".into(), revision: "main".into() }
        );
        assert!(TokenizerSpec::parse("hf://a/b/c").is_err());
        assert!(TokenizerSpec::parse("hf://a@").is_err());
        assert_eq!(TokenizerSpec::parse("s3://b/tok").unwrap(), TokenizerSpec::Remote("s3://b/tok".into()));
        assert_eq!(
            TokenizerSpec::parse("/Volumes/c/s/v/tok").unwrap(),
            TokenizerSpec::Remote("/Volumes/c/s/v/tok".into())
        );
        assert_eq!(
            TokenizerSpec::parse("file:///x/t.json").unwrap(),
            TokenizerSpec::Local("/x/t.json".into())
        );
        assert_eq!(TokenizerSpec::parse("dir/tok").unwrap(), TokenizerSpec::Local("dir/tok".into()));
    }

    #[test]
    fn not_a_tokenizer() {
        let spec = TokenizerSpec::Local("t.json".into());
        let raw = |b: &[u8]| RawTokenizer { tokenizer_json: b.to_vec(), ..Default::default() };
        let e = parse(&spec, raw(b"{nope")).err().unwrap().to_string();
        assert!(e.contains("t.json") && e.contains("not valid JSON"), "{e}");
        let e = parse(&spec, raw(br#"{"a": 1}"#)).err().unwrap().to_string();
        assert!(e.contains("no `model`"), "{e}");
        let newer =
            br#"{"version":"2.0","truncation":null,"padding":null,"added_tokens":[],"normalizer":null,
            "pre_tokenizer":null,"post_processor":null,"decoder":null,"model":{"type":"Future","vocab":{}}}"#;
        let e = parse(&spec, raw(newer)).err().unwrap().to_string();
        assert!(e.contains("format version 2.0") && e.contains("newer"), "{e}");
    }
}
