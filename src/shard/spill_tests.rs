//! Spill-over over loopback: an application with two replicas on three shards, one turn each.
//! While one replica is held busy, a request for it — wherever the kernel accepted it, on the
//! busy replica's shard included — is served by the other replica at once instead of queuing.
//! Three shards need more cores than the development machine has, so the test names a core
//! twice, which only the crate itself can do.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::options::allowed_cores;
use crate::{Application, Deployment, HttpOptions, Request, Response, Serve};

static HOLDING: AtomicUsize = AtomicUsize::new(0);
static RELEASE: AtomicBool = AtomicBool::new(false);

fn shard_name() -> String {
    let name = std::thread::current().name().unwrap_or("?").to_owned();
    // `ringserve-shard-<index>-<executor id>`: keep the shard's part.
    name.rsplit_once('-')
        .map_or(name.clone(), |(shard, _)| shard.to_owned())
}

/// `/hold` waits (up to 5 s) for the test's release; anything else answers at once. Both
/// answer with the shard they ran on.
struct Where;

impl Deployment for Where {
    async fn call(&self, request: Request) -> Response {
        if request.path() == "/hold" {
            HOLDING.fetch_add(1, Ordering::SeqCst);
            let deadline = Instant::now() + Duration::from_secs(5);
            while !RELEASE.load(Ordering::SeqCst) && Instant::now() < deadline {
                glommio::timer::sleep(Duration::from_millis(2)).await;
            }
        }
        Response::text(shard_name())
    }
}

fn send(addr: SocketAddr, path: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    stream
}

fn body_of(mut stream: TcpStream) -> String {
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("a whole response");
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    response.split_once("\r\n\r\n").unwrap().1.to_owned()
}

#[test]
fn a_busy_replica_spills_over_to_an_idle_one() {
    let mut options = HttpOptions::new()
        .host("127.0.0.1")
        .port(0)
        .resolve(|_| None, &allowed_cores())
        .expect("options resolve");
    let core = options.cores[0];
    options.cores = vec![core; 3];
    let app = Application::new(|| Where)
        .num_replicas(2)
        .max_ongoing_requests(1);
    let server = Serve::new()
        .app(app)
        .start_resolved(options)
        .expect("server starts");
    let addr = server.local_addr();
    // The kernel spreads connections over the three shards: in 30 rounds the second request
    // lands on the busy replica's own shard many times (all but certainly).
    for round in 0..30 {
        RELEASE.store(false, Ordering::SeqCst);
        let holding = HOLDING.load(Ordering::SeqCst);
        let held = send(addr, "/hold");
        while HOLDING.load(Ordering::SeqCst) == holding {
            std::thread::sleep(Duration::from_millis(1));
        }
        // Without spill-over, a request accepted on the held replica's shard would wait for
        // it, which waits for this answer: the read would time out.
        let quick = body_of(send(addr, "/"));
        RELEASE.store(true, Ordering::SeqCst);
        let holder = body_of(held);
        assert_ne!(quick, holder, "round {round}: both served by one replica");
    }
    server.shutdown();
}
