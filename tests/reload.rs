//! `ServerHandle::reload`: new applications in place of the running ones, with no connection
//! closed and no request lost; requests in flight finish on the applications they started on,
//! whose replicas are dropped after them; a reload that fails changes nothing.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use ringserve::{Application, Cores, Deployment, Request, Response, Serve, rt};

use common::{RequestLoop, connect, get, get_on, test_options, wait_until};

/// Answers its name; `/slow` first waits until `release` is set. Counts its replicas alive.
struct Named {
    name: &'static str,
    release: Arc<AtomicBool>,
    alive: Arc<AtomicUsize>,
}

impl Deployment for Named {
    async fn call(&self, request: Request) -> Response {
        if request.route_path() == "/slow" {
            while !self.release.load(Ordering::SeqCst) {
                rt::sleep(Duration::from_millis(5)).await;
            }
        }
        Response::text(self.name)
    }
}

impl Drop for Named {
    fn drop(&mut self) {
        self.alive.fetch_sub(1, Ordering::SeqCst);
    }
}

/// An application of `Named` replicas called `name`, counting them in `alive`.
fn named(name: &'static str, release: &Arc<AtomicBool>, alive: &Arc<AtomicUsize>) -> Application {
    let (release, alive) = (release.clone(), alive.clone());
    Application::new(move || {
        alive.fetch_add(1, Ordering::SeqCst);
        Named {
            name,
            release: release.clone(),
            alive: alive.clone(),
        }
    })
    .name(name)
}

#[test]
fn a_reload_switches_between_two_requests_and_old_replicas_go_after_their_last_request() {
    let release = Arc::new(AtomicBool::new(false));
    let (old_alive, new_alive) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let server = common::start(
        Serve::new()
            .options(test_options())
            .app(named("old", &release, &old_alive)),
    );
    let addr = server.local_addr();
    let mut kept = connect(addr);
    assert_eq!(get_on(&mut kept, "/").body_text(), "old");
    // A request in flight on the old application while the reload happens.
    let in_flight = std::thread::spawn(move || get(addr, "/slow").body_text());
    wait_until(
        "the slow request reaches its handler",
        Duration::from_secs(5),
        || old_alive.load(Ordering::SeqCst) == 1,
    );
    std::thread::sleep(Duration::from_millis(50));
    server
        .reload(Serve::new().app(named("new", &release, &new_alive)))
        .expect("reload succeeds");
    assert_eq!(
        new_alive.load(Ordering::SeqCst),
        1,
        "one shard, one new replica"
    );
    // New connections and the kept-alive one alike reach the new application.
    assert_eq!(get(addr, "/").body_text(), "new");
    assert_eq!(get_on(&mut kept, "/").body_text(), "new");
    assert_eq!(
        old_alive.load(Ordering::SeqCst),
        1,
        "the old replica serves its request in flight"
    );
    release.store(true, Ordering::SeqCst);
    assert_eq!(
        in_flight.join().unwrap(),
        "old",
        "finished where it started"
    );
    wait_until("the old replica is dropped", Duration::from_secs(5), || {
        old_alive.load(Ordering::SeqCst) == 0
    });
    assert_eq!(
        get(addr, "/-/routes").body_text(),
        r#"{"/":"new"}"#,
        "/-/routes is the new generation's"
    );
    server.shutdown();
}

