//! `ringserve::rt` inside a served handler, on one shard: a blocking closure runs off the
//! shard's thread while the shard serves other connections, its panic is the request's 500,
//! and timers, timeouts and local tasks run on the shard's own executor (on either data path).

mod common;

use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use ringserve::{Application, Deployment, Request, Response, rt};

/// `/wait` blocks a blocking thread until `/release` is served; `/panic` panics in one;
/// `/timers` uses a sleep, a timeout and a local task.
struct Blocking {
    released: Arc<Mutex<mpsc::Receiver<()>>>,
    release: mpsc::Sender<()>,
}

impl Deployment for Blocking {
    async fn call(&self, request: Request) -> Response {
        match request.route_path() {
            "/wait" => {
                let released = self.released.clone();
                let waited = rt::spawn_blocking(move || {
                    released
                        .lock()
                        .unwrap()
                        .recv_timeout(Duration::from_secs(10))
                        .is_ok()
                })
                .await;
                Response::text(if waited { "released" } else { "never released" })
            }
            "/release" => {
                self.release.send(()).unwrap();
                Response::text("sent")
            }
            "/panic" => {
                let value: u32 = rt::spawn_blocking(|| panic!("inference failed")).await;
                Response::text(value.to_string())
            }
            "/timers" => {
                rt::sleep(Duration::from_millis(5)).await;
                let expired = rt::timeout(Duration::from_millis(5), rt::sleep(Duration::MAX / 4))
                    .await
                    .is_err();
                let local = rt::spawn_local(async { 40 + 2 }).await;
                Response::text(format!("expired={expired} local={local}"))
            }
            _ => Response::text("?"),
        }
    }
}

fn blocking_app() -> Application {
    let (release, released) = mpsc::channel();
    let released = Arc::new(Mutex::new(released));
    Application::new(move || Blocking {
        released: released.clone(),
        release: release.clone(),
    })
}

#[test]
fn a_blocking_closure_runs_off_the_shard_while_it_serves_other_requests() {
    let server = common::start_app(blocking_app());
    let addr = server.local_addr();
    let waiting = std::thread::spawn(move || common::get(addr, "/wait").body_text());
    // The one shard answers /release while /wait's closure still blocks its thread: were the
    // closure on the shard, /release would never be read and /wait would time out.
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(common::get(addr, "/release").body_text(), "sent");
    assert_eq!(waiting.join().unwrap(), "released");
    server.shutdown();
}

#[test]
fn a_panicking_blocking_closure_is_the_requests_500_and_the_shard_goes_on() {
    let server = common::start_app(blocking_app());
    let response = common::get(server.local_addr(), "/panic");
    assert_eq!(response.status(), 500);
    assert_eq!(response.body_text(), "Internal Server Error");
    assert_eq!(
        common::get(server.local_addr(), "/timers").body_text(),
        "expired=true local=42"
    );
    server.shutdown();
}
