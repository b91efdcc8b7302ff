//! The HTTP contract around the resources: problem+json for malformed requests, paging, health.

use serde_json::json;

use crate::support::{Options, TestServer, read};

#[tokio::test]
async fn malformed_json_is_a_400_problem() {
    let server = TestServer::start(Options::default()).await;
    let response = server
        .client
        .post(server.url("/v1/data-stores"))
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let (status, problem) = read(response).await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["status"], 400);
    assert!(
        problem["type"].is_string()
            && problem["title"].is_string()
            && problem["detail"].is_string()
    );
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_415_problem() {
    let server = TestServer::start(Options::default()).await;
    let response = server
        .client
        .post(server.url("/v1/flows"))
        .header("content-type", "text/plain")
        .body("1")
        .send()
        .await
        .unwrap();
    let (status, problem) = read(response).await;
    assert_eq!(status, 415, "{problem}");
}

#[tokio::test]
async fn a_body_over_one_mebibyte_is_a_413_problem() {
    let server = TestServer::start(Options::default()).await;
    let sql = format!("SELECT '{}'", "x".repeat(1 << 20));
    let body = json!({"source_data_store_ids": [], "target_data_store_id": 1, "sources": [], "transforms": [{"name": "t", "sql": sql}], "outputs": []});
    let (status, problem) = server.post("/v1/flow-inputs", &body).await;
    assert_eq!(status, 413, "{problem}");
}

