//! A client that leaves while its handler is still running: the handler's future is dropped at
//! once — on the accepting shard, and on the serving shard for a forwarded call — and nothing
//! is written back. Clients that stay (a slow handler, a pipelining client) still get every
//! answer, in order. Each test runs over a real loopback socket; the server's side is observed
//! through counters its handlers update.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use ringserve::{Application, Cores, Deployment, Request, Response, Serve, ServerHandle};

/// Longer than any test runs: a handler that waits this long is only ever ended by a drop.
const FOREVER_MS: u64 = 10_000;

/// How long a dropped handler may take to be noticed (the watch itself is immediate).
const DROP_NOTICED_WITHIN: Duration = Duration::from_secs(2);

// ---------------------------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------------------------

/// What the test thread sees of the handlers a server ran: how many waits started, how many
/// ended by their future being dropped, and how many finished. Shared by every replica.
#[derive(Clone, Default)]
struct Probes {
    started: Arc<AtomicUsize>,
    dropped: Arc<AtomicUsize>,
    finished: Arc<AtomicUsize>,
}

impl Probes {
    fn started(&self) -> usize {
        self.started.load(Ordering::SeqCst)
    }

    fn dropped(&self) -> usize {
        self.dropped.load(Ordering::SeqCst)
    }

    fn finished(&self) -> usize {
        self.finished.load(Ordering::SeqCst)
    }

    /// Waits until one handler future has been dropped, failing after [`DROP_NOTICED_WITHIN`].
    fn wait_one_dropped(&self, what: &str) {
        wait_until(what, DROP_NOTICED_WITHIN, || self.dropped() == 1);
    }
}

/// Counts a drop of the future holding it, unless the wait finished first.
struct DropCounter {
    dropped: Arc<AtomicUsize>,
    finished: bool,
}

