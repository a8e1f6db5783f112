//! `Accept-Encoding` negotiation (RFC 9110 §12.5.3): which coding, if any, a request accepts
//! best among those the middleware has enabled.
//!
//! What it owns: [`Coding`], the codings this middleware produces, and the reading of a
//! request's `Accept-Encoding` field lines into weights ([`Preferences`]).
//!
//! Invariant: at most [`ACCEPT_ENCODING_BYTES_MAX`] bytes and [`ACCEPT_ENCODING_ENTRIES_MAX`]
//! entries of the header are read, however long it is, and an entry cut by the byte limit is
//! dropped whole; a weight is an integer in thousandths, never above [`WEIGHT_MAX`] (`q=1`).
//! Malformed input is never an error: an entry that does not parse is only not acceptable.

use http::HeaderValue;

use crate::Request;
use crate::limits::{ACCEPT_ENCODING_BYTES_MAX, ACCEPT_ENCODING_ENTRIES_MAX};

/// A weight of 1 (`q=1`), in thousandths: weights are kept as integers.
const WEIGHT_MAX: u16 = 1000;

/// A content coding this middleware produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Coding {
    Brotli,
    Gzip,
}

impl Coding {
    pub(crate) fn header_value(self) -> HeaderValue {
        match self {
            Coding::Brotli => HeaderValue::from_static("br"),
            Coding::Gzip => HeaderValue::from_static("gzip"),
        }
    }
}

/// What a request's `Accept-Encoding` says of the codings this middleware knows: each weight
/// in thousandths, `None` where the coding is not named. The first entry for a coding counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Preferences {
    brotli: Option<u16>,
    gzip: Option<u16>,
    identity: Option<u16>,
    /// `*`: the weight of every coding not named.
    any: Option<u16>,
}

impl Preferences {
    /// Every `Accept-Encoding` field line of the request, read as one list (RFC 9110 §5.3).
    pub(crate) fn of(request: &Request) -> Self {
        Preferences::parse(
            request
                .headers()
                .filter(|(name, _)| name.eq_ignore_ascii_case("accept-encoding"))
                .map(|(_, value)| value),
        )
    }

    /// Reads the entries of `lines`, up to [`ACCEPT_ENCODING_BYTES_MAX`] bytes and
    /// [`ACCEPT_ENCODING_ENTRIES_MAX`] entries in all; an entry cut by the byte limit is
    /// dropped whole.
    fn parse<'a>(lines: impl Iterator<Item = &'a [u8]>) -> Self {
        let mut preferences = Preferences::default();
        let mut bytes_left = ACCEPT_ENCODING_BYTES_MAX;
        let mut entries_left = ACCEPT_ENCODING_ENTRIES_MAX;
        for line in lines {
            let (line, complete) = whole_entries(line, bytes_left);
            bytes_left = bytes_left.saturating_sub(line.len() + 1);
            // `#rule` lists may hold empty elements (RFC 9110 §5.6.1): skipped, not counted.
            for entry in line
                .split(|&byte| byte == b',')
                .map(<[u8]>::trim_ascii)
                .filter(|entry| !entry.is_empty())
            {
                if entries_left == 0 {
                    return preferences;
                }
                entries_left -= 1;
                preferences.add(entry);
            }
            if !complete || bytes_left == 0 {
                return preferences;
            }
        }
        preferences
    }

    /// Records one entry (`coding [; q=weight]`); unknown codings are ignored.
    fn add(&mut self, entry: &[u8]) {
        let (name, weight) = parse_entry(entry);
        debug_assert!(weight <= WEIGHT_MAX, "a weight above q=1: {weight}");
        let slot = if name.eq_ignore_ascii_case(b"br") {
            &mut self.brotli
        } else if name.eq_ignore_ascii_case(b"gzip") || name.eq_ignore_ascii_case(b"x-gzip") {
            // RFC 9110 §8.4.1.3: `x-gzip` is `gzip`.
            &mut self.gzip
        } else if name.eq_ignore_ascii_case(b"identity") {
            &mut self.identity
        } else if name == b"*" {
            &mut self.any
        } else {
            return;
        };
        slot.get_or_insert(weight);
    }

    /// The enabled coding the client prefers, or `None` for identity.
    pub(crate) fn choose(self, gzip_enabled: bool, brotli_enabled: bool) -> Option<Coding> {
        let weight = |named: Option<u16>, enabled: bool| match enabled {
            true => named.or(self.any).unwrap_or(0),
            false => 0,
        };
        let brotli = weight(self.brotli, brotli_enabled);
        let gzip = weight(self.gzip, gzip_enabled);
        // Equal weights prefer brotli: smaller output for the same work.
        let (coding, best) = if brotli >= gzip {
            (Coding::Brotli, brotli)
        } else {
            (Coding::Gzip, gzip)
        };
        if best == 0 || self.identity.is_some_and(|identity| identity > best) {
            return None;
        }
        Some(coding)
    }
}

