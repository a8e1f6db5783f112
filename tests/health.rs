//! Replica health over loopback: `Deployment::check_health` runs every period on each shard's
//! replica, and every shard's `/-/healthz` answers `503` while an application has no healthy
//! replica — and `success` again once one recovers.

mod common;

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use ringserve::{Application, Cores, Deployment, Request, Response, Serve, ServerHandle};

/// What the replicas' health checks do; tests take turns through `STATE_LOCK`.
static STATE: AtomicU8 = AtomicU8::new(HEALTHY);
static STATE_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

const HEALTHY: u8 = 0;
const FAILING: u8 = 1;
const FAILING_ON_SHARD_0: u8 = 2;
const PANICKING: u8 = 3;
const HANGING: u8 = 4;

struct Checked;

impl Deployment for Checked {
    async fn call(&self, _request: Request) -> Response {
        Response::text("served")
    }

    async fn check_health(&self) -> Result<(), String> {
        let on_shard_0 = common::current_shard() == "ringserve-shard-0";
        match STATE.load(Ordering::SeqCst) {
            FAILING => Err("model unloaded".to_owned()),
            FAILING_ON_SHARD_0 if on_shard_0 => Err("model unloaded".to_owned()),
            PANICKING => panic!("check_health panicked"),
            HANGING => {
                ringserve::rt::sleep(Duration::from_secs(60)).await;
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

fn start(shards: usize) -> ServerHandle {
    start_with(shards, |app| app)
}

fn start_with(shards: usize, configure: impl FnOnce(Application) -> Application) -> ServerHandle {
    common::start(
        Serve::new()
            .options(common::test_options().cores(Cores::Count(shards)))
            .app(configure(
                Application::new(|| Checked)
                    .name("model")
                    .health_check_period(Duration::from_millis(30))
                    .health_check_timeout(Duration::from_millis(100)),
            )),
    )
}

/// Polls `/-/healthz` until it answers `status`, or fails after two seconds.
fn wait_for(server: &ServerHandle, status: u16) -> common::RawResponse {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let response = common::get(server.local_addr(), "/-/healthz");
        if response.status() == status {
            return response;
        }
        assert!(
            Instant::now() < deadline,
            "/-/healthz stayed {}",
            response.status()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `test` alone (the checks' state is process-wide), starting and ending healthy.
fn one_at_a_time(test: impl FnOnce()) {
    let _alone = STATE_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    STATE.store(HEALTHY, Ordering::SeqCst);
    test();
    STATE.store(HEALTHY, Ordering::SeqCst);
}

#[test]
fn healthz_is_503_while_every_replica_fails_and_recovers_after() {
    one_at_a_time(|| {
        let server = start(2);
        assert_eq!(wait_for(&server, 200).body_text(), "success");
        STATE.store(FAILING, Ordering::SeqCst);
        let unhealthy = wait_for(&server, 503);
        assert_eq!(
            unhealthy.body_text(),
            "Application \"model\" has no healthy replica."
        );
        // Requests are still served meanwhile: health is for the load balancer.
        assert_eq!(common::get(server.local_addr(), "/").body_text(), "served");
        STATE.store(HEALTHY, Ordering::SeqCst);
        wait_for(&server, 200);
        server.shutdown();
    });
}

#[test]
fn one_healthy_replica_keeps_healthz_up() {
    one_at_a_time(|| {
        let server = start(2);
        STATE.store(FAILING_ON_SHARD_0, Ordering::SeqCst);
        // Several periods pass; shard 1's replica stays healthy, so the answer stays 200.
        let until = Instant::now() + Duration::from_millis(300);
        while Instant::now() < until {
            assert_eq!(common::get(server.local_addr(), "/-/healthz").status(), 200);
            std::thread::sleep(Duration::from_millis(30));
        }
        server.shutdown();
    });
}

#[test]
fn a_panicking_or_hanging_check_counts_as_a_failure() {
    one_at_a_time(|| {
        let server = start(1);
        wait_for(&server, 200);
        STATE.store(PANICKING, Ordering::SeqCst);
        wait_for(&server, 503);
        STATE.store(HEALTHY, Ordering::SeqCst);
        wait_for(&server, 200);
        STATE.store(HANGING, Ordering::SeqCst);
        wait_for(&server, 503);
        STATE.store(HEALTHY, Ordering::SeqCst);
        wait_for(&server, 200);
        // The shard survived the panic and serves.
        assert_eq!(common::get(server.local_addr(), "/").body_text(), "served");
        server.shutdown();
    });
}

#[test]
fn a_zero_health_period_is_refused_before_start() {
    let started = Serve::new()
        .options(common::test_options())
        .app(
            Application::new(|| Checked)
                .name("model")
                .health_check_period(Duration::ZERO),
        )
        .start();
    let Err(error) = started else {
        panic!("a zero period must not start");
    };
    assert_eq!(
        error.to_string(),
        "invalid configuration: application \"model\": health_check_period and \
         health_check_timeout must be longer than zero"
    );
}

#[test]
fn an_application_whose_only_replica_fails_is_unhealthy_on_every_shard() {
    one_at_a_time(|| {
        // One replica for two shards: the count starts at one, not two.
        let server = start_with(2, |app| app.num_replicas(1));
        wait_for(&server, 200);
        STATE.store(FAILING, Ordering::SeqCst);
        for _ in 0..6 {
            wait_for(&server, 503);
        }
        STATE.store(HEALTHY, Ordering::SeqCst);
        wait_for(&server, 200);
        server.shutdown();
    });
}
