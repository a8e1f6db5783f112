//! What may be done to a response, and the headers that say what was done: whether it is
//! compressible at all (its status, its `Content-Type`, an existing `Content-Encoding`,
//! `Cache-Control: no-transform`), whether a whole body is long enough to be worth it, and the
//! `Vary`, `Content-Encoding`, `Content-Length` and `ETag` changes that go with the choice.
//!
//! Invariants: a response that already has a `Content-Encoding` is never touched, so nothing is
//! encoded twice; every response found eligible leaves with `Vary: Accept-Encoding` (or a
//! `Vary` that already covers it), whether or not it is compressed this time; an encoded
//! response never keeps its identity `Content-Length` nor a strong `ETag`.

use http::{HeaderValue, StatusCode, header};

use super::negotiation::Coding;
use crate::Response;
use crate::http1::encode::status_has_body;

/// `application/` subtypes worth compressing, beyond every `+json` and `+xml` one.
const COMPRESSIBLE_APPLICATION_SUBTYPES: [&str; 6] = [
    "json",
    "javascript",
    "xml",
    "x-ndjson",
    "wasm",
    "ecmascript",
];

const VARY_ACCEPT_ENCODING: HeaderValue = HeaderValue::from_static("Accept-Encoding");

/// What may be done to a response.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Eligibility {
    /// Nothing: no content, already encoded, `no-transform`, or a type not worth compressing.
    Untouched,
    /// A 304, which validates a response that may have been compressed.
    NotModified,
    /// Compressible; the answer depends on `Accept-Encoding`.
    Eligible,
}

pub(super) fn eligibility(response: &Response) -> Eligibility {
    if response.header(&header::CONTENT_ENCODING).is_some() || forbids_transform(response) {
        return Eligibility::Untouched;
    }
    let status = response.status();
    let compressible = response
        .header(&header::CONTENT_TYPE)
        .is_some_and(|content_type| is_compressible(content_type.as_bytes()));
    // A 304's fields are copied into the cached response it validates (RFC 9111 §4.3.4): it
    // is touched only when it says it stands for a compressible type, so a video's strong
    // ETag is never weakened on its way through a cache.
    if status == StatusCode::NOT_MODIFIED {
        return if compressible {
            Eligibility::NotModified
        } else {
            Eligibility::Untouched
        };
    }
    // A 205 is sent with `content-length: 0` whatever its body; a 206's ranges count identity
    // bytes, so encoding its part would make them lie.
    let without_content = !status_has_body(status)
        || status == StatusCode::RESET_CONTENT
        || status == StatusCode::PARTIAL_CONTENT;
    if without_content || !compressible {
        return Eligibility::Untouched;
    }
    Eligibility::Eligible
}

/// Whether a media type (`type/subtype; parameters`) is text-like enough to compress.
fn is_compressible(content_type: &[u8]) -> bool {
    let essence = content_type
        .split(|&byte| byte == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    let mut parts = essence.splitn(2, |&byte| byte == b'/');
    let (Some(kind), Some(subtype)) = (parts.next(), parts.next()) else {
        return false;
    };
    // A structured suffix needs a subtype before it: `+json` alone is not one.
    let ends_with = |suffix: &[u8]| {
        subtype.len() > suffix.len()
            && subtype
                .get(subtype.len() - suffix.len()..)
                .is_some_and(|tail| tail.eq_ignore_ascii_case(suffix))
    };
    kind.eq_ignore_ascii_case(b"text")
        || ends_with(b"+json")
        || ends_with(b"+xml")
        || (kind.eq_ignore_ascii_case(b"application")
            && COMPRESSIBLE_APPLICATION_SUBTYPES
                .iter()
                .any(|known| known.as_bytes().eq_ignore_ascii_case(subtype)))
}

/// Whether a comma-separated header of the response holds `token` (case-insensitive).
fn has_token(response: &Response, name: &header::HeaderName, token: &[u8]) -> bool {
    response
        .headers()
        .filter(|(candidate, _)| *candidate == name)
        .flat_map(|(_, value)| value.as_bytes().split(|&byte| byte == b','))
        .any(|element| element.trim_ascii().eq_ignore_ascii_case(token))
}

/// `Cache-Control: no-transform` (RFC 9111 §5.2.2.6): the sender wants the bytes as they are.
fn forbids_transform(response: &Response) -> bool {
    has_token(response, &header::CACHE_CONTROL, b"no-transform")
}

/// Adds `Vary: Accept-Encoding` as a field line of its own, unless the response already varies
/// on it or on everything.
pub(super) fn add_vary(response: Response) -> Response {
    if varies_on_accept_encoding(&response) {
        return response;
    }
    response.with_header(header::VARY, VARY_ACCEPT_ENCODING)
}

/// Whether the response's `Vary` already covers `Accept-Encoding` (by name or as `*`).
pub(super) fn varies_on_accept_encoding(response: &Response) -> bool {
    has_token(response, &header::VARY, b"accept-encoding")
        || has_token(response, &header::VARY, b"*")
}

/// The headers of a response whose body is about to be encoded in `coding`.
pub(super) fn mark_encoded(mut response: Response, coding: Coding) -> Response {
    debug_assert!(
        response.header(&header::CONTENT_ENCODING).is_none(),
        "an encoded response would be encoded twice"
    );
    // The engine frames the body itself and ignores a handler's length; this one would be the
    // identity length, so it goes rather than mislead a reader of the response.
    response.remove_header(&header::CONTENT_LENGTH);
    let mut response = weaken_etag(response);
    response.set_header(header::CONTENT_ENCODING, coding.header_value());
    response
}

/// A strong `ETag` made weak (`"x"` → `W/"x"`); a weak one is kept.
pub(super) fn weaken_etag(mut response: Response) -> Response {
    let Some(etag) = response.header(&header::ETAG) else {
        return response;
    };
    if etag.as_bytes().starts_with(b"W/") {
        return response;
    }
    let weak = [b"W/", etag.as_bytes()].concat();
    match HeaderValue::from_bytes(&weak) {
        Ok(weak) => {
            response.set_header(header::ETAG, weak);
            response
        }
        // Unreachable: `W/` and a valid value make a valid value. Without a tag the client
        // cannot revalidate, which is safe; a strong tag on changed bytes is not.
        Err(_) => {
            response.remove_header(&header::ETAG);
            response
        }
    }
}

/// Whether a whole body of `body_bytes` is long enough to compress: an empty body never is,
/// nor one shorter than the configured `min_bytes`.
pub(super) fn worth_compressing(body_bytes: usize, min_bytes: usize) -> bool {
    body_bytes != 0 && body_bytes >= min_bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressible_types() {
        for content_type in [
            "text/plain; charset=utf-8",
            "text/html",
            "TEXT/CSS",
            "text/event-stream",
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/javascript",
            "application/xml",
            "application/problem+json",
            "application/atom+xml",
            "image/svg+xml",
            "application/x-ndjson",
        ] {
            assert!(is_compressible(content_type.as_bytes()), "{content_type}");
        }
        for content_type in [
            "image/png",
            "image/jpeg",
            "video/mp4",
            "application/zip",
            "application/gzip",
            "application/octet-stream",
            "application/vnd.foo+zip",
            "application/+json",
            "textual/plain",
            "text",
            "",
        ] {
            assert!(!is_compressible(content_type.as_bytes()), "{content_type}");
        }
    }
}
