//! The benchmark kit in `perf/` stays working: the load generator's own unit tests pass, and
//! the load generator, run as `perf/compare.sh` runs it, drives a real ringserve server and
//! reports what it measured. (The load generator is a crate of its own, outside the library's
//! dependency graph, so it is built here with its own target folder.)

mod common;

use std::path::PathBuf;
use std::process::Command;

use ringserve::Application;

/// The load generator's own target folder, under the user's target directory.
fn perf_kit_target() -> PathBuf {
    common::target_dir().join("perf-kit")
}

fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command
        .current_dir(common::root())
        .env("CARGO_TARGET_DIR", perf_kit_target());
    command
}

const MANIFEST: &str = "perf/loadgen/Cargo.toml";

#[test]
fn loadgen_unit_tests_pass_and_it_measures_a_real_server() {
    let tested = cargo()
        .args(["test", "--quiet", "--manifest-path", MANIFEST])
        .output()
        .expect("cargo runs");
    assert!(
        tested.status.success(),
        "loadgen's tests failed:\n{}\n{}",
        String::from_utf8_lossy(&tested.stdout),
        String::from_utf8_lossy(&tested.stderr)
    );
    let built = cargo()
        .args(["build", "--quiet", "--manifest-path", MANIFEST])
        .output()
        .expect("cargo runs");
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );

    let server = common::start_app(Application::new(|| common::Hello));
    let url = format!("http://{}/", server.local_addr());
    let binary = perf_kit_target().join("debug/loadgen");
    let run = Command::new(&binary)
        .args([
            "--url", &url, "-c", "2", "-d", "500ms", "-w", "100ms", "--cores", "0", "--wait",
            "park",
        ])
        .output()
        .expect("loadgen runs");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&run.stdout).expect("loadgen prints a JSON report");
    assert_eq!(report["mode"], "closed");
    assert_eq!(report["errors"]["total"], 0, "{report}");
    assert!(report["requests"].as_u64().unwrap_or(0) > 0, "{report}");
    assert_eq!(report["status"]["2xx"], report["requests"], "{report}");
    assert!(
        report["latency_us"]["p50"].as_u64().unwrap_or(0) > 0,
        "{report}"
    );
    server.shutdown();
}
