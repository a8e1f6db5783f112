//! CORS proven in a real browser: headless Chromium loads a page from one loopback origin
//! whose script `fetch`es an API on another port, and reports what the browser let it read.
//! An allowed origin must succeed with a simple request and with a preflighted one (the API
//! must see the browser's own `OPTIONS`); a page from an origin the rules do not list must be
//! blocked by the browser.
//!
//! `.ci/run` installs Debian's `chromium` and sets `RINGSERVE_REQUIRE_BROWSER`; elsewhere,
//! without a browser, the test says so (`common::skip`, shown even when output is captured) and
//! skips.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock, mpsc};
use std::time::Duration;

use ringserve::ingress::{Header, Json, Router, ToSchema};
use ringserve::middleware::{Cors, Middleware, Next};
use ringserve::{
    Application, Deployment, HeaderValue, Method, Request, Response, Serve, ServerHandle,
    StatusCode, header,
};
use serde::Deserialize;
use serde_json::{Value, json};

/// How long the browser gets to load the page, run its requests and report.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(60);

/// The page: two cross-origin requests, then a same-origin report of what the browser allowed.
const PAGE: &str = r#"<!DOCTYPE html>
<html><body><script>
async function attempt(url, init) {
  try {
    const response = await fetch(url, init);
    return response.status + " " + await response.text();
  } catch (error) {
    return "blocked: " + error.name;
  }
}
async function run() {
  const api = "API_ORIGIN";
  const results = {
    simple: await attempt(api + "/data"),
    preflighted: await attempt(api + "/data", {
      method: "PUT",
      headers: {"content-type": "application/json", "x-token": "t"},
      body: JSON.stringify({v: 1}),
    }),
  };
  await fetch("/report", {method: "POST", body: JSON.stringify(results)});
}
run();
</script></body></html>
"#;

/// Serves the page (pointing at the API named in `api_origin`, set once the API listens),
/// and passes the report its script posts back to the test.
struct Site {
    api_origin: Arc<OnceLock<String>>,
    reports: mpsc::Sender<String>,
}

impl Deployment for Site {
    async fn call(&self, mut request: Request) -> Response {
        match (request.method(), request.path()) {
            (&Method::GET, "/page") => {
                let api = self.api_origin.get().map_or("", String::as_str);
                Response::new(StatusCode::OK)
                    .with_header(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("text/html; charset=utf-8"),
                    )
                    .with_body(PAGE.replace("API_ORIGIN", api))
            }
            (&Method::POST, "/report") => {
                let body = request.body().await.unwrap_or_default();
                let _ = self
                    .reports
                    .send(String::from_utf8_lossy(&body).into_owned());
                Response::text("thanks")
            }
            _ => Response::new(StatusCode::NOT_FOUND),
        }
    }
}

/// Records the method of every request that reaches the API, preflights included.
#[derive(Clone)]
struct SeenMethods(mpsc::Sender<String>);

impl Middleware for SeenMethods {
    async fn call(&self, request: Request, next: Next<'_>) -> Response {
        let _ = self.0.send(request.method().to_string());
        next.run(request).await
    }
}

#[derive(Deserialize, ToSchema)]
struct Token {
    x_token: String,
}

async fn read_data() -> Json<Value> {
    Json(json!({"ok": true}))
}

async fn put_data(Header(token): Header<Token>, Json(body): Json<Value>) -> Json<Value> {
    Json(json!({"put": body, "token": token.x_token}))
}

/// A site on its own port (its own origin); its page's API is set later through the cell.
fn start_site(reports: mpsc::Sender<String>) -> (ServerHandle, Arc<OnceLock<String>>) {
    let api_origin = Arc::new(OnceLock::new());
    let cell = api_origin.clone();
    let site = common::start_app(Application::new(move || Site {
        api_origin: cell.clone(),
        reports: reports.clone(),
    }));
    (site, api_origin)
}

fn origin_of(server: &ServerHandle) -> String {
    format!("http://127.0.0.1:{}", server.local_addr().port())
}

