//! Formatting and lints run as tests (glommio's habit), so `cargo test` — what CI runs —
//! fails on unformatted code or a clippy warning, not only a reviewer.

mod common;

use std::process::Command;

fn cargo(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO"))
        .args(args)
        .current_dir(common::root())
        // A target directory of its own: the outer `cargo test` may still hold the default one.
        .env("CARGO_TARGET_DIR", common::target_dir().join("style"))
        .output()
        .expect("cargo runs")
}

#[test]
fn code_is_formatted() {
    let output = cargo(&["fmt", "--all", "--", "--check"]);
    assert!(
        output.status.success(),
        "cargo fmt --check found unformatted code:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn clippy_has_no_warnings() {
    let output = cargo(&["clippy", "--all-targets", "--quiet", "--", "-D", "warnings"]);
    assert!(
        output.status.success(),
        "cargo clippy --all-targets -- -D warnings failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
