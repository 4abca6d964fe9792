//! Values that must never be printed: tokens, client secrets, vended keys.
//!
//! [`Secret`]'s `Debug` prints `***` and it has no `Display`, so a secret cannot end up in a
//! log line, an error message or a summary by accident; [`Secret::expose`] is for request
//! headers and object-store credentials only.

use std::fmt;

/// A value that must never be printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself: only for request headers and object-store credentials.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}
