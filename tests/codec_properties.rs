//! Property tests for the codec: no input makes it panic, and what it accepts is consistent.
//!
//! Random bytes, random mutations of valid requests (byte flips, insertions, deletions,
//! truncations) and random splits are fed to the head parser and the chunked decoder. Each
//! property runs a bounded number of cases, so the suite's time stays fixed.

use bytes::BytesMut;
use proptest::prelude::*;
use ringserve::Limits;
use ringserve::http1::body::{BodyFraming, ChunkedDecoder};
use ringserve::http1::parse::parse_head;

/// Valid requests the mutations start from.
const SEEDS: &[&[u8]] = &[
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /api/v1/items?id=5&x=%20 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\nUser-Agent: t\r\n\r\n",
    b"POST /items HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello",
    b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: v\r\n\r\n",
    b"GET http://h:1/p HTTP/1.0\r\nConnection: keep-alive\r\nx-request-id: abc\r\nx-request-timeout-seconds: 1.5\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
];

#[derive(Clone, Debug)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Flip(at, byte)),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert(at, byte)),
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(seed: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for mutation in mutations {
        let len = bytes.len().max(1);
        match *mutation {
            Mutation::Flip(at, byte) if !bytes.is_empty() => bytes[at % len] = byte,
            Mutation::Insert(at, byte) => bytes.insert(at % (bytes.len() + 1), byte),
            Mutation::Delete(at) if !bytes.is_empty() => {
                bytes.remove(at % len);
            }
            Mutation::Truncate(at) => bytes.truncate(at % (bytes.len() + 1)),
            _ => {}
        }
    }
    bytes
}

/// Parses `bytes` and checks what any accepted head must satisfy.
fn check_head(bytes: &[u8], limits: &Limits) {
    if let Ok(Some(head)) = parse_head(bytes, limits) {
        assert!(head.head_len <= bytes.len());
        assert!(head.head_len <= limits.head_bytes_max);
        let within = |range: std::ops::Range<usize>| range.end <= head.head_len;
        assert!(within(head.path.range()));
        assert!(head.query.is_none_or(|query| within(query.range())));
        for field in &head.headers {
            assert!(within(field.name.range()) && within(field.value.range()));
        }
        assert!(head.headers.len() <= limits.headers_count_max);
        if let BodyFraming::Length(length) = head.framing {
            assert!(length > 0 && length <= limits.body_bytes_max as u64);
        }
    }
}

/// Decodes `bytes` as a chunked body fed in pieces cut at `cuts`.
fn check_chunked(bytes: &[u8], cuts: &[usize]) {
    let mut decoder = ChunkedDecoder::new(1024);
    let mut out = BytesMut::new();
    let mut pending = BytesMut::new();
    let mut start = 0;
    let mut ends: Vec<usize> = cuts.iter().map(|cut| cut % (bytes.len() + 1)).collect();
    ends.sort_unstable();
    ends.push(bytes.len());
    for end in ends {
        if end < start {
            continue;
        }
        pending.extend_from_slice(&bytes[start..end]);
        start = end;
        match decoder.decode(&pending, &mut out) {
            Ok(progress) => {
                assert!(progress.consumed <= pending.len());
                let _ = pending.split_to(progress.consumed);
                if progress.done {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    assert!(out.len() <= 1024);
}

fn small_limits() -> Limits {
    Limits {
        head_bytes_max: 256,
        uri_bytes_max: 64,
        headers_count_max: 4,
        body_bytes_max: 16,
        ..Limits::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3_000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        check_head(&bytes, &Limits::default());
        check_head(&bytes, &small_limits());
        check_chunked(&bytes, &[bytes.len() / 2]);
    }

    #[test]
    fn mutated_requests_never_panic(
        seed in 0..SEEDS.len(),
        mutations in proptest::collection::vec(mutation(), 1..6),
    ) {
        let bytes = mutate(SEEDS[seed], &mutations);
        check_head(&bytes, &Limits::default());
        check_head(&bytes, &small_limits());
        if let Some(start) = bytes.windows(4).position(|window| window == b"\r\n\r\n") {
            check_chunked(&bytes[start + 4..], &[1, 7]);
        }
    }

    #[test]
    fn valid_requests_are_incomplete_until_their_last_head_byte(seed in 0..SEEDS.len()) {
        let bytes = SEEDS[seed];
        let head_len = parse_head(bytes, &Limits::default()).unwrap().unwrap().head_len;
        for end in 0..head_len {
            prop_assert!(parse_head(&bytes[..end], &Limits::default()).unwrap().is_none());
        }
    }

    #[test]
    fn chunked_bodies_decode_whatever_the_split(
        data in proptest::collection::vec(any::<u8>(), 0..300),
        chunk_sizes in proptest::collection::vec(1usize..40, 1..10),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut encoded = Vec::new();
        let mut rest = &data[..];
        for size in chunk_sizes.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (chunk, tail) = rest.split_at((*size).min(rest.len()));
            encoded.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            encoded.extend_from_slice(chunk);
            encoded.extend_from_slice(b"\r\n");
            rest = tail;
        }
        encoded.extend_from_slice(b"0\r\n\r\n");
        let mut decoder = ChunkedDecoder::new(1024);
        let mut out = BytesMut::new();
        let mut pending = BytesMut::new();
        let mut ends: Vec<usize> = cuts.iter().map(|cut| cut % (encoded.len() + 1)).collect();
        ends.sort_unstable();
        ends.push(encoded.len());
        let mut start = 0;
        let mut done = false;
        for end in ends {
            pending.extend_from_slice(&encoded[start..end]);
            start = end;
            let progress = decoder.decode(&pending, &mut out).unwrap();
            let _ = pending.split_to(progress.consumed);
            done = progress.done;
        }
        prop_assert!(done);
        prop_assert_eq!(&out[..], &data[..]);
    }
}
