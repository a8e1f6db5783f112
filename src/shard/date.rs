//! The `Date` header value, cached per shard and rendered at most once a second.
//!
//! Invariant: every response carries the current second's IMF-fixdate (RFC 9110 §5.6.7);
//! rendering happens only when the wall-clock second changes, never per request.

use std::cell::Cell;
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::limits::DATE_BYTES;

/// One shard's cached `Date` value.
pub(crate) struct DateCache {
    second: Cell<u64>,
    rendered: Cell<[u8; DATE_BYTES]>,
}

impl DateCache {
    pub(crate) fn new() -> Self {
        let cache = DateCache {
            second: Cell::new(u64::MAX),
            rendered: Cell::new([b' '; DATE_BYTES]),
        };
        cache.now();
        cache
    }

    /// The current second's date, re-rendered only if the second has changed.
    pub(crate) fn now(&self) -> [u8; DATE_BYTES] {
        let now = SystemTime::now();
        let second = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        if second != self.second.get() {
            self.second.set(second);
            self.rendered.set(render(now));
        }
        self.rendered.get()
    }
}

fn render(time: SystemTime) -> [u8; DATE_BYTES] {
    let mut out = [b' '; DATE_BYTES];
    let mut cursor = &mut out[..];
    // `HttpDate` always renders exactly DATE_BYTES bytes for dates after 1970.
    let _ = write!(cursor, "{}", httpdate::HttpDate::from(time));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn renders_imf_fixdate() {
        let time = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(&render(time), b"Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn cached_value_is_a_valid_current_date() {
        let cache = DateCache::new();
        let text = cache.now();
        let parsed = httpdate::parse_http_date(std::str::from_utf8(&text).unwrap()).unwrap();
        let age = SystemTime::now().duration_since(parsed).unwrap();
        assert!(age < Duration::from_secs(5));
    }
}