#[test]
fn a_reload_that_fails_changes_nothing() {
    let release = Arc::new(AtomicBool::new(true));
    let alive = Arc::new(AtomicUsize::new(0));
    let server = common::start(
        Serve::new()
            .options(test_options())
            .app(named("old", &release, &alive)),
    );
    let addr = server.local_addr();
    let failing = Application::try_new(|| Err::<Named, _>("no model file")).name("broken");
    let error = server
        .reload(Serve::new().app(failing))
        .expect_err("a factory that fails refuses the reload")
        .to_string();
    assert!(
        error.contains("\"broken\" failed to build its replica on shard 0: no model file"),
        "{error}"
    );
    let clash = Serve::new()
        .app(named("a", &release, &alive))
        .app(named("b", &release, &alive));
    let error = server.reload(clash).expect_err("two apps at /").to_string();
    assert!(error.contains("route prefix"), "{error}");
    assert_eq!(get(addr, "/").body_text(), "old");
    assert_eq!(get(addr, "/-/routes").body_text(), r#"{"/":"old"}"#);
    assert_eq!(
        alive.load(Ordering::SeqCst),
        1,
        "nothing else was left built"
    );
    server.shutdown();
}

/// Requests in a loop on two shards, with applications that forward (one replica for two
/// shards), through ten reloads: every one is answered 200, by the old or the new
/// application, and every retired replica is dropped.
#[test]
fn requests_during_ten_reloads_of_forwarded_applications_are_all_answered() {
    let release = Arc::new(AtomicBool::new(true));
    let alive = Arc::new(AtomicUsize::new(0));
    let app = |name| named(name, &release, &alive).num_replicas(1);
    let server = common::start(
        Serve::new()
            .options(test_options().cores(Cores::Count(2)))
            .app(app("even")),
    );
    let addr = server.local_addr();
    let requests = RequestLoop::start(addr, 4, |response| {
        response.status() == 200 && ["even", "odd"].contains(&response.body_text().as_str())
    });
    for round in 0..10 {
        requests.wait_for_more(20);
        let name = if round % 2 == 0 { "odd" } else { "even" };
        server
            .reload(Serve::new().app(app(name)))
            .expect("reload succeeds");
        assert_eq!(get(addr, "/").body_text(), name);
    }
    assert_eq!(requests.stop(), [] as [String; 0]);
    wait_until(
        "retired replicas are dropped",
        Duration::from_secs(5),
        || alive.load(Ordering::SeqCst) == 1,
    );
    server.shutdown();
}

/// Answers which build of it this replica is.
struct Model {
    build: usize,
}

impl Deployment for Model {
    async fn call(&self, _request: Request) -> Response {
        Response::text(format!("model build {}", self.build))
    }
}

/// Waits for `release`, then asks the model through its handle.
struct Front {
    model: ringserve::DeploymentHandle,
    release: Arc<AtomicBool>,
}

impl Deployment for Front {
    async fn call(&self, _request: Request) -> Response {
        while !self.release.load(Ordering::SeqCst) {
            rt::sleep(Duration::from_millis(5)).await;
        }
        let inner = Request::builder(ringserve::Method::GET, "/")
            .body("")
            .unwrap();
        self.model.call(inner).await
    }
}

#[test]
fn a_request_in_flight_calls_the_deployments_of_its_own_generation() {
    static BUILDS: AtomicUsize = AtomicUsize::new(0);
    let release = Arc::new(AtomicBool::new(false));
    let model = Application::new(|| Model {
        build: BUILDS.fetch_add(1, Ordering::SeqCst) + 1,
    })
    .name("model");
    let handle = model.handle();
    let front = {
        let release = release.clone();
        Application::new(move || Front {
            model: handle.clone(),
            release: release.clone(),
        })
        .name("front")
        .deployment(model)
    };
    let server = common::start(Serve::new().options(test_options()).app(front.clone()));
    let addr = server.local_addr();
    let in_flight = std::thread::spawn(move || get(addr, "/").body_text());
    std::thread::sleep(Duration::from_millis(100));
    // The same applications again (the same deployments, by id): new replicas.
    server
        .reload(Serve::new().app(front))
        .expect("reload succeeds");
    assert_eq!(BUILDS.load(Ordering::SeqCst), 2);
    release.store(true, Ordering::SeqCst);
    assert_eq!(
        in_flight.join().unwrap(),
        "model build 1",
        "its own generation's model"
    );
    assert_eq!(get(addr, "/").body_text(), "model build 2");
    server.shutdown();
}
