//! Model composition over loopback on two shards: an ingress deployment on every shard calls
//! other deployments of its application through `DeploymentHandle`s — in a pipeline, as an
//! ensemble, for a stream — and the calls go through the same routing (one replica, reached
//! from both shards), caps, panic handling and cancellation as HTTP traffic.

mod common;

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ringserve::middleware::{Middleware, Next};
use ringserve::rt::stream::{self, StreamExt};
use ringserve::{
    Application, Cores, Deployment, DeploymentHandle, HeaderName, HeaderValue, Method, Request,
    Response, Serve, ServerHandle, StatusCode,
};

// Each counter is read by one test only.
static RENDEZVOUS: AtomicUsize = AtomicUsize::new(0);
static SLOW_STARTED: AtomicUsize = AtomicUsize::new(0);
static SLOW_DROPPED: AtomicUsize = AtomicUsize::new(0);

struct CountsDrop;

impl Drop for CountsDrop {
    fn drop(&mut self) {
        SLOW_DROPPED.fetch_add(1, Ordering::SeqCst);
    }
}

/// A model with one replica: answers by path, always naming its shard.
struct Model {
    name: &'static str,
}

impl Deployment for Model {
    async fn call(&self, mut request: Request) -> Response {
        let shard = common::current_shard();
        match request.path() {
            // Waits (up to 3 s) until the other model of the ensemble has been called too:
            // answers `together` only if both calls were in flight at once.
            "/rendezvous" => {
                RENDEZVOUS.fetch_add(1, Ordering::SeqCst);
                let deadline = Instant::now() + Duration::from_secs(3);
                while RENDEZVOUS.load(Ordering::SeqCst) < 2 && Instant::now() < deadline {
                    ringserve::rt::sleep(Duration::from_millis(5)).await;
                }
                let met = RENDEZVOUS.load(Ordering::SeqCst) >= 2;
                Response::text(format!(
                    "{}:{}",
                    self.name,
                    if met { "together" } else { "alone" }
                ))
            }
            "/stream" => Response::stream(stream::iter(0..3).then(move |i| {
                let shard = shard.clone();
                async move {
                    ringserve::rt::sleep(Duration::from_millis(10)).await;
                    Ok::<_, Infallible>(format!("{shard} part {i}\n"))
                }
            })),
            "/slow" => {
                SLOW_STARTED.fetch_add(1, Ordering::SeqCst);
                let _counted = CountsDrop;
                ringserve::rt::sleep(Duration::from_secs(30)).await;
                Response::text("too late")
            }
            "/capped" => {
                ringserve::rt::sleep(Duration::from_millis(300)).await;
                Response::text("served")
            }
            "/panic" => panic!("the model panicked"),
            "/headers" => Response::text(format!(
                "{} user={} extensions={}",
                self.name,
                request.header_str("x-user").unwrap_or("-"),
                request.extensions().get::<u32>().is_some(),
            )),
            _ => {
                let body = request.body().await.unwrap_or_default();
                Response::text(format!(
                    "{}@{shard}({})",
                    self.name,
                    String::from_utf8_lossy(&body)
                ))
            }
        }
    }
}

/// The ingress: on every shard, calling the models by handle.
struct Front {
    first: DeploymentHandle,
    second: DeploymentHandle,
    capped: DeploymentHandle,
    unbound: DeploymentHandle,
}

fn call_with(target: &str, body: &str) -> Request {
    Request::builder(Method::POST, target)
        .body(body.to_owned())
        .expect("a valid request")
}

async fn text_of(response: Response) -> String {
    String::from_utf8_lossy(&response.into_bytes(1 << 20).await.expect("a whole body")).into_owned()
}

impl Deployment for Front {
    async fn call(&self, request: Request) -> Response {
        let front = common::current_shard();
        match request.path() {
            // A → B → C, each answer fed to the next.
            "/pipeline" => {
                let b = text_of(self.first.call(call_with("/", "x")).await).await;
                let c = text_of(self.second.call(call_with("/", &b)).await).await;
                Response::text(format!("front@{front} -> {c}"))
            }
            // A → (B, C) at once.
            "/ensemble" => {
                let (b, c) = ringserve::rt::future::zip(
                    self.first.call(call_with("/rendezvous", "")),
                    self.second.call(call_with("/rendezvous", "")),
                )
                .await;
                Response::text(format!("{} {}", text_of(b).await, text_of(c).await))
            }
            // The model's own response, stream and all.
            "/stream" => self.first.call(call_with("/stream", "")).await,
            "/slow" => self.first.call(call_with("/slow", "")).await,
            "/capped" => self.capped.call(call_with("/capped", "")).await,
            "/panic" => self.first.call(call_with("/panic", "")).await,
            // This very request, as the front's middleware left it.
            "/headers" => {
                let mut passed = request;
                passed.extensions_mut().insert(7u32);
                self.first.call(passed).await
            }
            "/unbound" => self.unbound.call(call_with("/", "")).await,
            _ => Response::text("front: no such route").with_status(StatusCode::NOT_FOUND),
        }
    }
}

