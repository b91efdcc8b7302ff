//! Scopes: a key one scope short of an operation is refused, naming the scope, and changes
//! nothing; each scope does what it says.

use super::*;

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
