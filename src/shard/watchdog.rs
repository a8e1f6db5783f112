//! The stall watchdog: one plain thread per server that reads every shard's pulse
//! (`deploy::pulse`) every [`STALL_CHECK_INTERVAL`] and acts on a shard that has not turned
//! for `shard_stall_threshold` — a handler computing without awaiting, which a thread-per-core
//! engine cannot preempt. While a shard is stalled:
//!
//! - the log says once which application it was running (and again when it turns);
//! - `/-/healthz` on every other shard answers `503` naming it (`describe_stall`), so that a
//!   load balancer drains the node;
//! - new connections are steered to the other shards by a classic BPF program on the port's
//!   `SO_REUSEPORT` group (`SO_ATTACH_REUSEPORT_CBPF`): the kernel runs it for each SYN and it
//!   returns the index, among the group's listeners, of a shard that turns. Connections the
//!   stalled shard had already accepted, or that were queued on its listener, wait for it.
//!
//! All of it is undone when the shard beats again.
//!
//! Invariant: the watchdog only reads the shards' cells and writes their `stalled` flags; it
//! touches no shard state. A program is attached only while some, but not every, shard is
//! stalled and every shard still runs: the program's indexes are the group's listeners in the
//! order they were bound (shard order), which holds until a listener leaves the group.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::config::{AppLabel, ServerConfig};
use crate::deploy::pulse::Stall;
use crate::error::{log_operator_error, warn_operator};
use crate::limits::{STALL_CHECK_INTERVAL, STEERING_INSTRUCTIONS_MAX};