impl Front {
    /// A front whose every handle is `handle`: for configurations refused before start.
    fn calling_only(handle: &DeploymentHandle) -> Self {
        Front {
            first: handle.clone(),
            second: handle.clone(),
            capped: handle.clone(),
            unbound: handle.clone(),
        }
    }
}

/// Sets `x-user` for the front's handler, as an authentication layer would.
#[derive(Clone)]
struct SetsUser;

impl Middleware for SetsUser {
    async fn call(&self, mut request: Request, next: Next<'_>) -> Response {
        request.set_header(
            HeaderName::from_static("x-user"),
            HeaderValue::from_static("alice"),
        );
        next.run(request).await
    }
}

fn composed(options: ringserve::HttpOptions) -> ServerHandle {
    let first = Application::new(|| Model { name: "b" })
        .name("b")
        .route_prefix("/b")
        .num_replicas(1);
    let second = Application::new(|| Model { name: "c" })
        .name("c")
        .num_replicas(1);
    let capped = Application::new(|| Model { name: "capped" })
        .name("capped")
        .num_replicas(1)
        .max_ongoing_requests(1)
        .max_queued_requests(0);
    let unbound = Application::new(|| Model { name: "nowhere" }).name("nowhere");
    let handles = (
        first.handle(),
        second.handle(),
        capped.handle(),
        unbound.handle(),
    );
    let front = Application::new(move || Front {
        first: handles.0.clone(),
        second: handles.1.clone(),
        capped: handles.2.clone(),
        unbound: handles.3.clone(),
    })
    .name("front")
    .layer(SetsUser)
    // c binds b too: one deployment, bound twice.
    .deployment(first.clone())
    .deployment(second.deployment(first))
    .deployment(capped);
    common::start(
        Serve::new()
            .options(options.cores(Cores::Count(2)))
            .app(front),
    )
}

/// `count` requests, each on a new connection, so that both shards accept some.
fn spread(addr: SocketAddr, count: usize, path: &str) -> Vec<String> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    common::spread(addr, count, &request)
}

#[test]
fn a_pipeline_reaches_single_replicas_from_every_shard() {
    let server = composed(common::test_options());
    let mut fronts = BTreeSet::new();
    let mut models = BTreeSet::new();
    for response in spread(server.local_addr(), 40, "/pipeline") {
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        // front@<shard> -> c@<shard>(b@<shard>(x))
        let (front, rest) = common::body_of(&response).split_once(" -> ").unwrap();
        fronts.insert(front.to_owned());
        let (c, b) = rest.split_once("(b@").unwrap();
        models.insert((c.to_owned(), b.trim_end_matches("(x))").to_owned()));
    }
    assert_eq!(
        fronts.into_iter().collect::<Vec<_>>(),
        ["front@ringserve-shard-0", "front@ringserve-shard-1"],
        "connections land on both shards"
    );
    assert_eq!(
        models.len(),
        1,
        "one replica each, whichever shard called: {models:?}"
    );
    server.shutdown();
}

#[test]
fn an_ensemble_calls_its_models_concurrently() {
    let server = composed(common::test_options());
    RENDEZVOUS.store(0, Ordering::SeqCst);
    let response = common::get(server.local_addr(), "/ensemble");
    assert_eq!(response.status(), 200);
    assert_eq!(response.body_text(), "b:together c:together");
    server.shutdown();
}

#[test]
fn a_called_deployments_stream_comes_back_through_the_caller() {
    let server = composed(common::test_options());
    let mut sources = BTreeSet::new();
    for response in spread(server.local_addr(), 20, "/stream") {
        assert!(
            response.contains("transfer-encoding: chunked"),
            "{response}"
        );
        let text = common::body_of(&response);
        let shard = text
            .split(' ')
            .next()
            .unwrap()
            .split('\n')
            .next_back()
            .unwrap();
        let expected: String = (0..3)
            .map(|i| {
                let line = format!("{shard} part {i}\n");
                format!("{:x}\r\n{line}\r\n", line.len())
            })
            .chain(std::iter::once("0\r\n\r\n".to_owned()))
            .collect();
        assert_eq!(text, expected);
        sources.insert(shard.to_owned());
    }
    assert_eq!(sources.len(), 1, "{sources:?}");
    server.shutdown();
}

