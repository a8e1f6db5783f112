//! Cross-core forwarding over loopback on two shards: an application with one replica (on
//! shard 0) serves requests accepted by every shard, whole and streamed, with its caps, and a
//! forwarded call whose request times out is cancelled on the replica's shard.

mod common;

use std::convert::Infallible;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ringserve::rt::stream::{self, StreamExt};
use ringserve::{Application, Cores, Deployment, Request, Response, Serve, ServerHandle};

/// Reports the shard it runs on; `/stream` streams three parts, `/echo` returns the body,
/// `/slow` sleeps `?ms` (counting its futures started and dropped).
struct WhereAmI;

// Counted only by `/slow` (the cancellation test) and `/capped` (the caps test): each test
// reads its own counters.
static STARTED: AtomicUsize = AtomicUsize::new(0);
static DROPPED: AtomicUsize = AtomicUsize::new(0);
static CAPPED_NOW: AtomicUsize = AtomicUsize::new(0);
static CAPPED_PEAK: AtomicUsize = AtomicUsize::new(0);

struct CountsDrop;

impl Drop for CountsDrop {
    fn drop(&mut self) {
        DROPPED.fetch_add(1, Ordering::SeqCst);
    }
}

impl Deployment for WhereAmI {
    async fn call(&self, mut request: Request) -> Response {
        match request.path() {
            "/stream" => {
                let name = common::current_shard();
                Response::stream(stream::iter(0..3).then(move |i| {
                    let name = name.clone();
                    async move {
                        ringserve::rt::sleep(Duration::from_millis(20)).await;
                        Ok::<_, Infallible>(format!("{name} part {i}\n"))
                    }
                }))
            }
            "/echo" => Response::text(request.body().await.unwrap_or_default()),
            "/capped" => {
                let now = CAPPED_NOW.fetch_add(1, Ordering::SeqCst) + 1;
                CAPPED_PEAK.fetch_max(now, Ordering::SeqCst);
                ringserve::rt::sleep(Duration::from_millis(300)).await;
                CAPPED_NOW.fetch_sub(1, Ordering::SeqCst);
                Response::text(common::current_shard())
            }
            "/panicking-stream" => Response::stream(
                stream::iter(0..1)
                    .map(|_| -> Result<&'static str, Infallible> { panic!("the stream panicked") }),
            ),
            "/flood" => Response::stream(
                stream::iter(0..2000)
                    .map(|_| Ok::<_, Infallible>(bytes::Bytes::from_static(&[b'x'; 1024]))),
            ),
            "/slow" => {
                STARTED.fetch_add(1, Ordering::SeqCst);
                let _counted = CountsDrop;
                let millis = request.query().and_then(|q| q.parse().ok()).unwrap_or(0);
                ringserve::rt::sleep(Duration::from_millis(millis)).await;
                Response::text(common::current_shard())
            }
            _ => Response::text(common::current_shard()),
        }
    }
}

fn two_shards(app: Application, options: ringserve::HttpOptions) -> ServerHandle {
    common::start(
        Serve::new()
            .options(options.cores(Cores::Count(2)))
            .app(app.name("model")),
    )
}

const GET: &str = "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";

#[test]
fn one_replica_on_shard_0_serves_requests_accepted_by_every_shard() {
    // With a replica on each shard, connections land on both: the kernel spreads them.
    let everywhere = two_shards(Application::new(|| WhereAmI), common::test_options());
    let names: std::collections::BTreeSet<String> =
        common::spread(everywhere.local_addr(), 40, GET)
            .iter()
            .map(|response| common::body_of(response).to_owned())
            .collect();
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["ringserve-shard-0", "ringserve-shard-1"]
    );
    everywhere.shutdown();
    // With one replica, every answer comes from shard 0, wherever it was accepted.
    let single = two_shards(
        Application::new(|| WhereAmI).num_replicas(1),
        common::test_options(),
    );
    for response in common::spread(single.local_addr(), 40, GET) {
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert_eq!(common::body_of(&response), "ringserve-shard-0");
    }
    // Request bodies cross too.
    for response in common::spread(
        single.local_addr(),
        20,
        "POST /echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello",
    ) {
        assert_eq!(common::body_of(&response), "hello");
    }
    single.shutdown();
}