/// The running watchdog thread; dropping it stops the thread and takes the steering program
/// off the listeners.
#[derive(Debug)]
pub(crate) struct Watchdog {
    /// Dropping the sender ends the thread's wait at once.
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    /// Starts watching `config`'s shards, steering through `listeners` (a copy of each shard's
    /// listening socket, in shard order).
    pub(crate) fn start(config: Arc<ServerConfig>, listeners: Vec<OwnedFd>) -> io::Result<Self> {
        debug_assert_eq!(listeners.len(), config.pulses.shards());
        let (stop, stopped) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("ringserve-watchdog".to_owned())
            .spawn(move || watch(&config, Steering::new(listeners), &stopped))?;
        Ok(Watchdog {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Checks every shard each interval until stopped, then takes any program off.
fn watch(config: &ServerConfig, mut steering: Steering, stopped: &mpsc::Receiver<()>) {
    let threshold = config.options.shard_stall_threshold;
    let mut shards = Shards::new(config.pulses.shards(), Instant::now());
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(STALL_CHECK_INTERVAL) {
        let now = Instant::now();
        let mut changed = false;
        // Whole milliseconds are precise enough for the log.
        let millis = |duration: Duration| Duration::from_millis(duration.as_millis() as u64);
        for shard in 0..shards.watched.len() {
            let beats = config.pulses.beats(shard);
            match shards.check(shard, beats, now, threshold) {
                None => {}
                Some(Transition::Stalled { quiet_for }) => {
                    let quiet_for = millis(quiet_for);
                    let stall = config.pulses.running(shard);
                    config.pulses.set_stalled(shard, Some(stall));
                    log_operator_error(&format!(
                        "shard {shard} is stalled: it has not turned for {quiet_for:?} \
                         (shard_stall_threshold = {threshold:?}), {}. A handler must not compute \
                         for long without awaiting: run such work with \
                         ringserve::rt::spawn_blocking. Until it turns, /-/healthz on the other \
                         shards answers 503 and new connections go to them.",
                        running_text(config, stall)
                    ));
                    changed = true;
                }
                Some(Transition::Turned { stalled_for }) => {
                    let stalled_for = millis(stalled_for);
                    config.pulses.set_stalled(shard, None);
                    warn_operator(&format!(
                        "shard {shard} turns again after a stall of {stalled_for:?}: /-/healthz \
                         and new connections are back to normal"
                    ));
                    changed = true;
                }
                Some(Transition::Stopped) => changed = true,
            }
        }
        if changed {
            steering.steer(&shards.stalled(), shards.any_stopped());
        }
    }
    steering.release();
}

/// The `503` body of `/-/healthz` while `shard` is stalled.
pub(crate) fn describe_stall(config: &ServerConfig, shard: usize, stall: Stall) -> String {
    format!(
        "Shard {shard} is stalled: it has not turned for {:?} or more, {}.",
        config.options.shard_stall_threshold,
        running_text(config, stall)
    )
}

/// What a stalled shard was running, in words.
fn running_text(config: &ServerConfig, stall: Stall) -> String {
    match stall {
        Stall::InApplication(label) => match config.labelled(label) {
            Some(AppLabel {
                name,
                route_prefix: Some(prefix),
            }) => format!("running application {name:?} (route prefix {prefix:?})"),
            Some(AppLabel {
                name,
                route_prefix: None,
            }) => format!("running deployment {name:?} (called through handles)"),
            None => "running an application".to_owned(),
        },
        Stall::Elsewhere => {
            "running no handler since it last turned (a task a handler spawned, or the engine)"
                .to_owned()
        }
    }
}

/// What the watchdog knows of each shard.
struct Shards {
    watched: Vec<Watched>,
}

#[derive(Clone, Copy, Debug)]
struct Watched {
    /// Beats at the last check; `None` once the shard stopped.
    beats: Option<u64>,
    /// When the beats last changed (or the watch began).
    changed_at: Instant,
    stalled: bool,
}

/// A change in a shard's state that the watchdog acts on.
#[derive(Debug, PartialEq, Eq)]
enum Transition {
    Stalled { quiet_for: Duration },
    Turned { stalled_for: Duration },
    Stopped,
}

impl Shards {
    fn new(shards: usize, now: Instant) -> Self {
        Shards {
            watched: vec![
                Watched {
                    beats: Some(0),
                    changed_at: now,
                    stalled: false,
                };
                shards
            ],
        }
    }

    /// Takes `shard`'s beats as read `now`: what changed, if anything.
    fn check(
        &mut self,
        shard: usize,
        beats: Option<u64>,
        now: Instant,
        threshold: Duration,
    ) -> Option<Transition> {
        let watched = &mut self.watched[shard];
        let Some(beats) = beats else {
            // Stopped (its `run` ended): never stalled again.
            let was_watched = watched.beats.is_some();
            *watched = Watched {
                beats: None,
                changed_at: now,
                stalled: false,
            };
            return was_watched.then_some(Transition::Stopped);
        };
        if watched.beats != Some(beats) {
            let quiet_since = watched.changed_at;
            watched.beats = Some(beats);
            watched.changed_at = now;
            if std::mem::take(&mut watched.stalled) {
                return Some(Transition::Turned {
                    stalled_for: now.duration_since(quiet_since),
                });
            }
            return None;
        }
        let quiet_for = now.duration_since(watched.changed_at);
        if !watched.stalled && quiet_for >= threshold {
            watched.stalled = true;
            return Some(Transition::Stalled { quiet_for });
        }
        None
    }

    fn stalled(&self) -> Vec<bool> {
        self.watched.iter().map(|watched| watched.stalled).collect()
    }

    fn any_stopped(&self) -> bool {
        self.watched.iter().any(|watched| watched.beats.is_none())
    }
}

// Steering. Socket options of `<asm-generic/socket.h>` (x86, arm, riscv and most others),
// which the libc crate does not name.
const SO_ATTACH_REUSEPORT_CBPF: libc::c_int = 51;
const SO_DETACH_REUSEPORT_BPF: libc::c_int = 68;

/// The port's reuseport group, as seen through a copy of each shard's listener.
struct Steering {
    listeners: Vec<OwnedFd>,
    /// A program is on the group.
    attached: bool,
    /// Steering failed once (logged): not tried again, health and the log still work.
    failed: bool,
}

impl Steering {
    fn new(listeners: Vec<OwnedFd>) -> Self {
        Steering {
            listeners,
            attached: false,
            failed: false,
        }
    }

    /// Steers new connections away from the `stalled` shards, or lets the kernel spread them
    /// over all again when none is (or every one is) stalled, or a shard has stopped (its
    /// listener has left the group, so the indexes no longer name shards).
    fn steer(&mut self, stalled: &[bool], any_stopped: bool) {
        debug_assert_eq!(stalled.len(), self.listeners.len());
        let turning = stalled.iter().filter(|stalled| !**stalled).count();
        if self.failed {
            return;
        }
        if any_stopped || turning == 0 || turning == stalled.len() {
            self.release();
            return;
        }
        let Some(program) = steering_program(stalled) else {
            warn_operator(&format!(
                "{} shards are stalled: too many for the steering program; new connections \
                 still reach them",
                stalled.len() - turning
            ));
            self.release();
            return;
        };
        // Any member sets the group's program; a turning shard's listener is surely still in.
        let member = stalled.iter().position(|stalled| !*stalled).unwrap_or(0);
        match attach(&self.listeners[member], &program) {
            Ok(()) => self.attached = true,
            Err(error) => self.give_up(&error),
        }
    }

    /// Takes the program off the group, if one is on.
    fn release(&mut self) {
        if !self.attached {
            return;
        }
        self.attached = false;
        // Through every listener until one is still in the group (at shutdown, some have left).
        let mut last_error = None;
        for listener in &self.listeners {
            match detach(listener) {
                Ok(()) => return,
                Err(error) => last_error = Some(error),
            }
        }
        if let Some(error) = last_error {
            self.give_up(&error);
        }
    }

    fn give_up(&mut self, error: &io::Error) {
        self.failed = true;
        warn_operator(&format!(
            "cannot steer new connections away from stalled shards ({error}); /-/healthz and \
             the log still report stalls"
        ));
    }
}

/// The classic BPF program that picks, for each new connection, one of the shards not
/// `stalled`, at random: `A = random % turning`, then for each stalled index `s` in
/// ascending order `if A >= s { A += 1 }`, which maps `0..turning` onto the turning shards'
/// indexes in order. Three instructions plus two per stalled shard; `None` past the kernel's
/// bound.
fn steering_program(stalled: &[bool]) -> Option<Vec<libc::sock_filter>> {
    let turning = stalled.iter().filter(|stalled| !**stalled).count();
    debug_assert!(
        turning > 0 && turning < stalled.len(),
        "some, not all, stalled"
    );
    let length = 3 + 2 * (stalled.len() - turning);
    if length > STEERING_INSTRUCTIONS_MAX {
        return None;
    }
    let statement = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let mut program = Vec::with_capacity(length);
    program.push(statement(
        libc::BPF_LD | libc::BPF_W | libc::BPF_ABS,
        (libc::SKF_AD_OFF + libc::SKF_AD_RANDOM) as u32,
    ));
    program.push(statement(
        libc::BPF_ALU | libc::BPF_MOD | libc::BPF_K,
        turning as u32,
    ));
    for (shard, _) in stalled.iter().enumerate().filter(|(_, stalled)| **stalled) {
        // A >= shard: go on to the `add`; otherwise skip it.
        program.push(libc::sock_filter {
            code: (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16,
            jt: 0,
            jf: 1,
            k: shard as u32,
        });
        program.push(statement(libc::BPF_ALU | libc::BPF_ADD | libc::BPF_K, 1));
    }
    program.push(statement(libc::BPF_RET | libc::BPF_A, 0));
    debug_assert_eq!(program.len(), length);
    Some(program)
}

/// Puts `program` on the reuseport group of `listener`, replacing any program there.
fn attach(listener: &OwnedFd, program: &[libc::sock_filter]) -> io::Result<()> {
    let length =
        u16::try_from(program.len()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let fprog = libc::sock_fprog {
        len: length,
        // The kernel copies the program; it does not write through this pointer.
        filter: program.as_ptr().cast_mut(),
    };
    set_reuseport_option(listener, SO_ATTACH_REUSEPORT_CBPF, &fprog)
}

/// Takes the program off the reuseport group of `listener`. Kernels before 5.3 lack
/// `SO_DETACH_REUSEPORT_BPF`: there a program answering an index past the group's end (the
/// kernel then picks by hash, as with none) takes its place.
fn detach(listener: &OwnedFd) -> io::Result<()> {
    match set_reuseport_option(listener, SO_DETACH_REUSEPORT_BPF, &0 as &libc::c_int) {
        Err(error) if error.raw_os_error() == Some(libc::ENOPROTOOPT) => {
            let pass = [libc::sock_filter {
                code: (libc::BPF_RET | libc::BPF_K) as u16,
                jt: 0,
                jf: 0,
                k: u32::MAX,
            }];
            attach(listener, &pass)
        }
        other => other,
    }
}

/// The one `setsockopt(SOL_SOCKET, option, value)` that attach and detach go through.
fn set_reuseport_option<T>(listener: &OwnedFd, option: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: `value` points to a live `T` of the size passed; the descriptor is a socket this
    // thread owns a copy of.
    let result = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a steering program as the kernel would, with `random` as the random number.
    fn run(program: &[libc::sock_filter], random: u32) -> u32 {
        let mut a = 0u32;
        let mut pc = 0;
        loop {
            let instruction = program[pc];
            let code = u32::from(instruction.code);
            pc += 1;
            match code {
                c if c == libc::BPF_LD | libc::BPF_W | libc::BPF_ABS => a = random,
                c if c == libc::BPF_ALU | libc::BPF_MOD | libc::BPF_K => a %= instruction.k,
                c if c == libc::BPF_ALU | libc::BPF_ADD | libc::BPF_K => a += instruction.k,
                c if c == libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K => {
                    pc += usize::from(if a >= instruction.k {
                        instruction.jt
                    } else {
                        instruction.jf
                    });
                }
                c if c == libc::BPF_RET | libc::BPF_A => return a,
                other => panic!("unexpected instruction {other:#x}"),
            }
        }
    }

    #[test]
    fn the_program_picks_every_turning_shard_and_no_stalled_one() {
        let cases: &[&[bool]] = &[
            &[true, false],
            &[false, true],
            &[false, true, false, true, false],
            &[true, true, false, true],
            &[false, false, false, true],
        ];
        for stalled in cases {
            let program = steering_program(stalled).unwrap();
            let mut picked = vec![0; stalled.len()];
            for random in 0..1000 {
                picked[run(&program, random) as usize] += 1;
            }
            for (shard, stalled) in stalled.iter().enumerate() {
                assert_eq!(
                    picked[shard] == 0,
                    *stalled,
                    "{stalled:?} picked {picked:?}"
                );
            }
        }
    }

    #[test]
    fn too_many_stalled_shards_for_one_program_are_not_steered() {
        let mut stalled = vec![true; 3000];
        stalled[0] = false;
        assert!(steering_program(&stalled).is_none());
    }

    #[test]
    fn a_shard_is_stalled_past_the_threshold_and_turns_with_its_next_beat() {
        let start = Instant::now();
        let threshold = Duration::from_millis(200);
        let at = |ms| start + Duration::from_millis(ms);
        let mut shards = Shards::new(2, start);
        assert_eq!(shards.check(0, Some(1), at(50), threshold), None);
        assert_eq!(shards.check(0, Some(1), at(240), threshold), None);
        assert_eq!(
            shards.check(0, Some(1), at(250), threshold),
            Some(Transition::Stalled {
                quiet_for: Duration::from_millis(200)
            })
        );
        assert_eq!(shards.check(0, Some(1), at(900), threshold), None, "once");
        assert_eq!(shards.stalled(), [true, false]);
        assert_eq!(
            shards.check(0, Some(2), at(1000), threshold),
            Some(Transition::Turned {
                stalled_for: Duration::from_millis(950)
            })
        );
        assert_eq!(shards.stalled(), [false, false]);
        assert_eq!(
            shards.check(1, None, at(1000), threshold),
            Some(Transition::Stopped)
        );
        assert_eq!(shards.check(1, None, at(5000), threshold), None);
        assert!(shards.any_stopped());
    }
}
