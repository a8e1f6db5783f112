//! The `ringserve` binary as an operator drives it: `check` on good and broken config files,
//! `run` with flags over the file, SIGHUP reloads with requests flowing, SIGTERM drains,
//! `status` from a running server.

mod common;

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::{
    RequestLoop, Running, fresh_port, get, ringserve, scratch, wait_listening, wait_until, write,
};

fn check(file: &Path) -> Output {
    ringserve().arg("check").arg(file).output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A file with one `Respond` application answering `body` at `/`, on `port`.
fn respond_file(port: u16, name: &str, body: &str, extra: &str) -> String {
    format!(
        "http_options:\n  host: 127.0.0.1\n  port: {port}\nringserve:\n  cores: 1\n  drain_period_s: 0.5\n  shutdown_grace_s: 2\n{extra}applications:\n  - name: {name}\n    route_prefix: /\n    import_path: ringserve.respond:Respond\n    args: {{body: \"{body}\"}}\n"
    )
}

#[test]
fn check_accepts_a_ray_serve_file_and_warns_once_per_ray_only_key() {
    let dir = scratch("ray");
    let file = write(
        &dir,
        "serve.yaml",
        "proxy_location: EveryNode\n\
         http_options:\n  host: 0.0.0.0\n  port: 8000\n  request_timeout_s: 30\n  keep_alive_timeout_s: 5\n\
         logging_config:\n  encoding: JSON\n  log_level: WARNING\n  enable_access_log: false\n  logs_dir: /tmp/ray\n\
         applications:\n\
         \x20 - name: site\n    route_prefix: /\n    import_path: ringserve.respond:Respond\n    runtime_env: {pip: [torch]}\n    args: {status: 200, body: ok}\n    deployments:\n\
         \x20     - name: Respond\n        num_replicas: 1\n        max_ongoing_requests: 5\n        max_queued_requests: -1\n        health_check_period_s: 10\n        health_check_timeout_s: 30\n        ray_actor_options: {num_cpus: 1}\n        user_config: {threshold: 0.5}\n",
    );
    let output = check(&file);
    let err = stderr(&output);
    assert!(output.status.success(), "{err}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!(
            "{}: OK, 1 application(s): \"site\" at / (ringserve.respond:Respond)\n",
            file.display()
        )
    );
    for key in [
        "proxy_location",
        "logging_config.logs_dir",
        "applications[0].runtime_env",
        "applications[0].deployments[0].ray_actor_options",
        "applications[0].deployments[0].user_config",
    ] {
        assert_eq!(
            err.matches(&format!("warning: {}: {key}: ", file.display()))
                .count(),
            1,
            "one warning for {key}:\n{err}"
        );
    }
}

