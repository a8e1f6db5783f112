//! Target `chunked`: the chunked body decoder gives the same data, the same end and the same
//! error for any cut of the same bytes into reads, and keeps its own promises on every call:
//! it never consumes past the body's end, consumes a partial input whole, counts exactly the
//! data it wrote, and never decodes more than its body limit. Each input is decoded under a
//! small body limit and under an unlimited one. No call may allocate more than [`allowance`].

use bytes::BytesMut;
use ringserve::ParseError;
use ringserve::http1::body::ChunkedDecoder;

use super::{allocated_by, bounded, cuts};

/// A body limit a fuzzer's inputs cross.
const SMALL_BODY_BYTES_MAX: usize = 48;

/// Bytes one decode call may allocate: the output buffer grows to at most twice what it holds.
fn allowance(out_len: usize) -> u64 {
    (2 * out_len + 1024) as u64
}

/// How a body ended.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    data: Vec<u8>,
    /// The body's length on the wire when it ended, or the refusal.
    end: Result<Option<usize>, ParseError>,
}

/// Checks the property on `data`.
pub fn check(data: &[u8]) {
    let data = bounded(data);
    for body_bytes_max in [SMALL_BODY_BYTES_MAX, usize::MAX] {
        let patterns = cuts(data);
        let one_read = decode(data, &patterns[0], body_bytes_max);
        for ends in &patterns[1..] {
            assert_eq!(
                decode(data, ends, body_bytes_max),
                one_read,
                "reads ending at {ends:?} disagree with one read of {:?}",
                String::from_utf8_lossy(data)
            );
        }
    }
}

/// Feeds `data` to a fresh decoder in reads that end at `ends`, as the body pump does.
fn decode(data: &[u8], ends: &[usize], body_bytes_max: usize) -> Outcome {
    let mut decoder = ChunkedDecoder::new(body_bytes_max);
    let mut out = BytesMut::new();
    let mut start = 0;
    for &end in ends {
        let piece = &data[start..end];
        let (progress, bytes) = allocated_by(|| decoder.decode(piece, &mut out));
        assert!(
            bytes <= allowance(out.len()),
            "decoding {} bytes into {} allocated {bytes}",
            piece.len(),
            out.len()
        );
        assert_eq!(
            decoder.body_len(),
            out.len() as u64,
            "body_len counts the data"
        );
        assert!(out.len() <= body_bytes_max, "decoded past the body limit");
        match progress {
            Err(error) => {
                return Outcome {
                    data: out.to_vec(),
                    end: Err(error),
                };
            }
            Ok(progress) if progress.done => {
                assert!(progress.consumed <= piece.len(), "consumed past the input");
                return Outcome {
                    data: out.to_vec(),
                    end: Ok(Some(start + progress.consumed)),
                };
            }
            Ok(progress) => {
                assert_eq!(
                    progress.consumed,
                    piece.len(),
                    "partial input consumed whole"
                );
            }
        }
        start = end;
    }
    Outcome {
        data: out.to_vec(),
        end: Ok(None),
    }
}
