//! Target `head`: the resumable head parser gives the same answer for any cut of the same bytes
//! into reads, as the connection loop calls it (the whole buffer after each read, `scanned`
//! carried between calls).
//!
//! The answer is the first call's that is not "need more": a head (compared field by field,
//! spans included) or a refusal; or "incomplete" when the bytes end first. Each input is parsed
//! under the default limits and under small ones, so that the limit checks on partial heads
//! are reached too. No call may allocate more than [`allowance`].

use ringserve::Limits;
use ringserve::http1::parse::parse_head_resumable;

use super::{allocated_by, bounded, cuts};

/// Bytes one parse may allocate for a buffer of `len` bytes: a head with a higher HTTP/1.x
/// minor version is parsed from one copy (at most the head limit plus one byte), and header
/// spans past the sixteen kept inline spill into one growing vector.
fn allowance(len: usize) -> u64 {
    (4 * len + 4096) as u64
}

/// Limits small enough for a fuzzer's inputs to cross them.
fn small_limits() -> Limits {
    Limits {
        head_bytes_max: 200,
        uri_bytes_max: 40,
        headers_count_max: 6,
        body_bytes_max: 1000,
        ..Limits::default()
    }
}

/// Checks the property on `data`.
pub fn check(data: &[u8]) {
    let data = bounded(data);
    for limits in [Limits::default(), small_limits()] {
        let patterns = cuts(data);
        let one_read = answer(data, &patterns[0], &limits);
        for ends in &patterns[1..] {
            let answer = answer(data, ends, &limits);
            assert_eq!(
                answer,
                one_read,
                "reads ending at {ends:?} disagree with one read of {:?} (head limit {})",
                String::from_utf8_lossy(data),
                limits.head_bytes_max
            );
        }
    }
}

/// What the connection loop would do with `data` arriving in reads that end at `ends`.
fn answer(data: &[u8], ends: &[usize], limits: &Limits) -> String {
    let mut scanned = 0;
    for &end in ends {
        let buf = &data[..end];
        let (parsed, bytes) = allocated_by(|| parse_head_resumable(buf, &mut scanned, limits));
        assert!(
            bytes <= allowance(buf.len()),
            "parsing {} bytes allocated {bytes}",
            buf.len()
        );
        assert!(scanned <= buf.len(), "scanned past the buffer");
        match parsed {
            Ok(None) => {
                assert!(
                    buf.len() <= limits.head_bytes_max,
                    "a partial head past the head limit was not refused"
                );
            }
            Ok(Some(head)) => {
                assert!(head.head_len <= buf.len(), "a head ends inside its buffer");
                assert!(head.head_len <= limits.head_bytes_max);
                for span in [head.path]
                    .into_iter()
                    .chain(head.query)
                    .chain(head.request_id)
                    .chain(head.headers.iter().flat_map(|h| [h.name, h.value]))
                {
                    assert!(span.range().end <= head.head_len, "a span outside the head");
                }
                return format!("{head:?}");
            }
            Err(error) => return format!("{error:?} ({})", error.status()),
        }
    }
    "incomplete".to_owned()
}
