//! Every way a request or connection can be refused before a handler sees it, and the one
//! function that turns each into its status and a short plain-text reason.
//!
//! Invariant: a [`ParseError`] always ends the connection. Once framing is in doubt nothing
//! after the bad request can be trusted, so the shard answers with the status below, sends
//! `connection: close`, and closes (RFC 9112 §9.6 and §6.3: a server that cannot determine the
//! message length MUST close the connection after responding).

use http::StatusCode;

/// Why a request could not be accepted. Small and `Copy`: it travels on the hot path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// The request line or a header line is not valid HTTP/1.x syntax.
    Malformed,
    /// The request line names a version other than HTTP/1.0 or HTTP/1.1.
    VersionNotSupported,
    /// The request target is neither origin-form, absolute-form nor `*` (for `OPTIONS`).
    BadTarget,
    /// The request target is longer than `Limits::uri_bytes_max`.
    UriTooLong,
    /// The head is longer than `Limits::head_bytes_max`.
    HeadTooLarge,
    /// More header fields than `Limits::headers_count_max`.
    TooManyHeaders,
    /// HTTP/1.1 request without a `Host` header (RFC 9112 §3.2).
    MissingHost,
    /// More than one `Host` header (RFC 9112 §3.2).
    DuplicateHost,
    /// A `Host` value outside `uri-host [ ":" port ]` (RFC 9112 §3.2, RFC 9110 §7.2).
    BadHost,
    /// A `Content-Length` that is not a non-negative decimal, or several that differ.
    InvalidContentLength,
    /// Both `Content-Length` and `Transfer-Encoding`: refused so no two parsers can frame the
    /// message differently (request smuggling, RFC 9112 §6.3 point 3).
    LengthAndTransferEncoding,
    /// `Transfer-Encoding` on an HTTP/1.0 request (RFC 9112 §6.1: treat as faulty).
    TransferEncodingOnHttp10,
    /// A transfer coding other than `chunked` (RFC 9112 §6.1: 501).
    UnsupportedTransferCoding,
    /// A chunk-size line, chunk delimiter or trailer section that is not valid.
    BadChunk,
    /// The body is longer than `Limits::body_bytes_max`.
    BodyTooLarge,
    /// An `Expect` other than `100-continue` (RFC 9110 §10.1.1: 417).
    ExpectationFailed,
    /// A `x-request-timeout-seconds` header that is not a number of seconds.
    BadTimeoutHeader,
    /// The client did not send its head, or the next piece of its body, in time (408; RFC 9110
    /// §15.5.9: the server closes the connection).
    ReadTimeout,
    /// The shard already holds `Limits::connections_per_shard_max` connections (503).
    Overloaded,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for ParseError {}

impl ParseError {
    /// The status this error is answered with.
    pub fn status(self) -> StatusCode {
        use ParseError::*;
        match self {
            Malformed
            | BadTarget
            | MissingHost
            | DuplicateHost
            | BadHost
            | InvalidContentLength
            | LengthAndTransferEncoding
            | TransferEncodingOnHttp10
            | BadChunk
            | BadTimeoutHeader => StatusCode::BAD_REQUEST,
            VersionNotSupported => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            UriTooLong => StatusCode::URI_TOO_LONG,
            HeadTooLarge | TooManyHeaders => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            UnsupportedTransferCoding => StatusCode::NOT_IMPLEMENTED,
            BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ExpectationFailed => StatusCode::EXPECTATION_FAILED,
            ReadTimeout => StatusCode::REQUEST_TIMEOUT,
            Overloaded => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The plain-text body sent with the status: what was wrong, in a few words.
    pub fn reason(self) -> &'static str {
        use ParseError::*;
        match self {
            Malformed => "Bad Request: malformed request line or header",
            VersionNotSupported => "HTTP Version Not Supported: use HTTP/1.0 or HTTP/1.1",
            BadTarget => "Bad Request: invalid request target",
            UriTooLong => "URI Too Long",
            HeadTooLarge => "Request Header Fields Too Large",
            TooManyHeaders => "Request Header Fields Too Large: too many header fields",
            MissingHost => "Bad Request: missing Host header",
            DuplicateHost => "Bad Request: more than one Host header",
            BadHost => "Bad Request: invalid Host header",
            InvalidContentLength => "Bad Request: invalid Content-Length",
            LengthAndTransferEncoding => "Bad Request: both Content-Length and Transfer-Encoding",
            TransferEncodingOnHttp10 => "Bad Request: Transfer-Encoding on HTTP/1.0",
            UnsupportedTransferCoding => {
                "Not Implemented: only chunked transfer coding is supported"
            }
            BadChunk => "Bad Request: invalid chunked body",
            BodyTooLarge => "Payload Too Large",
            ExpectationFailed => "Expectation Failed: only 100-continue is supported",
            BadTimeoutHeader => "Bad Request: invalid x-request-timeout-seconds",
            ReadTimeout => "Request Timeout: the request was not received in time",
            Overloaded => "Service Unavailable: too many connections",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_maps_to_a_client_or_server_error_status() {
        use ParseError::*;
        let all = [
            Malformed,
            VersionNotSupported,
            BadTarget,
            UriTooLong,
            HeadTooLarge,
            TooManyHeaders,
            MissingHost,
            DuplicateHost,
            BadHost,
            InvalidContentLength,
            LengthAndTransferEncoding,
            TransferEncodingOnHttp10,
            UnsupportedTransferCoding,
            BadChunk,
            BodyTooLarge,
            ExpectationFailed,
            BadTimeoutHeader,
            ReadTimeout,
            Overloaded,
        ];
        for error in all {
            let status = error.status().as_u16();
            assert!((400..=505).contains(&status), "{error:?} -> {status}");
            assert!(!error.reason().is_empty());
        }
        assert_eq!(UriTooLong.status(), StatusCode::URI_TOO_LONG);
        assert_eq!(TooManyHeaders.status().as_u16(), 431);
        assert_eq!(UnsupportedTransferCoding.status().as_u16(), 501);
    }
}