#[test]
fn check_names_each_bad_value_with_its_key_and_line() {
    let dir = scratch("broken");
    let app = "applications:\n  - name: site\n    import_path: ringserve.respond:Respond\n";
    let cases: &[(&str, String, &[&str])] = &[
        (
            "typo.yaml",
            format!("{app}    deployments:\n      - name: Respond\n        num_replica: 2\n"),
            &[
                "typo.yaml:6:9: applications[0].deployments[0].num_replica: unknown field `num_replica`",
            ],
        ),
        (
            "port.yaml",
            format!("http_options:\n  port: 70000\n{app}"),
            &["port.yaml:2:9: http_options.port: not a whole number from 0 to 65535"],
        ),
        (
            "import.yaml",
            "applications:\n  - name: model\n    import_path: sentiment:Model\n".to_owned(),
            &[
                "import.yaml: applications[0].import_path: application \"model\": \"sentiment:Model\" is not a deployment this binary knows (it knows ringserve.proxy:Upstream, ringserve.respond:Respond, ringserve.static:Files)",
            ],
        ),
        (
            "args.yaml",
            format!("{app}    args: {{status: 42, body: x}}\n"),
            &[
                "args.yaml: applications[0].args: application \"site\": status: 42 is not a final status (200 to 599)",
            ],
        ),
        (
            "args_type.yaml",
            format!("{app}    args: {{status: high}}\n"),
            &["args_type.yaml: applications[0].args.status: application \"site\": invalid type: string \"high\", expected u16"],
        ),
        (
            "static.yaml",
            "applications:\n  - name: site\n    import_path: ringserve.static:Files\n    args: {root: /no/such/dir, index: ../x}\n".to_owned(),
            &["static.yaml: applications[0].args: application \"site\": root: /no/such/dir: No such file or directory (os error 2)"],
        ),
        (
            "proxy.yaml",
            "applications:\n  - name: api\n    import_path: ringserve.proxy:Upstream\n    args: {upstreams: []}\n".to_owned(),
            &["proxy.yaml: applications[0].args: application \"api\": upstreams: name at least one host:port"],
        ),
        (
            "deployment.yaml",
            format!("{app}    deployments:\n      - name: Model\n        num_replicas: 1\n"),
            &[
                "deployment.yaml: applications[0].deployments[0].name: application \"site\" has no deployment \"Model\" (it has \"Respond\")",
            ],
        ),
        (
            "several.yaml",
            format!(
                "http_options:\n  request_timeout_s: -1\n  ssl_keyfile: key.pem\nlogging_config:\n  log_level: LOUD\n  encoding: XML\nringserve:\n  io_backend: epoll\n  cores: many\n{app}    deployments:\n      - name: Respond\n        max_ongoing_requests: 0\n        max_queued_requests: -5\n        num_replicas: lots\n"
            ),
            &[
                "several.yaml: http_options.request_timeout_s: -1 is not a number of seconds longer than zero",
                "several.yaml: http_options.ssl_keyfile: ringserve does not serve TLS yet",
                "several.yaml: logging_config.log_level: \"LOUD\" is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL",
                "several.yaml: logging_config.encoding: \"XML\" is neither TEXT nor JSON",
                "several.yaml: ringserve.io_backend: \"epoll\" is neither io_uring nor glommio",
                "several.yaml: ringserve.cores: \"many\" is neither a count (4) nor a core list (0,2,4-6), nor \"all\"",
                "several.yaml: applications[0].deployments[0].max_ongoing_requests: 0: at least 1 is needed",
                "several.yaml: applications[0].deployments[0].max_queued_requests: -5 is neither a count nor -1 (unbounded)",
                "several.yaml: applications[0].deployments[0].num_replicas: \"lots\" is neither a count nor \"auto\"",
            ],
        ),
        (
            "metrics.yaml",
            format!(
                "ringserve:\n  metrics_address: nowhere\n  metrics_prefix: \"9lives\"\n{app}"
            ),
            &[
                "metrics.yaml: ringserve.metrics_address: \"nowhere\" is not a host:port (such as 127.0.0.1:9100), nor \"off\"",
                "metrics.yaml: ringserve.metrics_prefix: \"9lives\" may hold only letters, digits, '_' and ':', and not start with a digit",
            ],
        ),
        (
            "prefixes.yaml",
            "applications:\n  - {name: a, route_prefix: /x, import_path: ringserve.respond:Respond}\n  - {name: b, route_prefix: /x, import_path: ringserve.respond:Respond}\n".to_owned(),
            &["prefixes.yaml: route prefix \"/x\" is used by two applications"],
        ),
        (
            "replicas.yaml",
            format!("ringserve:\n  cores: 1\n{app}    deployments:\n      - name: Respond\n        num_replicas: 3\n"),
            &["replicas.yaml: application \"site\": num_replicas is 3, must be between 1 and the 1 shard(s)"],
        ),
        (
            "empty.yaml",
            "http_options:\n  port: 8000\n".to_owned(),
            &["empty.yaml: applications: none: there is nothing to serve"],
        ),
        (
            "typo.toml",
            "[http_options]\nport = 8000\n\n[[applications]]\nname = \"site\"\nimport_path = \"ringserve.respond:Respond\"\nroute_prefx = \"/\"\n".to_owned(),
            &["typo.toml:7:1: applications[0].route_prefx: unknown field `route_prefx`"],
        ),
        (
            "serve.conf",
            app.to_owned(),
            &["serve.conf: unknown format: name it *.yaml, *.yml, *.json or *.toml"],
        ),
    ];
    for (name, text, expected) in cases {
        let output = check(&write(&dir, name, text));
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{name}: {err}");
        assert!(output.stdout.is_empty(), "{name}");
        for line in *expected {
            assert!(
                err.lines()
                    .any(|said| said.starts_with("error: ") && said.contains(line)),
                "{name}: no error with {line:?} in:\n{err}"
            );
        }
        assert_eq!(
            err.lines()
                .filter(|line| line.starts_with("error: "))
                .count(),
            expected.len(),
            "{name}: one error per bad value:\n{err}"
        );
    }
    let missing = check(&dir.join("absent.yaml"));
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing).contains("absent.yaml: cannot read it: "),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn check_reads_toml_as_it_reads_yaml() {
    let dir = scratch("toml");
    let file = write(
        &dir,
        "serve.toml",
        "[http_options]\nhost = \"127.0.0.1\"\nport = 8000\n\n[ringserve]\ncores = 1\n\n[[applications]]\nname = \"moved\"\nroute_prefix = \"/old\"\nimport_path = \"ringserve.respond:Respond\"\nargs = { status = 301, headers = { location = \"/new\" } }\n",
    );
    let output = check(&file);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("\"moved\" at /old"));
}

