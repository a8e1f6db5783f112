//! The `Host` field's grammar (RFC 9112 §3.2, RFC 9110 §7.2): `Host = uri-host [ ":" port ]`,
//! with `uri-host` and `port` as RFC 3986 §3.2.2 and §3.2.3 define them.
//!
//! Invariant: [`is_valid_host`] reads each byte of the value at most three times (once in the
//! common case of plain bytes), allocates nothing
//! and accepts exactly the values of that grammar whose port fits in 16 bits, the empty value
//! included (RFC 9112 §3.2: a client sends it when the target URI has no authority).

use std::net::Ipv6Addr;

/// Whether `value` is a valid `Host` field value.
pub fn is_valid_host(value: &[u8]) -> bool {
    if value.first() == Some(&b'[') {
        return is_bracketed_host(value);
    }
    // The common case in one table-driven pass: a name or IPv4 address of plain bytes, then
    // the port if there is one.
    let name_end = value
        .iter()
        .position(|&byte| !REG_NAME_BYTE[usize::from(byte)])
        .unwrap_or(value.len());
    match value.get(name_end) {
        None => true,
        Some(b':') => is_port(&value[name_end + 1..]),
        Some(b'%') => {
            let colon = value.iter().position(|&byte| byte == b':');
            let (host, port) = match colon {
                Some(colon) => (&value[..colon], &value[colon + 1..]),
                None => (value, &[][..]),
            };
            is_reg_name(host) && is_port(port)
        }
        Some(_) => false,
    }
}

/// `IP-literal [ ":" port ]`.
fn is_bracketed_host(value: &[u8]) -> bool {
    debug_assert_eq!(
        value.first(),
        Some(&b'['),
        "an IP literal opens with a bracket"
    );
    let Some(close) = value.iter().position(|&byte| byte == b']') else {
        return false;
    };
    if !is_ip_literal(&value[1..close]) {
        return false;
    }
    match &value[close + 1..] {
        [] => true,
        [b':', port @ ..] => is_port(port),
        _ => false,
    }
}

/// The bytes a `reg-name` holds apart from its percent-encodings: `unreserved / sub-delims`.
static REG_NAME_BYTE: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] = is_unreserved(byte as u8) || is_sub_delim(byte as u8);
        byte += 1;
    }
    table
};

/// `reg-name = *( unreserved / pct-encoded / sub-delims )`; an IPv4 address is one too.
fn is_reg_name(host: &[u8]) -> bool {
    let mut rest = host;
    while let Some((&byte, after)) = rest.split_first() {
        rest = match byte {
            b'%' => match after {
                [high, low, tail @ ..] if high.is_ascii_hexdigit() && low.is_ascii_hexdigit() => {
                    tail
                }
                _ => return false,
            },
            _ if REG_NAME_BYTE[usize::from(byte)] => after,
            _ => return false,
        };
    }
    true
}

/// `IP-literal = "[" ( IPv6address / IPvFuture ) "]"`, given what is inside the brackets. An
/// IPv6 address may carry a zone (`%25` and its id, RFC 6874).
fn is_ip_literal(inside: &[u8]) -> bool {
    if let [b'v' | b'V', rest @ ..] = inside {
        return is_ipv_future(rest);
    }
    let (address, zone) = match inside.windows(3).position(|window| window == b"%25") {
        Some(at) => (&inside[..at], Some(&inside[at + 3..])),
        None => (inside, None),
    };
    let is_address =
        std::str::from_utf8(address).is_ok_and(|text| text.parse::<Ipv6Addr>().is_ok());
    is_address && zone.is_none_or(|zone| !zone.is_empty() && is_reg_name(zone))
}

/// `IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )`, after its `v`.
fn is_ipv_future(rest: &[u8]) -> bool {
    let Some(dot) = rest.iter().position(|&byte| byte == b'.') else {
        return false;
    };
    let (version, address) = (&rest[..dot], &rest[dot + 1..]);
    !version.is_empty()
        && version.iter().all(u8::is_ascii_hexdigit)
        && !address.is_empty()
        && address
            .iter()
            .all(|&byte| is_unreserved(byte) || is_sub_delim(byte) || byte == b':')
}

/// `port = *DIGIT`, and a TCP port: at most 65535. Empty is allowed, as RFC 3986 allows it.
fn is_port(port: &[u8]) -> bool {
    port.len() <= 5
        && port.iter().all(u8::is_ascii_digit)
        && port
            .iter()
            .fold(0u32, |value, &digit| value * 10 + u32::from(digit - b'0'))
            <= u32::from(u16::MAX)
}

const fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

const fn is_sub_delim(byte: u8) -> bool {
    matches!(
        byte,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_of_the_grammar_are_valid() {
        for host in [
            "",
            "a",
            "example.com",
            "example.com:8080",
            "127.0.0.1",
            "127.0.0.1:65535",
            "x:",
            "x:0",
            "caf%C3%A9.example",
            "a-b_c~d!$&'()*+,;=",
            "[::1]",
            "[::1]:8000",
            "[2001:db8::1%25eth0]",
            "[::ffff:192.0.2.1]:80",
            "[v1.fe80::a+b]",
        ] {
            assert!(is_valid_host(host.as_bytes()), "{host:?}");
        }
    }

    #[test]
    fn values_outside_the_grammar_are_invalid() {
        for host in [
            "a b/c", "a/b", "a b", "x:99999", "x:65536", "x:123456", "x:8o", "x:1:2", "[::1",
            "::1", "[::1]x", "[::1]:x", "[]", "[zz::1]", "[v.x]", "[v1.]", "a%2", "a%zz", "a@b",
            "a?b", "a#b", "a\\b", "[::1%25]",
        ] {
            assert!(!is_valid_host(host.as_bytes()), "{host:?}");
        }
        assert!(!is_valid_host(b"caf\xc3\xa9"));
        assert!(!is_valid_host(b"a\x7f"));
    }
}
