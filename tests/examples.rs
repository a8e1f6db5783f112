//! The examples the README points to, run as a user runs them: each compiled example binary is
//! started on a free port (through `RINGSERVE_PORT`) and answered over loopback.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// A running example process, killed when dropped.
struct Example {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `cargo test` builds every example next to the test binaries' `deps` folder.
fn example_path(name: &str) -> PathBuf {
    let test_binary = std::env::current_exe().expect("test binary path");
    let profile_dir = test_binary
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target profile folder");
    profile_dir.join("examples").join(name)
}

fn start_example(name: &str) -> Example {
    start_example_on(name, "1")
}

/// Starts an example on `cores` shards (`RINGSERVE_CORES`).
fn start_example_on(name: &str, cores: &str) -> Example {
    let port = common::fresh_port();
    let child = Command::new(example_path(name))
        .env("RINGSERVE_HOST", "127.0.0.1")
        .env("RINGSERVE_PORT", port.to_string())
        .env("RINGSERVE_CORES", cores)
        .spawn()
        .unwrap_or_else(|error| {
            panic!("starting example {name} ({error}); plain `cargo test` builds the examples")
        });
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let example = Example { child, addr };
    common::wait_listening(addr, &format!("example {name}"));
    example
}

#[test]
fn hello_answers_hello() {
    let example = start_example("hello");
    let response = common::get(example.addr, "/");
    assert_eq!(
        response.redacted(),
        "HTTP/1.1 200 OK\r\ndate: <date>\r\nx-request-id: <id>\r\ncontent-length: 5\r\n\
         content-type: text/plain; charset=utf-8\r\n\r\nhello"
    );
}

#[test]
fn prefixes_serves_two_apps_and_lists_both_routes() {
    let example = start_example("prefixes");
    let routes = common::get(example.addr, "/-/routes");
    assert_eq!(routes.status(), 200);
    assert_eq!(
        routes.body_text(),
        r#"{"/api/v1":"api-v1","/greet":"greeter"}"#
    );
    assert_eq!(
        common::get(example.addr, "/api/v1/hello").body_text(),
        "hello from api-v1 (route path /hello)\n"
    );
    assert_eq!(
        common::get(example.addr, "/greet").body_text(),
        "greetings! (#1 on this core)\n"
    );
    assert_eq!(common::get(example.addr, "/elsewhere").status(), 404);
}

#[test]
fn http_options_applies_root_path_and_request_timeout() {
    let example = start_example("http_options");
    assert_eq!(
        common::get(example.addr, "/fast").body_text(),
        "done: /fast (mounted at /serve)\n"
    );
    // Nothing removes the root path from a request that carries it: the application at `/`
    // sees it as part of its own path.
    assert_eq!(
        common::get(example.addr, "/serve/fast").body_text(),
        "done: /serve/fast (mounted at /serve)\n"
    );
    let slow = common::get(example.addr, "/slow");
    assert_eq!(slow.status(), 408);
    let id = slow.header("x-request-id").unwrap();
    assert_eq!(
        slow.body_text(),
        format!("Request {id} timed out after 1s.")
    );
}

#[test]
fn sigterm_shuts_an_example_down_gracefully() {
    let mut example = start_example("hello");
    assert_eq!(common::get(example.addr, "/").status(), 200);
    let pid = example.child.id() as libc::pid_t;
    // SAFETY: signalling our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = example.child.try_wait().expect("wait on example") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "example did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit status {status}");
    assert!(TcpStream::connect(example.addr).is_err());
}

#[test]
fn streaming_sends_ten_chunks_one_by_one() {
    let example = start_example("streaming");
    let mut stream = common::connect(example.addr);
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .unwrap();
    let started = Instant::now();
    let raw = common::read_to_close(&mut stream);
    let elapsed = started.elapsed();
    assert!(raw.contains("\r\ntransfer-encoding: chunked\r\n"), "{raw}");
    let body = &raw[raw.find("\r\n\r\n").unwrap() + 4..];
    let expected: String = (0..10)
        .map(|i| format!("8\r\nchunk {i}\n\r\n"))
        .chain(std::iter::once("0\r\n\r\n".to_owned()))
        .collect();
    assert_eq!(body, expected);
    // Nine pauses of 100 ms between the chunks.
    assert!(
        elapsed >= Duration::from_millis(800),
        "all chunks in {elapsed:?}"
    );
}

#[test]
fn bench_serves_the_comparison_endpoints() {
    let example = start_example("bench");
    assert_eq!(common::get(example.addr, "/").body_text(), "hello");
    assert_eq!(
        common::get(example.addr, "/items/5").body_text(),
        r#"{"item_id":5}"#
    );
    let invalid = common::get(example.addr, "/items/abc");
    assert_eq!(invalid.status(), 422);
    assert_eq!(
        invalid.body_text(),
        r#"{"detail":[{"type":"int_parsing","loc":["path","item_id"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"abc"}]}"#
    );
    let echo = common::request(
        example.addr,
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyz",
    );
    assert_eq!(echo.body_text(), "xyz");
    let streamed = common::exchange_until_close(
        example.addr,
        b"GET /stream HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    let body = &streamed[streamed.find("\r\n\r\n").unwrap() + 4..];
    let expected: String = (0..10)
        .map(|i| format!("8\r\nchunk {i}\n\r\n"))
        .chain(std::iter::once("0\r\n\r\n".to_owned()))
        .collect();
    assert_eq!(body, expected);
}

#[test]
fn composition_runs_a_pipeline_an_ensemble_and_a_stream_across_shards() {
    let example = start_example_on("composition", "2");
    let post = |path: &str, body: &str| {
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        common::request(example.addr, request.as_bytes())
    };
    // Sentiment has one replica; new connections land on both shards and reach it.
    for _ in 0..10 {
        let pipeline = post("/pipeline", "What a GREAT, great day!");
        assert_eq!(pipeline.status(), 200);
        assert_eq!(
            pipeline.body_text(),
            r#"{"text":"what a great great day","score":2,"model_shard":0}"#
        );
    }
    let ensemble = post("/ensemble", "A bad, bad day.");
    assert_eq!(
        ensemble.body_text(),
        r#"{"score":-2,"words":4,"model_shard":0}"#
    );
    let streamed = common::exchange_until_close(
        example.addr,
        b"GET /countdown/3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    let body = &streamed[streamed.find("\r\n\r\n").unwrap() + 4..];
    assert_eq!(
        body,
        "2\r\n3\n\r\n2\r\n2\n\r\n2\r\n1\n\r\n8\r\nliftoff\n\r\n0\r\n\r\n"
    );
    // Only the ingress is routed; the deployments it binds are reached through it.
    assert_eq!(
        common::get(example.addr, "/-/routes").body_text(),
        r#"{"/":"front"}"#
    );
    validate_openapi(
        "composition",
        &common::get(example.addr, "/openapi.json").body_text(),
    );
}

#[test]
fn a_second_sigterm_during_the_drain_exits_at_once() {
    let mut example = start_example("http_options");
    // A request the drain would wait for: the handler sleeps 2 s, its timeout disabled.
    let mut slow = common::connect(example.addr);
    slow.write_all(b"GET /slow HTTP/1.1\r\nHost: a\r\nx-request-timeout-seconds: 0\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let pid = example.child.id() as libc::pid_t;
    // SAFETY: signalling our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    std::thread::sleep(Duration::from_millis(200));
    let signalled = Instant::now();
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = loop {
        if let Some(status) = example.child.try_wait().expect("wait on example") {
            break status;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(5),
            "example did not exit after a second SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(status.code(), Some(130), "exit status {status}");
    assert!(
        signalled.elapsed() < Duration::from_millis(1500),
        "exited only after the drain ({:?})",
        signalled.elapsed()
    );
}

#[test]
fn items_serves_the_seed_routes_with_fastapi_errors() {
    let example = start_example("items");
    assert_eq!(
        common::get(example.addr, "/items/5").redacted(),
        "HTTP/1.1 200 OK\r\ndate: <date>\r\nx-request-id: <id>\r\ncontent-length: 13\r\n\
         content-type: application/json\r\n\r\n{\"item_id\":5}"
    );
    let invalid = common::get(example.addr, "/items/abc");
    assert_eq!(invalid.status(), 422);
    assert_eq!(
        invalid.body_text(),
        r#"{"detail":[{"type":"int_parsing","loc":["path","item_id"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"abc"}]}"#
    );
    // The seed's `create_item(self, item: dict)`: any object.
    let post = |path: &str, body: &str| {
        common::request(
            example.addr,
            format!(
                "POST {path} HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
    };
    let created = post("/items/", r#"{"name": "apple"}"#);
    assert_eq!(created.status(), 200);
    assert_eq!(created.body_text(), r#"{"created":{"name":"apple"}}"#);
    let refused = post("/items/", "[1,2]");
    assert_eq!(refused.status(), 422);
    assert_eq!(
        refused.body_text(),
        r#"{"detail":[{"type":"dict_type","loc":["body"],"msg":"Input should be a valid dictionary","input":[1,2]}]}"#
    );
    // One shard: the replica's state kept the item.
    assert_eq!(
        common::get(example.addr, "/items/?limit=1").body_text(),
        r#"[{"name":"apple"}]"#
    );
    // FastAPI's tutorial model, on the second route.
    let typed = post("/typed-items/", r#"{"name":"Foo","price":35.4}"#);
    assert_eq!(typed.status(), 200);
    assert_eq!(
        typed.body_text(),
        r#"{"created":{"name":"Foo","description":null,"price":35.4,"tax":null}}"#
    );
    let missing = post("/typed-items/", r#"{"name": "apple"}"#);
    assert_eq!(
        missing.body_text(),
        r#"{"detail":[{"type":"missing","loc":["body","price"],"msg":"Field required","input":{"name":"apple"}}]}"#
    );
}

#[test]
fn items_openapi_lists_every_route_parameter_and_schema() {
    let example = start_example("items");
    let response = common::get(example.addr, "/openapi.json");
    assert_eq!(response.status(), 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let text = response.body_text();
    let document: serde_json::Value = serde_json::from_str(&text).expect("the document is JSON");
    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(document["info"]["title"], "Items");
    let paths = document["paths"].as_object().expect("paths");
    let mut routes: Vec<String> = paths
        .iter()
        .flat_map(|(path, item)| {
            let methods: Vec<String> = item
                .as_object()
                .expect("path item")
                .keys()
                .map(|method| format!("{method} {path}"))
                .collect();
            methods
        })
        .collect();
    routes.sort();
    assert_eq!(
        routes,
        [
            "get /items/",
            "get /items/{item_id}",
            "post /items/",
            "post /typed-items/"
        ]
    );

    let read_item = &paths["/items/{item_id}"]["get"];
    assert_eq!(read_item["operationId"], "read_item_items__item_id__get");
    assert_eq!(
        read_item["parameters"],
        serde_json::json!([{"name": "item_id", "in": "path", "required": true,
                            "schema": {"type": "integer", "format": "int64"}}])
    );
    assert_eq!(
        read_item["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ItemId"
    );
    assert_eq!(
        read_item["responses"]["422"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/HTTPValidationError"
    );

    // The seed's `item: dict`: any object, documented in place.
    let create_item = &paths["/items/"]["post"];
    assert_eq!(create_item["requestBody"]["required"], true);
    let any_object = serde_json::json!({
        "type": "object",
        "additionalProperties": {},
        "propertyNames": {"type": "string"},
        "description": "Any JSON object."
    });
    assert_eq!(
        create_item["requestBody"]["content"]["application/json"]["schema"],
        any_object
    );
    assert_eq!(
        create_item["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/Created"
    );
    let create_typed_item = &paths["/typed-items/"]["post"];
    assert_eq!(
        create_typed_item["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/Item"
    );
    assert_eq!(
        create_typed_item["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/CreatedItem"
    );

    let list_items = &paths["/items/"]["get"];
    let mut query: Vec<(String, bool)> = list_items["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .map(|parameter| {
            assert_eq!(parameter["in"], "query");
            (
                parameter["name"].as_str().expect("name").to_owned(),
                parameter["required"].as_bool().expect("required"),
            )
        })
        .collect();
    query.sort();
    assert_eq!(
        query,
        [("limit".to_owned(), false), ("skip".to_owned(), false)]
    );

    let schemas = document["components"]["schemas"]
        .as_object()
        .expect("schemas");
    let mut names: Vec<&str> = schemas.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "Created",
            "CreatedItem",
            "Dict",
            "HTTPValidationError",
            "Item",
            "ItemId",
            "ValidationError"
        ]
    );
    assert_eq!(
        schemas["Item"]["required"],
        serde_json::json!(["name", "price"])
    );
    assert_eq!(schemas["Item"]["properties"]["price"]["type"], "number");
    assert_eq!(
        schemas["Created"]["properties"]["created"]["$ref"],
        "#/components/schemas/Dict"
    );
    assert_eq!(schemas["Dict"], any_object);
    assert_eq!(
        schemas["CreatedItem"]["properties"]["created"]["$ref"],
        "#/components/schemas/Item"
    );
    validate_openapi("items", &text);
}

/// The upload example, driven by curl as its doc says (`curl -F 'file=@…;type=image/jpeg'`):
/// FastAPI's `UploadFile` answer, its `422` without a file, and the form in its OpenAPI document.
#[test]
fn upload_takes_a_file_from_curl_and_a_login_form_and_answers_as_fastapi_does() {
    let example = start_example("upload");
    let missing = common::request(
        example.addr,
        b"POST /upload/ HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(missing.status(), 422);
    assert_eq!(
        missing.body_text(),
        r#"{"detail":[{"type":"missing","loc":["body","file"],"msg":"Field required","input":null}]}"#
    );
    // A text field where the file belongs.
    let body = "--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nhello\r\n--b--\r\n";
    let text = common::request(
        example.addr,
        format!(
            "POST /upload/ HTTP/1.1\r\nHost: a\r\nContent-Type: multipart/form-data; boundary=b\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    assert_eq!(
        text.body_text(),
        r#"{"detail":[{"type":"value_error","loc":["body","file"],"msg":"Value error, Expected UploadFile, received: <class 'str'>","input":"hello","ctx":{"error":{}}}]}"#
    );
    let document: serde_json::Value =
        serde_json::from_str(&common::get(example.addr, "/openapi.json").body_text()).unwrap();
    assert_eq!(
        document["paths"]["/upload/"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
            ["$ref"],
        "#/components/schemas/UploadForm"
    );
    assert_eq!(
        document["components"]["schemas"]["UploadForm"]["properties"]["file"],
        serde_json::json!({"type": "string", "format": "binary"})
    );
    // The login form: its fields, its declared 401, FastAPI's answers.
    let login = &document["paths"]["/login/"]["post"];
    assert_eq!(
        login["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]["$ref"],
        "#/components/schemas/Login"
    );
    assert_eq!(
        login["responses"]["401"],
        serde_json::json!({"description": "Incorrect username or password"})
    );
    validate_openapi("upload", &document.to_string());
    let form = |body: &str| {
        common::request(
            example.addr,
            format!(
                "POST /login/ HTTP/1.1\r\nHost: a\r\n\
                 Content-Type: application/x-www-form-urlencoded\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
    };
    assert_eq!(
        form("username=ann&password=secret").body_text(),
        r#"{"username":"ann"}"#
    );
    let refused = form("username=ann&password=guess");
    assert_eq!(refused.status(), 401);
    assert_eq!(
        refused.body_text(),
        r#"{"detail":"Incorrect username or password"}"#
    );
    assert_eq!(
        form("username=ann").body_text(),
        r#"{"detail":[{"type":"missing","loc":["body","password"],"msg":"Field required","input":null}]}"#
    );

    if common::curl_missing("for the upload example's client ") {
        return;
    }
    let image = common::target_dir().join("upload-test-photo.jpg");
    let bytes: Vec<u8> = (0..48_213u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&image, &bytes).unwrap();
    let output = Command::new("curl")
        .args(["-sS", "--max-time", "10", "-F"])
        .arg(format!("file=@{};type=image/jpeg", image.display()))
        .arg(format!("http://{}/upload/", example.addr))
        .output()
        .expect("curl runs");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        r#"{"filename":"upload-test-photo.jpg","content_type":"image/jpeg","size":48213}"#
    );
}

#[test]
fn auth_answers_422_401_and_200_as_fastapi_does() {
    let example = start_example("auth");
    let missing = common::get(example.addr, "/items/");
    assert_eq!(missing.status(), 422);
    assert_eq!(
        missing.body_text(),
        r#"{"detail":[{"type":"missing","loc":["header","authorization"],"msg":"Field required","input":null}]}"#
    );
    let wrong = common::request(
        example.addr,
        b"GET /items/ HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer wrong\r\n\r\n",
    );
    assert_eq!(
        wrong.redacted(),
        "HTTP/1.1 401 Unauthorized\r\ndate: <date>\r\nx-request-id: <id>\r\n\
         content-length: 26\r\ncontent-type: application/json\r\nwww-authenticate: Bearer\r\n\
         \r\n{\"detail\":\"Invalid token\"}"
    );
    let right = common::request(
        example.addr,
        b"GET /items/ HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer secret\r\n\r\n",
    );
    assert_eq!(right.status(), 200);
    assert_eq!(right.body_text(), r#"{"items":["Foo","Bar"]}"#);
    // The dependency guards only the routes it is attached to.
    assert_eq!(common::get(example.addr, "/public").status(), 200);
    let me = common::request(
        example.addr,
        b"GET /me HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer secret\r\n\r\n",
    );
    assert_eq!(me.body_text(), "you are authenticated");
    assert_eq!(common::get(example.addr, "/me").status(), 422);

    let document = common::get(example.addr, "/openapi.json").body_text();
    let parsed: serde_json::Value = serde_json::from_str(&document).expect("JSON");
    assert_eq!(
        parsed["components"]["securitySchemes"]["bearerAuth"],
        serde_json::json!({"type": "http", "scheme": "bearer"})
    );
    assert_eq!(
        parsed["paths"]["/items/"]["get"]["security"],
        serde_json::json!([{"bearerAuth": []}])
    );
    assert!(parsed["paths"]["/public"]["get"].get("security").is_none());
    validate_openapi("auth", &document);
}

/// Validates an OpenAPI document with `openapi-spec-validator` (Python), which `.ci/run`
/// installs. Elsewhere a missing validator skips this check and says so (`common::skip`),
/// unless `RINGSERVE_REQUIRE_OPENAPI_VALIDATOR` is set (as `.ci/run` sets it).
fn validate_openapi(name: &str, document: &str) {
    const SCRIPT: &str = "import json, sys\n\
        from openapi_spec_validator import validate\n\
        validate(json.load(open(sys.argv[1])))\n";
    let required = std::env::var_os("RINGSERVE_REQUIRE_OPENAPI_VALIDATOR").is_some();
    let available = Command::new("python3")
        .args(["-c", "import openapi_spec_validator"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !available {
        assert!(
            !required,
            "openapi-spec-validator is required: pip install openapi-spec-validator==0.9.0"
        );
        common::skip(&format!(
            "no OpenAPI 3.1 validation of {name}: python3 -m pip install \
             openapi-spec-validator==0.9.0 to run it"
        ));
        return;
    }
    let path = std::env::temp_dir().join(format!(
        "ringserve-openapi-{name}-{}.json",
        std::process::id()
    ));
    std::fs::write(&path, document).expect("write the document");
    let output = Command::new("python3")
        .args(["-c", SCRIPT])
        .arg(&path)
        .output()
        .expect("run python3");
    let _ = std::fs::remove_file(&path);
    assert!(
        output.status.success(),
        "the {name} OpenAPI document is not valid OpenAPI 3.1:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn cors_answers_the_preflight_of_the_readme() {
    let example = start_example("cors");
    // curl -i -X OPTIONS -H 'Origin: http://a.example' -H 'Access-Control-Request-Method: POST'
    let preflight = common::request(
        example.addr,
        b"OPTIONS /items/ HTTP/1.1\r\nHost: a\r\nOrigin: http://a.example\r\n\
          Access-Control-Request-Method: POST\r\n\r\n",
    );
    assert_eq!(
        preflight.redacted(),
        "HTTP/1.1 200 OK\r\ndate: <date>\r\nx-request-id: <id>\r\ncontent-length: 0\r\n\
         access-control-allow-origin: *\r\naccess-control-allow-methods: GET, POST\r\n\
         access-control-max-age: 600\r\naccess-control-allow-headers: accept, \
         accept-language, content-language, content-type\r\n\r\n"
    );
    let actual = common::request(
        example.addr,
        b"GET /items/5 HTTP/1.1\r\nHost: a\r\nOrigin: http://a.example\r\n\r\n",
    );
    assert_eq!(actual.header("access-control-allow-origin"), Some("*"));
    assert_eq!(actual.body_text(), r#"{"item_id":5}"#);
}

#[test]
fn inference_computes_off_the_shard_while_the_shard_answers_pings() {
    // One shard: the pings land on the shard that runs the forward pass.
    let example = start_example("inference");
    let addr = example.addr;
    let mut warm = common::connect(addr);
    assert_eq!(common::get_on(&mut warm, "/ping").body_text(), "pong");
    let sent = Instant::now();
    let inference = std::thread::spawn(move || {
        let body = "what a great film";
        let response = common::request(
            addr,
            format!(
                "POST /infer HTTP/1.1\r\nHost: a\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
        (response, sent.elapsed())
    });
    // Pings on another connection, until the inference has answered: some are surely sent
    // while the 200 ms forward pass computes.
    let mut pings = Vec::new();
    while !inference.is_finished() {
        let start = Instant::now();
        assert_eq!(common::get_on(&mut warm, "/ping").body_text(), "pong");
        pings.push(start.elapsed());
    }
    let (response, took) = inference.join().unwrap();
    assert_eq!(response.status(), 200);
    let answer = response.body_text();
    assert!(answer.starts_with(r#"{"label":"#), "{answer}");
    assert!(
        took >= Duration::from_millis(200),
        "the forward pass took {took:?}"
    );
    pings.sort();
    let median = pings[pings.len() / 2];
    let slowest = *pings.last().unwrap();
    assert!(
        // Inline, the first ping waits out most of the 200 ms pass; the slowest gets room for
        // a loaded CI machine.
        median < Duration::from_millis(10) && slowest < Duration::from_millis(150),
        "pings during the forward pass: median {median:?}, slowest {slowest:?} of {}",
        pings.len()
    );
    assert!(pings.len() >= 10, "only {} pings in {took:?}", pings.len());
}

#[test]
fn edge_serves_its_own_deployment_beside_the_built_in_ones_from_its_config_file() {
    let port = common::fresh_port();
    let file = common::root().join("examples/edge.yaml");
    let check = Command::new(example_path("edge"))
        .arg("check")
        .arg(&file)
        .output()
        .expect("the edge example runs");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let child = Command::new(example_path("edge"))
        .arg("run")
        .arg(&file)
        .args(["--port", &port.to_string(), "--cores", "1"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the edge example starts");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let example = Example { child, addr };
    common::wait_listening(addr, "example edge");
    let sentiment = common::request(
        example.addr,
        b"POST /sentiment HTTP/1.1\r\nHost: x\r\nContent-Length: 23\r\n\r\na great, wonderful film",
    );
    assert_eq!(sentiment.status(), 200);
    assert_eq!(sentiment.body_text(), r#"{"label":"POSITIVE","score":2.0}"#);
    let moved = common::get(example.addr, "/old-docs/anything");
    assert_eq!(moved.status(), 301);
    assert_eq!(
        moved.header("location"),
        Some("https://docs.ray.io/en/latest/serve/")
    );
    let billing = common::get(example.addr, "/billing/");
    assert_eq!(billing.status(), 503);
    assert_eq!(billing.header("retry-after"), Some("3600"));
    assert_eq!(
        billing.body_text(),
        "Billing is down for maintenance; back at 06:00 UTC.\n"
    );
    assert_eq!(
        common::get(example.addr, "/-/routes").body_text(),
        r#"{"/billing":"billing","/old-docs":"old-docs","/sentiment":"sentiment"}"#
    );
    // A bad `args` is refused before anything starts, naming the application and why.
    let dir = std::env::temp_dir().join(format!("ringserve-edge-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let broken = dir.join("edge.yaml");
    std::fs::write(
        &broken,
        "applications:\n  - name: sentiment\n    import_path: sentiment:Model\n    args: {threshold: 0, positive: [good], negative: [good]}\n  - name: other\n    route_prefix: /other\n    import_path: sentiment:Model\n    args: {treshold: 1}\n",
    )
    .unwrap();
    let refused = Command::new(example_path("edge"))
        .arg("check")
        .arg(&broken)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        said.contains(
            "applications[0].args: application \"sentiment\": \"good\" is both positive and negative"
        ),
        "{said}"
    );
    assert!(
        said.contains(
            "applications[1].args.treshold: application \"other\": unknown field `treshold`"
        ),
        "{said}"
    );
}