impl Drop for DropCounter {
    fn drop(&mut self) {
        if !self.finished {
            self.dropped.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// `/where` answers the shard it runs on; any other path waits `?<ms>` milliseconds (forever
/// without a query) and answers its path.
struct Waiter {
    probes: Probes,
}

impl Deployment for Waiter {
    async fn call(&self, mut request: Request) -> Response {
        if request.path() == "/where" || request.path() == "/local" {
            return Response::text(current_shard());
        }
        if request.path() == "/upload" {
            // The whole body first (it may still be arriving), then the wait.
            let _ = request.body().await;
        }
        let wait_ms = request
            .query()
            .and_then(|query| query.parse().ok())
            .unwrap_or(FOREVER_MS);
        let mut counter = DropCounter {
            dropped: self.probes.dropped.clone(),
            finished: false,
        };
        self.probes.started.fetch_add(1, Ordering::SeqCst);
        ringserve::rt::sleep(Duration::from_millis(wait_ms)).await;
        counter.finished = true;
        self.probes.finished.fetch_add(1, Ordering::SeqCst);
        Response::text(request.path().to_owned())
    }
}

fn waiter(probes: &Probes) -> Application {
    let probes = probes.clone();
    Application::new(move || Waiter {
        probes: probes.clone(),
    })
}

/// One shard, one replica.
fn one_shard(probes: &Probes) -> ServerHandle {
    start(
        Serve::new()
            .options(short_grace_options())
            .app(waiter(probes)),
    )
}

/// Two shards: `model` has its one replica on shard 0 and serves `/`; `local` has a replica
/// on each shard and serves `/local`, answering the shard that accepted the connection.
fn two_shards(probes: &Probes) -> ServerHandle {
    start(
        Serve::new()
            .options(short_grace_options().cores(Cores::Count(2)))
            .app(waiter(probes).name("model").num_replicas(1))
            .app(
                waiter(&Probes::default())
                    .name("local")
                    .route_prefix("/local"),
            ),
    )
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn get_request(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n")
}

/// Sends a request for a handler that waits forever and returns once it is running.
fn start_waiting(addr: SocketAddr, probes: &Probes) -> TcpStream {
    let before = probes.started();
    let mut client = connect(addr);
    client
        .write_all(get_request("/wait").as_bytes())
        .expect("send");
    wait_until("the handler to start", Duration::from_secs(5), || {
        probes.started() > before
    });
    // Well inside the wait.
    std::thread::sleep(Duration::from_millis(100));
    client
}

/// `GET path` on `client`; the body of the answer.
fn get_on_body(client: &mut TcpStream, path: &str) -> String {
    client.write_all(get_request(path).as_bytes()).unwrap();
    read_response(client, false).body_text()
}

/// A connection accepted by a shard without `model`'s replica, so `model`'s requests on it are
/// forwarded. The kernel spreads connections over the shards by their ports: a few tries find
/// one.
fn connect_to_the_other_shard(addr: SocketAddr) -> TcpStream {
    const TRIES_MAX: usize = 200;
    for _ in 0..TRIES_MAX {
        let mut client = connect(addr);
        let accepted_on = get_on_body(&mut client, "/local");
        let served_on = get_on_body(&mut client, "/where");
        if accepted_on != served_on {
            return client;
        }
    }
    panic!("no connection out of {TRIES_MAX} was accepted on the shard without the replica");
}

// ---------------------------------------------------------------------------------------------
// A client that leaves
// ---------------------------------------------------------------------------------------------

#[test]
fn a_client_that_closes_while_its_handler_waits_drops_the_handler() {
    let probes = Probes::default();
    let server = one_shard(&probes);
    let client = start_waiting(server.local_addr(), &probes);
    assert_eq!(probes.dropped(), 0);
    drop(client);
    probes.wait_one_dropped("the handler's future to be dropped");
    assert_eq!(probes.finished(), 0);
    server.shutdown();
}

/// A FIN after the request counts as leaving, as in nginx: the handler is dropped and the
/// connection ends without an answer.
#[test]
fn a_client_that_half_closes_while_its_handler_waits_drops_the_handler_unanswered() {
    let probes = Probes::default();
    let server = one_shard(&probes);
    let mut client = start_waiting(server.local_addr(), &probes);
    client.shutdown(std::net::Shutdown::Write).unwrap();
    probes.wait_one_dropped("the handler's future to be dropped");
    assert_eq!(read_to_close(&mut client), "");
    server.shutdown();
}

#[test]
fn a_client_that_closes_while_a_forwarded_handler_waits_drops_it_on_the_serving_shard() {
    let probes = Probes::default();
    let server = two_shards(&probes);
    let mut client = connect_to_the_other_shard(server.local_addr());
    client.write_all(get_request("/wait").as_bytes()).unwrap();
    wait_until(
        "the forwarded handler to start",
        Duration::from_secs(5),
        || probes.started() == 1,
    );
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(probes.dropped(), 0);
    drop(client);
    probes.wait_one_dropped("the serving shard's handler future to be dropped");
    assert_eq!(probes.finished(), 0);
    server.shutdown();
}

// ---------------------------------------------------------------------------------------------
// Clients that stay
// ---------------------------------------------------------------------------------------------

#[test]
fn a_pipelined_request_behind_a_slow_one_is_answered_after_it() {
    let probes = Probes::default();
    let server = one_shard(&probes);
    let mut client = connect(server.local_addr());
    let started = Instant::now();
    let both = get_request("/first?200") + &get_request("/second?0");
    client.write_all(both.as_bytes()).unwrap();
    assert_eq!(read_response(&mut client, false).body_text(), "/first");
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(read_response(&mut client, false).body_text(), "/second");
    assert_eq!((probes.finished(), probes.dropped()), (2, 0));
    server.shutdown();
}

/// A body that arrived after its head is read by the handler, which then waits: the client
/// leaving is still noticed once the body is in.
#[test]
fn a_client_that_closes_after_its_body_was_read_drops_the_waiting_handler() {
    let probes = Probes::default();
    let server = one_shard(&probes);
    let mut client = connect(server.local_addr());
    client
        .write_all(b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nfirst")
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    client.write_all(b"-rest").unwrap();
    wait_until("the handler read the body", DROP_NOTICED_WITHIN, || {
        probes.started() == 1
    });
    drop(client);
    wait_until("the handler was dropped", DROP_NOTICED_WITHIN, || {
        probes.dropped() == 1
    });
    server.shutdown();
}

/// A client that sends its requests and then its FIN (`nc -N`) has not left before its
/// answers: the requests already read are answered, in order.
#[test]
fn pipelined_requests_followed_by_a_half_close_are_all_answered() {
    let probes = Probes::default();
    let server = one_shard(&probes);
    let mut client = connect(server.local_addr());
    let both = get_request("/first?200") + &get_request("/second?0");
    client.write_all(both.as_bytes()).unwrap();
    client.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(read_response(&mut client, false).body_text(), "/first");
    assert_eq!(read_response(&mut client, false).body_text(), "/second");
    assert_eq!((probes.finished(), probes.dropped()), (2, 0));
    server.shutdown();
}

/// The watch sees the second request's bytes on the socket: it stops watching, and leaves them
/// there for the loop to read after the first answer.
#[test]
fn a_request_sent_while_the_one_before_waits_is_answered_after_it() {
    let probes = Probes::default();
    let server = one_shard(&probes);
    let mut client = connect(server.local_addr());
    client
        .write_all(get_request("/first?200").as_bytes())
        .unwrap();
    wait_until("the first handler to start", Duration::from_secs(5), || {
        probes.started() == 1
    });
    client
        .write_all(get_request("/second?0").as_bytes())
        .unwrap();
    assert_eq!(read_response(&mut client, false).body_text(), "/first");
    assert_eq!(read_response(&mut client, false).body_text(), "/second");
    assert_eq!((probes.finished(), probes.dropped()), (2, 0));
    server.shutdown();
}

#[test]
fn a_slow_handler_answers_a_client_that_waits_and_the_connection_stays_open() {
    let probes = Probes::default();
    let server = one_shard(&probes);
    let mut client = connect(server.local_addr());
    let started = Instant::now();
    client
        .write_all(get_request("/slow?200").as_bytes())
        .unwrap();
    let response = read_response(&mut client, false);
    assert_eq!(response.status(), 200);
    assert_eq!(response.body_text(), "/slow");
    assert!(started.elapsed() >= Duration::from_millis(200));
    client
        .write_all(get_request("/again?0").as_bytes())
        .unwrap();
    assert_eq!(read_response(&mut client, false).body_text(), "/again");
    assert_eq!((probes.finished(), probes.dropped()), (2, 0));
    server.shutdown();
}
