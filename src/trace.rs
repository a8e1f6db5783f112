//! W3C Trace Context (`traceparent`): the parsed value a request carries, and the one of the
//! handler a shard is polling now, so that a request made in that handler for a handle call
//! carries it on (`RequestBuilder`). ringserve takes part in no trace itself — it makes no
//! spans — so it passes the value on unchanged, as the specification lets a platform that
//! does not trace; forwarded calls carry it in their head as they carry every field.
//!
//! Invariant: a `TraceParent` holds a value the specification accepts (version `00` exactly,
//! a higher version's first 55 characters; lowercase hex; trace and parent ids not all
//! zeros), and the current one is set only for the length of one poll of a handler, and put
//! back as it was after — also when the poll panics.

use std::cell::Cell;

/// The length of a version-`00` `traceparent`: `00-<32 hex>-<16 hex>-<2 hex>`.
const TRACEPARENT_LEN: usize = 55;

/// A request's `traceparent` (W3C Trace Context Level 1), as it arrived.
///
/// ```
/// use ringserve::TraceParent;
///
/// let parent = TraceParent::parse(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
///     .unwrap();
/// assert_eq!(parent.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert_eq!(parent.parent_id(), "00f067aa0ba902b7");
/// assert!(parent.sampled());
/// assert!(TraceParent::parse(b"00-00000000000000000000000000000000-00f067aa0ba902b7-01").is_none());
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    text: [u8; TRACEPARENT_LEN],
}

impl std::fmt::Debug for TraceParent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("TraceParent").field(&self.as_str()).finish()
    }
}

impl TraceParent {
    /// The value if it is a `traceparent` the specification accepts (a higher version than
    /// `00` is read, as the specification asks, from its first 55 characters).
    pub fn parse(value: &[u8]) -> Option<Self> {
        let text: [u8; TRACEPARENT_LEN] = value.get(..TRACEPARENT_LEN)?.try_into().ok()?;
        let version = &text[0..2];
        let well_formed = is_lower_hex(version)
            && version != b"ff"
            && text[2] == b'-'
            && is_lower_hex(&text[3..35])
            && text[35] == b'-'
            && is_lower_hex(&text[36..52])
            && text[52] == b'-'
            && is_lower_hex(&text[53..55])
            && text[3..35].iter().any(|&digit| digit != b'0')
            && text[36..52].iter().any(|&digit| digit != b'0');
        let rest_allowed = match (version, value.get(TRACEPARENT_LEN)) {
            (_, None) => true,
            (b"00", Some(_)) => false,
            (_, Some(&next)) => next == b'-',
        };
        (well_formed && rest_allowed).then_some(TraceParent { text })
    }

    /// The whole value (its first 55 characters for a version above `00`).
    pub fn as_str(&self) -> &str {
        // Checked by `parse`: hex digits and dashes only.
        std::str::from_utf8(&self.text).unwrap_or_default()
    }

    /// The trace's id: 32 lowercase hex digits.
    pub fn trace_id(&self) -> &str {
        &self.as_str()[3..35]
    }

    /// The caller's span id: 16 lowercase hex digits.
    pub fn parent_id(&self) -> &str {
        &self.as_str()[36..52]
    }

    /// Whether the caller recorded this trace (the `sampled` flag).
    pub fn sampled(&self) -> bool {
        let flags = &self.text[53..55];
        let low = match flags[1] {
            digit @ b'0'..=b'9' => digit - b'0',
            digit => digit - b'a' + 10,
        };
        low & 1 == 1
    }
}

fn is_lower_hex(digits: &[u8]) -> bool {
    digits
        .iter()
        .all(|digit| matches!(digit, b'0'..=b'9' | b'a'..=b'f'))
}

thread_local! {
    /// The `traceparent` of the handler this thread is polling: a pointer into that handler's
    /// pinned wrapper, valid for the poll only (set and put back by `Polling`), or null.
    static CURRENT: Cell<*const TraceParent> = const { Cell::new(std::ptr::null()) };
}

/// Makes `parent` the current trace context until dropped, then puts the previous one back.
pub(crate) struct Polling {
    previous: *const TraceParent,
}

impl Polling {
    /// For the length of one poll: `parent` must outlive the guard (it lives in the pinned
    /// future being polled, the guard on that poll's stack).
    pub(crate) fn enter(parent: Option<&TraceParent>) -> Self {
        let pointer = parent.map_or(std::ptr::null(), |parent| parent as *const TraceParent);
        Polling {
            previous: CURRENT.with(|current| current.replace(pointer)),
        }
    }
}

impl Drop for Polling {
    fn drop(&mut self) {
        CURRENT.with(|current| current.set(self.previous));
    }
}

/// The trace context of the handler this thread is polling, if it has one.
pub(crate) fn current() -> Option<TraceParent> {
    let pointer = CURRENT.with(Cell::get);
    // SAFETY: a non-null pointer was set by `Polling::enter` for a value that outlives the
    // guard, and the guard puts the previous pointer back before the value can go.
    (!pointer.is_null()).then(|| unsafe { *pointer })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn the_specifications_examples_parse_and_bad_ones_do_not() {
        let parent = TraceParent::parse(SAMPLE).unwrap();
        assert_eq!(parent.as_str().as_bytes(), SAMPLE);
        let unsampled = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
        assert!(!TraceParent::parse(unsampled).unwrap().sampled());
        for bad in [
            &b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"[..],
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            b"",
        ] {
            assert_eq!(
                TraceParent::parse(bad),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        // A later version may add fields after a dash; its first 55 characters are read.
        let later = b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-comes";
        assert_eq!(
            TraceParent::parse(later).unwrap().trace_id(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
    }

    #[test]
    fn the_current_context_lasts_one_poll_and_nests() {
        assert_eq!(current(), None);
        let outer = TraceParent::parse(SAMPLE).unwrap();
        {
            let _outer = Polling::enter(Some(&outer));
            assert_eq!(current(), Some(outer));
            {
                let _inner = Polling::enter(None);
                assert_eq!(current(), None);
            }
            assert_eq!(current(), Some(outer));
        }
        assert_eq!(current(), None);
    }
}
