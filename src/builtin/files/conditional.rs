//! Validators and preconditions for a file (RFC 9110 §8.8, §13): its `ETag` and
//! `Last-Modified`, `If-None-Match` / `If-Modified-Since` (304), and `Range` / `If-Range`
//! (206, 416).
//!
//! Invariant: only what a file's size and modification time say is used, so every shard, and
//! every node serving the same files, gives a file the same validators. A header that does not
//! parse is as if absent, except an unsatisfiable range of a `bytes` unit, which is 416.

use std::time::{SystemTime, UNIX_EPOCH};

/// What identifies one version of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Version {
    pub(crate) size: u64,
    /// Whole seconds since the epoch (HTTP dates have no finer resolution).
    pub(crate) modified: u64,
}

impl Version {
    pub(crate) fn new(size: u64, modified: SystemTime) -> Self {
        let modified = modified
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        Version { size, modified }
    }

    /// A strong entity tag, as nginx makes one: `"<mtime hex>-<size hex>"`.
    pub(crate) fn etag(&self) -> String {
        format!("\"{:x}-{:x}\"", self.modified, self.size)
    }

    pub(crate) fn last_modified(&self) -> String {
        httpdate::fmt_http_date(UNIX_EPOCH + std::time::Duration::from_secs(self.modified))
    }

    /// Whether a `GET` with these request headers gets 304 Not Modified: `If-None-Match` names
    /// this version (weak comparison, `*` matches), or — only without `If-None-Match` —
    /// `If-Modified-Since` is not before the modification time.
    pub(crate) fn not_modified(
        &self,
        if_none_match: Option<&[u8]>,
        if_modified_since: Option<&[u8]>,
    ) -> bool {
        if let Some(list) = if_none_match {
            let etag = self.etag();
            return list
                .split(|&byte| byte == b',')
                .map(<[u8]>::trim_ascii)
                .any(|tag| tag == b"*" || weakly_equal(tag, etag.as_bytes()));
        }
        if_modified_since
            .and_then(http_date)
            .is_some_and(|since| self.modified <= since)
    }

    /// Whether `If-Range` allows the range: it names this version's entity tag (strongly), or
    /// is exactly its modification date. Absent: allowed.
    pub(crate) fn range_allowed(&self, if_range: Option<&[u8]>) -> bool {
        let Some(condition) = if_range.map(<[u8]>::trim_ascii) else {
            return true;
        };
        if condition.starts_with(b"\"") {
            return condition == self.etag().as_bytes();
        }
        http_date(condition) == Some(self.modified)
    }
}

/// Weak comparison of two entity tags: equal once a `W/` prefix is set aside.
fn weakly_equal(tag: &[u8], etag: &[u8]) -> bool {
    tag.strip_prefix(b"W/").unwrap_or(tag) == etag
}

/// An HTTP date in whole seconds since the epoch.
fn http_date(value: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(value).ok()?;
    let time = httpdate::parse_http_date(text.trim()).ok()?;
    time.duration_since(UNIX_EPOCH)
        .ok()
        .map(|since| since.as_secs())
}

/// What a `Range` header asks of a file of `size` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ranged {
    /// No range, or one this server serves whole (not `bytes`, several ranges, malformed).
    Whole,
    /// Bytes `start..end` (end exclusive, within the file).
    Part { start: u64, end: u64 },
    /// A `bytes` range that lies wholly past the end: 416.
    Unsatisfiable,
}

