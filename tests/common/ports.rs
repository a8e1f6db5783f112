//! Loopback ports: free ones to hand to a server, and checks that one is (or is no longer)
//! listened on.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A port that was free a moment ago (bound to port 0, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// A port free now and never handed out before by this function in this process. Servers that
/// bind with `SO_REUSEPORT` (the examples, a downstream binary) would both listen on a port
/// handed to two of them, and one's connections could land on the other's.
pub fn fresh_port() -> u16 {
    static HANDED_OUT: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut handed_out = HANDED_OUT.lock().unwrap();
    loop {
        let port = free_port();
        if !handed_out.contains(&port) {
            handed_out.push(port);
            return port;
        }
    }
}

/// Waits up to 20 s until something accepts connections on `addr`; `what` names it in the
/// failure. A connection to itself does not count: with nothing listening yet, the kernel may
/// pick `addr`'s own port as the source of a loopback connect, and the two ends then meet
/// (TCP simultaneous open) as if a server had answered.
pub fn wait_listening(addr: SocketAddr, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(stream) = TcpStream::connect(addr)
            && stream.local_addr().ok() != stream.peer_addr().ok()
        {
            return;
        }
        assert!(Instant::now() < deadline, "{what} did not start listening");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Asserts that nothing listens on `addr` (the connection is refused).
pub fn assert_refused(addr: SocketAddr) {
    match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
        Err(error) => assert_eq!(
            error.kind(),
            std::io::ErrorKind::ConnectionRefused,
            "connecting to {addr}: {error}"
        ),
        Ok(_) => panic!("something still accepts connections on {addr}"),
    }
}
