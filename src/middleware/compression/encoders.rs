//! The encoders: gzip (flate2) and brotli, for a whole body in one go or a streamed body
//! chunk by chunk, and the [`CompressionLevel`] that sets how hard each works.
//!
//! Invariant: a streamed body is flushed after every chunk (gzip: a sync flush; brotli:
//! `BROTLI_OPERATION_FLUSH`) and the encoder's output is taken each time, so every chunk
//! reaches the client decodable on its own and nothing accumulates beyond the encoder's window
//! ([`BROTLI_WINDOW_LOG`] for brotli, which bounds an open stream's memory).

use std::io::{self, Write};

use bytes::Bytes;
use flate2::write::GzEncoder;

use super::negotiation::Coding;
use crate::limits::{BROTLI_BUFFER_BYTES, BROTLI_WINDOW_LOG};

/// How hard to compress. Measured once on 1 MiB of JSON-like records with a throwaway program
/// (release build, one core of the development machine; not a checked-in bench), window
/// [`BROTLI_WINDOW_LOG`]:
///
/// | level     | gzip level | brotli quality | gzip        | brotli              |
/// |-----------|------------|----------------|-------------|---------------------|
/// | `Fastest` | 1          | 1              | 238 KB, 3 ms  | 130 KB, 4 ms, 1.9 MiB  |
/// | `Default` | 6          | 5              | 160 KB, 32 ms | 65 KB, 15 ms, 4.7 MiB  |
/// | `Best`    | 9          | 7              | 158 KB, 66 ms | 62 KB, 21 ms, 12 MiB   |
///
/// (brotli's column ends with the encoder's peak memory; gzip's is ~0.7 MiB at every level.)
/// `Best` stops at brotli quality 7: from 8 on, the encoder takes 16–32 MiB even for a 2 KiB
/// body and ~1 ms per request for it, and quality 11 took 2 s per MiB — all of it on the
/// serving core, stalling every other connection on it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CompressionLevel {
    /// Least CPU, least saving.
    Fastest,
    /// The balance most servers use for responses made per request.
    #[default]
    Default,
    /// Smaller again, for more CPU and memory.
    Best,
}

impl CompressionLevel {
    fn gzip(self) -> flate2::Compression {
        match self {
            CompressionLevel::Fastest => flate2::Compression::new(1),
            CompressionLevel::Default => flate2::Compression::new(6),
            CompressionLevel::Best => flate2::Compression::new(9),
        }
    }

    fn brotli_quality(self) -> u32 {
        match self {
            CompressionLevel::Fastest => 1,
            CompressionLevel::Default => 5,
            CompressionLevel::Best => 7,
        }
    }
}

/// A whole body encoded in one go.
pub(super) fn encode_whole(
    coding: Coding,
    level: CompressionLevel,
    body: &[u8],
) -> io::Result<Bytes> {
    // JSON and HTML usually shrink 4–10 times; a quarter avoids most regrowth.
    let out = Vec::with_capacity(body.len() / 4);
    let encoded = match coding {
        Coding::Gzip => {
            let mut encoder = GzEncoder::new(out, level.gzip());
            encoder.write_all(body)?;
            encoder.finish()?
        }
        Coding::Brotli => {
            let params = brotli::enc::BrotliEncoderParams {
                quality: level.brotli_quality() as i32,
                lgwin: BROTLI_WINDOW_LOG as i32,
                // The size known up front lets brotli size its tables to the body.
                size_hint: body.len(),
                ..Default::default()
            };
            let mut encoder =
                brotli::CompressorWriter::with_params(out, BROTLI_BUFFER_BYTES, &params);
            encoder.write_all(body)?;
            encoder.into_inner()
        }
    };
    Ok(Bytes::from(encoded))
}

/// The encoder of one streamed body, its output taken after every chunk.
pub(super) enum StreamEncoder {
    Gzip(GzEncoder<Vec<u8>>),
    // Boxed: brotli's writer is 5.6 KB inline, gzip's 144 bytes.
    Brotli(Box<brotli::CompressorWriter<Vec<u8>>>),
}

