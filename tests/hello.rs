//! The seed example end to end: `GET /` answers `200 hello` with the engine's headers.

mod common;

use std::io::Write;

use common::*;

#[test]
fn get_root_answers_hello_with_date_length_and_request_id() {
    let server = start_app(ringserve::Application::new(|| Hello));
    let response = get(server.local_addr(), "/");
    assert_eq!(
        response.redacted(),
        "HTTP/1.1 200 OK\r\ndate: <date>\r\nx-request-id: <id>\r\ncontent-length: 5\r\n\
         content-type: text/plain; charset=utf-8\r\n\r\nhello"
    );
    let date = response.header("date").unwrap();
    assert!(httpdate_like(date), "{date}");
    let id = response.header("x-request-id").unwrap();
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|byte| byte.is_ascii_hexdigit()));
    server.shutdown();
}

#[test]
fn keep_alive_serves_many_requests_on_one_connection() {
    let server = start_app(ringserve::Application::new(|| Hello));
    let mut stream = connect(server.local_addr());
    let mut ids = std::collections::HashSet::new();
    for _ in 0..50 {
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        let response = read_response(&mut stream, false);
        assert_eq!(response.status(), 200);
        assert_eq!(response.body, b"hello");
        assert!(ids.insert(response.header("x-request-id").unwrap().to_owned()));
    }
}

#[test]
fn a_real_http_client_agrees() {
    let server = start_app(ringserve::Application::new(|| Hello));
    let url = format!("http://{}/", server.local_addr());
    let agent = ureq::Agent::new_with_defaults();
    for _ in 0..3 {
        let mut response = agent.get(&url).call().expect("ureq request");
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-length"], "5");
        assert!(response.headers().contains_key("date"));
        assert!(response.headers().contains_key("x-request-id"));
        assert_eq!(response.body_mut().read_to_string().unwrap(), "hello");
    }
}

fn httpdate_like(value: &str) -> bool {
    value.len() == 29 && value.ends_with(" GMT") && value.as_bytes()[3] == b','
}
