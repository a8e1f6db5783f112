//! The request as the upstream receives it: the client's method, target and end-to-end headers,
//! in HTTP/1.1, with what a proxy adds.
//!
//! - Hop-by-hop fields are removed (RFC 9110 §7.6.1): `Connection` and every field it names,
//!   `Keep-Alive`, `Proxy-Connection`, `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`,
//!   `Proxy-Authorization`; so are `Expect` (the engine answered it) and `Content-Length`
//!   (the framing is written again for the body as it is sent).
//! - `X-Forwarded-For` gets the client's address appended to those already there, as nginx's
//!   `$proxy_add_x_forwarded_for` does; `X-Forwarded-Proto` and `X-Forwarded-Host` are set to
//!   the scheme and `Host` the client used; `Forwarded` (RFC 7239) gets one element appended
//!   with the same three facts. Which of them to believe is the upstream's choice: it knows which
//!   proxies are its own.
//! - `Host` is passed on as the client sent it (as HAProxy and Envoy do; a request without one
//!   gets the upstream's `host:port`), and `X-Request-Id` carries this request's id, so the
//!   upstream's logs and ours name the same request.
//!
//! Invariant: nothing is allocated; the head is written straight into the connection's buffer.

use std::io::Write;
use std::net::IpAddr;

use bytes::{BufMut, BytesMut};

use super::hop::ConnectionTokens;
use crate::http1::body::BodyFraming;
use crate::http1::encode::write_decimal;
use crate::request::Request;

/// Besides the hop-by-hop fields: those this module writes itself, and `Expect` (the engine
/// answered it).
const WRITTEN_HERE: &[&str] = &[
    "expect",
    "content-length",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "forwarded",
    "x-request-id",
];

/// Writes the request line and header section for `request` into `out`: `path` is the
/// target's path (the full path, or the application's own when the prefix is stripped),
/// `authority` the upstream's `host:port` for a request that sent no `Host`.
pub(super) fn write_head(out: &mut BytesMut, request: &Request, path: &str, authority: &str) {
    out.put_slice(request.method().as_str().as_bytes());
    out.put_u8(b' ');
    out.put_slice(path.as_bytes());
    if let Some(query) = request.query() {
        out.put_u8(b'?');
        out.put_slice(query.as_bytes());
    }
    out.put_slice(b" HTTP/1.1\r\n");

    let connection = ConnectionTokens::of(request.headers());
    let mut host = None;
    for (name, value) in request.headers() {
        let dropped = connection.is_hop_by_hop(name)
            || WRITTEN_HERE
                .iter()
                .any(|field| name.eq_ignore_ascii_case(field));
        if name.eq_ignore_ascii_case("host") {
            host.get_or_insert(value);
        }
        if !dropped {
            put_field(out, name.as_bytes(), value);
        }
    }
    if host.is_none() {
        put_field(out, b"host", authority.as_bytes());
    }

    let client = request
        .client_addr()
        .map(|address| address.ip().to_canonical());
    write_forwarded_for(out, request, client);
    put_field(out, b"x-forwarded-proto", request.scheme().as_bytes());
    if let Some(host) = host {
        put_field(out, b"x-forwarded-host", host);
    }
    write_forwarded(out, request, client, host);
    put_field(out, b"x-request-id", request.request_id().as_bytes());

    match request.framing() {
        BodyFraming::None => {}
        BodyFraming::Length(length) => {
            out.put_slice(b"content-length: ");
            write_decimal(out, length);
            out.put_slice(b"\r\n");
        }
        BodyFraming::Chunked => out.put_slice(b"transfer-encoding: chunked\r\n"),
    }
    out.put_slice(b"\r\n");
}

fn put_field(out: &mut BytesMut, name: &[u8], value: &[u8]) {
    out.put_slice(name);
    out.put_slice(b": ");
    out.put_slice(value);
    out.put_slice(b"\r\n");
}

/// `X-Forwarded-For`: the values received, then the client's address.
fn write_forwarded_for(out: &mut BytesMut, request: &Request, client: Option<IpAddr>) {
    let mut values = request
        .headers()
        .filter(|(name, _)| name.eq_ignore_ascii_case("x-forwarded-for"))
        .map(|(_, value)| value.trim_ascii())
        .filter(|value| !value.is_empty())
        .peekable();
    if values.peek().is_none() && client.is_none() {
        return;
    }
    out.put_slice(b"x-forwarded-for: ");
    let mut first = true;
    for value in values {
        if !first {
            out.put_slice(b", ");
        }
        out.put_slice(value);
        first = false;
    }
    if let Some(client) = client {
        if !first {
            out.put_slice(b", ");
        }
        put_ip(out, client);
    }
    out.put_slice(b"\r\n");
}

