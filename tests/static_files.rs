//! `ringserve.static:Files` over loopback: files and index pages, validators and 304s, byte
//! ranges, precompressed siblings, large files streamed with their length, and every way out
//! of the root refused with 404 — `..` raw and percent-encoded, NUL, symbolic links out.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ringserve::builtin::{Files, FilesArgs};
use ringserve::{Application, Serve, ServerHandle};

use common::{RawResponse, connect, get_on, request, scratch, short_grace_options};

const SECRET: &str = "the secret outside the root";

/// `<dir>/outside.txt` (not to be served) and `<dir>/www/`: the root.
fn site() -> (PathBuf, PathBuf) {
    // One folder per test: the tests run side by side.
    let dir = scratch(&format!(
        "static-{}",
        std::thread::current().name().unwrap_or("test")
    ));
    let root = dir.join("www");
    let write = |name: &str, bytes: &[u8]| {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    };
    std::fs::write(dir.join("outside.txt"), SECRET).unwrap();
    write("index.html", b"<h1>home</h1>");
    write("a.txt", b"0123456789");
    write("docs/index.html", b"<h1>docs</h1>");
    write("empty/.keep", b"");
    write("style.css", b"body { color: red }");
    write("style.css.gz", b"<gzip bytes>");
    write("style.css.br", b"<brotli bytes>");
    write("big.bin", &big());
    std::os::unix::fs::symlink("a.txt", root.join("link.txt")).unwrap();
    std::os::unix::fs::symlink(dir.join("outside.txt"), root.join("escape.txt")).unwrap();
    std::os::unix::fs::symlink(&dir, root.join("up")).unwrap();
    // A FIFO: opening it for reading would wait for a writer.
    let fifo =
        std::ffi::CString::new(root.join("pipe").into_os_string().into_encoded_bytes()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    (dir, root)
}

/// 600 KiB that are not all alike, so an offset mistake shows.
fn big() -> Vec<u8> {
    (0..600 * 1024u32).map(|i| (i % 251) as u8).collect()
}

fn serve(root: &Path, index: Option<&str>) -> ServerHandle {
    let files = Files::new(&FilesArgs {
        root: root.to_owned(),
        index: index.map(str::to_owned),
        precompressed: true,
        cache_control: Some("max-age=60".to_owned()),
    })
    .expect("the root opens");
    common::start(
        Serve::new()
            .options(short_grace_options())
            .app(Application::new(move || files.clone()).route_prefix("/static")),
    )
}

fn get(addr: SocketAddr, path: &str, headers: &str) -> RawResponse {
    request(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\n{headers}\r\n").as_bytes(),
    )
}

#[test]
fn a_file_is_served_with_its_type_and_validators() {
    let (_dir, root) = site();
    let server = serve(&root, Some("index.html"));
    let addr = server.local_addr();
    let response = get(addr, "/static/a.txt", "");
    let etag = response.header("etag").unwrap().to_owned();
    let modified = response.header("last-modified").unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with("-a\""), "{etag}");
    assert_eq!(
        response.redacted(),
        format!(
            "HTTP/1.1 200 OK\r\ndate: <date>\r\nx-request-id: <id>\r\ncontent-length: 10\r\n\
             content-type: text/plain; charset=utf-8\r\naccept-ranges: bytes\r\netag: {etag}\r\n\
             last-modified: {modified}\r\ncache-control: max-age=60\r\nvary: accept-encoding\r\n\r\n0123456789"
        )
    );
    let head = request(addr, b"HEAD /static/a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(head.status(), 200);
    assert_eq!(head.header("content-length"), Some("10"));
    assert_eq!(head.header("etag"), Some(etag.as_str()));
    assert!(head.body.is_empty());
    assert_eq!(
        get(addr, "/static/link.txt", "").body_text(),
        "0123456789",
        "a link inside the root"
    );
    let post = request(
        addr,
        b"POST /static/a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(post.status(), 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
}

#[test]
fn directories_get_their_index_or_a_redirect_to_their_slash() {
    let (_dir, root) = site();
    let server = serve(&root, Some("index.html"));
    let addr = server.local_addr();
    let home = get(addr, "/static/", "");
    assert_eq!(home.body_text(), "<h1>home</h1>");
    assert_eq!(
        home.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let moved = get(addr, "/static/docs?lang=en", "");
    assert_eq!(moved.status(), 301);
    assert_eq!(moved.header("location"), Some("./docs/?lang=en"));
    assert_eq!(
        get(addr, "/static", "").header("location"),
        Some("./static/")
    );
    assert_eq!(get(addr, "/static/docs/", "").body_text(), "<h1>docs</h1>");
    assert_eq!(get(addr, "/static/empty/", "").status(), 404, "no listings");
    drop(server);
    let server = serve(&root, None);
    assert_eq!(get(server.local_addr(), "/static/", "").status(), 404);
}

#[test]
fn validators_answer_304_and_ranges_206_or_416() {
    let (_dir, root) = site();
    let server = serve(&root, Some("index.html"));
    let addr = server.local_addr();
    let first = get(addr, "/static/a.txt", "");
    let etag = first.header("etag").unwrap().to_owned();
    let modified = first.header("last-modified").unwrap().to_owned();
    let not_modified = get(
        addr,
        "/static/a.txt",
        &format!("If-None-Match: \"x\", {etag}\r\n"),
    );
    assert_eq!(not_modified.status(), 304);
    assert_eq!(not_modified.header("etag"), Some(etag.as_str()));
    assert!(not_modified.body.is_empty());
    assert_eq!(
        get(
            addr,
            "/static/a.txt",
            &format!("If-Modified-Since: {modified}\r\n")
        )
        .status(),
        304
    );
    assert_eq!(
        get(addr, "/static/a.txt", "If-None-Match: \"other\"\r\n").status(),
        200
    );
    let part = get(addr, "/static/a.txt", "Range: bytes=2-5\r\n");
    assert_eq!(part.status(), 206);
    assert_eq!(part.header("content-range"), Some("bytes 2-5/10"));
    assert_eq!(part.body_text(), "2345");
    assert_eq!(
        get(addr, "/static/a.txt", "Range: bytes=-3\r\n").body_text(),
        "789"
    );
    let stale = get(
        addr,
        "/static/a.txt",
        "Range: bytes=2-5\r\nIf-Range: \"stale\"\r\n",
    );
    assert_eq!(
        stale.status(),
        200,
        "If-Range for another version: the whole file"
    );
    assert_eq!(stale.body_text(), "0123456789");
    let fresh = get(
        addr,
        "/static/a.txt",
        &format!("Range: bytes=2-5\r\nIf-Range: {etag}\r\n"),
    );
    assert_eq!(fresh.status(), 206);
    let past = get(addr, "/static/a.txt", "Range: bytes=10-\r\n");
    assert_eq!(past.status(), 416);
    assert_eq!(past.header("content-range"), Some("bytes */10"));
}

/// A client that reads nothing for a while fills the socket's buffers: the file's pieces,
/// sent from their own memory, wait for room and still arrive whole, in order.
#[test]
fn a_large_file_reaches_a_client_that_reads_late_whole() {
    let (_dir, root) = site();
    let large: Vec<u8> = (0..12 * 1024 * 1024u32).map(|i| (i % 241) as u8).collect();
    std::fs::write(root.join("large.bin"), &large).unwrap();
    let server = serve(&root, None);
    let mut stream = connect(server.local_addr());
    // A small receive buffer, so the server's sends have to wait.
    socket2::SockRef::from(&stream)
        .set_recv_buffer_size(16 * 1024)
        .unwrap();
    std::io::Write::write_all(
        &mut stream,
        b"GET /static/large.bin HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let response = common::read_response(&mut stream, false);
    assert_eq!(response.header("content-length"), Some("12582912"));
    assert!(response.body == large, "the bytes of the file, in order");
}

#[test]
fn a_large_file_streams_with_its_length_and_its_ranges_cross_pieces() {
    let (_dir, root) = site();
    let server = serve(&root, Some("index.html"));
    let addr = server.local_addr();
    let whole = big();
    let mut stream = connect(addr);
    let response = get_on(&mut stream, "/static/big.bin");
    assert_eq!(response.header("content-length"), Some("614400"));
    assert_eq!(response.header("transfer-encoding"), None);
    assert_eq!(
        response.header("content-type"),
        Some("application/octet-stream")
    );
    assert!(response.body == whole, "the bytes of the file");
    // Kept alive after it: the length delimited it.
    let part = get_on(&mut stream, "/static/a.txt");
    assert_eq!(part.body_text(), "0123456789");
    let span = get(addr, "/static/big.bin", "Range: bytes=200000-500000\r\n");
    assert_eq!(span.status(), 206);
    assert_eq!(
        span.header("content-range"),
        Some("bytes 200000-500000/614400")
    );
    assert!(span.body == whole[200_000..=500_000]);
}

#[test]
fn precompressed_siblings_follow_accept_encoding() {
    let (_dir, root) = site();
    let server = serve(&root, Some("index.html"));
    let addr = server.local_addr();
    let served = |accept: &str| {
        let response = get(
            addr,
            "/static/style.css",
            &format!("Accept-Encoding: {accept}\r\n"),
        );
        assert_eq!(
            response.header("content-type"),
            Some("text/css; charset=utf-8")
        );
        assert_eq!(response.header("vary"), Some("accept-encoding"));
        (
            response.header("content-encoding").map(str::to_owned),
            response.body_text(),
        )
    };
    assert_eq!(
        served("gzip, br"),
        (Some("br".to_owned()), "<brotli bytes>".to_owned())
    );
    assert_eq!(
        served("gzip"),
        (Some("gzip".to_owned()), "<gzip bytes>".to_owned())
    );
    assert_eq!(
        served("br;q=0, gzip"),
        (Some("gzip".to_owned()), "<gzip bytes>".to_owned())
    );
    assert_eq!(served("identity"), (None, "body { color: red }".to_owned()));
    let brotli = get(addr, "/static/style.css", "Accept-Encoding: br\r\n");
    let plain = get(addr, "/static/style.css", "");
    assert_ne!(
        brotli.header("etag"),
        plain.header("etag"),
        "each representation its own tag"
    );
    // A file without siblings is sent as it is.
    assert_eq!(
        get(addr, "/static/a.txt", "Accept-Encoding: br\r\n").header("content-encoding"),
        None
    );
}

#[test]
fn no_path_leaves_the_root() {
    let (_dir, root) = site();
    let server = serve(&root, Some("index.html"));
    let addr = server.local_addr();
    for target in [
        "/static/../outside.txt",
        "/static/%2e%2e/outside.txt",
        "/static/%2E%2E%2Foutside.txt",
        "/static/..%2foutside.txt",
        "/static/docs/../../outside.txt",
        "/static/a.txt%00.html",
        "/static/escape.txt",
        "/static/up/outside.txt",
        "/static/up/www/a.txt",
        "/static/missing.txt",
        "/static/pipe",
    ] {
        let response = get(addr, target, "");
        assert_eq!(response.status(), 404, "{target}: {}", response.raw);
        assert!(!response.body_text().contains(SECRET), "{target}");
    }
}

/// curl, as a client resuming a download does: the rest of the file from where it stopped.
#[test]
fn curl_resumes_a_large_download_with_a_range() {
    if common::curl_missing("") {
        return;
    }
    let (dir, root) = site();
    let server = serve(&root, Some("index.html"));
    let whole = big();
    let partial = dir.join("download.bin");
    std::fs::write(&partial, &whole[..123_456]).unwrap();
    let output = std::process::Command::new("curl")
        .args(["-sS", "--fail", "--max-time", "10", "-C", "-", "-o"])
        .arg(&partial)
        .arg(format!("http://{}/static/big.bin", server.local_addr()))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        std::fs::read(&partial).unwrap() == whole,
        "resumed to the whole file"
    );
}

/// Behind `Compression`, a HEAD gets the fields its GET gets: a large text file is streamed,
/// so both say `gzip` and neither an identity length.
#[test]
fn behind_compression_a_head_says_what_its_get_says() {
    let (_dir, root) = site();
    let text: String = (0..40_000).map(|i| format!("line {i}\n")).collect();
    std::fs::write(root.join("big.txt"), &text).unwrap();
    let files = Files::new(&FilesArgs {
        root: root.clone(),
        index: None,
        precompressed: false,
        cache_control: None,
    })
    .unwrap();
    let server = common::start(
        Serve::new()
            .options(short_grace_options())
            .layer(ringserve::middleware::Compression::new())
            .app(Application::new(move || files.clone()).route_prefix("/static")),
    );
    let addr = server.local_addr();
    let head = request(
        addr,
        b"HEAD /static/big.txt HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n",
    );
    assert_eq!(
        head.header("content-encoding"),
        Some("gzip"),
        "{}",
        head.raw
    );
    assert_eq!(head.header("content-length"), None, "{}", head.raw);
    let answer = common::exchange_until_close(
        addr,
        b"GET /static/big.txt HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n",
    );
    let (get_head, _) = answer.split_once("\r\n\r\n").unwrap();
    assert!(get_head.contains("content-encoding: gzip"), "{get_head}");
    assert!(
        get_head.contains("transfer-encoding: chunked"),
        "{get_head}"
    );
}

/// A client that reads slowly: the socket fills, and the rest of the file waits for room
/// while the stream of its pieces is held back.
#[test]
fn a_slow_reader_gets_a_large_file_whole() {
    use std::io::{Read, Write};
    let (_dir, root) = site();
    let bytes: Vec<u8> = (0..8 * 1024 * 1024u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(root.join("huge.bin"), &bytes).unwrap();
    let server = serve(&root, None);
    let mut stream = connect(server.local_addr());
    stream
        .write_all(b"GET /static/huge.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let mut received = Vec::new();
    let mut piece = vec![0u8; 64 * 1024];
    loop {
        let read = stream.read(&mut piece).unwrap();
        if read == 0 {
            break;
        }
        received.extend_from_slice(&piece[..read]);
        if received.len() % (1 << 20) < read {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    let split = received
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .unwrap()
        + 4;
    let head = String::from_utf8_lossy(&received[..split]);
    assert!(head.contains("content-length: 8388608"), "{head}");
    assert!(received[split..] == bytes[..], "the whole file, in order");
}