#[test]
fn run_serves_the_file_with_a_flag_over_it_then_drains_on_sigterm_and_exits_0() {
    let dir = scratch("run");
    let (file_port, flag_port) = (fresh_port(), fresh_port());
    let file = write(
        &dir,
        "serve.yaml",
        &respond_file(file_port, "site", "from the file", ""),
    );
    let mut server = Running::start(&file, &["--port", &flag_port.to_string()], flag_port);
    let addr = SocketAddr::from(([127, 0, 0, 1], flag_port));
    let response = get(addr, "/anything");
    assert_eq!(response.status(), 200);
    assert_eq!(response.body_text(), "from the file");
    assert_eq!(get(addr, "/-/healthz").body_text(), "success");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", file_port)).is_err(),
        "the flag's port, not the file's"
    );
    let log = server.log();
    assert!(
        log.contains(&format!("on http://127.0.0.1:{flag_port} with 1 shard(s)")),
        "{log}"
    );
    // The access log is on by default, as in Ray Serve.
    assert!(
        log.lines()
            .any(|line| line.contains("ringserve::access") && line.contains("path=\"/anything\"")),
        "{log}"
    );
    server.signal(libc::SIGTERM);
    // For the drain period the health check fails while requests are still served.
    wait_until("the drain begins", Duration::from_secs(5), || {
        get(addr, "/-/healthz").status() == 503
    });
    let draining = get(addr, "/-/healthz");
    assert_eq!(draining.body_text(), "This node is being drained.");
    assert_eq!(get(addr, "/-/routes").status(), 503);
    assert_eq!(get(addr, "/").body_text(), "from the file");
    assert_eq!(
        server.exit_code(Duration::from_secs(10)),
        Some(0),
        "{}",
        server.log()
    );
    assert!(server.log().contains("stopped"), "{}", server.log());
}

#[test]
fn sighup_reloads_the_file_ten_times_with_no_request_lost() {
    let dir = scratch("reload");
    let port = fresh_port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let file = dir.join("serve.yaml");
    let version =
        |round: usize| respond_file(port, &format!("v{round}"), &format!("version {round}"), "");
    std::fs::write(&file, version(0)).unwrap();
    let mut server = Running::start(&file, &[], port);
    let requests = RequestLoop::start(addr, 3, |response| {
        response.status() == 200 && response.body_text().starts_with("version ")
    });
    for round in 1..=10 {
        requests.wait_for_more(10);
        std::fs::write(&file, version(round)).unwrap();
        server.signal(libc::SIGHUP);
        let wanted = format!("{{\"/\":\"v{round}\"}}");
        wait_until("the reload applies", Duration::from_secs(10), || {
            get(addr, "/-/routes").body_text() == wanted
        });
        assert_eq!(get(addr, "/").body_text(), format!("version {round}"));
    }
    assert_eq!(requests.stop(), [] as [String; 0]);
    assert_eq!(
        server.log().matches("reloaded ").count(),
        10,
        "{}",
        server.log()
    );
    server.signal(libc::SIGTERM);
    assert_eq!(server.exit_code(Duration::from_secs(10)), Some(0));
}

