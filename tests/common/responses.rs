//! The exact responses the tests expect, redacted as [`super::redact`] redacts what they read:
//! `date` and generated `x-request-id` values replaced by placeholders.

/// The content type `Response::text` sets, as a header line.
pub const TEXT_PLAIN: &str = "content-type: text/plain; charset=utf-8\r\n";

/// A whole-body response: the status line, the engine's own headers (with `connection:
/// <value>` when given), then `headers` (each line ending in CRLF), then `body`.
pub fn expected_response(
    status_line: &str,
    connection: Option<&str>,
    headers: &str,
    body: &str,
) -> String {
    let connection = connection
        .map(|value| format!("connection: {value}\r\n"))
        .unwrap_or_default();
    format!(
        "{status_line}\r\ndate: <date>\r\nx-request-id: <id>\r\n{connection}content-length: {}\r\n\
         {headers}\r\n{body}",
        body.len()
    )
}

/// A whole-body response on a connection that stays open.
pub fn expected(status_line: &str, headers: &str, body: &str) -> String {
    expected_response(status_line, None, headers, body)
}

/// A `text/plain` response, `connection: close` when `close`, with `extra` header lines after
/// the content type.
pub fn text_response(status_line: &str, close: bool, extra: &str, body: &str) -> String {
    let close = close.then_some("close");
    expected_response(status_line, close, &format!("{TEXT_PLAIN}{extra}"), body)
}

/// The engine's plain `500` for a handler that panicked.
pub fn internal_server_error() -> String {
    text_response(
        "HTTP/1.1 500 Internal Server Error",
        false,
        "",
        "Internal Server Error",
    )
}

/// The head of a `200` streamed with chunked framing, `connection: close` when `close`, plus
/// `extra` header lines.
pub fn chunked_head(close: bool, extra: &str) -> String {
    let connection = if close { "connection: close\r\n" } else { "" };
    format!(
        "HTTP/1.1 200 OK\r\ndate: <date>\r\nx-request-id: <id>\r\n{connection}\
         transfer-encoding: chunked\r\n{extra}\r\n"
    )
}

/// The body of a whole response read as text: everything after the head.
pub fn body_of(response: &str) -> &str {
    response.split_once("\r\n\r\n").map_or("", |(_, body)| body)
}

/// Whether `id` has the shape of a request id the engine generates: 32 lowercase hex digits.
pub fn is_generated_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
}

/// Asserts the engine's `408` for a request that timed out after `seconds` (as its body prints
/// them), naming the request's id, on a connection it closes; returns the id.
#[track_caller]
pub fn assert_timed_out(response: &super::RawResponse, seconds: &str) -> String {
    let id = response
        .header("x-request-id")
        .expect("x-request-id")
        .to_owned();
    assert_eq!(
        response.redacted(),
        text_response(
            "HTTP/1.1 408 Request Timeout",
            true,
            "",
            &format!("Request {id} timed out after {seconds}s.")
        )
    );
    id
}