/// The part of `line` made of whole entries within `bytes_max` bytes, and whether that is all
/// of it. A line longer than the limit is cut after its last comma inside the limit (a comma
/// right at the limit keeps the entry before it).
fn whole_entries(line: &[u8], bytes_max: usize) -> (&[u8], bool) {
    if line.len() <= bytes_max {
        return (line, true);
    }
    let window = line.get(..=bytes_max).unwrap_or_default();
    let cut = window.iter().rposition(|&byte| byte == b',').unwrap_or(0);
    let whole = window.get(..cut).unwrap_or_default();
    debug_assert!(
        whole.len() <= bytes_max,
        "read past the Accept-Encoding limit"
    );
    (whole, false)
}

/// An entry's coding name and weight in thousandths: 1000 without a `q`, 0 when its `q` is
/// malformed (RFC 9110 §12.4.2: `"0" ["." 0*3DIGIT] / "1" ["." 0*3"0"]`). Parameters other
/// than `q` are not in the grammar; they are ignored.
fn parse_entry(entry: &[u8]) -> (&[u8], u16) {
    let mut parts = entry.split(|&byte| byte == b';');
    let name = parts.next().unwrap_or_default().trim_ascii();
    for parameter in parts {
        let mut key_value = parameter.splitn(2, |&byte| byte == b'=');
        let key = key_value.next().unwrap_or_default();
        let value = key_value.next();
        if key.trim_ascii().eq_ignore_ascii_case(b"q") {
            let weight = value.and_then(|value| parse_weight(value.trim_ascii()));
            return (name, weight.unwrap_or(0));
        }
    }
    (name, WEIGHT_MAX)
}

