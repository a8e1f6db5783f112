//! The fuzzing properties of ringserve's parsers, one module per target: each `check` takes any
//! bytes and panics when the property fails. AFL++ runs them through the binaries in
//! `fuzz/src/bin/`; the suite runs the same code (`tests/fuzz.rs` includes this folder) on the
//! seed corpus and on deterministic mutations of it, so a property is written once.
//!
//! Every target checks, besides its own property, that nothing panics and that no call
//! allocates more than an allowance linear in its input ([`allocated_by`]); the allowance is
//! checked by [`CountingAllocator`], which the binary or test must install as its global
//! allocator ([`assert_allocations_are_counted`] refuses to run without it).

pub mod chunked;
pub mod head;
pub mod json;
pub mod params;
pub mod prefix;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// A property: panics when `data` breaks it.
pub type Property = fn(data: &[u8]);

/// The targets by name, as `fuzz/src/bin/` and `fuzz/seeds/` name them.
pub const TARGETS: [(&str, Property); 5] = [
    ("head", head::check),
    ("chunked", chunked::check),
    ("prefix", prefix::check),
    ("params", params::check),
    ("json", json::check),
];

/// Inputs longer than this are cut to it: the properties are about structure, and a longer
/// input only makes each run slower (AFL++'s own default cap is 1 MB).
pub const INPUT_BYTES_MAX: usize = 4096;

/// The system allocator, counting the bytes each thread asks for.
pub struct CountingAllocator;

thread_local! {
    /// Bytes allocated (and grown by `realloc`) on this thread so far.
    static ALLOCATED_BYTES: Cell<u64> = const { Cell::new(0) };
    static COUNTING_CHECKED: Cell<bool> = const { Cell::new(false) };
}

fn count(bytes: usize) {
    let _ = ALLOCATED_BYTES.try_with(|total| total.set(total.get() + bytes as u64));
}

// SAFETY: every call is forwarded to the system allocator unchanged; counting only reads the
// layout and touches a const-initialised thread-local, which never allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Runs `f` and returns its result with the bytes it allocated on this thread.
pub fn allocated_by<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let before = ALLOCATED_BYTES.with(Cell::get);
    let result = f();
    let after = ALLOCATED_BYTES.with(Cell::get);
    (result, after - before)
}

/// Panics unless [`CountingAllocator`] is this program's global allocator: without it every
/// allowance would hold trivially.
pub fn assert_allocations_are_counted() {
    if COUNTING_CHECKED.with(Cell::get) {
        return;
    }
    let ((), bytes) = allocated_by(|| {
        std::hint::black_box(vec![0u8; 64]);
    });
    assert!(
        bytes >= 64,
        "install properties::CountingAllocator as the #[global_allocator]"
    );
    COUNTING_CHECKED.with(|checked| checked.set(true));
}

/// The input a property looks at: at most [`INPUT_BYTES_MAX`] bytes.
pub fn bounded(data: &[u8]) -> &[u8] {
    assert_allocations_are_counted();
    &data[..data.len().min(INPUT_BYTES_MAX)]
}

/// A small deterministic generator (xorshift64*), seeded from the input itself so that a
/// crash found by AFL++ replays exactly.
pub struct Random(u64);

impl Random {
    /// Seeded with an FNV-1a hash of `data`.
    pub fn from_input(data: &[u8]) -> Self {
        let hash = data.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, &byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        });
        Random(hash | 1)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `bound` (which must not be 0).
    pub fn below(&mut self, bound: usize) -> usize {
        (self.next_u64() % bound as u64) as usize
    }
}

/// Ways to cut `data` into reads, each as the ends of its reads (the last is `data.len()`): one
/// read, one byte per read, reads of random sizes (seeded from `data`), and two reads split at
/// every offset of a short input, or at sixteen random offsets of a longer one (every offset
/// would make a run quadratic in the input's length: AFL++ then explores little).
pub fn cuts(data: &[u8]) -> Vec<Vec<usize>> {
    let len = data.len();
    let mut random = Random::from_input(data);
    let mut patterns = vec![vec![len], (1..=len).collect()];
    for _ in 0..4 {
        let mut ends = Vec::new();
        let mut end = 0;
        while end < len {
            end = (end + 1 + random.below(24)).min(len);
            ends.push(end);
        }
        patterns.push(ends);
    }
    let splits: Vec<usize> = if len <= 64 {
        (1..len).collect()
    } else {
        (0..16).map(|_| 1 + random.below(len - 1)).collect()
    };
    patterns.extend(splits.into_iter().map(|split| vec![split, len]));
    patterns
}

/// Answers a raw HTTP/1.1 request with `ingress`, as a shard would once the request is read:
/// `None` when the head parser refuses the bytes (the `head` target's business). The request's
/// body is all there, so the answer must come without waiting.
pub fn answer<S: 'static>(
    ingress: &ringserve::ingress::Ingress<S>,
    raw: Vec<u8>,
) -> Option<ringserve::Response> {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};

    let request = ringserve::Request::from_http1(raw).ok()?;
    let mut call = std::pin::pin!(ringserve::Deployment::call(ingress, request));
    match call.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(response) => Some(response),
        Poll::Pending => panic!("the ingress waited on a request that was all there"),
    }
}

/// Bytes one request through an ingress may allocate: the request, the routing, the handler's
/// answer and a validation error that quotes (a bounded part of) the input.
pub fn ingress_allowance(input_len: usize) -> u64 {
    (64 * 1024 + 32 * input_len) as u64
}

/// Checks a FastAPI-style refusal: 404 is `{"detail":"Not Found"}`; 422 is a non-empty
/// `detail` list whose items each have a `type`, a `msg` and a `loc` starting with one of
/// `allowed_locations`.
pub fn assert_fastapi_refusal(response: &ringserve::Response, allowed_locations: &[&str]) {
    let body = response
        .body_bytes()
        .expect("a refusal has a plain body")
        .clone();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_else(|error| {
        panic!(
            "a {} body is not JSON ({error}): {:?}",
            response.status(),
            String::from_utf8_lossy(&body)
        )
    });
    match response.status().as_u16() {
        404 => assert_eq!(json, serde_json::json!({"detail": "Not Found"})),
        422 => {
            let details = json["detail"].as_array().expect("422 has a detail list");
            assert!(!details.is_empty(), "422 with no detail");
            for detail in details {
                assert!(detail["type"].is_string(), "no type in {detail}");
                assert!(detail["msg"].is_string(), "no msg in {detail}");
                let location = detail["loc"][0].as_str().unwrap_or_default();
                assert!(
                    allowed_locations.contains(&location),
                    "loc {location:?} in {detail}"
                );
            }
        }
        status => panic!("{status} is no FastAPI refusal"),
    }
}
