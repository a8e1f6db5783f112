//! The fuzz targets' properties (fuzz/src/properties/, one copy shared with the AFL++ binaries)
//! run in the suite without AFL++: every seed of fuzz/seeds/<target>/ is checked, then
//! deterministic mutations of the seeds (bit flips, byte edits, HTTP tokens inserted, ranges
//! cut, repeated or spliced from another seed) for a few seconds per target, so a change that
//! breaks a property fails `cargo test` and not only a long fuzzing run.
//!
//! `RINGSERVE_FUZZ_SECONDS` sets the seconds per target (default 4). A failing input is
//! printed and written to `target/fuzz-failures/`, ready to become a seed.

mod common;
#[path = "../fuzz/src/properties/mod.rs"]
mod properties;

use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{Hello, connect, read_response, start_app};
use properties::{CountingAllocator, Random};
use ringserve::Application;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Seconds each target's mutations run when `RINGSERVE_FUZZ_SECONDS` is not set.
const SECONDS_PER_TARGET_DEFAULT: u64 = 4;

/// Bytes a fuzzer inserts more often than chance would: the delimiters and words the parsers
/// branch on.
const TOKENS: &[&[u8]] = &[
    b"\r\n",
    b"\r",
    b"\n",
    b"\r\n\r\n",
    b" ",
    b"\t",
    b":",
    b";",
    b",",
    b"/",
    b"?",
    b"&",
    b"=",
    b"%",
    b"%2F",
    b"+",
    b"0",
    b"1",
    b"f",
    b"ffffffffffffffff",
    b"-",
    b".",
    b"\"",
    b"{",
    b"}",
    b"[",
    b"]",
    b"\\u0000",
    b"null",
    b"HTTP/1.1",
    b"HTTP/1.9",
    b"HTTP/2.0",
    b"Host: a",
    b"Content-Length: 5",
    b"Transfer-Encoding: chunked",
    b"Expect: 100-continue",
    b"x-token: t",
    b"\x00",
    b"\x7f",
    b"\xff",
    b"\xc3\xa9",
];

fn seconds_per_target() -> Duration {
    let seconds = std::env::var("RINGSERVE_FUZZ_SECONDS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(SECONDS_PER_TARGET_DEFAULT);
    Duration::from_secs(seconds)
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&folder)
        .unwrap_or_else(|error| panic!("{}: {error}", folder.display()))
        .map(|entry| entry.expect("a seed").path())
        .collect();
    paths.sort();
    let seeds: Vec<Vec<u8>> = paths
        .iter()
        .map(|path| std::fs::read(path).expect("a readable seed"))
        .collect();
    assert!(seeds.len() >= 5, "{target} has only {} seeds", seeds.len());
    seeds
}

/// One to four random edits of `input`.
fn mutate(input: &mut Vec<u8>, seeds: &[Vec<u8>], random: &mut Random) {
    for _ in 0..1 + random.below(4) {
        let len = input.len();
        match random.below(8) {
            0 if len > 0 => {
                let at = random.below(len);
                input[at] ^= 1 << random.below(8);
            }
            1 if len > 0 => {
                let at = random.below(len);
                input[at] = random.next_u64() as u8;
            }
            2 | 3 => {
                let token = TOKENS[random.below(TOKENS.len())];
                let at = random.below(len + 1);
                input.splice(at..at, token.iter().copied());
            }
            4 if len > 0 => {
                let start = random.below(len);
                let end = (start + 1 + random.below(8)).min(len);
                input.drain(start..end);
            }
            5 if len > 0 => {
                let start = random.below(len);
                let end = (start + 1 + random.below(16)).min(len);
                let copy = input[start..end].to_vec();
                let at = random.below(len + 1);
                input.splice(at..at, copy);
            }
            6 => {
                let other = &seeds[random.below(seeds.len())];
                let start = random.below(other.len() + 1);
                let end = (start + random.below(32)).min(other.len());
                let at = random.below(len + 1);
                input.splice(at..at, other[start..end].iter().copied());
            }
            _ => input.truncate(random.below(len + 1)),
        }
    }
}

/// Checks `input`, and on failure saves it and fails with it.
fn check_one(target: &str, check: fn(&[u8]), input: &[u8]) {
    if let Err(panic) = catch_unwind(AssertUnwindSafe(|| check(input))) {
        let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-failures");
        let _ = std::fs::create_dir_all(&folder);
        let path = folder.join(format!(
            "{target}-{:016x}",
            Random::from_input(input).next_u64()
        ));
        let _ = std::fs::write(&path, input);
        let message = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("(no message)");
        panic!(
            "target {target} failed on {:?} (saved as {}): {message}",
            String::from_utf8_lossy(input),
            path.display()
        );
    }
}

fn fuzz(target: &str) {
    let check = properties::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .expect("a known target")
        .1;
    let seeds = seeds(target);
    for seed in &seeds {
        check_one(target, check, seed);
    }
    let mut random = Random::from_input(target.as_bytes());
    let deadline = Instant::now() + seconds_per_target();
    let mut runs = 0u64;
    while Instant::now() < deadline {
        let mut input = seeds[random.below(seeds.len())].clone();
        mutate(&mut input, &seeds, &mut random);
        check_one(target, check, &input);
        runs += 1;
    }
    eprintln!("fuzz {target}: {} seeds, {runs} mutations", seeds.len());
    assert!(runs > 0, "no mutation ran for {target}");
}

#[test]
fn head_answers_the_same_for_any_cut() {
    fuzz("head");
}

#[test]
fn chunked_decodes_the_same_for_any_cut() {
    fuzz("chunked");
}

#[test]
fn prefix_trie_agrees_with_a_naive_search() {
    fuzz("prefix");
}

#[test]
fn params_answer_200_or_a_fastapi_refusal() {
    fuzz("params");
}

#[test]
fn json_is_accepted_exactly_when_serde_json_accepts_it() {
    fuzz("json");
}

/// Found by the `head` target: a bare CR then a byte other than LF, at the end of a head, got
/// 400 when it came in one read but waited for the header read timeout (408, 10 s by default)
/// when the read ended between the CR and the next byte. Now it is 400 at once for any cut.
#[test]
fn a_bare_cr_in_an_unfinished_line_is_refused_at_once_wherever_reads_are_cut() {
    let server = start_app(Application::new(|| Hello));
    let addr = server.local_addr();
    let bytes = b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n\r\xff";
    for split in [bytes.len(), bytes.len() - 1, bytes.len() - 4] {
        let mut stream = connect(addr);
        let started = Instant::now();
        stream.write_all(&bytes[..split]).unwrap();
        std::thread::sleep(Duration::from_millis(150));
        stream.write_all(&bytes[split..]).unwrap();
        let response = read_response(&mut stream, false);
        let elapsed = started.elapsed();
        assert_eq!(
            response.status_line, "HTTP/1.1 400 Bad Request",
            "split at {split}"
        );
        assert!(
            elapsed < Duration::from_secs(5),
            "400 only after {elapsed:?} (split at {split})"
        );
    }
    server.shutdown();
}