#[tokio::test]
async fn unknown_ids_and_paths_are_404_problems() {
    let server = TestServer::start(Options::default()).await;
    for path in [
        "/v1/data-stores/5",
        "/v1/flow-inputs/5",
        "/v1/flows/5",
        "/v1/flows/abc",
        "/v1/nothing",
    ] {
        let (status, problem) = server.get(path).await;
        assert_eq!(status, 404, "{path}: {problem}");
        assert_eq!(problem["instance"], path);
    }
    let (status, _) = server.post("/v1/flows/5/cancel", &json!({})).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_limit_above_the_maximum_is_a_422_not_a_clamp() {
    let server = TestServer::start(Options::default()).await;
    for path in [
        "/v1/data-stores?limit=101",
        "/v1/flows?limit=0",
        "/v1/flows?limit=-1",
        "/v1/flows?state=DONE",
        "/v1/flows?colour=red",
    ] {
        let (status, problem) = server.get(path).await;
        assert_eq!(status, 422, "{path}: {problem}");
    }
    let (status, _) = server.get("/v1/data-stores?limit=100&offset=0").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn data_stores_page_with_limit_and_offset_and_have_locations() {
    let server = TestServer::start(Options::default()).await;
    for i in 0..3 {
        let response = server
            .client
            .post(server.url("/v1/data-stores"))
            .json(&json!({"name": format!("lake{i}"), "type": "columnar_db", "connection": {"path": format!("lake{i}")}}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        let (status, store) = server.get(&location).await;
        assert_eq!(
            (status, store["name"].as_str().unwrap()),
            (200, format!("lake{i}").as_str())
        );
    }
    let (_, page) = server.get("/v1/data-stores?limit=2&offset=1").await;
    let names: Vec<_> = page
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["lake1", "lake2"]);
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let server = TestServer::start(Options::default()).await;
    assert_eq!(server.get("/healthz").await.0, 200);
    assert_eq!(server.get("/readyz").await.0, 200);
}

#[tokio::test]
async fn a_ready_flow_cancelled_before_it_runs_is_cancelled_at_once() {
    // No runner slot is free while the first flow runs, so the second waits READY.
    let server = TestServer::start(Options {
        max_concurrent_flows: 1,
        ..Options::default()
    })
    .await;
    let (orders, lake) = crate::support::orders_and_lake(&server, 3000).await;
    let input = server
        .flow_input(crate::support::endless(orders, lake))
        .await;
    let first = server.start_flow(input).await;
    server
        .wait_for_state(first, "RUNNING", std::time::Duration::from_secs(10))
        .await;
    let second = server.start_flow(input).await;
    let (status, flow) = server
        .post(&format!("/v1/flows/{second}/cancel"), &json!({}))
        .await;
    assert_eq!(status, 202);
    assert_eq!(flow["output"]["state"], "CANCELLED");
    let (status, _) = server
        .post(&format!("/v1/flows/cancel/{first}"), &json!({}))
        .await;
    assert_eq!(status, 202);
    server
        .wait_for_state(first, "CANCELLED", std::time::Duration::from_secs(2))
        .await;
}

/// In JSON logs, a request's id is on its access line, in its problem and in its answer's
/// header; one the client sends is kept, an implausible one is replaced.
#[tokio::test]
async fn json_logs_and_answers_carry_each_requests_id() {
    let server = TestServer::start(Options {
        env: vec![("SLUICE__LOG__FORMAT", "json".into())],
        ..Options::default()
    })
    .await;
    let sent = server
        .client
        .get(server.url("/v2/flows/999"))
        .header("X-Request-Id", "req-7f3a")
        .header(
            "X-Amzn-Trace-Id",
            "Root=1-67891233-abcdef012345678912345678",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 404);
    assert_eq!(sent.headers()["x-request-id"], "req-7f3a");
    let problem: serde_json::Value = sent.json().await.unwrap();
    assert_eq!(problem["request_id"], "req-7f3a", "{problem}");

    let odd = server
        .client
        .get(server.url("/healthz"))
        .header("X-Request-Id", "<script>")
        .send()
        .await
        .unwrap();
    let made = odd.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(
        made.len() == 32 && made.bytes().all(|b| b.is_ascii_hexdigit()),
        "{made}"
    );

    // Every line is a JSON object; the access lines name the ids.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let output = server.output();
    let lines: Vec<serde_json::Value> = output
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let access = |id: &str| {
        lines.iter().any(|l| {
            let message = l["fields"]["message"].as_str().unwrap_or_default();
            message.contains("/v2/flows/999") && message.contains(&format!("request_id={id}"))
        })
    };
    assert!(access("req-7f3a"), "{output}");
    assert!(
        output.contains("trace_id=Root=1-67891233-abcdef012345678912345678"),
        "{output}"
    );
    assert!(!output.contains("<script>"), "an odd id is never logged");
    assert!(
        lines
            .iter()
            .all(|l| l["timestamp"].is_string() && l["level"].is_string())
    );
}

/// `/metrics` as Prometheus' own parser reads it: `(name, labels) -> value` of every sample.
fn scrape(text: &str) -> std::collections::HashMap<String, f64> {
    const SCRIPT: &str = "import json, sys\nfrom prometheus_client.parser import text_string_to_metric_families\nout = {}\nfor family in text_string_to_metric_families(sys.stdin.read()):\n    for s in family.samples:\n        labels = ','.join(f'{k}={v}' for k, v in sorted(s.labels.items()))\n        out[f'{s.name}{{{labels}}}'] = s.value\nprint(json.dumps(out))";
    use std::io::Write;
    let mut parser = std::process::Command::new("python3")
        .args(["-c", SCRIPT])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run python3");
    parser
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = parser.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "the Prometheus parser refused /metrics (pip install -r tests/requirements.txt): {}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

async fn metrics_text(server: &TestServer, token: Option<&str>) -> (u16, String) {
    let mut request = server.client.get(server.url("/metrics"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text_and_move_as_flows_run() {
    let server = TestServer::start(Options {
        env: vec![("SLUICE__METRICS__BEARER_TOKEN", "scrape-secret".into())],
        ..Options::default()
    })
    .await;
    let (status, _) = metrics_text(&server, None).await;
    assert_eq!(status, 401, "the token is needed");
    let (status, before) = metrics_text(&server, Some("scrape-secret")).await;
    assert_eq!(status, 200);
    let before = scrape(&before);
    assert_eq!(before["sluice_flows{state=COMPLETED}"], 0.0, "{before:?}");

    crate::support::write_orders_csv(&server.data.join("orders.csv"), 50);
    let orders = server
        .data_store(json!({"name": "orders", "type": "file", "connection": {"path": "orders.csv", "format": "csv"}}))
        .await;
    let lake = server
        .data_store(json!({"name": "lake", "type": "columnar_db", "connection": {"path": "lake"}}))
        .await;
    let end = server
        .run_flow(json!({
            "source_data_store_ids": [orders], "target_data_store_id": lake,
            "sources": [{"data_store_id": orders, "as": "orders"}],
            "transforms": [{"name": "big", "sql": "SELECT * FROM orders WHERE amount > 100"}],
            "outputs": [{"transform": "big", "table": "big", "mode": "replace"}]
        }))
        .await;
    assert_eq!(end["output"]["state"], "COMPLETED", "{end}");
    // The runner counts a flow just after the state that ends it is written.
    let mut after = std::collections::HashMap::new();
    for _ in 0..100 {
        after = scrape(&metrics_text(&server, Some("scrape-secret")).await.1);
        if after.contains_key("sluice_flows_finished_total{state=COMPLETED}") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(after["sluice_flows{state=COMPLETED}"], 1.0, "{after:?}");
    assert_eq!(after["sluice_flows_finished_total{state=COMPLETED}"], 1.0);
    assert_eq!(after["sluice_rows_read_total{}"], 50.0);
    assert!(after["sluice_rows_written_total{}"] >= 1.0);
    assert_eq!(after["sluice_runner_flows_running{}"], 0.0);
    assert_eq!(after["sluice_runner_slots{}"], 4.0);
    assert!(after["sluice_flow_duration_seconds_count{state=COMPLETED}"] >= 1.0);
    assert!(after["sluice_step_duration_seconds_count{kind=ingest}"] >= 1.0);
    let posts = after
        .iter()
        .filter(|(k, _)| {
            k.starts_with("sluice_http_requests_total{")
                && k.contains("method=POST")
                && k.contains("route=/v1/flows,")
                && k.contains("status=201")
        })
        .map(|(_, v)| *v)
        .sum::<f64>();
    assert_eq!(posts, 1.0, "{after:?}");
    assert!(
        after.contains_key(
            "sluice_http_request_duration_seconds_bucket{le=0.005,method=GET,route=/v1/flows/{id}}"
        ),
        "{after:?}"
    );
    assert!(after["sluice_state_db_connections{state=idle}"] >= 0.0);
}
