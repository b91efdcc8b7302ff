//! API keys through the binary: `sluice keys …` on the state database, keys checked on every
//! versioned request, scopes, revocation, and the settings that open reads or turn keys off.

use serde_json::{Value, json};
use std::time::{Duration, Instant};

use crate::support::{Options, TestServer, read};

fn with_auth(postgres: bool, env: &[(&'static str, &str)]) -> Options {
    Options {
        postgres,
        env: env.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
        ..Options::default()
    }
}

fn required(postgres: bool) -> Options {
    with_auth(postgres, &[("SLUICE__AUTH__REQUIRED", "true")])
}

async fn get_with(server: &TestServer, path: &str, key: &str) -> (u16, Value) {
    let response = server
        .client
        .get(server.url(path))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    read(response).await
}

async fn post_with(server: &TestServer, path: &str, key: &str, body: &Value) -> (u16, Value) {
    let response = server
        .client
        .post(server.url(path))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap();
    read(response).await
}

fn a_store(name: &str) -> Value {
    json!({"name": name, "type": "file", "connection": {"path": "in.csv", "format": "csv"}})
}

async fn a_request_needs_a_valid_key_when_keys_are_required(postgres: bool) {
    let server = TestServer::start(required(postgres)).await;

    let response = server
        .client
        .get(server.url("/v1/flows"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer realm=\"sluice\""
    );
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let (_, body) = read(response).await;
    assert_eq!(body["type"], "/problems/unauthenticated");

    let key = server.create_key("ci", &["write"]);
    assert!(key.starts_with("sluice_"), "{key}");
    let (status, body) = get_with(&server, "/v1/flows", &key).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = post_with(&server, "/v1/data-stores", &key, &a_store("in")).await;
    assert_eq!(status, 201, "{body}");
    let response = server
        .client
        .get(server.url("/v1/data-stores"))
        .header("X-API-Key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // Health, readiness and unversioned paths need no key: the load balancer has none.
    for path in ["/healthz", "/readyz"] {
        let (status, _) = server.get(path).await;
        assert_eq!(status, 200, "{path}");
    }
}

#[tokio::test]
async fn a_request_needs_a_valid_key_when_keys_are_required_on_sqlite() {
    a_request_needs_a_valid_key_when_keys_are_required(false).await;
}

#[tokio::test]
async fn a_request_needs_a_valid_key_when_keys_are_required_on_postgres() {
    a_request_needs_a_valid_key_when_keys_are_required(true).await;
}

#[tokio::test]
async fn a_key_without_the_scope_gets_403_naming_the_scope_and_changes_nothing() {
    let server = TestServer::start(required(false)).await;
    let reader = server.create_key("dashboard", &["read"]);

    let (status, body) = post_with(&server, "/v1/data-stores", &reader, &a_store("in")).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["type"], "/problems/forbidden");
    assert!(body["detail"].as_str().unwrap().contains("write"), "{body}");
    let (status, body) = get_with(&server, "/v2/keys", &reader).await;
    assert_eq!(status, 403, "{body}");

    let (status, stores) = get_with(&server, "/v1/data-stores", &reader).await;
    assert_eq!(status, 200);
    assert_eq!(stores, json!([]));
}

#[tokio::test]
async fn a_run_key_starts_and_cancels_flows_but_defines_nothing_and_a_read_key_runs_nothing() {
    let server = TestServer::start(required(false)).await;
    let writer = server.create_key("writer", &["write"]);
    let runner = server.create_key("scheduler", &["run"]);
    let reader = server.create_key("reader", &["read"]);
    crate::support::write_orders_csv(&server.data.join("orders.csv"), 3_000);
    for body in [
        json!({"name": "orders", "type": "file", "connection": {"path": "orders.csv", "format": "csv"}}),
        json!({"name": "lake", "type": "columnar_db", "connection": {"path": "lake"}}),
    ] {
        let (status, created) = post_with(&server, "/v2/data-stores", &writer, &body).await;
        assert_eq!(status, 201, "{created}");
    }
    let input = json!({
        "name": "crossed", "target": "lake",
        "sources": [{"data_store": "orders", "alias": "orders"}],
        "transforms": [{"name": "c", "sql": "SELECT count(*) AS n, sum(a.amount + b.amount + c.amount) AS s FROM orders a CROSS JOIN orders b CROSS JOIN orders c"}],
        "outputs": [{"transform": "c", "table": "crossed"}]
    });
    // Defining is `write`: a run key is refused, naming the scope.
    let (status, problem) = post_with(&server, "/v2/flow-inputs", &runner, &input).await;
    assert_eq!(status, 403, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("write"),
        "{problem}"
    );
    let (status, created) = post_with(&server, "/v2/flow-inputs", &writer, &input).await;
    assert_eq!(status, 201, "{created}");

    // Starting and cancelling are `run`: a read key is refused, a run key (and a write key) may.
    let start = json!({"flow_input": "crossed"});
    let (status, problem) = post_with(&server, "/v2/flows", &reader, &start).await;
    assert_eq!(status, 403, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("run"),
        "{problem}"
    );
    let (status, flow) = post_with(&server, "/v2/flows", &runner, &start).await;
    assert_eq!(status, 201, "{flow}");
    let cancel = format!("/v2/flows/{}/cancel", flow["id"]);
    let (status, problem) = post_with(&server, &cancel, &reader, &json!({})).await;
    assert_eq!(status, 403, "{problem}");
    let (status, cancelled) = post_with(&server, &cancel, &runner, &json!({})).await;
    assert!(status == 202 || status == 200, "{status} {cancelled}");
    // `write` includes `run`: who defines an input may run it.
    let (status, flow) = post_with(&server, "/v2/flows", &writer, &start).await;
    assert_eq!(status, 201, "{flow}");
    let cancel = format!("/v2/flows/{}/cancel", flow["id"]);
    let (status, cancelled) = post_with(&server, &cancel, &writer, &json!({})).await;
    assert!(status == 202 || status == 200, "{status} {cancelled}");
    let (status, listed) = get_with(&server, "/v2/flows", &reader).await;
    assert_eq!(status, 200, "{listed}");
}

#[tokio::test]
async fn any_key_reads_its_own_name_and_scopes_and_never_the_key() {
    let server = TestServer::start(required(false)).await;
    let keys: Vec<_> = [
        ("reader", &["read"][..]),
        ("runner", &["run"]),
        ("ops", &["write", "admin"]),
    ]
    .into_iter()
    .map(|(name, scopes)| (name, scopes, server.create_key(name, scopes)))
    .collect();
    for (name, scopes, key) in &keys {
        let (status, body) = get_with(&server, "/v2/keys/current", key).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["name"], *name);
        assert_eq!(body["scopes"], json!(scopes));
        assert!(key.starts_with(body["prefix"].as_str().unwrap()), "{body}");
        assert!(
            !body.to_string().contains(key.as_str()),
            "the key itself: {body}"
        );
    }
    let (status, body) = server.get("/v2/keys/current").await;
    assert_eq!(status, 401, "{body}");
    // Two keys in one request: refused, rather than the second left unchecked.
    let reader = &keys[0].2;
    let response = server
        .client
        .get(server.url("/v2/keys/current"))
        .bearer_auth(reader)
        .header("X-API-Key", "sluice_garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    // `current` names the calling key: no key may take the name, nor one that is no path segment.
    let admin = &keys[2].2;
    for name in ["current", "..", "1st"] {
        let (status, problem) = post_with(
            &server,
            "/v2/keys",
            admin,
            &json!({"name": name, "scopes": ["read"]}),
        )
        .await;
        assert_eq!(status, 422, "{name}: {problem}");
        assert_eq!(problem["errors"][0]["pointer"], "/name", "{problem}");
    }
    let refused = server.command(&["keys", "create", "--name", "current", "--scope", "read"]);
    assert!(!refused.status.success());
    // Keys not required: a request without one still has no key to describe.
    let open = TestServer::start(Options::default()).await;
    let response = open
        .client
        .get(open.url("/v2/keys/current"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer realm=\"sluice\""
    );
}

#[tokio::test]
async fn unknown_malformed_and_revoked_keys_get_the_same_answer() {
    let server = TestServer::start(required(false)).await;
    let admin = server.create_key("ops", &["admin"]);
    let revoked = server.create_key("old", &["read"]);
    let (status, _) = get_with(&server, "/v1/flows", &revoked).await;
    assert_eq!(status, 200);

    let response = server
        .client
        .delete(server.url("/v2/keys/old"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);

    // The same key with its last character changed: right shape, wrong secret.
    let mut forged = admin.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == '0' { '1' } else { '0' });
    let mut answers = Vec::new();
    for key in [revoked.as_str(), forged.as_str(), "sluice_nothing", "x"] {
        let (status, body) = get_with(&server, "/v1/flows", key).await;
        assert_eq!(status, 401, "{key}: {body}");
        answers.push((body["type"].clone(), body["detail"].clone()));
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");

    let response = server
        .client
        .get(server.url("/v1/flows"))
        .header("Authorization", format!("Basic {admin}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn keys_are_listed_and_made_by_admins_without_their_secret_ever_shown_again() {
    let server = TestServer::start(required(false)).await;
    let admin = server.create_key("ops", &["admin"]);

    let (status, created) = post_with(
        &server,
        "/v2/keys",
        &admin,
        &json!({"name": "runner", "scopes": ["run", "read"]}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["key"].as_str().unwrap().to_owned();
    assert_eq!(created["scopes"], json!(["read", "run"]));
    assert!(secret.starts_with(created["prefix"].as_str().unwrap()));
    let (status, _) = get_with(&server, "/v1/flows", &secret).await;
    assert_eq!(status, 200);

    let (status, listed) = get_with(&server, "/v2/keys", &admin).await;
    assert_eq!(status, 200, "{listed}");
    let names: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ops", "runner"]);
    let text = listed.to_string();
    assert!(!text.contains(&secret) && !text.contains(&admin), "{text}");
    assert!(listed["items"][0].get("key").is_none());

    let (status, body) = post_with(
        &server,
        "/v2/keys",
        &admin,
        &json!({"name": "runner", "scopes": ["root"]}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["pointer"], "/scopes/0");
    let (status, body) = post_with(
        &server,
        "/v2/keys",
        &admin,
        &json!({"name": "runner", "scopes": ["read"]}),
    )
    .await;
    assert_eq!(status, 409, "{body}");

    // A new key's answer holds its secret: an Idempotency-Key does not make Sluice keep it.
    for expected in [201, 409] {
        let response = server
            .client
            .post(server.url("/v2/keys"))
            .bearer_auth(&admin)
            .header("Idempotency-Key", "make-deploy-key")
            .json(&json!({"name": "deploy", "scopes": ["write"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), expected);
        assert!(response.headers().get("idempotent-replayed").is_none());
    }

    let listed = server.command(&["keys", "list"]);
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert!(listed.contains("runner\tread,run\t"), "{listed}");
    assert!(!listed.contains(&secret));

    let output = server.output();
    assert!(
        !output.contains(&secret) && !output.contains(&admin[7..]),
        "{output}"
    );
}

#[tokio::test]
async fn public_read_lets_reads_through_but_not_writes_nor_key_management() {
    let server = TestServer::start(with_auth(
        false,
        &[
            ("SLUICE__AUTH__REQUIRED", "true"),
            ("SLUICE__AUTH__PUBLIC_READ", "true"),
        ],
    ))
    .await;
    let (status, _) = server.get("/v1/flows").await;
    assert_eq!(status, 200);
    let (status, _) = server.get("/v1/log/issue?dataset=conservation-area").await;
    assert_eq!(status, 200);
    let (status, _) = server.post("/v1/data-stores", &a_store("in")).await;
    assert_eq!(status, 401);
    let (status, _) = server.get("/v2/keys").await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn with_keys_not_required_requests_go_through_but_a_wrong_key_is_still_refused() {
    let server = TestServer::start(Options::default()).await;
    let (status, body) = server.post("/v1/data-stores", &a_store("in")).await;
    assert_eq!(status, 201, "{body}");
    let (status, _) = get_with(&server, "/v1/flows", "sluice_not_a_key").await;
    assert_eq!(status, 401);
    // Keys are never made or listed anonymously.
    let (status, _) = server.get("/v2/keys").await;
    assert_eq!(status, 401);
    let (status, _) = server
        .post("/v2/keys", &json!({"name": "mine", "scopes": ["admin"]}))
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_key_revoked_on_one_replica_is_refused_by_the_other_within_its_cache_time() {
    let options = || {
        with_auth(
            true,
            &[
                ("SLUICE__AUTH__REQUIRED", "true"),
                ("SLUICE__AUTH__KEY_CACHE_SECS", "1"),
            ],
        )
    };
    let a = TestServer::start(options()).await;
    let b = a.replica(options()).await;
    let admin = a.create_key("ops", &["admin"]);
    let key = a.create_key("ci", &["write"]);
    let (status, _) = get_with(&b, "/v1/flows", &key).await;
    assert_eq!(status, 200);

    let response = a
        .client
        .delete(a.url("/v2/keys/ci"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let (status, _) = get_with(&a, "/v1/flows", &key).await;
    assert_eq!(status, 401, "the revoking replica refuses at once");

    let revoked = Instant::now();
    loop {
        let (status, _) = get_with(&b, "/v1/flows", &key).await;
        if status == 401 {
            break;
        }
        assert!(
            revoked.elapsed() < Duration::from_secs(5),
            "replica B still takes a key revoked on A"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(b);
}

#[tokio::test]
async fn an_event_stream_ends_when_the_key_it_was_opened_with_is_revoked() {
    // This process runs no flows: the flow followed waits for ever, and so would its stream.
    let server = TestServer::start(Options {
        max_concurrent_flows: 0,
        ..required(false)
    })
    .await;
    let admin = server.create_key("ops", &["admin"]);
    let watcher = server.create_key("watcher", &["read"]);
    std::fs::write(server.data.join("in.csv"), "id\n1\n").unwrap();
    let (_, store) = post_with(&server, "/v1/data-stores", &admin, &a_store("in")).await;
    let (status, input) = post_with(
        &server,
        "/v1/flow-inputs",
        &admin,
        &json!({
            "source_data_store_ids": [store["id"]], "target_data_store_id": store["id"],
            "sources": [{"data_store_id": store["id"], "as": "src"}],
            "transforms": [{"name": "t", "sql": "SELECT * FROM src"}],
            "outputs": [{"transform": "t", "mode": "replace"}]
        }),
    )
    .await;
    assert_eq!(status, 201, "{input}");
    let (_, flow) = post_with(
        &server,
        "/v1/flows",
        &admin,
        &json!({"flow_input_id": input["id"]}),
    )
    .await;
    let mut stream = server
        .client
        .get(server.url(&format!("/v2/flows/{}/events", flow["id"])))
        .bearer_auth(&watcher)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let first = stream.chunk().await.unwrap().unwrap();
    assert!(std::str::from_utf8(&first).unwrap().contains("READY"));

    let response = server
        .client
        .delete(server.url("/v2/keys/watcher"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let revoked = Instant::now();
    let mut rest = String::new();
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(5), stream.chunk())
        .await
        .expect("the stream goes on after its key was revoked")
        .unwrap()
    {
        rest.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert!(
        revoked.elapsed() < Duration::from_secs(2),
        "{:?}",
        revoked.elapsed()
    );
    assert!(rest.contains("no longer valid"), "{rest}");
}

#[tokio::test]
async fn the_binary_answers_help_and_version_without_starting() {
    let server = TestServer::start(Options::default()).await;
    let version = server.command(&["--version"]);
    assert!(version.status.success());
    let version = String::from_utf8(version.stdout).unwrap();
    assert!(version.starts_with("sluice "), "{version}");

    let help = server.command(&["--help"]);
    assert!(help.status.success());
    let help = String::from_utf8(help.stdout).unwrap();
    for command in ["serve", "migrate", "keys"] {
        assert!(help.contains(command), "{help}");
    }

    let wrong = server.command(&["srve"]);
    assert_eq!(wrong.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("srve"));

    let scope = server.command(&["keys", "create", "--name", "x", "--scope", "root"]);
    assert!(!scope.status.success());
    assert!(String::from_utf8_lossy(&scope.stderr).contains("'root' is not a scope"));

    let migrate = server.command(&["migrate"]);
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
}

#[tokio::test]
async fn a_key_past_its_rate_gets_429_with_retry_after_while_other_keys_go_on() {
    let server = TestServer::start(with_auth(
        false,
        &[
            ("SLUICE__API__RATE_LIMIT_PER_SECOND", "1"),
            ("SLUICE__API__RATE_LIMIT_BURST", "3"),
        ],
    ))
    .await;
    let busy = server.create_key("busy", &["read"]);
    let quiet = server.create_key("quiet", &["read"]);
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let response = server
            .client
            .get(server.url("/v1/flows"))
            .bearer_auth(&busy)
            .send()
            .await
            .unwrap();
        if response.status() == 429 {
            let wait: u64 = response.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=2).contains(&wait), "{wait}");
            let (_, body) = read(response).await;
            assert_eq!(body["type"], "/problems/too-many-requests");
            statuses.push(429);
        } else {
            statuses.push(response.status().as_u16());
        }
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    let (status, _) = get_with(&server, "/v2/data-stores", &quiet).await;
    assert_eq!(status, 200, "another key has its own allowance");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, _) = get_with(&server, "/v1/flows", &busy).await;
    assert_eq!(status, 200, "the rate refills");
}

/// Every `/v2` operation, as the committed document lists it with its scope: a key one scope
/// short is refused (no key at all for a read), and a key of the scope named is let through.
#[tokio::test]
async fn every_v2_operation_refuses_a_key_one_scope_short_and_takes_the_scope_it_names() {
    let server = TestServer::start(required(false)).await;
    let keys: std::collections::HashMap<&str, String> = ["read", "run", "write", "admin"]
        .into_iter()
        .map(|scope| (scope, server.create_key(&format!("k-{scope}"), &[scope])))
        .collect();
    let short_of = |scope: &str| match scope {
        "read" => None,
        "run" => Some("read"),
        "write" => Some("run"),
        "admin" => Some("write"),
        other => panic!("unknown scope {other}"),
    };
    let document: Value = serde_json::from_str(
        &std::fs::read_to_string(crate::support::repository().join("docs/openapi/v2.json"))
            .unwrap(),
    )
    .unwrap();
    let mut checked = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let Some(scope) = operation["security"][0]["bearer"][0].as_str() else {
                continue;
            };
            let concrete: String = path
                .split('/')
                .map(|segment| match segment {
                    "{id}" | "{version}" => "1",
                    s if s.starts_with('{') => "x",
                    s => s,
                })
                .collect::<Vec<_>>()
                .join("/");
            let send = |key: Option<&str>| {
                let mut request = server.client.request(
                    method.to_uppercase().parse().unwrap(),
                    server.url(&concrete),
                );
                if let Some(key) = key {
                    request = request.bearer_auth(key);
                }
                if ["post", "patch"].contains(&method.as_str()) {
                    request = request.json(&json!({}));
                }
                request.send()
            };
            let refused = send(short_of(scope).map(|s| keys[s].as_str()))
                .await
                .unwrap();
            let expected = if short_of(scope).is_some() { 403 } else { 401 };
            assert_eq!(
                refused.status().as_u16(),
                expected,
                "{method} {path} ({scope})"
            );
            let taken = send(Some(&keys[scope])).await.unwrap();
            assert!(
                ![401, 403].contains(&taken.status().as_u16()),
                "{method} {path} refused a {scope} key: {}",
                taken.status()
            );
            checked += 1;
        }
    }
    assert!(checked >= 30, "only {checked} operations");
}
