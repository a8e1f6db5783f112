//! Scraping: asking every shard for a snapshot of its metrics (`Scraper`), and the metrics
//! listener that serves them (`Exporter`) — one thread of its own on `metrics_address`,
//! answering `GET /metrics` (Prometheus' text format, or OpenMetrics when the scraper's
//! `Accept` asks) and `GET /stats` (the figures of `ServerHandle::stats`, as JSON).
//!
//! Why a plain thread and not a shard: a scrape must still answer while a shard is stalled
//! (and say so), and it is a few requests a minute, off the request path, so blocking reads
//! with timeouts serve it simply. One scraper is served at a time; each waits at most
//! `METRICS_IO_TIMEOUT` for its request, so a silent one cannot hold the listener long.
//!
//! Invariant: a scrape never waits on a shard for longer than `SCRAPE_WAIT`: a shard that has
//! not answered by then (stalled in a handler, or stopped) is reported down, and its late
//! answer is dropped with the channel.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Instant;

use crate::config::ServerConfig;
use crate::limits::{METRICS_IO_TIMEOUT, METRICS_REQUEST_BYTES_MAX, SCRAPE_WAIT};
use crate::metrics::exposition::Format;
use crate::metrics::{Scrape, ShardReport, ShardSnapshot, Stats, Target};
use crate::shard::Control;

/// Asks the shards for their snapshots.
#[derive(Clone)]
pub(crate) struct Scraper {
    controls: Vec<flume::Sender<Control>>,
    config: Arc<ServerConfig>,
}

/// Every shard's answer (or silence), with the labels of their metric slots.
pub(crate) struct Gathered {
    targets: Vec<Target>,
    shards: Vec<ShardReport>,
}

impl Gathered {
    pub(crate) fn scrape<'a>(&'a self, prefix: &'a str) -> Scrape<'a> {
        Scrape {
            prefix,
            targets: &self.targets,
            shards: &self.shards,
        }
    }
}

impl Scraper {
    pub(crate) fn new(controls: Vec<flume::Sender<Control>>, config: Arc<ServerConfig>) -> Self {
        Scraper { controls, config }
    }

    /// Every shard's snapshot, each waited for until `SCRAPE_WAIT` from now at most.
    pub(crate) fn gather(&self) -> Gathered {
        let (answers_tx, answers) = mpsc::channel::<ShardSnapshot>();
        for control in &self.controls {
            // A stopped shard's channel refuses: it stays unanswered, reported down.
            let _ = control.send(Control::Snapshot {
                reply: answers_tx.clone(),
            });
        }
        drop(answers_tx);
        let mut snapshots: Vec<Option<ShardSnapshot>> = vec![None; self.controls.len()];
        let deadline = Instant::now() + SCRAPE_WAIT;
        while snapshots.iter().any(Option::is_none) {
            let left = deadline.saturating_duration_since(Instant::now());
            match answers.recv_timeout(left) {
                Ok(snapshot) => {
                    let index = snapshot.shard;
                    if let Some(slot) = snapshots.get_mut(index) {
                        *slot = Some(snapshot);
                    }
                }
                Err(_) => break,
            }
        }
        let shards = snapshots
            .into_iter()
            .enumerate()
            .map(|(index, snapshot)| ShardReport {
                index,
                snapshot,
                stalled: self.config.pulses.is_stalled(index),
                stalls: self.config.pulses.stalls(index),
            })
            .collect();
        Gathered {
            targets: self.config.metric_targets(),
            shards,
        }
    }

    /// The figures of one scrape.
    pub(crate) fn stats(&self) -> Stats {
        self.gather()
            .scrape(&self.config.options.metrics_prefix)
            .stats(&self.config.server_address)
    }
}