#[test]
fn inner_calls_share_caps_and_panics_answer_500() {
    let server = composed(common::test_options());
    let addr = server.local_addr();
    // One turn, no queue: of two concurrent calls, one is refused at once, naming the model.
    let callers: Vec<_> = (0..2)
        .map(|_| std::thread::spawn(move || common::get(addr, "/capped")))
        .collect();
    let mut outcomes: Vec<(u16, String)> = callers
        .into_iter()
        .map(|caller| {
            let response = caller.join().unwrap();
            (response.status(), response.body_text())
        })
        .collect();
    outcomes.sort();
    assert_eq!(outcomes[0], (200, "served".to_owned()));
    assert_eq!(outcomes[1].0, 503);
    assert!(outcomes[1].1.contains("\"capped\""), "{}", outcomes[1].1);
    // A panicking model answers 500 to its caller, and keeps serving.
    for _ in 0..4 {
        let response = common::get(addr, "/panic");
        assert_eq!(response.status(), 500);
    }
    let response = common::get(addr, "/pipeline");
    assert_eq!(response.status(), 200);
    server.shutdown();
}

#[test]
fn headers_set_by_middleware_travel_with_a_passed_on_request_but_extensions_do_not() {
    let server = composed(common::test_options());
    for response in spread(server.local_addr(), 20, "/headers") {
        assert_eq!(
            common::body_of(&response),
            "b user=alice extensions=false",
            "{response}"
        );
    }
    server.shutdown();
}

#[test]
fn bound_deployments_are_not_routed_and_unbound_ones_are_unreachable() {
    let server = composed(common::test_options());
    let addr = server.local_addr();
    let routes = common::get(addr, "/-/routes");
    assert_eq!(routes.body_text(), r#"{"/":"front"}"#);
    // `b` has route prefix /b, but is only bound: /b goes to the front.
    let response = common::get(addr, "/b");
    assert_eq!(response.status(), 404);
    assert_eq!(response.body_text(), "front: no such route");
    let response = common::get(addr, "/unbound");
    assert_eq!(response.status(), 503);
    assert_eq!(
        response.body_text(),
        "Deployment \"nowhere\" is not reachable: no application of this server binds it."
    );
    server.shutdown();
    // Outside any server, a handle answers 503 too, saying why.
    let handle = Application::new(|| Model { name: "x" }).name("x").handle();
    let response = ringserve::rt::block_on(handle.call(call_with("/", "")));
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let text = ringserve::rt::block_on(text_of(response));
    assert_eq!(
        text,
        "Deployment \"x\" is not reachable: it was called outside a running server's shard."
    );
}

#[test]
fn a_deployment_name_used_twice_is_refused_before_start() {
    let inner = Application::new(|| Model { name: "front" }).name("front");
    let handle = inner.handle();
    let front = Application::new(move || Front::calling_only(&handle))
        .name("front")
        .deployment(inner);
    let error = common::start_error(Serve::new().options(common::test_options()).app(front));
    assert!(
        error.to_string().contains("\"front\" is used twice"),
        "{error}"
    );
}

#[test]
fn clones_of_one_application_under_two_names_are_refused_before_start() {
    // A handle names a deployment by its `Application`: two clones would be served as one.
    let model = Application::new(|| Model { name: "m" });
    let first = model.clone().name("first");
    let second = model.name("second").num_replicas(1);
    let handle = first.handle();
    let front = Application::new(move || Front::calling_only(&handle))
        .name("front")
        .deployment(first)
        .deployment(second);
    let error = common::start_error(Serve::new().options(common::test_options()).app(front));
    assert!(
        error
            .to_string()
            .contains("\"first\" and \"second\" are clones of one Application"),
        "{error}"
    );
}

/// Waits until `counter` minus `before` reaches `expected`, for up to 3 s.
fn wait_for(counter: &AtomicUsize, before: usize, expected: usize) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while counter.load(Ordering::SeqCst) - before < expected {
        assert!(
            Instant::now() < deadline,
            "counted {} of {expected}",
            counter.load(Ordering::SeqCst) - before
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn inner_calls_are_dropped_when_the_outer_request_is_cancelled() {
    // By the outer request's timeout: 408, and every inner call dropped, wherever it ran.
    let server = composed(common::test_options().request_timeout(Duration::from_millis(200)));
    let started = SLOW_STARTED.load(Ordering::SeqCst);
    let dropped = SLOW_DROPPED.load(Ordering::SeqCst);
    for response in spread(server.local_addr(), 8, "/slow") {
        assert!(
            response.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
            "{response}"
        );
    }
    wait_for(&SLOW_STARTED, started, 8);
    wait_for(&SLOW_DROPPED, dropped, 8);
    server.shutdown();

    // By the client leaving: no timeout at all, the client closes once the call is running.
    let server = composed(common::test_options());
    let started = SLOW_STARTED.load(Ordering::SeqCst);
    let dropped = SLOW_DROPPED.load(Ordering::SeqCst);
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let mut client = common::connect(server.local_addr());
            client
                .write_all(b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
                .unwrap();
            client
        })
        .collect();
    wait_for(&SLOW_STARTED, started, 8);
    drop(clients);
    wait_for(&SLOW_DROPPED, dropped, 8);
    server.shutdown();
}
