//! A read-only view of a table's storage that hides reader features which change nothing about
//! the rows a reader returns.
//!
//! delta-rs 1.1's DataFusion scan checks reader features against a fixed list that lacks
//! `vacuumProtocolCheck`, although that feature only constrains VACUUM (a reader must not
//! vacuum with a client that ignores the feature — this tool never vacuums or writes the tables
//! it reads). For such tables the snapshot is loaded through this view, which removes the
//! feature from the `protocol` actions of the JSON commits it serves (reader and writer lists); every other byte, and
//! every data file, is passed through unchanged. A protocol that lives only in a checkpoint is
//! not rewritten, and such a table is still refused with the reason.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use serde_json::Value;

/// Reader features that do not change what a reader returns.
pub const HIDDEN_FEATURES: &[&str] = &["vacuumProtocolCheck"];

#[derive(Debug)]
pub struct ProtocolView {
    inner: Arc<dyn ObjectStore>,
}

impl ProtocolView {
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        ProtocolView { inner }
    }
}

impl fmt::Display for ProtocolView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProtocolView({})", self.inner)
    }
}

/// `.../_delta_log/<20 digits>.json`
fn is_commit(location: &Path) -> bool {
    let s = location.as_ref();
    let Some((dir, file)) = s.rsplit_once('/') else { return false };
    dir.ends_with("_delta_log")
        && file.strip_suffix(".json").is_some_and(|v| v.len() == 20 && v.bytes().all(|b| b.is_ascii_digit()))
}

/// The commit with [`HIDDEN_FEATURES`] removed from its protocol action (other lines untouched).
fn rewrite(commit: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(commit).ok()?;
    if !HIDDEN_FEATURES.iter().any(|f| text.contains(f)) {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        match serde_json::from_str::<Value>(body) {
            Ok(mut v) if v.get("protocol").is_some() => {
                // From both lists: the kernel wants a reader-writer feature in both or neither,
                // and nothing is written through this view.
                for list in ["readerFeatures", "writerFeatures"] {
                    if let Some(Value::Array(features)) = v["protocol"].get_mut(list) {
                        features.retain(|f| !f.as_str().is_some_and(|f| HIDDEN_FEATURES.contains(&f)));
                    }
                }
                out.push_str(&v.to_string());
                out.push_str(&line[body.len()..]);
            }
            _ => out.push_str(line),
        }
    }
    Some(out.into_bytes())
}

fn read_only(location: &Path) -> object_store::Error {
    object_store::Error::NotSupported {
        source: format!("`{location}` is opened read-only (a table read through a protocol view)").into(),
    }
}

#[async_trait::async_trait]
impl ObjectStore for ProtocolView {
    async fn put_opts(
        &self,
        location: &Path,
        _: PutPayload,
        _: PutOptions,
    ) -> object_store::Result<PutResult> {
        Err(read_only(location))
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        _: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        Err(read_only(location))
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
        if !is_commit(location) || options.range.is_some() || options.head {
            return self.inner.get_opts(location, options).await;
        }
        let result = self.inner.get_opts(location, options).await?;
        let (meta, attributes) = (result.meta.clone(), result.attributes.clone());
        let bytes = result.bytes().await?;
        let Some(new) = rewrite(&bytes) else {
            let len = bytes.len() as u64;
            return Ok(GetResult {
                payload: GetResultPayload::Stream(futures::stream::once(async move { Ok(bytes) }).boxed()),
                meta,
                range: 0..len,
                attributes,
            });
        };
        let len = new.len() as u64;
        let new = Bytes::from(new);
        Ok(GetResult {
            payload: GetResultPayload::Stream(futures::stream::once(async move { Ok(new) }).boxed()),
            meta: ObjectMeta { size: len, ..meta },
            range: 0..len,
            attributes,
        })
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> object_store::Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        locations.map(|l| Err(read_only(&l?))).boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, _: &Path, to: &Path, _: CopyOptions) -> object_store::Result<()> {
        Err(read_only(to))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_only_the_feature() {
        let commit = b"{\"commitInfo\":{\"x\":\"vacuumProtocolCheck\"}}\n{\"protocol\":{\"minReaderVersion\":3,\"minWriterVersion\":7,\"readerFeatures\":[\"vacuumProtocolCheck\",\"deletionVectors\"],\"writerFeatures\":[\"vacuumProtocolCheck\"]}}\n";
        let out = String::from_utf8(rewrite(commit).unwrap()).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "{\"commitInfo\":{\"x\":\"vacuumProtocolCheck\"}}");
        let p: Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(p["protocol"]["readerFeatures"], serde_json::json!(["deletionVectors"]));
        assert_eq!(p["protocol"]["writerFeatures"], serde_json::json!([]));
        assert!(rewrite(b"{\"add\":{}}\n").is_none());
        assert!(is_commit(&Path::from("t/_delta_log/00000000000000000001.json")));
        assert!(!is_commit(&Path::from("t/_delta_log/00000000000000000001.checkpoint.parquet")));
    }
}
