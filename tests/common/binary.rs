//! The `ringserve` binary as the edge tests and the deployment tests drive it: a scratch
//! folder for config files, and a `ringserve run` process killed if the test fails.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::wait_listening;

/// The `ringserve` binary of this build.
pub fn ringserve() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ringserve"))
}

/// A folder of its own for one test's files (emptied first).
pub fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ringserve-edge-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `text` to `dir/name`; its path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A `ringserve run` process, killed if a test fails before it stops.
pub struct Running {
    pub child: Child,
    pub log: PathBuf,
}

impl Running {
    pub fn start(file: &Path, args: &[&str], port: u16) -> Running {
        Running::start_in(&std::env::temp_dir(), file, args, port)
    }

    /// [`Running::start`] with `dir` as the working directory (where relative paths in the
    /// file lead); the log goes to the temporary folder.
    pub fn start_in(dir: &Path, file: &Path, args: &[&str], port: u16) -> Running {
        let log =
            std::env::temp_dir().join(format!("ringserve-run-{}-{port}.log", std::process::id()));
        let child = ringserve()
            .current_dir(dir)
            .arg("run")
            .arg(file)
            .args(args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let running = Running { child, log };
        wait_listening(SocketAddr::from(([127, 0, 0, 1], port)), "ringserve run");
        running
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: signalling a child process this test started and has not reaped.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, signal) }, 0);
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for the process to exit, at most `within`; its exit code.
    pub fn exit_code(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(Instant::now() < deadline, "still running:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