/// `Forwarded`: the elements received, then ours (`for`, `host`, `proto`; RFC 7239 §4).
fn write_forwarded(
    out: &mut BytesMut,
    request: &Request,
    client: Option<IpAddr>,
    host: Option<&[u8]>,
) {
    out.put_slice(b"forwarded: ");
    for (_, value) in request
        .headers()
        .filter(|(name, _)| name.eq_ignore_ascii_case("forwarded"))
    {
        let value = value.trim_ascii();
        if !value.is_empty() {
            out.put_slice(value);
            out.put_slice(b", ");
        }
    }
    out.put_slice(b"for=");
    match client {
        // An IPv6 address is a quoted, bracketed string (§6).
        Some(IpAddr::V6(address)) => {
            out.put_slice(b"\"[");
            put_ip(out, IpAddr::V6(address));
            out.put_slice(b"]\"");
        }
        Some(address) => put_ip(out, address),
        None => out.put_slice(b"unknown"),
    }
    if let Some(host) = host {
        out.put_slice(b";host=");
        put_token_or_quoted(out, host);
    }
    out.put_slice(b";proto=");
    out.put_slice(request.scheme().as_bytes());
    out.put_slice(b"\r\n");
}

fn put_ip(out: &mut BytesMut, address: IpAddr) {
    match address {
        // The common case by hand: `Display` costs as much as the rest of the head.
        IpAddr::V4(address) => {
            for (index, octet) in address.octets().into_iter().enumerate() {
                if index > 0 {
                    out.put_u8(b'.');
                }
                write_decimal(out, u64::from(octet));
            }
        }
        // Into the buffer itself: no `String` on the way.
        IpAddr::V6(address) => {
            let _ = write!(out.writer(), "{address}");
        }
    }
}

/// A value as a token when it is one, otherwise as a quoted string (RFC 9110 §5.6.2, §5.6.4).
fn put_token_or_quoted(out: &mut BytesMut, value: &[u8]) {
    let is_token = !value.is_empty()
        && value
            .iter()
            .all(|&byte| byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte));
    if is_token {
        out.put_slice(value);
        return;
    }
    out.put_u8(b'"');
    for &byte in value {
        if byte == b'"' || byte == b'\\' {
            out.put_u8(b'\\');
        }
        out.put_u8(byte);
    }
    out.put_u8(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(raw: &str) -> String {
        let request = Request::from_http1(raw.as_bytes().to_vec()).unwrap();
        let mut out = BytesMut::new();
        write_head(&mut out, &request, request.path(), "10.0.0.9:8080");
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn hop_by_hop_fields_and_those_connection_names_are_not_forwarded() {
        let head = forwarded(
            "GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nConnection: keep-alive, X-Secret\r\n\
             Keep-Alive: timeout=5\r\nTE: trailers\r\nUpgrade: websocket\r\nX-Secret: 1\r\n\
             Proxy-Authorization: Basic eA==\r\nAccept: */*\r\nx-request-id: abc\r\n\r\n",
        );
        assert_eq!(
            head,
            "GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\
             x-forwarded-proto: http\r\nx-forwarded-host: example.com\r\n\
             forwarded: for=unknown;host=example.com;proto=http\r\nx-request-id: abc\r\n\r\n"
        );
    }

    #[test]
    fn forwarding_fields_are_appended_to_those_received() {
        let head = forwarded(
            "POST /up HTTP/1.1\r\nHost: example.com:8000\r\nX-Forwarded-For: 1.2.3.4\r\n\
             Forwarded: for=1.2.3.4\r\nContent-Length: 3\r\nx-request-id: r\r\n\r\nabc",
        );
        assert!(head.contains("\r\nx-forwarded-for: 1.2.3.4\r\n"), "{head}");
        assert!(
            head.contains(
                "\r\nforwarded: for=1.2.3.4, for=unknown;host=\"example.com:8000\";proto=http\r\n"
            ),
            "{head}"
        );
        assert!(head.contains("\r\ncontent-length: 3\r\n"), "{head}");
        assert!(head.ends_with("\r\n\r\n"), "{head}");
    }

    #[test]
    fn a_request_without_host_names_the_upstream() {
        let head = forwarded("GET / HTTP/1.0\r\n\r\n");
        assert!(
            head.starts_with("GET / HTTP/1.1\r\nhost: 10.0.0.9:8080\r\n"),
            "{head}"
        );
        assert!(!head.contains("x-forwarded-host"), "{head}");
    }
}