#[test]
fn sighup_with_a_broken_file_keeps_serving_the_previous_one() {
    let dir = scratch("refused");
    let port = fresh_port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let file = write(
        &dir,
        "serve.yaml",
        &respond_file(port, "site", "still here", ""),
    );
    let mut server = Running::start(&file, &[], port);
    std::fs::write(&file, "applications:\n  - name: site\n    import_pth: x\n").unwrap();
    server.signal(libc::SIGHUP);
    wait_until("the reload is refused", Duration::from_secs(10), || {
        server.log().contains("reload refused")
    });
    let log = server.log();
    assert!(log.contains("unknown field `import_pth`"), "{log}");
    assert_eq!(get(addr, "/").body_text(), "still here");
    server.signal(libc::SIGINT);
    assert_eq!(server.exit_code(Duration::from_secs(10)), Some(0));
}

#[test]
fn status_reports_the_applications_health_and_figures_of_a_running_server() {
    let dir = scratch("status");
    let port = fresh_port();
    let metrics_port = fresh_port();
    let metrics = format!("127.0.0.1:{metrics_port}");
    let file = write(
        &dir,
        "serve.yaml",
        &respond_file(
            port,
            "site",
            "ok",
            &format!("  metrics_address: \"{metrics}\"\n"),
        ),
    );
    let _server = Running::start(&file, &[], port);
    let address = format!("127.0.0.1:{port}");
    for _ in 0..2 {
        assert_eq!(common::get(address.parse().unwrap(), "/").status(), 200);
    }
    let output = ringserve()
        .args([
            "status",
            "--address",
            &address,
            "--metrics-address",
            &metrics,
            "--interval",
            "0",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    let lines: Vec<Vec<&str>> = printed
        .lines()
        .map(|line| line.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines[0],
        [&format!("{address}:")[..], "healthy:", "success"],
        "{printed}"
    );
    assert_eq!(
        lines[2],
        [
            "APPLICATION",
            "ROUTE",
            "PREFIX",
            "REPLICAS",
            "REQ/S",
            "REQUESTS",
            "4XX",
            "5XX",
            "P50",
            "MS",
            "P99",
            "MS",
            "P99.9",
            "MS",
            "QUEUED"
        ],
        "{printed}"
    );
    // One replica (one shard), no rate from one sample, two requests, no errors, three
    // latencies, nothing queued.
    assert_eq!(
        lines[3][..7],
        ["site", "/", "1", "-", "2", "0", "0"],
        "{printed}"
    );
    assert!(lines[3][7].parse::<f64>().unwrap() > 0.0, "{printed}");
    assert_eq!(lines[3][10], "0");
    assert_eq!(
        lines[5],
        [
            "SHARD",
            "STATE",
            "REQ/S",
            "REQUESTS",
            "ONGOING",
            "CONNECTIONS",
            "REPLICAS"
        ],
        "{printed}"
    );
    // The shard also answered the status command's own GETs of /-/routes and /-/healthz.
    assert_eq!(
        lines[6],
        ["0", "up", "-", "4", "0", "0", "site"],
        "{printed}"
    );

    let json = ringserve()
        .args([
            "status",
            "--json",
            "--address",
            &address,
            "--metrics-address",
            &metrics,
            "--interval",
            "0.2",
        ])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["healthy"], true);
    assert_eq!(
        report["applications"],
        serde_json::json!([{"name": "site", "route_prefix": "/"}])
    );
    let stats = &report["stats"];
    assert_eq!(stats["server"], address);
    assert_eq!(stats["applications"][0]["requests"], 2);
    assert_eq!(stats["applications"][0]["requests_per_second"], 0.0);
    assert_eq!(stats["shards"][0]["up"], true);
    assert_eq!(stats["shards"][0]["requests_per_second"], 0.0);

    // A metrics listener that does not answer: the figures are left out, with a note.
    let elsewhere = format!("127.0.0.1:{}", fresh_port());
    let without = ringserve()
        .args([
            "status",
            "--address",
            &address,
            "--metrics-address",
            &elsewhere,
        ])
        .output()
        .unwrap();
    assert!(without.status.success(), "{}", stderr(&without));
    assert_eq!(
        String::from_utf8_lossy(&without.stdout)
            .lines()
            .take(3)
            .collect::<Vec<_>>(),
        [
            format!("{address}: healthy: success"),
            "APPLICATION  ROUTE PREFIX".to_owned(),
            "site         /".to_owned()
        ]
    );
    assert!(
        String::from_utf8_lossy(&without.stdout)
            .contains(&format!("no figures: the metrics listener at {elsewhere} ")),
        "{}",
        String::from_utf8_lossy(&without.stdout)
    );

    let nobody = ringserve()
        .args([
            "status",
            "--address",
            &format!("127.0.0.1:{}", fresh_port()),
        ])
        .output()
        .unwrap();
    assert_eq!(nobody.status.code(), Some(1));
    let mut said = String::new();
    nobody.stderr.as_slice().read_to_string(&mut said).unwrap();
    assert!(said.contains("connecting: "), "{said}");
}

/// A CPU cgroup this test may create, with a quota of one CPU: cgroup v2's `cpu.max`, or v1's
/// `cpu.cfs_quota_us`. `None` where this process may not (not root, or no cpu controller).
fn one_cpu_cgroup(name: &str) -> Option<PathBuf> {
    let v2 = Path::new("/sys/fs/cgroup");
    let v1 = Path::new("/sys/fs/cgroup/cpu");
    let v2_has_cpu = std::fs::read_to_string(v2.join("cgroup.subtree_control"))
        .is_ok_and(|controllers| controllers.split_whitespace().any(|c| c == "cpu"));
    let (parent, files): (&Path, &[(&str, &str)]) = if v2_has_cpu {
        (v2, &[("cpu.max", "100000 100000")])
    } else if v1.join("cpu.cfs_quota_us").exists() {
        (
            v1,
            &[
                ("cpu.cfs_period_us", "100000"),
                ("cpu.cfs_quota_us", "100000"),
            ],
        )
    } else {
        return None;
    };
    let group = parent.join(name);
    std::fs::create_dir_all(&group).ok()?;
    for (file, value) in files {
        if std::fs::write(group.join(file), value).is_err() {
            let _ = std::fs::remove_dir(&group);
            return None;
        }
    }
    Some(group)
}

#[test]
fn the_default_shard_count_follows_the_cgroup_cpu_quota() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 {
        return common::skip("needs 2 or more CPUs to see a quota of one");
    }
    let name = format!("ringserve-test-{}", std::process::id());
    let Some(group) = one_cpu_cgroup(&name) else {
        return common::skip("cannot create a CPU cgroup here (needs root and a cpu controller)");
    };
    let dir = scratch("cgroup");
    let port = fresh_port();
    // No `cores` in the file: the default, every CPU the quota grants.
    let file = write(
        &dir,
        "serve.yaml",
        &respond_file(port, "site", "ok", "").replace("  cores: 1\n", ""),
    );
    let log = dir.join("run.log");
    let child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "echo $$ > {}/cgroup.procs && exec \"$0\" run \"$1\"",
            group.display()
        ))
        .arg(env!("CARGO_BIN_EXE_ringserve"))
        .arg(&file)
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    // Killed on the way out, whatever happens: `sh` has become `ringserve`.
    let running = Running {
        child,
        log: log.clone(),
    };
    wait_listening(
        SocketAddr::from(([127, 0, 0, 1], port)),
        "ringserve in a cgroup",
    );
    let said = || std::fs::read_to_string(&log).unwrap_or_default();
    wait_until("the start-up line", Duration::from_secs(10), || {
        said().contains("serving")
    });
    let said = said();
    drop(running);
    let _ = std::fs::remove_dir(&group);
    assert!(said.contains("with 1 shard(s) on cores ["), "{said}");
    assert!(
        said.contains("1 shard(s), as many as the CPU quota grants, not pinned"),
        "{said}"
    );
}