fn start_api(allowed_origin: &str, seen: mpsc::Sender<String>) -> ServerHandle {
    let cors = Cors::builder()
        .allow_origins([allowed_origin])
        .allow_methods([Method::GET, Method::PUT])
        .allow_headers(["content-type", "x-token"])
        .build()
        .expect("valid CORS rules");
    let api = Application::try_new(|| {
        Router::new()
            .get("/data", read_data)
            .route(Method::PUT, "/data", put_data)
            .build()
    })
    .layer(cors);
    common::start(
        Serve::new()
            .options(common::test_options())
            .app(api)
            .layer(SeenMethods(seen)),
    )
}

/// The browser to drive, if this machine has one.
fn find_browser() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("RINGSERVE_CHROMIUM").map(PathBuf::from),
        Some(PathBuf::from("/usr/bin/chromium")),
        Some(PathBuf::from("/usr/bin/chromium-browser")),
    ];
    candidates.into_iter().flatten().find(|path| path.exists())
}

/// A headless Chromium showing `url`, killed when dropped.
struct Browser {
    child: Child,
    profile: PathBuf,
}

impl Browser {
    fn open(binary: &PathBuf, url: &str, name: &str) -> Browser {
        let profile =
            std::env::temp_dir().join(format!("ringserve-chromium-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        let child = Command::new(binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-quic",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(url)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("starting {}: {error}", binary.display()));
        Browser { child, profile }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Opens `site`'s page in the browser and returns the report its script posts.
fn browse(browser: &PathBuf, site: &ServerHandle, reports: &mpsc::Receiver<String>) -> Value {
    let name = site.local_addr().port().to_string();
    let _browser = Browser::open(browser, &format!("{}/page", origin_of(site)), &name);
    let report = reports
        .recv_timeout(BROWSER_TIMEOUT)
        .unwrap_or_else(|_| panic!("the browser did not report within {BROWSER_TIMEOUT:?}"));
    serde_json::from_str(&report).expect("the report is JSON")
}

#[test]
fn a_browser_lets_an_allowed_origin_read_and_blocks_another() {
    let Some(browser) = find_browser() else {
        assert!(
            std::env::var_os("RINGSERVE_REQUIRE_BROWSER").is_none(),
            "RINGSERVE_REQUIRE_BROWSER is set but no Chromium was found"
        );
        common::skip(
            "no Chromium for the browser CORS test (apt-get install chromium, or set \
             RINGSERVE_CHROMIUM to its path)",
        );
        return;
    };
    let (allowed_reports_tx, allowed_reports) = mpsc::channel();
    let (other_reports_tx, other_reports) = mpsc::channel();
    let (allowed_site, allowed_cell) = start_site(allowed_reports_tx);
    let (other_site, other_cell) = start_site(other_reports_tx);
    let (seen_tx, seen) = mpsc::channel();
    let api = start_api(&origin_of(&allowed_site), seen_tx);
    for cell in [&allowed_cell, &other_cell] {
        cell.set(origin_of(&api)).expect("set once");
    }

    let report = browse(&browser, &allowed_site, &allowed_reports);
    assert_eq!(
        report,
        json!({
            "simple": "200 {\"ok\":true}",
            "preflighted": "200 {\"put\":{\"v\":1},\"token\":\"t\"}",
        }),
        "from the allowed origin"
    );
    let methods: Vec<String> = seen.try_iter().collect();
    assert!(
        methods.iter().any(|method| method == "OPTIONS"),
        "the browser sent its own preflight: {methods:?}"
    );
    assert!(methods.iter().any(|method| method == "PUT"), "{methods:?}");

    let report = browse(&browser, &other_site, &other_reports);
    assert_eq!(
        report,
        json!({"simple": "blocked: TypeError", "preflighted": "blocked: TypeError"}),
        "from an origin the rules do not list"
    );
    let methods: Vec<String> = seen.try_iter().collect();
    assert!(
        !methods.iter().any(|method| method == "PUT"),
        "a refused preflight keeps the browser from sending the request: {methods:?}"
    );
}