#[test]
fn a_streamed_response_comes_back_chunk_by_chunk_from_the_other_shard() {
    let server = two_shards(
        Application::new(|| WhereAmI).num_replicas(1),
        common::test_options(),
    );
    let expected: String = (0..3)
        .map(|i| {
            let line = format!("ringserve-shard-0 part {i}\n");
            format!("{:x}\r\n{line}\r\n", line.len())
        })
        .chain(std::iter::once("0\r\n\r\n".to_owned()))
        .collect();
    for response in common::spread(
        server.local_addr(),
        20,
        "GET /stream HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    ) {
        assert!(
            response.contains("transfer-encoding: chunked"),
            "{response}"
        );
        assert_eq!(common::body_of(&response), expected);
    }
    server.shutdown();
}

#[test]
fn a_forwarded_call_whose_request_times_out_is_dropped_on_the_replicas_shard() {
    let server = two_shards(
        Application::new(|| WhereAmI).num_replicas(1),
        common::test_options().request_timeout(Duration::from_millis(200)),
    );
    let started_before = STARTED.load(Ordering::SeqCst);
    let dropped_before = DROPPED.load(Ordering::SeqCst);
    let connections: Vec<_> = (0..12)
        .map(|_| {
            let mut stream = common::connect(server.local_addr());
            stream
                .write_all(b"GET /slow?5000 HTTP/1.1\r\nHost: a\r\n\r\n")
                .unwrap();
            stream
        })
        .collect();
    for mut stream in connections {
        let mut head = [0u8; 29];
        stream.read_exact(&mut head).unwrap();
        assert_eq!(&head, b"HTTP/1.1 408 Request Timeout\r");
    }
    // Every handler future — local or forwarded — was dropped, long before its 5 s sleep.
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    loop {
        let started = STARTED.load(Ordering::SeqCst) - started_before;
        let dropped = DROPPED.load(Ordering::SeqCst) - dropped_before;
        if started == 12 && dropped == 12 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "started {started}, dropped {dropped}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    server.shutdown();
}

#[test]
fn the_single_replicas_caps_apply_to_forwarded_requests() {
    let server = two_shards(
        Application::new(|| WhereAmI)
            .num_replicas(1)
            .max_ongoing_requests(1)
            .max_queued_requests(0),
        common::test_options(),
    );
    let addr = server.local_addr();
    let threads: Vec<_> = (0..10)
        .map(|_| {
            std::thread::spawn(move || {
                common::exchange_until_close(
                    addr,
                    b"GET /capped HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                )
            })
        })
        .collect();
    let statuses: Vec<String> = threads
        .into_iter()
        .map(|thread| thread.join().unwrap()[..12].to_owned())
        .collect();
    let served = statuses.iter().filter(|s| *s == "HTTP/1.1 200").count();
    let refused = statuses.iter().filter(|s| *s == "HTTP/1.1 503").count();
    assert!(served >= 1, "{statuses:?}");
    // Never more than one at a time on the replica, forwarded calls included.
    assert_eq!(CAPPED_PEAK.load(Ordering::SeqCst), 1);
    assert!(refused >= 1, "{statuses:?}");
    assert_eq!(served + refused, 10, "{statuses:?}");
    server.shutdown();
}

#[test]
fn more_replicas_than_shards_is_refused_before_start() {
    let started = Serve::new()
        .options(common::test_options().cores(Cores::Count(2)))
        .app(Application::new(|| WhereAmI).name("model").num_replicas(3))
        .start();
    let Err(error) = started else {
        panic!("three replicas on two shards must not start");
    };
    assert_eq!(
        error.to_string(),
        "invalid configuration: application \"model\": num_replicas is 3, must be between 1 and the 2 shard(s)"
    );
}

#[test]
fn clients_that_leave_forwarded_streams_or_ask_for_their_head_do_not_stall_the_link() {
    let server = two_shards(
        Application::new(|| WhereAmI).num_replicas(1),
        common::test_options().request_timeout(Duration::from_secs(3)),
    );
    let addr = server.local_addr();
    // Clients that read the head of a 2 MiB stream and leave, and HEAD requests whose
    // stream is dropped unread: on the shards that forwarded them, the streams stop.
    for _ in 0..6 {
        let mut stream = common::connect(addr);
        stream
            .write_all(b"GET /flood HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        let mut head = [0u8; 64];
        let _ = stream.read(&mut head);
        drop(stream);
        let head = common::request(addr, b"HEAD /flood HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(head.status(), 200);
    }
    // Everything else still gets through, promptly, from every shard.
    let started = std::time::Instant::now();
    for response in common::spread(addr, 20, GET) {
        assert_eq!(
            common::body_of(&response),
            "ringserve-shard-0",
            "{response}"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    server.shutdown();
}

#[test]
fn a_forwarded_stream_that_panics_cuts_its_response_and_the_replicas_shard_survives() {
    let server = two_shards(
        Application::new(|| WhereAmI).num_replicas(1),
        common::test_options(),
    );
    let addr = server.local_addr();
    for response in common::spread(
        addr,
        10,
        "GET /panicking-stream HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    ) {
        // The head went out; the body ends without its last chunk.
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert!(!response.ends_with("0\r\n\r\n"), "{response}");
    }
    for response in common::spread(addr, 10, GET) {
        assert_eq!(
            common::body_of(&response),
            "ringserve-shard-0",
            "{response}"
        );
    }
    server.shutdown();
}

#[test]
fn single_replica_applications_spread_over_the_shards() {
    let server = common::start(
        Serve::new()
            .options(common::test_options().cores(Cores::Count(2)))
            .app(Application::new(|| WhereAmI).name("first").num_replicas(1))
            .app(
                Application::new(|| WhereAmI)
                    .name("second")
                    .route_prefix("/second")
                    .num_replicas(1),
            ),
    );
    for response in common::spread(server.local_addr(), 10, GET) {
        assert_eq!(
            common::body_of(&response),
            "ringserve-shard-0",
            "{response}"
        );
    }
    for response in common::spread(
        server.local_addr(),
        10,
        "GET /second HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    ) {
        assert_eq!(
            common::body_of(&response),
            "ringserve-shard-1",
            "{response}"
        );
    }
    server.shutdown();
}

#[test]
fn replicas_sit_on_the_cores_named_and_bad_cores_are_refused() {
    let on_cores = |app: Application| {
        Serve::new()
            .options(common::test_options().cores(Cores::List(vec![0, 1])))
            .app(app.name("model"))
    };
    let server = common::start(on_cores(Application::new(|| WhereAmI).replica_cores([1])));
    for response in common::spread(server.local_addr(), 10, GET) {
        assert_eq!(
            common::body_of(&response),
            "ringserve-shard-1",
            "{response}"
        );
    }
    server.shutdown();
    for (app, message) in [
        (
            Application::new(|| WhereAmI).replica_cores([7]),
            "replica core 7 is not one of the server's cores [0, 1]",
        ),
        (
            Application::new(|| WhereAmI).replica_cores([1, 1]),
            "replica core 1 is named twice",
        ),
        (
            Application::new(|| WhereAmI)
                .replica_cores([0])
                .num_replicas(2),
            "num_replicas and replica_cores (1 cores) disagree",
        ),
    ] {
        let Err(error) = on_cores(app).start() else {
            panic!("{message}: must not start");
        };
        assert_eq!(
            error.to_string(),
            format!("invalid configuration: application \"model\": {message}")
        );
    }
}
