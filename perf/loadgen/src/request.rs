//! The request bytes, built once per run: every request of a run is identical, so a
//! connection writes the same (pipelined) batch over and over without formatting anything.

use crate::cli::{Args, Method};

/// One run's request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// One complete request: head and body.
    pub bytes: Vec<u8>,
    /// The request itself asks the server to close (`connection: close` among `--header`s).
    pub closes: bool,
}

impl Request {
    /// Builds the request for `args`: `Host` from the URL unless a `--header` sets it, the
    /// extra headers in order, and `content-length` for a body (always for POST).
    pub fn build(args: &Args) -> Request {
        let mut head = format!("{} {} HTTP/1.1\r\n", args.method.as_str(), args.path);
        let has_host = args
            .headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("host"));
        if !has_host {
            head.push_str(&format!("host: {}\r\n", args.url.authority));
        }
        let mut closes = false;
        for (name, value) in &args.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
            if name.eq_ignore_ascii_case("connection") {
                closes |= value
                    .split(',')
                    .any(|token| token.trim().eq_ignore_ascii_case("close"));
            }
        }
        if args.method == Method::Post || args.body_bytes > 0 {
            head.push_str(&format!("content-length: {}\r\n", args.body_bytes));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend((0..args.body_bytes).map(|i| b"0123456789abcdef"[i % 16]));
        Request { bytes, closes }
    }

    /// `depth` copies back to back: one pipelined write.
    pub fn batch(&self, depth: usize) -> Vec<u8> {
        self.bytes.repeat(depth)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Command, parse};

    fn build(line: &str) -> Request {
        match parse(line.split_whitespace().map(str::to_owned)) {
            Ok(Command::Run(args)) => Request::build(&args),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn get_has_host_and_no_body() {
        let request = build("--url http://127.0.0.1:8050/items/5");
        assert_eq!(
            request.bytes,
            b"GET /items/5 HTTP/1.1\r\nhost: 127.0.0.1:8050\r\n\r\n".to_vec()
        );
        assert!(!request.closes);
        assert_eq!(request.batch(2).len(), 2 * request.bytes.len());
    }

    #[test]
    fn post_body_and_headers() {
        let request = build(
            "--url http://localhost:1/ -m POST --path /echo --body-bytes 20 -H Host:other -H Connection:close",
        );
        let text = String::from_utf8(request.bytes).unwrap();
        assert_eq!(
            text,
            "POST /echo HTTP/1.1\r\nHost: other\r\nConnection: close\r\ncontent-length: 20\r\n\r\n0123456789abcdef0123"
        );
        assert!(request.closes);
        let empty = build("--url http://localhost:1/ -m POST");
        assert!(empty.bytes.ends_with(b"content-length: 0\r\n\r\n"));
    }
}
