//! How many heap allocations a shard makes per keep-alive `GET` answered with a static body,
//! over a real loopback socket.
//!
//! A counting global allocator counts only on threads marked as shard threads (the replica
//! factory marks its thread when the shard builds it), so the test client's own allocations
//! do not count. The engine's own count is asserted exactly by the unit test
//! `shard::allocation_tests` (an in-memory transport, so nothing depends on timing). Here the
//! reactor's share is counted too: on the io_uring data path (the default) a wait for the
//! socket allocates nothing either, so a request costs none; on glommio's streams
//! (`RINGSERVE_IO=glommio`) its reactor allocates each time a read has to wait (an I/O source
//! record, a preemption timer's), so requests are sent in pipelined batches and that path's
//! bound is looser.

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
fn keep_alive_get_with_static_body_allocates_nothing_per_request() {
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
    if std::env::var("RINGSERVE_IO").as_deref() == Ok("glommio") {
        // The handler's future is pooled; what is left is glommio's reactor, per wait.
        assert!(
            per_request < 0.5,
            "expected under 0.5 allocations per request, measured {per_request:.3}"
        );
    } else {
        // Nothing per request and nothing per wait (a timer turn once allocated a node, before
        // vendored glommio's patch 8). What is left comes with time, not requests: glommio
        // arms its preemption timer afresh each time it fires (a source record, a
        // cancellation), a few times in a run this long.
        assert!(
            per_request < 0.001,
            "expected no allocation per request, measured {per_request:.4} ({allocations})"
        );
    }
}