#[test]
fn a_reload_that_changes_http_options_says_they_wait_for_a_restart() {
    let dir = scratch("restart-only");
    let port = fresh_port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let file = write(&dir, "serve.yaml", &respond_file(port, "before", "one", ""));
    let mut server = Running::start(&file, &[], port);
    let moved = respond_file(fresh_port(), "after", "two", "");
    std::fs::write(&file, moved).unwrap();
    server.signal(libc::SIGHUP);
    wait_until("the reload applies", Duration::from_secs(10), || {
        get(addr, "/-/routes").body_text() == r#"{"/":"after"}"#
    });
    assert_eq!(
        get(addr, "/").body_text(),
        "two",
        "still on the port it started on"
    );
    let log = server.log();
    assert!(log.contains("they apply at the next restart"), "{log}");
    server.signal(libc::SIGTERM);
    assert_eq!(server.exit_code(Duration::from_secs(10)), Some(0));
}

#[test]
fn the_binary_proxies_to_the_upstreams_its_file_names() {
    let upstream = common::start_app(ringserve::Application::new(|| common::Inspect));
    let dir = scratch("proxy");
    let port = fresh_port();
    let file = write(
        &dir,
        "serve.yaml",
        &format!(
            "http_options:\n  host: 127.0.0.1\n  port: {port}\nringserve:\n  cores: 1\n  drain_period_s: 0\napplications:\n  - name: api\n    route_prefix: /api\n    import_path: ringserve.proxy:Upstream\n    args: {{upstreams: [\"{}\"], strip_prefix: true}}\n",
            upstream.local_addr()
        ),
    );
    let mut server = Running::start(&file, &[], port);
    let answer = get(SocketAddr::from(([127, 0, 0, 1], port)), "/api/items?q=1");
    assert_eq!(answer.status(), 200);
    let seen = answer.body_text();
    assert!(seen.contains("\npath=/items\n"), "{seen}");
    assert!(
        seen.contains("\nheader.x-forwarded-for=127.0.0.1\n"),
        "{seen}"
    );
    server.signal(libc::SIGTERM);
    assert_eq!(server.exit_code(Duration::from_secs(10)), Some(0));
}

