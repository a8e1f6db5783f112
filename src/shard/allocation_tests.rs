//! The engine's own heap allocations per request, counted exactly.
//!
//! The connection loop runs over an in-memory transport on a glommio executor, with a counting
//! global allocator that counts only while the loop runs. Two runs that differ only in their
//! number of requests give the cost of one request, with no dependence on timing. glommio's
//! reactor is never entered, so its own per-wait allocations (measured over loopback in
//! `tests/allocations.rs`) are not part of this number.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use glommio::{LocalExecutorBuilder, Placement};

use super::connection;
use super::transport::Transport;
use super::{Generation, ShardContext};
use crate::config::{Routes, ServerConfig};
use crate::limits::READ_CHUNK_BYTES;
use crate::options::HttpOptions;
use crate::prefix::PrefixTrie;
use crate::{Application, Deployment, Request, Response};

struct CountingAllocator;

thread_local! {
    /// Whether allocations on this thread are being counted.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    /// Allocations counted on this thread (per thread, so tests running in parallel do not
    /// add to each other's counts).
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count_one() {
    if COUNTING.with(Cell::get) {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
    }
}

// SAFETY: forwards every call to the system allocator unchanged; counting has no effect on it.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Hands out `input` at most `read_bytes_max` bytes per read, then end of stream.
struct MemoryTransport {
    input: Vec<u8>,
    position: usize,
    read_bytes_max: usize,
    written_bytes: Rc<Cell<usize>>,
}

impl Transport for MemoryTransport {
    async fn read(&mut self, mut buf: BytesMut) -> (io::Result<usize>, BytesMut) {
        if buf.capacity() - buf.len() < READ_CHUNK_BYTES {
            buf.reserve(READ_CHUNK_BYTES);
        }
        let room = buf.capacity() - buf.len();
        let count = room
            .min(self.read_bytes_max)
            .min(self.input.len() - self.position);
        buf.extend_from_slice(&self.input[self.position..self.position + count]);
        self.position += count;
        (Ok(count), buf)
    }

    async fn write_all(
        &mut self,
        buf: BytesMut,
        _stall_timeout: Duration,
        _deadline: Option<Instant>,
    ) -> (io::Result<()>, BytesMut) {
        self.written_bytes.set(self.written_bytes.get() + buf.len());
        (Ok(()), buf)
    }

    async fn peer_activity(&mut self) -> io::Result<bool> {
        std::future::pending().await
    }

    async fn shutdown_write(&mut self) {}

    fn raw_fd(&self) -> RawFd {
        -1
    }
}

struct StaticHello;

impl Deployment for StaticHello {
    async fn call(&self, _request: Request) -> Response {
        Response::text("hello")
    }
}

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: bench\r\nUser-Agent: test\r\nAccept: */*\r\n\r\n";

fn test_shard() -> ShardContext {
    let options = HttpOptions::new()
        .port(0)
        .resolve(|_| None, &[0])
        .expect("default options resolve");
    let config = ServerConfig {
        options,
        not_found_hint: String::new(),
        server_address: String::new(),
        pulses: crate::deploy::pulse::PulseBoard::new(1),
        draining: std::sync::atomic::AtomicBool::new(false),
        labels: Default::default(),
        metric_targets: Default::default(),
    };
    let routes = Routes {
        apps: vec![Application::new(|| StaticHello)],
        routed: 1,
        deployments: Default::default(),
        hosts: vec![vec![0]],
        layers: Default::default(),
        prefix_trie: PrefixTrie::build(&["/"]).expect("valid prefix"),
        routes_json: bytes::Bytes::from_static(b"{}"),
        health: Arc::new(crate::deploy::health::HealthBoard::new(vec![1])),
        loads: crate::deploy::load::loads(1, 1),
        label_base: 0,
        metric_slots: vec![1],
        retired_shards: Default::default(),
    };
    let generation = Generation::build(0, &config, Arc::new(routes), Default::default())
        .expect("replica builds");
    ShardContext::new(0, Arc::new(config), Rc::new(generation))
}

/// Allocations made while one connection serves `requests` requests, fed `read_bytes_max`
/// bytes per read; also returns the bytes written.
fn allocations_for(requests: usize, read_bytes_max: usize) -> (u64, usize) {
    LocalExecutorBuilder::new(Placement::Unbound)
        .spawn(move || async move {
            let shard = Rc::new(test_shard());
            let written_bytes = Rc::new(Cell::new(0));
            let transport = MemoryTransport {
                input: REQUEST.repeat(requests),
                position: 0,
                read_bytes_max,
                written_bytes: written_bytes.clone(),
            };
            let before = ALLOCATIONS.with(Cell::get);
            COUNTING.with(|flag| flag.set(true));
            let key = shard.register(-1);
            connection::serve(transport, shard, key).await;
            COUNTING.with(|flag| flag.set(false));
            (ALLOCATIONS.with(Cell::get) - before, written_bytes.get())
        })
        .expect("executor starts")
        .join()
        .expect("executor finishes")
}

fn allocations_per_request(read_bytes_max: usize) -> f64 {
    let (few, few_written) = allocations_for(1_000, read_bytes_max);
    let (many, many_written) = allocations_for(11_000, read_bytes_max);
    assert_eq!(many_written, few_written * 11, "every request was answered");
    (many - few) as f64 / 10_000.0
}

#[test]
fn no_allocation_per_request_one_request_per_read() {
    // The handler's future is boxed (`Replica::call_boxed`, so applications of different types
    // share one route table), and so is the connection's answer in progress, each in a block
    // the thread keeps for the next request (`pooled`).
    assert_eq!(allocations_per_request(REQUEST.len()), 0.0);
}

#[test]
fn no_allocation_per_request_when_pipelined() {
    assert_eq!(allocations_per_request(64 * 1024), 0.0);
}
