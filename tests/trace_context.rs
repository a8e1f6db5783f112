//! W3C Trace Context over loopback on two shards: a request's `traceparent` reaches a
//! deployment it calls through a handle (in the request the handler builds, on the handler's
//! shard or across cores), and a request forwarded to another shard's replica; a request
//! without one, or with one the specification refuses, passes none on.

mod common;

use std::time::Duration;

use ringserve::{
    Application, Cores, Deployment, DeploymentHandle, Method, Request, Response, Serve,
};

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// Answers with the `traceparent` it got (or `none`) and the trace id `Request` reads.
struct Echo;

impl Deployment for Echo {
    async fn call(&self, request: Request) -> Response {
        let field = request
            .header_str("traceparent")
            .unwrap_or("none")
            .to_owned();
        let trace_id = request
            .trace_parent()
            .map_or("none".to_owned(), |parent| parent.trace_id().to_owned());
        Response::text(format!("{field} {trace_id}"))
    }
}

/// Calls `Echo` through its handle with a request of its own, after a wait (so the call is
/// made on a later poll of the handler, not its first).
struct Front {
    echo: DeploymentHandle,
}

impl Deployment for Front {
    async fn call(&self, _request: Request) -> Response {
        ringserve::rt::sleep(Duration::from_millis(2)).await;
        let Ok(call) = Request::builder(Method::GET, "/").body("") else {
            return Response::text("bad request").with_status(ringserve::StatusCode::BAD_REQUEST);
        };
        self.echo.call(call).await
    }
}

fn server() -> ringserve::ServerHandle {
    // One replica of the echo: half the handle calls cross cores.
    let echo = Application::new(|| Echo).name("echo").num_replicas(1);
    let echo_handle = echo.handle();
    let front = Application::new(move || Front {
        echo: echo_handle.clone(),
    })
    .name("front")
    .route_prefix("/front")
    .deployment(echo.clone());
    // An application of its own on one shard: requests the other shard accepts are forwarded.
    let direct = Application::new(|| Echo)
        .name("direct")
        .route_prefix("/direct")
        .num_replicas(1);
    common::start(
        Serve::new()
            .options(common::test_options().cores(Cores::Count(2)))
            .app(front)
            .app(direct),
    )
}

fn get_traced(addr: std::net::SocketAddr, path: &str, traceparent: &str) -> String {
    common::get_with(addr, path, &format!("traceparent: {traceparent}\r\n")).body_text()
}

#[test]
fn a_handle_call_carries_the_handlers_traceparent_on_every_shard() {
    let server = server();
    let addr = server.local_addr();
    // Each on its own connection: both shards accept some, so some calls cross cores.
    for _ in 0..16 {
        assert_eq!(
            get_traced(addr, "/front", TRACEPARENT),
            format!("{TRACEPARENT} 4bf92f3577b34da6a3ce929d0e0e4736")
        );
    }
    assert_eq!(common::get(addr, "/front").body_text(), "none none");
    // One the specification refuses (a parent id of zeros) is not carried on.
    let zero_parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01";
    assert_eq!(get_traced(addr, "/front", zero_parent), "none none");
    server.shutdown();
}

#[test]
fn a_forwarded_request_keeps_its_traceparent() {
    let server = server();
    let addr = server.local_addr();
    for _ in 0..16 {
        assert_eq!(
            get_traced(addr, "/direct", TRACEPARENT),
            format!("{TRACEPARENT} 4bf92f3577b34da6a3ce929d0e0e4736")
        );
    }
    server.shutdown();
}