/// Reads a `Range` header (RFC 9110 §14.1.2) for a file of `size` bytes. One range only:
/// several are served as the whole file, which RFC 9110 allows (a server may ignore `Range`).
pub(crate) fn range(header: Option<&[u8]>, size: u64) -> Ranged {
    let Some(spec) = header
        .and_then(|value| std::str::from_utf8(value).ok())
        .and_then(|value| value.trim().strip_prefix("bytes="))
    else {
        return Ranged::Whole;
    };
    if spec.contains(',') {
        return Ranged::Whole;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return Ranged::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    let number = |text: &str| -> Option<u64> {
        if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
            return None;
        }
        text.parse().ok()
    };
    if first.is_empty() {
        // `bytes=-N`: the last N bytes.
        return match number(last) {
            None => Ranged::Whole,
            Some(0) => Ranged::Unsatisfiable,
            Some(_) if size == 0 => Ranged::Unsatisfiable,
            Some(suffix) => Ranged::Part {
                start: size.saturating_sub(suffix),
                end: size,
            },
        };
    }
    let Some(start) = number(first) else {
        return Ranged::Whole;
    };
    let last = match last {
        "" => None,
        last => match number(last) {
            Some(last) if last >= start => Some(last),
            // Not a valid range: ignored, as RFC 9110 §14.2 allows.
            _ => return Ranged::Whole,
        },
    };
    if start >= size {
        return Ranged::Unsatisfiable;
    }
    let end = last.map_or(size, |last| last.min(size - 1) + 1);
    debug_assert!(start < end && end <= size, "a part lies within the file");
    Ranged::Part { start, end }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: Version = Version {
        size: 1000,
        modified: 1_700_000_000,
    };

    #[test]
    fn validators_look_like_nginx_s() {
        assert_eq!(FILE.etag(), "\"6553f100-3e8\"");
        assert_eq!(FILE.last_modified(), "Tue, 14 Nov 2023 22:13:20 GMT");
    }

    #[test]
    fn if_none_match_wins_over_if_modified_since() {
        let etag = FILE.etag();
        assert!(FILE.not_modified(Some(etag.as_bytes()), None));
        assert!(FILE.not_modified(Some(format!("\"x\", W/{etag}").as_bytes()), None));
        assert!(FILE.not_modified(Some(b"*"), None));
        assert!(!FILE.not_modified(Some(b"\"x\""), None));
        let later = b"Wed, 15 Nov 2023 00:00:00 GMT";
        let earlier = b"Mon, 13 Nov 2023 00:00:00 GMT";
        assert!(FILE.not_modified(None, Some(later)));
        assert!(FILE.not_modified(None, Some(b"Tue, 14 Nov 2023 22:13:20 GMT")));
        assert!(!FILE.not_modified(None, Some(earlier)));
        assert!(!FILE.not_modified(None, Some(b"yesterday")));
        assert!(
            !FILE.not_modified(Some(b"\"x\""), Some(later)),
            "If-Modified-Since is ignored beside If-None-Match"
        );
    }

    #[test]
    fn ranges_follow_rfc_9110() {
        let part = |start, end| Ranged::Part { start, end };
        assert_eq!(range(None, 1000), Ranged::Whole);
        assert_eq!(range(Some(b"bytes=0-99"), 1000), part(0, 100));
        assert_eq!(range(Some(b"bytes=900-"), 1000), part(900, 1000));
        assert_eq!(range(Some(b"bytes=900-5000"), 1000), part(900, 1000));
        assert_eq!(range(Some(b"bytes=-100"), 1000), part(900, 1000));
        assert_eq!(range(Some(b"bytes=-5000"), 1000), part(0, 1000));
        assert_eq!(range(Some(b"bytes=1000-"), 1000), Ranged::Unsatisfiable);
        assert_eq!(range(Some(b"bytes=-0"), 1000), Ranged::Unsatisfiable);
        assert_eq!(range(Some(b"bytes=0-"), 0), Ranged::Unsatisfiable);
        assert_eq!(range(Some(b"bytes=5-1"), 1000), Ranged::Whole);
        assert_eq!(range(Some(b"bytes=0-1,5-9"), 1000), Ranged::Whole);
        assert_eq!(range(Some(b"items=0-1"), 1000), Ranged::Whole);
        assert_eq!(range(Some(b"bytes=a-b"), 1000), Ranged::Whole);
        assert_eq!(range(Some(b"bytes=-"), 1000), Ranged::Whole);
    }

    #[test]
    fn if_range_needs_a_strong_match() {
        let etag = FILE.etag();
        assert!(FILE.range_allowed(None));
        assert!(FILE.range_allowed(Some(etag.as_bytes())));
        assert!(!FILE.range_allowed(Some(format!("W/{etag}").as_bytes())));
        assert!(FILE.range_allowed(Some(FILE.last_modified().as_bytes())));
        assert!(!FILE.range_allowed(Some(b"Mon, 13 Nov 2023 00:00:00 GMT")));
    }
}
