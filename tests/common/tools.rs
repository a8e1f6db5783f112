//! What the tests need from outside the test binary: where sub-builds go, and how a test says
//! it skipped a check because a tool is missing.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The workspace root, where ringserve's Cargo.toml is.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The target directory the user chose: `CARGO_TARGET_DIR` when set (a relative value is taken
/// from the workspace root), else `<root>/target`. Tests that run cargo themselves put their
/// builds in a folder under it, so they never write into the checkout when the user builds
/// elsewhere.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root().join(dir),
        _ => root().join("target"),
    }
}

/// Says that the calling test skips a check, and why (a missing tool, with how to install it).
///
/// `cargo test` captures what a test prints and shows it only when the test fails, so a skip
/// written only to stderr would pass unseen. The reason is therefore written to the terminal
/// (`/dev/tty`) when the process has one, where it appears among the `test … ok` lines of a
/// plain `cargo test`; and always also to stderr (`eprintln!`), which the harness shows under
/// `--nocapture` or beside a failure. Without a terminal and without `--nocapture` (a CI log)
/// the skip is not shown: CI sets the `RINGSERVE_REQUIRE_*` variables so that a missing tool
/// fails instead.
pub fn skip(reason: &str) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    let line = format!("note: {test} skipped: {reason}");
    if let Ok(mut tty) = std::fs::OpenOptions::new().write(true).open("/dev/tty") {
        let _ = writeln!(tty, "{line}");
    }
    eprintln!("{line}");
}

/// Whether curl cannot be run here: then the test skips, saying why — unless CI asked for curl
/// (`RINGSERVE_REQUIRE_CURL`), where its absence fails the test instead.
pub fn curl_missing(what_for: &str) -> bool {
    if std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_ok()
    {
        return false;
    }
    assert!(
        std::env::var_os("RINGSERVE_REQUIRE_CURL").is_none(),
        "RINGSERVE_REQUIRE_CURL is set but there is no curl"
    );
    skip(&format!("no curl {what_for}(apt-get install curl)"));
    true
}