impl StreamEncoder {
    pub(super) fn new(coding: Coding, level: CompressionLevel) -> Self {
        match coding {
            Coding::Gzip => StreamEncoder::Gzip(GzEncoder::new(Vec::new(), level.gzip())),
            Coding::Brotli => StreamEncoder::Brotli(Box::new(brotli::CompressorWriter::new(
                Vec::new(),
                BROTLI_BUFFER_BYTES,
                level.brotli_quality(),
                BROTLI_WINDOW_LOG,
            ))),
        }
    }

    /// What the encoder wrote since its output was last taken.
    fn output(&mut self) -> &mut Vec<u8> {
        match self {
            StreamEncoder::Gzip(encoder) => encoder.get_mut(),
            StreamEncoder::Brotli(encoder) => encoder.get_mut(),
        }
    }

    /// Encodes `chunk` and flushes: the bytes returned decode to all the input so far.
    pub(super) fn push(&mut self, chunk: &[u8]) -> io::Result<Bytes> {
        debug_assert!(
            self.output().is_empty(),
            "a streamed chunk's output was left in the encoder"
        );
        let out = match self {
            StreamEncoder::Gzip(encoder) => {
                encoder.write_all(chunk)?;
                // flate2's `flush` is a sync flush: byte-aligned, the stream left open.
                encoder.flush()?;
                encoder.get_mut()
            }
            StreamEncoder::Brotli(encoder) => {
                encoder.write_all(chunk)?;
                encoder.flush()?;
                encoder.get_mut()
            }
        };
        // The output is only ever appended to, so taking it leaves the encoder intact.
        Ok(Bytes::from(std::mem::take(out)))
    }

    /// Ends the stream: what the encoder still held, and the coding's trailer.
    pub(super) fn finish(self) -> io::Result<Bytes> {
        let rest = match self {
            StreamEncoder::Gzip(encoder) => encoder.finish()?,
            StreamEncoder::Brotli(encoder) => encoder.into_inner(),
        };
        Ok(Bytes::from(rest))
    }
}

/// Decoders and bodies for the tests of the encoders and of the middleware.
#[cfg(test)]
pub(super) mod testing {
    use std::io::Read;

    use super::Coding;

    pub(crate) fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .expect("valid gzip");
        out
    }

    pub(crate) fn unbrotli(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        brotli::Decompressor::new(bytes, 4096)
            .read_to_end(&mut out)
            .expect("valid brotli");
        out
    }

    pub(crate) fn decode(coding: Coding, bytes: &[u8]) -> Vec<u8> {
        match coding {
            Coding::Gzip => gunzip(bytes),
            Coding::Brotli => unbrotli(bytes),
        }
    }

    pub(crate) fn report(bytes: usize) -> String {
        let mut text = "status=ok items=[1,2,3] ".repeat(bytes / 24 + 1);
        text.truncate(bytes);
        text
    }

    /// What a decoder yields from an unfinished stream: reads until it wants more input.
    pub(crate) fn decode_prefix(coding: Coding, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        match coding {
            Coding::Gzip => {
                let mut decoder = flate2::read::GzDecoder::new(bytes);
                while let Ok(read @ 1..) = decoder.read(&mut buf) {
                    out.extend_from_slice(&buf[..read]);
                }
            }
            Coding::Brotli => {
                let mut decoder = brotli::Decompressor::new(bytes, 4096);
                while let Ok(read @ 1..) = decoder.read(&mut buf) {
                    out.extend_from_slice(&buf[..read]);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{decode, report};
    use super::*;

    #[test]
    fn whole_bodies_round_trip_at_every_level() {
        let body = report(10_000);
        for level in [
            CompressionLevel::Fastest,
            CompressionLevel::Default,
            CompressionLevel::Best,
        ] {
            for coding in [Coding::Gzip, Coding::Brotli] {
                let encoded = encode_whole(coding, level, body.as_bytes()).unwrap();
                assert!(encoded.len() < body.len() / 4, "{coding:?} {level:?}");
                assert_eq!(decode(coding, &encoded), body.as_bytes());
            }
        }
    }
}
