//! A store's configuration from two layers: the process environment (`AWS_*`, `AZURE_*`,
//! `GOOGLE_*`) and the user's `--storage-option`s over it, key by key. Used by every store
//! [`super::connector`] builds (and by [`super::aws`] for S3's), so the precedence is written once.

use std::collections::HashMap;
use std::str::FromStr;

/// A store's configuration: the `env`ironment's `{prefix}*` variables, then the user's options
/// over them, key by key. When the options hold a whole way to sign in (one of `credentials`),
/// the environment's credential keys are left out, so they cannot pick another way.
pub fn layered<K>(
    prefix: &str,
    options: &HashMap<String, String>,
    env: Vec<(String, String)>,
    credentials: &[&[K]],
) -> Vec<(K, String)>
where
    K: FromStr + PartialEq + Copy,
{
    let parse = |k: &str| K::from_str(&k.to_ascii_lowercase()).ok();
    let given: Vec<(K, String)> = options.iter().filter_map(|(k, v)| Some((parse(k)?, v.clone()))).collect();
    let whole = credentials.iter().any(|c| c.iter().all(|k| given.iter().any(|(g, _)| g == k)));
    let credential = |k: &K| credentials.iter().any(|c| c.contains(k));
    let mut out: Vec<(K, String)> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .filter_map(|(k, v)| Some((parse(&k)?, v)))
        .filter(|(k, _)| !(whole && credential(k)))
        .collect();
    out.extend(given);
    out
}
