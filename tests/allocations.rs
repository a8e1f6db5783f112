//! How many heap allocations a shard makes per keep-alive `GET` answered with a static body,
//! over a real loopback socket.
//!
//! A counting global allocator counts only on threads marked as shard threads (the replica
//! factory marks its thread when the shard builds it), so the test client's own allocations
//! do not count. The engine's own count is asserted exactly by the unit test
//! `shard::allocation_tests` (an in-memory transport, so nothing depends on timing); here the
//! glommio reactor adds its allocations each time a read has to wait for the socket (an
//! operation record and a one-byte peek buffer), so the bound is looser: requests are sent in
//! pipelined batches and the total must stay under 1.5 per request.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};

use ringserve::{Application, Deployment, Request, Response};

struct CountingAllocator;

static SHARD_ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static IS_SHARD: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: forwards every call to the system allocator unchanged; counting has no effect on it.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if IS_SHARD.with(Cell::get) {
            SHARD_ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if IS_SHARD.with(Cell::get) {
            SHARD_ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

struct StaticHello;

impl Deployment for StaticHello {
    async fn call(&self, _request: Request) -> Response {
        Response::text("hello")
    }
}

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: bench\r\nUser-Agent: test\r\nAccept: */*\r\n\r\n";

/// Requests written at once, like a pipelining client or a load generator.
const BATCH: usize = 32;

/// Sends `batches` batches of pipelined requests on `stream`, reading all responses of each.
fn round_trips(stream: &mut std::net::TcpStream, batches: usize, response_len: usize) {
    let batch = REQUEST.repeat(BATCH);
    let mut responses = vec![0u8; response_len * BATCH];
    for _ in 0..batches {
        stream.write_all(&batch).unwrap();
        stream.read_exact(&mut responses).unwrap();
        assert!(responses.ends_with(b"hello"));
    }
}

#[test]
fn keep_alive_get_with_static_body_allocates_about_once_per_request() {
    let server = common::start_app(Application::new(|| {
        IS_SHARD.with(|flag| flag.set(true));
        StaticHello
    }));
    let mut stream = common::connect(server.local_addr());
    let first = common::request(server.local_addr(), REQUEST);
    let response_len = first.raw.len();

    // Warm up: buffers reach their working size, the date is rendered, timers are created.
    round_trips(&mut stream, 100, response_len);
    let before = SHARD_ALLOCATIONS.load(Ordering::Relaxed);
    let batches = 500;
    round_trips(&mut stream, batches, response_len);
    let allocations = SHARD_ALLOCATIONS.load(Ordering::Relaxed) - before;
    let requests = (batches * BATCH) as f64;
    let per_request = allocations as f64 / requests;
    println!("{allocations} allocations for {requests} requests: {per_request:.3} per request");
    // One is the boxed handler future (`Replica::call_boxed`); the rest are glommio's, per wait.
    assert!(
        (1.0..1.5).contains(&per_request),
        "expected 1 to 1.5 allocations per request, measured {per_request:.3}"
    );
}