/// The metrics listener's thread; dropping it stops the thread.
pub(crate) struct Exporter {
    listener: TcpListener,
    address: std::net::SocketAddr,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Exporter {
    /// Binds `address`: before any shard starts, so a taken port is an error of `start`.
    pub(crate) fn bind(address: std::net::SocketAddr) -> Result<TcpListener, crate::Error> {
        TcpListener::bind(address).map_err(|error| {
            crate::Error::io(format!("binding the metrics listener on {address}"), error)
        })
    }

    /// The address it listens on.
    pub(crate) fn local_addr(&self) -> std::net::SocketAddr {
        self.address
    }

    /// Serves scrapes on `listener` until dropped.
    pub(crate) fn start(listener: TcpListener, scraper: Scraper) -> Result<Self, crate::Error> {
        let accepting = listener
            .try_clone()
            .map_err(|error| crate::Error::io("copying the metrics listener", error))?;
        let address = listener
            .local_addr()
            .map_err(|error| crate::Error::io("reading the metrics listener's address", error))?;
        let thread = std::thread::Builder::new()
            .name("ringserve-metrics".to_owned())
            .spawn(move || serve_scrapes(accepting, scraper))
            .map_err(|error| crate::Error::io("starting the metrics thread", error))?;
        Ok(Exporter {
            listener,
            address,
            thread: Some(thread),
        })
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        // Shutting the listening socket down ends the thread's blocking accept.
        // SAFETY: the descriptor is this listener's own, open until `self` drops.
        unsafe {
            libc::shutdown(
                std::os::fd::AsRawFd::as_raw_fd(&self.listener),
                libc::SHUT_RDWR,
            )
        };
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Accepts and answers scrapes, one at a time, until the listener is shut down.
fn serve_scrapes(listener: TcpListener, scraper: Scraper) {
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                let _ = answer_scrape(stream, &scraper);
            }
            // Shut down by the handle: the listener is done.
            Err(error) if error.kind() == std::io::ErrorKind::InvalidInput => return,
            Err(_) => {
                // A failed accept (descriptors exhausted, say): try again shortly rather than spin.
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
    }
}

/// What a scraper asked.
enum Asked {
    Metrics(Format),
    Stats,
    NotFound,
    NotAllowed,
    Malformed,
}

/// Reads one request, answers it, and closes.
fn answer_scrape(mut stream: TcpStream, scraper: &Scraper) -> std::io::Result<()> {
    stream.set_read_timeout(Some(METRICS_IO_TIMEOUT))?;
    stream.set_write_timeout(Some(METRICS_IO_TIMEOUT))?;
    let asked = read_request(&mut stream)?;
    let (status, content_type, body) = match asked {
        Asked::Metrics(format) => {
            let gathered = scraper.gather();
            let text = gathered
                .scrape(&scraper.config.options.metrics_prefix)
                .render(format);
            ("200 OK", format.content_type(), text)
        }
        Asked::Stats => {
            let stats = scraper.stats();
            let json = serde_json::to_string(&stats).unwrap_or_else(|_| "{}".to_owned());
            ("200 OK", "application/json", json)
        }
        Asked::NotFound => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "Not found: the metrics are at /metrics, the figures at /stats.\n".to_owned(),
        ),
        Asked::NotAllowed => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            "Method Not Allowed\n".to_owned(),
        ),
        Asked::Malformed => (
            "400 Bad Request",
            "text/plain; charset=utf-8",
            "Bad Request\n".to_owned(),
        ),
    };
    let allow = if status.starts_with("405") {
        "allow: GET\r\n"
    } else {
        ""
    };
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n{allow}connection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    stream.flush()?;
    let _ = stream.shutdown(Shutdown::Write);
    Ok(())
}

/// Reads the request head (the body of a scrape is empty) and says what it asks for.
fn read_request(stream: &mut TcpStream) -> std::io::Result<Asked> {
    let mut buffer = vec![0u8; METRICS_REQUEST_BYTES_MAX];
    let mut filled = 0;
    loop {
        let read = stream.read(&mut buffer[filled..])?;
        if read == 0 {
            return Ok(Asked::Malformed);
        }
        filled += read;
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&buffer[..filled]) {
            Ok(httparse::Status::Complete(_)) => return Ok(asked(&request)),
            Ok(httparse::Status::Partial) if filled < buffer.len() => continue,
            _ => return Ok(Asked::Malformed),
        }
    }
}

fn asked(request: &httparse::Request<'_, '_>) -> Asked {
    if request.method != Some("GET") {
        return Asked::NotAllowed;
    }
    let path = request.path.unwrap_or_default();
    let path = path.split('?').next().unwrap_or_default();
    match path {
        "/metrics" => {
            let accept = request
                .headers
                .iter()
                .find(|header| header.name.eq_ignore_ascii_case("accept"))
                .and_then(|header| std::str::from_utf8(header.value).ok());
            Asked::Metrics(Format::from_accept(accept))
        }
        "/stats" => Asked::Stats,
        _ => Asked::NotFound,
    }
}
