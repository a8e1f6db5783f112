//! `loadgen`: an HTTP/1.1 load generator for ringserve, on glommio like the server.
//!
//! The main thread parses the command line, resolves the (loopback) target, starts one pinned
//! executor per load core, gives them a common start time once all are up, joins them, merges
//! what they measured and reports. See README.md for the flags and the method.

mod cli;
mod client;
mod report;
mod request;
mod response;
mod stats;

use std::io::Write;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use glommio::{CpuSet, LocalExecutorBuilder, Placement};

use crate::cli::{Args, Command};
use crate::client::{Plan, Wait};
use crate::report::{Report, Setup};
use crate::request::Request;
use crate::stats::Stats;

/// How long every executor gets to come up before the run is abandoned.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);
/// Delay from "all executors ready" to the start: every core gets its plan and opens its
/// connections before the first request.
const START_DELAY: Duration = Duration::from_millis(100);

fn main() -> ExitCode {
    match cli::parse(std::env::args().skip(1)) {
        Ok(Command::Help) => {
            print!("{}", cli::USAGE);
            ExitCode::SUCCESS
        }
        Ok(Command::Version) => {
            println!("loadgen {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Ok(Command::Run(args)) => match run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("loadgen: {message}");
                ExitCode::FAILURE
            }
        },
        Err(error) => {
            eprintln!("loadgen: {error}\n(see loadgen --help)");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let addr = cli::resolve(&args.url, args.allow_remote).map_err(|e| e.to_string())?;
    let cores = match &args.cores {
        Some(cores) => cores.clone(),
        None => vec![last_core()?],
    };
    let request = Request::build(args);
    let batch = request.batch(args.pipeline);

    // Start every executor; each says when it is up, then waits for its plan.
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let mut executors = Vec::new();
    for (slot, &cpu) in cores.iter().enumerate() {
        let (plan_tx, plan_rx) = mpsc::channel::<Plan>();
        let ready = ready_tx.clone();
        let handle = LocalExecutorBuilder::new(Placement::Fixed(cpu))
            .name(&format!("loadgen-{cpu}"))
            .spawn(move || async move {
                let _ = ready.send(());
                drop(ready);
                // Blocking here is fine: nothing else runs on this executor yet.
                let plan = plan_rx.recv().ok()?;
                Some(client::run_core(plan).await)
            })
            .map_err(|error| format!("cannot start a load executor on core {cpu}: {error}"))?;
        executors.push((slot, cpu, plan_tx, handle));
    }
    drop(ready_tx);
    for _ in &executors {
        if ready_rx.recv_timeout(STARTUP_TIMEOUT).is_err() {
            // Dropping the plan senders lets the executors that did start return.
            let cpus: Vec<usize> = executors.iter().map(|e| e.1).collect();
            drop(executors);
            return Err(format!("a load executor on cores {cpus:?} failed to start"));
        }
    }

    let start = Instant::now() + START_DELAY;
    let window_start = start + args.warmup;
    let end = window_start + args.duration;
    let quotas = split_quota(args.max_requests, cores.len());
    let mut handles = Vec::new();
    for ((slot, cpu, plan_tx, handle), quota) in executors.into_iter().zip(quotas) {
        let plan = Plan {
            addr,
            batch: batch.clone(),
            pipeline: args.pipeline,
            request_closes: request.closes,
            rate: args.rate,
            total_connections: args.connections,
            connections: (slot..args.connections).step_by(cores.len()).collect(),
            timeout: args.timeout,
            wait: args.wait,
            quota,
            start,
            window_start,
            end,
        };
        // A send fails only if the executor died; its join below says so.
        let _ = plan_tx.send(plan);
        handles.push((cpu, handle));
    }

    let mut stats = Stats::new();
    for (cpu, handle) in handles {
        match handle.join() {
            Ok(Some(core)) => stats.merge(&core),
            Ok(None) => return Err(format!("the load executor on core {cpu} got no plan")),
            Err(error) => return Err(format!("the load executor on core {cpu} failed: {error}")),
        }
    }

    let measured_s = if stats.quota_exhausted {
        let last = stats.last_done.unwrap_or(window_start);
        last.saturating_duration_since(window_start)
            .min(args.duration)
            .as_secs_f64()
    } else {
        args.duration.as_secs_f64()
    };
    let setup = Setup {
        url: args.url_text.clone(),
        address: addr.to_string(),
        method: args.method.as_str(),
        path: args.path.clone(),
        body_bytes: args.body_bytes,
        connections: args.connections,
        pipeline: args.pipeline,
        rate: args.rate,
        cores,
        wait: match args.wait {
            Wait::Spin => "spin",
            Wait::Park => "park",
        },
        warmup_s: args.warmup.as_secs_f64(),
        duration_s: args.duration.as_secs_f64(),
    };
    let report = Report::new(setup, &stats, measured_s);
    let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
    match &args.json {
        Some(path) => std::fs::write(path, json + "\n")
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?,
        None => {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{json}").map_err(|e| format!("cannot write the report: {e}"))?;
        }
    }
    eprintln!("{}", report.summary());
    Ok(())
}

/// The highest-numbered online CPU: the default load core, away from a server on core 0.
fn last_core() -> Result<usize, String> {
    let online = CpuSet::online().map_err(|e| format!("cannot list the online CPUs: {e}"))?;
    online
        .into_iter()
        .map(|location| location.cpu)
        .max()
        .ok_or_else(|| "no online CPU".to_owned())
}

/// `--max-requests` split over the cores, the remainder to the first ones.
fn split_quota(total: Option<u64>, cores: usize) -> Vec<Option<u64>> {
    let cores_u64 = cores as u64;
    (0..cores_u64)
        .map(|i| total.map(|total| total / cores_u64 + u64::from(i < total % cores_u64)))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::thread;

    use super::*;

    /// A blocking keep-alive server on loopback: answers every request on a connection in
    /// turn with a content-length body, a chunked body written in small pieces, and (every
    /// tenth) a 422; it closes a connection after its 50th response with `connection: close`.
    fn serve_one(mut stream: TcpStream) {
        let _ = stream.set_nodelay(true);
        let mut pending = Vec::new();
        let mut buf = [0u8; 4096];
        for n in 1.. {
            let head_end = loop {
                if let Some(i) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                    break i + 4;
                }
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(read) => pending.extend_from_slice(&buf[..read]),
                }
            };
            pending.drain(..head_end);
            let pieces: Vec<&[u8]> = match n {
                50 => vec![b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok"],
                _ if n % 10 == 0 => {
                    vec![b"HTTP/1.1 422 Unprocessable Entity\r\ncontent-length: 2\r\n\r\n{}"]
                }
                _ if n % 2 == 0 => vec![
                    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r",
                    b"\nabc\r\n2;x=1\r\nde",
                    b"\r\n0\r\n\r",
                    b"\n",
                ],
                _ => vec![b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"],
            };
            for piece in pieces {
                if stream.write_all(piece).is_err() {
                    return;
                }
            }
            if n == 50 {
                return;
            }
        }
    }

    fn start_server() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                thread::spawn(move || serve_one(stream));
            }
        });
        port
    }

    fn run_against(port: u16, extra: &str) -> serde_json::Value {
        let json = std::env::temp_dir().join(format!("loadgen-test-{port}-{}.json", extra.len()));
        let line = format!(
            "--url http://127.0.0.1:{port}/x -c 4 -d 300ms -w 100ms --timeout 2s --json {} {extra}",
            json.display()
        );
        let Ok(Command::Run(args)) = cli::parse(line.split_whitespace().map(str::to_owned)) else {
            panic!("bad test arguments: {line}");
        };
        // A watchdog: a run is bounded, so one that hangs is a bug to report, not to wait out.
        let (done_tx, done_rx) = mpsc::channel();
        thread::spawn(move || {
            let _ = done_tx.send(run(&args));
        });
        match done_rx.recv_timeout(Duration::from_secs(60)) {
            Ok(result) => result.unwrap(),
            Err(_) => panic!("the run did not end within 60 s: {line}"),
        }
        let report = std::fs::read_to_string(&json).unwrap();
        let _ = std::fs::remove_file(&json);
        serde_json::from_str(&report).unwrap()
    }

    fn check(report: &serde_json::Value) {
        let requests = report["requests"].as_u64().unwrap();
        assert!(requests > 20, "{report}");
        assert_eq!(report["errors"]["total"], 0, "{report}");
        let ok = report["status"]["2xx"].as_u64().unwrap();
        let unprocessable = report["status"]["4xx"].as_u64().unwrap();
        assert_eq!(ok + unprocessable, requests, "{report}");
        assert!(
            unprocessable > 0 && report["errors"]["non_2xx"] == unprocessable,
            "{report}"
        );
        assert!(
            report["latency_us"]["max"].as_u64().unwrap() > 0,
            "{report}"
        );
    }

    #[test]
    fn closed_loop_against_a_local_server() {
        let port = start_server();
        for wait in ["spin", "park"] {
            let report = run_against(port, &format!("--wait {wait}"));
            check(&report);
            assert_eq!(report["mode"], "closed");
            assert!(report["server_closes"].as_u64().unwrap() > 0, "{report}");
        }
    }

    #[test]
    fn open_loop_against_a_local_server() {
        let port = start_server();
        for wait in ["spin", "park"] {
            let report = run_against(port, &format!("--rate 2000 --wait {wait}"));
            check(&report);
            assert_eq!(report["mode"], "open");
            // 2000/s for 0.3 s: each of the 600 requests scheduled in the window was answered
            // or, on a machine too busy to keep up, left unsent.
            let requests = report["requests"].as_u64().unwrap();
            let unsent = report["unsent"].as_u64().unwrap();
            assert!((598..=602).contains(&(requests + unsent)), "{report}");
        }
    }

    #[test]
    fn refused_connections_are_counted() {
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let report = run_against(port, "");
        assert_eq!(report["requests"], 0);
        assert!(
            report["errors"]["connect"].as_u64().unwrap() > 0,
            "{report}"
        );
    }

    #[test]
    fn quota_split() {
        assert_eq!(split_quota(None, 2), vec![None, None]);
        assert_eq!(split_quota(Some(5), 2), vec![Some(3), Some(2)]);
        assert_eq!(split_quota(Some(1), 3), vec![Some(1), Some(0), Some(0)]);
    }
}