/// The README's commands, on the example file the plain binary serves.
#[test]
fn the_plain_binary_serves_examples_serve_yaml() {
    let file = common::root().join("examples/serve.yaml");
    let checked = ringserve().arg("check").arg(&file).output().unwrap();
    assert!(checked.status.success(), "{}", stderr(&checked));
    let port = fresh_port();
    let mut server = Running::start_in(common::root(), &file, &["--port", &port.to_string()], port);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let home = get(addr, "/");
    assert_eq!(home.status(), 200);
    assert!(
        home.body_text()
            .contains("Served by ringserve.static:Files")
    );
    assert_eq!(home.header("cache-control"), Some("max-age=60"));
    assert_eq!(get(addr, "/docs").status(), 302);
    server.signal(libc::SIGTERM);
    assert_eq!(server.exit_code(Duration::from_secs(10)), Some(0));
}

#[test]
fn logging_config_chooses_json_lines_the_level_and_the_access_log() {
    let dir = scratch("logging");
    let port = fresh_port();
    let logging = "proxy_location: EveryNode\nlogging_config:\n  encoding: JSON\n  log_level: WARNING\n  enable_access_log: false\n";
    let file = write(
        &dir,
        "serve.yaml",
        &respond_file(port, "site", "ok", logging),
    );
    let mut server = Running::start(&file, &["--cores", "1"], port);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    assert_eq!(get(addr, "/").body_text(), "ok");
    server.signal(libc::SIGTERM);
    assert_eq!(server.exit_code(Duration::from_secs(10)), Some(0));
    let log = server.log();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    assert!(
        lines.iter().any(|line| line["level"] == "WARN"
            && line["message"]
                .as_str()
                .is_some_and(|message| message.contains("proxy_location"))),
        "{log}"
    );
    assert!(
        lines
            .iter()
            .all(|line| line["level"] == "WARN" || line["level"] == "ERROR"),
        "nothing below WARNING: {log}"
    );
    assert!(!log.contains("ringserve::access"), "no access log: {log}");
}
