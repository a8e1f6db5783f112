//! Whether io_uring's zero-copy send (`IORING_OP_SEND_ZC`) pays for large response bodies on
//! this machine, against a plain `IORING_OP_SEND` of the same buffer.
//!
//! A sender thread (pinned to `SENDER_CORE`, default 0) writes `BYTES`-sized bodies (default
//! 4 KiB, 64 KiB and 1 MiB) over one loopback TCP connection through its own ring, one send in
//! flight at a time, as ringserve's connection does; a reader thread (pinned to `READER_CORE`,
//! default 1) drains them. A zero-copy send's buffer is reused only after its notification
//! (the second completion, `IORING_CQE_F_NOTIF`): the kernel may read the pages until then.
//! Modes alternate round by round (`ROUNDS`, default 5, of `SECONDS`, default 2), and the table
//! gives medians of GB/s and of the sender's CPU time per GB (`CLOCK_THREAD_CPUTIME_ID`, user
//! and system). Loopback delivers a zero-copy send's pages by copying them at the receiver, so
//! the figure here is the cost side only; the gain needs a real NIC.

use std::io::{self, Read};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use io_uring::{IoUring, cqueue, opcode, types};

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Copy,
    ZeroCopy,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Copy => "SEND",
            Mode::ZeroCopy => "SEND_ZC",
        }
    }
}

/// One round's figures: bytes per second and sender CPU seconds per gigabyte.
struct Round {
    gb_per_s: f64,
    cpu_s_per_gb: f64,
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn pin_to(core: usize) -> io::Result<()> {
    // SAFETY: all zeroes is the empty set; `core` is checked against the set's size.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    if core >= libc::CPU_SETSIZE as usize {
        return Err(io::Error::other(format!("core {core} is past CPU_SETSIZE")));
    }
    // SAFETY: `core` is inside the set.
    unsafe { libc::CPU_SET(core, &mut set) };
    // SAFETY: pid 0 is this thread; `set` is a valid mask of the size passed.
    if unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn thread_cpu_seconds() -> f64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    now.tv_sec as f64 + now.tv_nsec as f64 / 1e9
}

/// Sends `body` over `stream` again and again for `seconds`, one send in flight.
fn send_for(stream: &TcpStream, body: &[u8], mode: Mode, seconds: u64) -> io::Result<Round> {
    let mut ring: IoUring = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .build(8)?;
    let fd = types::Fd(stream.as_raw_fd());
    let (started, cpu_started) = (Instant::now(), thread_cpu_seconds());
    let mut sent_bytes = 0u64;
    while started.elapsed() < Duration::from_secs(seconds) {
        let mut offset = 0;
        while offset < body.len() {
            let (pointer, length) = (body[offset..].as_ptr(), (body.len() - offset) as u32);
            let entry = match mode {
                Mode::Copy => opcode::Send::new(fd, pointer, length).build(),
                Mode::ZeroCopy => opcode::SendZc::new(fd, pointer, length).build(),
            };
            // SAFETY: `body` outlives the operation: it is awaited (and, zero-copy, its
            // notification too) before the loop goes on.
            unsafe { ring.submission().push(&entry) }
                .map_err(|_| io::Error::other("submission queue full"))?;
            // A copy completes once; a zero-copy send completes with its result (flagged MORE)
            // and again with its notification once the kernel is done with the pages.
            let mut result = None;
            let mut notified = mode == Mode::Copy;
            while result.is_none() || !notified {
                ring.submit_and_wait(1)?;
                for completion in ring.completion() {
                    if cqueue::notif(completion.flags()) {
                        notified = true;
                    } else {
                        result = Some(completion.result());
                        if !cqueue::more(completion.flags()) {
                            notified = true;
                        }
                    }
                }
            }
            let sent = result.unwrap_or(0);
            if sent <= 0 {
                return Err(io::Error::from_raw_os_error(-sent));
            }
            offset += sent as usize;
            sent_bytes += sent as u64;
        }
    }
    let (elapsed, cpu) = (started.elapsed(), thread_cpu_seconds() - cpu_started);
    let gigabytes = sent_bytes as f64 / 1e9;
    Ok(Round {
        gb_per_s: gigabytes / elapsed.as_secs_f64(),
        cpu_s_per_gb: cpu / gigabytes,
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sender_core = env_number("SENDER_CORE", 0) as usize;
    let reader_core = env_number("READER_CORE", 1) as usize;
    let rounds = env_number("ROUNDS", 5).max(1);
    let seconds = env_number("SECONDS", 2).max(1);
    let sizes: Vec<usize> = std::env::var("BYTES")
        .map(|list| {
            list.split(',')
                .filter_map(|n| n.trim().parse().ok())
                .collect()
        })
        .unwrap_or_else(|_| vec![4 << 10, 64 << 10, 1 << 20]);

    let listener = TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    std::thread::spawn(move || -> io::Result<()> {
        pin_to(reader_core)?;
        let mut reader = TcpStream::connect(address)?;
        let mut sink = vec![0u8; 1 << 20];
        while reader.read(&mut sink)? > 0 {}
        Ok(())
    });
    let (stream, _) = listener.accept()?;
    pin_to(sender_core)?;

    println!("| body | mode | GB/s | sender CPU s per GB |");
    println!("|---:|---|---:|---:|");
    for size in sizes {
        let body = vec![b'x'; size];
        let mut figures = [(Vec::new(), Vec::new()), (Vec::new(), Vec::new())];
        for _ in 0..rounds {
            for (index, mode) in [Mode::Copy, Mode::ZeroCopy].into_iter().enumerate() {
                let round = send_for(&stream, &body, mode, seconds)?;
                figures[index].0.push(round.gb_per_s);
                figures[index].1.push(round.cpu_s_per_gb);
            }
        }
        for (index, mode) in [Mode::Copy, Mode::ZeroCopy].into_iter().enumerate() {
            let (rates, costs) = std::mem::take(&mut figures[index]);
            println!(
                "| {size} | {} | {:.2} | {:.3} |",
                mode.name(),
                median(rates),
                median(costs)
            );
        }
    }
    Ok(())
}