/// A `qvalue` in thousandths, or `None` when it is not one.
fn parse_weight(text: &[u8]) -> Option<u16> {
    let mut parts = text.splitn(2, |&byte| byte == b'.');
    let whole = parts.next().unwrap_or_default();
    let fraction = parts.next().unwrap_or_default();
    if fraction.len() > 3 || !fraction.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // `.5` is 500 thousandths: pad the digits to three.
    let thousandths = (0..3).fold(0u16, |sum, index| {
        sum * 10
            + fraction
                .get(index)
                .map_or(0, |digit| u16::from(digit - b'0'))
    });
    match whole {
        b"0" => Some(thousandths),
        b"1" if thousandths == 0 => Some(WEIGHT_MAX),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preferences(header: &str) -> Preferences {
        Preferences::parse(std::iter::once(header.as_bytes()))
    }

    /// The coding chosen for `header` with both codings enabled.
    fn chosen(header: &str) -> Option<Coding> {
        preferences(header).choose(true, true)
    }

    #[test]
    fn weights_follow_the_qvalue_grammar() {
        for (text, weight) in [
            ("0", Some(0)),
            ("0.", Some(0)),
            ("0.5", Some(500)),
            ("0.05", Some(50)),
            ("0.001", Some(1)),
            ("0.999", Some(999)),
            ("1", Some(1000)),
            ("1.", Some(1000)),
            ("1.000", Some(1000)),
            ("1.001", None),
            ("1.0000", None),
            ("0.1234", None),
            ("2", None),
            (".5", None),
            ("", None),
            ("-0", None),
            ("0.5x", None),
            ("\"0.5\"", None),
            ("0x1", None),
        ] {
            assert_eq!(parse_weight(text.as_bytes()), weight, "{text:?}");
        }
    }

    #[test]
    fn the_highest_weight_wins_and_ties_prefer_brotli() {
        assert_eq!(chosen("gzip"), Some(Coding::Gzip));
        assert_eq!(chosen("br"), Some(Coding::Brotli));
        assert_eq!(chosen("gzip, deflate, br, zstd"), Some(Coding::Brotli));
        assert_eq!(chosen("br;q=0.5, gzip;q=0.8"), Some(Coding::Gzip));
        assert_eq!(chosen("gzip;q=0.8, br;q=0.8"), Some(Coding::Brotli));
        assert_eq!(chosen("gzip;q=0.001, br;q=0"), Some(Coding::Gzip));
        assert_eq!(chosen("deflate, zstd"), None);
        // Only enabled codings are candidates.
        assert_eq!(
            preferences("br, gzip").choose(true, false),
            Some(Coding::Gzip)
        );
        assert_eq!(
            preferences("br, gzip").choose(false, true),
            Some(Coding::Brotli)
        );
        assert_eq!(preferences("br").choose(true, false), None);
    }

    #[test]
    fn q_zero_means_not_acceptable() {
        assert_eq!(chosen("gzip;q=0"), None);
        assert_eq!(chosen("br;q=0, gzip;q=0.0"), None);
        assert_eq!(chosen("br;q=0, gzip"), Some(Coding::Gzip));
        assert_eq!(chosen("identity;q=1, gzip;q=0"), None);
    }

    #[test]
    fn identity_wins_only_when_weighted_above_every_coding() {
        assert_eq!(chosen("identity"), None);
        assert_eq!(chosen(""), None);
        assert_eq!(chosen("identity;q=1, gzip;q=0.5"), None);
        assert_eq!(chosen("identity;q=0.5, gzip;q=0.5"), Some(Coding::Gzip));
        assert_eq!(chosen("identity;q=0, gzip"), Some(Coding::Gzip));
        // Not named: identity is the fallback, never preferred.
        assert_eq!(chosen("gzip;q=0.1"), Some(Coding::Gzip));
    }

    #[test]
    fn star_weighs_every_coding_not_named() {
        assert_eq!(chosen("*"), Some(Coding::Brotli));
        assert_eq!(chosen("*;q=0.5, br;q=0.2"), Some(Coding::Gzip));
        assert_eq!(chosen("*;q=0, gzip"), Some(Coding::Gzip));
        assert_eq!(chosen("*;q=0"), None);
        assert_eq!(chosen("br;q=0, *"), Some(Coding::Gzip));
        assert_eq!(chosen("identity, *;q=0"), None);
    }

    #[test]
    fn a_malformed_weight_makes_its_entry_unacceptable_and_only_it() {
        assert_eq!(chosen("br;q=2, gzip"), Some(Coding::Gzip));
        assert_eq!(chosen("br;q=high, gzip;q=0.1"), Some(Coding::Gzip));
        assert_eq!(chosen("br;q, gzip;q=0.1"), Some(Coding::Gzip));
        assert_eq!(chosen("br;q=, gzip;q=0.1"), Some(Coding::Gzip));
        assert_eq!(chosen("gzip;q=1.5"), None);
        assert_eq!(chosen("gzip;q=0.1234"), None);
        assert_eq!(chosen("*;q=x"), None);
        // Other parameters are not in the grammar; they change nothing.
        assert_eq!(chosen("gzip;level=9"), Some(Coding::Gzip));
        assert_eq!(chosen("gzip;level=9;q=0"), None);
        // Garbage does not fail the request, it is only not a coding.
        assert_eq!(chosen(";;,=,;q=1,\u{7f}"), None);
    }

    #[test]
    fn names_are_case_insensitive_and_whitespace_is_optional() {
        assert_eq!(chosen("GZIP"), Some(Coding::Gzip));
        assert_eq!(chosen("Br;Q=0.5"), Some(Coding::Brotli));
        assert_eq!(chosen("x-gzip"), Some(Coding::Gzip));
        assert_eq!(chosen("  br ; q = 0 ,\tgzip ;q=0.3  "), Some(Coding::Gzip));
        assert_eq!(chosen(",,, ,gzip,,"), Some(Coding::Gzip));
        assert_eq!(chosen("IDENTITY;q=1, gzip;q=0.5"), None);
    }

    #[test]
    fn the_first_entry_for_a_coding_counts() {
        assert_eq!(chosen("gzip;q=0, gzip"), None);
        assert_eq!(chosen("gzip, gzip;q=0"), Some(Coding::Gzip));
        assert_eq!(chosen("x-gzip;q=0, gzip"), None);
    }

    #[test]
    fn field_lines_are_one_list() {
        let lines = [&b"br;q=0"[..], &b"gzip"[..]];
        assert_eq!(
            Preferences::parse(lines.into_iter()).choose(true, true),
            Some(Coding::Gzip)
        );
        let request = Request::from_http1(
            &b"GET / HTTP/1.1\r\nHost: x\r\nAccept-Encoding: br;q=0\r\naccept-encoding: gzip\r\n\r\n"[..],
        )
        .unwrap();
        assert_eq!(
            Preferences::of(&request).choose(true, true),
            Some(Coding::Gzip)
        );
    }

    #[test]
    fn entries_beyond_the_limits_are_ignored() {
        // The entry limit: the coding after the filler entries is never read.
        let filler = "deflate, ".repeat(ACCEPT_ENCODING_ENTRIES_MAX);
        assert_eq!(chosen(&format!("{filler}gzip")), None);
        let filler = "deflate, ".repeat(ACCEPT_ENCODING_ENTRIES_MAX - 1);
        assert_eq!(chosen(&format!("{filler}gzip")), Some(Coding::Gzip));
        // The byte limit: an entry wholly inside it counts, one crossing it does not, even if
        // its first bytes would read as a coding (`gzip;q=1` cut to `gzip;q=0.`-like
        // prefixes must not be taken).
        let pad = |len: usize| format!("{},", "x".repeat(len - 1));
        let inside = format!("{}gzip", pad(ACCEPT_ENCODING_BYTES_MAX - 4));
        assert_eq!(inside.len(), ACCEPT_ENCODING_BYTES_MAX);
        assert_eq!(chosen(&inside), Some(Coding::Gzip));
        let crossing = format!("{}gzip;q=0.5", pad(ACCEPT_ENCODING_BYTES_MAX - 4));
        assert_eq!(chosen(&crossing), None);
        let comma_at_limit = format!("{}br,gzip", pad(ACCEPT_ENCODING_BYTES_MAX - 2));
        assert_eq!(comma_at_limit.as_bytes()[ACCEPT_ENCODING_BYTES_MAX], b',');
        assert_eq!(chosen(&comma_at_limit), Some(Coding::Brotli));
        // The limit covers all field lines together.
        let long = "x".repeat(ACCEPT_ENCODING_BYTES_MAX);
        let lines = [long.as_bytes(), &b"gzip"[..]];
        assert_eq!(
            Preferences::parse(lines.into_iter()).choose(true, true),
            None
        );
        // A megabyte of header is read no further than the limit.
        let huge = format!("{},gzip", "a".repeat(1 << 20));
        assert_eq!(chosen(&huge), None);
    }
}
