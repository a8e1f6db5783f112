//! A steady loop of requests from several clients, for the tests that change a running server
//! under load (reload, rolling restart) and must show that no request failed.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::{RawResponse, connect, get, get_on, wait_until};

/// `clients` threads sending `GET /` to `addr` until stopped: the even ones on one kept-alive
/// connection each, the odd ones on a new connection per request. A response `accept` refuses
/// is recorded as a failure; a connection that breaks panics its thread, which `stop` reports.
pub struct RequestLoop {
    stop: Arc<AtomicBool>,
    served: Arc<AtomicUsize>,
    failures: Arc<Mutex<Vec<String>>>,
    clients: Vec<JoinHandle<()>>,
}

impl RequestLoop {
    pub fn start(addr: SocketAddr, clients: usize, accept: fn(&RawResponse) -> bool) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicUsize::new(0));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let clients = (0..clients)
            .map(|client| {
                let (stop, served, failures) = (stop.clone(), served.clone(), failures.clone());
                std::thread::spawn(move || {
                    let mut kept = connect(addr);
                    while !stop.load(Ordering::SeqCst) {
                        let response = if client % 2 == 0 {
                            get_on(&mut kept, "/")
                        } else {
                            get(addr, "/")
                        };
                        if !accept(&response) {
                            failures.lock().unwrap().push(response.raw.clone());
                        }
                        served.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        RequestLoop {
            stop,
            served,
            failures,
            clients,
        }
    }

    /// How many requests have been answered so far.
    pub fn served(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }

    /// Waits until `more` requests beyond those served now have been answered.
    pub fn wait_for_more(&self, more: usize) {
        let before = self.served();
        wait_until("requests flow", Duration::from_secs(10), || {
            self.served() > before + more
        });
    }

    /// Stops the clients; the failed responses, in order.
    pub fn stop(self) -> Vec<String> {
        self.stop.store(true, Ordering::SeqCst);
        for client in self.clients {
            client.join().expect("a client's connection broke");
        }
        std::mem::take(&mut *self.failures.lock().unwrap())
    }
}
