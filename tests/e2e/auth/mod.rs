//! API keys through the binary: `sluice keys …` on the state database, keys checked on every
//! versioned request, scopes, revocation, and the settings that open reads or turn keys off.

mod keys;
mod scopes;

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
