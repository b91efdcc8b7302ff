//! `/v2` through the binary: stores by name, named flow inputs whose versions stay as made,
//! flows started by name, cursor pages, and `/v1` inputs seen from `/v2`.

use serde_json::{Value, json};
use std::time::{Duration, Instant};

use crate::support::{Options, TestServer, read, write_orders_csv};

async fn send(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut request = server.client.request(method, server.url(path));
    if let Some(body) = body {
        request = request.json(body);
    }
    read(request.send().await.unwrap()).await
}

async fn post(server: &TestServer, path: &str, body: &Value) -> (u16, Value) {
    send(server, reqwest::Method::POST, path, Some(body)).await
}

/// Two stores: `orders` (a CSV of 20 orders) and the columnar `lake`.
async fn stores(server: &TestServer) {
    write_orders_csv(&server.data.join("orders.csv"), 20);
    for body in [
        json!({"name": "orders", "type": "file", "connection": {"path": "orders.csv", "format": "csv"}}),
        json!({"name": "lake", "type": "columnar_db", "connection": {"path": "lake"}}),
    ] {
        let (status, created) = post(server, "/v2/data-stores", &body).await;
        assert_eq!(status, 201, "{created}");
    }
}

fn definition(sql: &str) -> Value {
    json!({
        "sources": [{"data_store": "orders", "alias": "orders"}],
        "transforms": [{"name": "report", "sql": sql}],
        "outputs": [{"transform": "report", "table": "report"}],
        "target": "lake"
    })
}

fn named(name: &str, sql: &str) -> Value {
    let mut body = definition(sql);
    body["name"] = json!(name);
    body
}

async fn wait_for_end(server: &TestServer, id: i64) -> Value {
    let started = Instant::now();
    loop {
        let (status, flow) = server.get(&format!("/v2/flows/{id}")).await;
        assert_eq!(status, 200, "{flow}");
        if ["COMPLETED", "FAILED", "CANCELLED"].contains(&flow["state"].as_str().unwrap()) {
            return flow;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{flow}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn v2_inputs_are_named_versioned_and_started_by_name(postgres: bool) {
    let server = TestServer::start(Options {
        postgres,
        ..Options::default()
    })
    .await;
    stores(&server).await;

    let (status, first) = post(
        &server,
        "/v2/flow-inputs",
        &named(
            "orders-report",
            "SELECT customer_id, SUM(amount) AS total FROM orders GROUP BY customer_id",
        ),
    )
    .await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["id"], "orders-report:1");
    assert_eq!(first["sources"][0]["data_store"], "orders");
    assert_eq!(first["target"], "lake");

    let (status, taken) = post(
        &server,
        "/v2/flow-inputs",
        &named("orders-report", "SELECT 1 AS x"),
    )
    .await;
    assert_eq!(status, 409, "{taken}");

    let (status, second) = post(
        &server,
        "/v2/flow-inputs/orders-report/versions",
        &definition("SELECT COUNT(*) AS orders FROM orders"),
    )
    .await;
    assert_eq!(status, 201, "{second}");
    assert_eq!(second["version"], 2);

    let (status, latest) = server.get("/v2/flow-inputs/orders-report").await;
    assert_eq!(status, 200);
    assert_eq!(latest["version"], 2);
    assert_eq!(
        latest["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["version"].clone())
            .collect::<Vec<_>>(),
        [json!(1), json!(2)]
    );
    // Version 1 stays as it was made.
    let (_, one) = server.get("/v2/flow-inputs/orders-report/versions/1").await;
    assert_eq!(one["transforms"], first["transforms"]);

    let (status, flow) = post(
        &server,
        "/v2/flows",
        &json!({"flow_input": "orders-report:1"}),
    )
    .await;
    assert_eq!(status, 201, "{flow}");
    assert_eq!(flow["flow_input"], "orders-report:1");
    let done = wait_for_end(&server, flow["id"].as_i64().unwrap()).await;
    assert_eq!(done["state"], "COMPLETED", "{done}");
    assert!(
        done["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["state"] == "COMPLETED")
    );

    let (_, latest_flow) = post(
        &server,
        "/v2/flows",
        &json!({"flow_input": "orders-report"}),
    )
    .await;
    assert_eq!(latest_flow["flow_input"], "orders-report:2");

    let (status, missing) = post(
        &server,
        "/v2/flows",
        &json!({"flow_input": "orders-report:9"}),
    )
    .await;
    assert_eq!(status, 422, "{missing}");
    assert_eq!(missing["errors"][0]["pointer"], "/flow_input");

    let (status, listed) = server.get("/v2/flows?flow_input=orders-report:2").await;
    assert_eq!(status, 200);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    let (_, all) = server.get("/v2/flows?flow_input=orders-report").await;
    assert_eq!(all["items"].as_array().unwrap().len(), 2);

    let logs = server
        .get(&format!("/v2/flows/{}/logs?limit=2", flow["id"]))
        .await
        .1;
    assert_eq!(logs["items"].as_array().unwrap().len(), 2);
    assert!(logs["next_cursor"].is_string(), "{logs}");
}

#[tokio::test]
async fn v2_inputs_are_named_versioned_and_started_by_name_on_sqlite() {
    v2_inputs_are_named_versioned_and_started_by_name(false).await;
}

#[tokio::test]
async fn v2_inputs_are_named_versioned_and_started_by_name_on_postgres() {
    v2_inputs_are_named_versioned_and_started_by_name(true).await;
}

#[tokio::test]
async fn a_store_is_read_replaced_and_deleted_by_name_but_not_while_an_input_uses_it() {
    let server = TestServer::start(Options::default()).await;
    let dwh = json!({"name": "dwh", "type": "relational_db", "connection": {
        "engine": "postgres", "host": "db.internal", "user": "etl", "password": "old-secret", "database": "sales"}});
    let (status, created) = post(&server, "/v2/data-stores", &dwh).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["connection"]["port"], 5432);
    assert_eq!(created["connection"]["has_password"], true);
    assert!(!created.to_string().contains("old-secret"));

    let (status, patched) = send(
        &server,
        reqwest::Method::PATCH,
        "/v2/data-stores/dwh",
        Some(
            &json!({"connection": {"engine": "postgres", "host": "db2.internal", "user": "etl",
            "password": "new-secret", "database": "sales"}}),
        ),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["connection"]["host"], "db2.internal");
    assert!(!patched.to_string().contains("new-secret"));

    let (status, bad) = send(
        &server,
        reqwest::Method::PATCH,
        "/v2/data-stores/dwh",
        Some(&json!({"connection": {"engine": "postgres", "path": "x"}})),
    )
    .await;
    assert_eq!(status, 422, "{bad}");
    let (_, unchanged) = server.get("/v2/data-stores/dwh").await;
    assert_eq!(unchanged["connection"]["host"], "db2.internal");

    stores(&server).await;
    let (status, _) = post(
        &server,
        "/v2/flow-inputs",
        &named("report", "SELECT * FROM orders"),
    )
    .await;
    assert_eq!(status, 201);
    let (status, refused) = send(
        &server,
        reqwest::Method::DELETE,
        "/v2/data-stores/orders",
        None,
    )
    .await;
    assert_eq!(status, 409, "{refused}");
    assert!(
        refused["detail"].as_str().unwrap().contains("report:1"),
        "{refused}"
    );
    let (status, _) = server.get("/v2/data-stores/orders").await;
    assert_eq!(status, 200);

    let (status, _) = send(
        &server,
        reqwest::Method::DELETE,
        "/v2/data-stores/dwh",
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = server.get("/v2/data-stores/dwh").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_v2_flow_input_names_each_wrong_field_in_v2_terms() {
    let server = TestServer::start(Options::default()).await;
    stores(&server).await;
    let mut body = named("report", "SELECT * FROM nowhere");
    body["sources"][0]["data_store"] = json!("missing");
    body["target"] = json!("also-missing");
    let (status, problem) = post(&server, "/v2/flow-inputs", &body).await;
    assert_eq!(status, 422, "{problem}");
    let pointers: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(pointers, ["/sources/0/data_store", "/target"], "{problem}");

    let (status, problem) = post(
        &server,
        "/v2/flow-inputs",
        &named("1report", "SELECT 1 AS x"),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(problem["errors"][0]["pointer"], "/name");
}

#[tokio::test]
async fn flow_inputs_are_listed_by_name_prefix_and_page_with_their_versions() {
    let server = TestServer::start(Options::default()).await;
    stores(&server).await;
    for name in [
        "orders-daily",
        "orders-weekly",
        "ordersX",
        "refunds",
        "Orders-upper",
    ] {
        let (status, created) = post(
            &server,
            "/v2/flow-inputs",
            &named(name, "SELECT 1 AS one FROM orders"),
        )
        .await;
        assert_eq!(status, 201, "{created}");
    }
    for _ in 0..2 {
        let (status, _) = post(
            &server,
            "/v2/flow-inputs/orders-weekly/versions",
            &definition("SELECT 2 AS two FROM orders"),
        )
        .await;
        assert_eq!(status, 201);
    }
    let names = |page: &Value| -> Vec<String> {
        (page["items"].as_array().unwrap().iter())
            .map(|i| i["name"].as_str().unwrap().to_owned())
            .collect()
    };

    let (status, all) = server.get("/v2/flow-inputs").await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(
        names(&all),
        [
            "orders-daily",
            "orders-weekly",
            "ordersX",
            "refunds",
            "Orders-upper"
        ]
    );
    let weekly = &all["items"][1];
    assert_eq!(
        (weekly["latest_version"].clone(), weekly["versions"].clone()),
        (json!(3), json!(3))
    );
    assert!(
        weekly["updated_at"].as_str() >= weekly["created_at"].as_str(),
        "{weekly}"
    );

    let (_, prefixed) = server.get("/v2/flow-inputs?name_prefix=orders-").await;
    assert_eq!(names(&prefixed), ["orders-daily", "orders-weekly"]);

    // Two at a time, by cursor, following the Link header as a client would.
    let mut walked = Vec::new();
    let mut next = Some("/v2/flow-inputs?limit=2".to_owned());
    while let Some(path) = next.take() {
        let response = server.client.get(server.url(&path)).send().await.unwrap();
        let link = response
            .headers()
            .get("link")
            .map(|l| l.to_str().unwrap().to_owned());
        let (status, page) = crate::support::read(response).await;
        assert_eq!(status, 200, "{page}");
        walked.extend(names(&page));
        next = link.map(|l| {
            l.trim_start_matches('<')
                .split('>')
                .next()
                .unwrap()
                .to_owned()
        });
    }
    assert_eq!(walked, names(&all));

    let (status, versions) = server.get("/v2/flow-inputs/orders-weekly/versions").await;
    assert_eq!(status, 200, "{versions}");
    let numbers: Vec<&Value> = (versions["items"].as_array().unwrap().iter())
        .map(|v| &v["version"])
        .collect();
    assert_eq!(numbers, [&json!(1), &json!(2), &json!(3)]);
    let (status, problem) = server.get("/v2/flow-inputs/nothing-here/versions").await;
    assert_eq!(status, 404, "{problem}");
    let (status, problem) = server.get("/v2/flow-inputs?name_prefix=a%20b").await;
    assert_eq!(status, 422, "{problem}");
}

#[tokio::test]
async fn a_v1_input_is_version_1_of_an_input_named_after_its_id() {
    let server = TestServer::start(Options::default()).await;
    stores(&server).await;
    let input = server
        .flow_input(json!({
            "source_data_store_ids": [1], "target_data_store_id": 2,
            "sources": [{"data_store_id": 1, "as": "orders"}],
            "transforms": [{"name": "t", "sql": "SELECT * FROM orders"}],
            "outputs": [{"transform": "t", "table": "t"}]
        }))
        .await;
    let (status, seen) = server.get(&format!("/v2/flow-inputs/{input}")).await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen["id"], format!("{input}:1"));
    let (status, flow) = post(
        &server,
        "/v2/flows",
        &json!({"flow_input": input.to_string()}),
    )
    .await;
    assert_eq!(status, 201, "{flow}");
    let (_, v1) = server.get(&format!("/v1/flows/{}", flow["id"])).await;
    assert_eq!(v1["flow_input_id"], input);
}

#[tokio::test]
async fn walking_pages_by_cursor_skips_and_repeats_nothing_while_rows_are_added() {
    let server = TestServer::start(Options::default()).await;
    for i in 0..7 {
        let body = json!({"name": format!("s{i}"), "type": "columnar_db", "connection": {"path": format!("s{i}")}});
        assert_eq!(post(&server, "/v2/data-stores", &body).await.0, 201);
    }
    let mut seen = Vec::new();
    let mut path = "/v2/data-stores?limit=3".to_owned();
    let mut added = 7;
    loop {
        let response = server.client.get(server.url(&path)).send().await.unwrap();
        let link = response
            .headers()
            .get("link")
            .map(|l| l.to_str().unwrap().to_owned());
        let (status, page) = read(response).await;
        assert_eq!(status, 200, "{page}");
        for item in page["items"].as_array().unwrap() {
            seen.push(item["name"].as_str().unwrap().to_owned());
        }
        // A store added mid-walk comes after every one seen: the walk reaches it once.
        if added < 9 {
            let body = json!({"name": format!("s{added}"), "type": "columnar_db", "connection": {"path": format!("s{added}")}});
            assert_eq!(post(&server, "/v2/data-stores", &body).await.0, 201);
            added += 1;
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                let link = link.expect("a Link header with the next page");
                assert!(link.ends_with("; rel=\"next\""), "{link}");
                assert!(link.contains(cursor), "{link}");
                path = format!("/v2/data-stores?limit=3&cursor={cursor}");
            }
            None => {
                assert!(link.is_none());
                break;
            }
        }
    }
    let expected: Vec<String> = (0..9).map(|i| format!("s{i}")).collect();
    assert_eq!(seen, expected);

    for bad in ["limit=0", "limit=1001", "cursor=nonsense"] {
        let (status, problem) = server.get(&format!("/v2/data-stores?{bad}")).await;
        assert_eq!(status, 422, "{bad}: {problem}");
    }
}

async fn post_once(server: &TestServer, path: &str, key: &str, body: &Value) -> reqwest::Response {
    server
        .client
        .post(server.url(path))
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_retried_post_with_its_idempotency_key_gets_the_first_answer_and_does_nothing_twice() {
    let server = TestServer::start(Options::default()).await;
    stores(&server).await;
    let (status, _) = post(
        &server,
        "/v2/flow-inputs",
        &named("report", "SELECT * FROM orders"),
    )
    .await;
    assert_eq!(status, 201);

    let start = json!({"flow_input": "report"});
    let first = post_once(&server, "/v2/flows", "start-report-1", &start).await;
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let location = first.headers()["location"].clone();
    let (_, first) = read(first).await;

    let again = post_once(&server, "/v2/flows", "start-report-1", &start).await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.headers()["location"], location);
    let (_, again) = read(again).await;
    assert_eq!(again, first);

    let (_, flows) = server.get("/v2/flows").await;
    assert_eq!(flows["items"].as_array().unwrap().len(), 1, "{flows}");

    // One request, one key.
    let two = server
        .client
        .post(server.url("/v2/flows"))
        .header("Idempotency-Key", "a")
        .header("Idempotency-Key", "b")
        .json(&start)
        .send()
        .await
        .unwrap();
    assert_eq!(two.status(), 400);

    let other = post_once(
        &server,
        "/v2/flows",
        "start-report-1",
        &json!({"flow_input": "report:1"}),
    )
    .await;
    assert_eq!(other.status(), 422);
    let (_, problem) = read(other).await;
    assert_eq!(problem["type"], "/problems/idempotency-key-reused");

    // A refused request is an answer too: its retry is refused the same way, not run again.
    let bad = json!({"flow_input": "nothing"});
    let refused = post_once(&server, "/v2/flows", "bad-1", &bad).await;
    assert_eq!(refused.status(), 422);
    let replayed = post_once(&server, "/v2/flows", "bad-1", &bad).await;
    assert_eq!(replayed.status(), 422);
    assert_eq!(replayed.headers()["idempotent-replayed"], "true");

    let response = post_once(&server, "/v2/flows", &"k".repeat(256), &start).await;
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn an_idempotent_post_retried_on_another_replica_creates_one_flow() {
    let options = || Options {
        postgres: true,
        ..Options::default()
    };
    let a = TestServer::start(options()).await;
    let b = a.replica(options()).await;
    stores(&a).await;
    let (status, _) = post(
        &a,
        "/v2/flow-inputs",
        &named("report", "SELECT * FROM orders"),
    )
    .await;
    assert_eq!(status, 201);

    let start = json!({"flow_input": "report"});
    let (_, first) = read(post_once(&a, "/v2/flows", "once", &start).await).await;
    let retried = post_once(&b, "/v2/flows", "once", &start).await;
    assert_eq!(retried.status(), 201);
    assert_eq!(retried.headers()["idempotent-replayed"], "true");
    let (_, retried) = read(retried).await;
    assert_eq!(retried["id"], first["id"]);
    let (_, flows) = b.get("/v2/flows").await;
    assert_eq!(flows["items"].as_array().unwrap().len(), 1, "{flows}");
    drop(b);
}

#[tokio::test]
async fn a_read_answers_304_while_its_etag_still_holds() {
    let server = TestServer::start(Options::default()).await;
    stores(&server).await;
    for path in [
        "/v2/data-stores/orders",
        "/v2/data-stores?limit=1",
        "/v1/data-stores",
    ] {
        let first = server.client.get(server.url(path)).send().await.unwrap();
        assert_eq!(first.status(), 200);
        let tag = first.headers()["etag"].to_str().unwrap().to_owned();
        assert!(tag.starts_with('"') && tag.ends_with('"'), "{tag}");
        let again = server
            .client
            .get(server.url(path))
            .header("If-None-Match", &tag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{path}");
        assert_eq!(again.headers()["etag"], tag.as_str());
        assert!(again.bytes().await.unwrap().is_empty());
    }
    let (_, before) = server.get("/v2/data-stores/orders").await;
    let tag = server
        .client
        .get(server.url("/v2/data-stores/orders"))
        .send()
        .await
        .unwrap()
        .headers()["etag"]
        .clone();
    let (status, _) = send(
        &server,
        reqwest::Method::PATCH,
        "/v2/data-stores/orders",
        Some(&json!({"connection": {"path": "orders2.csv", "format": "csv"}})),
    )
    .await;
    assert_eq!(status, 200);
    let changed = server
        .client
        .get(server.url("/v2/data-stores/orders"))
        .header("If-None-Match", tag)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200, "a changed store has a new tag");
    let (_, after) = read(changed).await;
    assert_ne!(after, before);
}

#[tokio::test]
async fn v1_answers_announce_its_end_once_the_dates_are_set() {
    let server = TestServer::start(Options::default()).await;
    let response = server
        .client
        .get(server.url("/v1/flows"))
        .send()
        .await
        .unwrap();
    assert!(response.headers().get("deprecation").is_none());

    let server = TestServer::start(Options {
        env: vec![
            (
                "SLUICE__API__V1_DEPRECATED_AT",
                "2027-01-01T00:00:00Z".into(),
            ),
            ("SLUICE__API__V1_SUNSET_AT", "2027-06-30T00:00:00Z".into()),
        ],
        ..Options::default()
    })
    .await;
    let response = server
        .client
        .get(server.url("/v1/flows/7"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404, "problems announce it too");
    let headers = response.headers();
    assert_eq!(headers["deprecation"], "@1798761600");
    assert_eq!(headers["sunset"], "Wed, 30 Jun 2027 00:00:00 GMT");
    assert_eq!(headers["link"], "</v2/flows/7>; rel=\"successor-version\"");
    let v2 = server
        .client
        .get(server.url("/v2/flows"))
        .send()
        .await
        .unwrap();
    assert!(v2.headers().get("deprecation").is_none());
}

/// The events of a stream, read until it ends: (event, id, data).
async fn events(
    mut response: reqwest::Response,
    within: Duration,
) -> Vec<(String, Option<i64>, Value)> {
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let started = Instant::now();
    let mut text = String::new();
    loop {
        let chunk =
            tokio::time::timeout(within.saturating_sub(started.elapsed()), response.chunk())
                .await
                .unwrap_or_else(|_| panic!("the stream did not end within {within:?}:\n{text}"))
                .unwrap();
        match chunk {
            Some(bytes) => text.push_str(std::str::from_utf8(&bytes).unwrap()),
            None => break,
        }
    }
    text.split("\n\n")
        .filter(|block| block.starts_with("event: "))
        .map(|block| {
            let field = |name: &str| {
                block
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(str::to_owned)
            };
            (
                field("event: ").unwrap(),
                field("id: ").map(|id| id.parse().unwrap()),
                serde_json::from_str(&field("data: ").unwrap()).unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn an_event_stream_on_one_replica_follows_a_flow_another_runs_to_its_end() {
    let serve_only = || Options {
        postgres: true,
        max_concurrent_flows: 0,
        ..Options::default()
    };
    let api = TestServer::start(serve_only()).await;
    stores(&api).await;
    let (status, _) = post(
        &api,
        "/v2/flow-inputs",
        &named("report", "SELECT * FROM orders"),
    )
    .await;
    assert_eq!(status, 201);
    let (_, flow) = post(&api, "/v2/flows", &json!({"flow_input": "report"})).await;
    let path = format!("/v2/flows/{}/events", flow["id"]);

    // Opened while the flow waits: this process runs no flows.
    let stream = api.client.get(api.url(&path)).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    let runner = api
        .replica(Options {
            postgres: true,
            ..Options::default()
        })
        .await;
    let seen = events(stream, Duration::from_secs(60)).await;

    let states: Vec<&str> = seen
        .iter()
        .filter(|(e, _, _)| e == "state")
        .map(|(_, _, d)| d["state"].as_str().unwrap())
        .collect();
    assert_eq!(states.first(), Some(&"READY"), "{seen:?}");
    // A flow this small may run between two reads: RUNNING need not show.
    assert_eq!(states.last(), Some(&"COMPLETED"), "{seen:?}");
    let logs: Vec<i64> = seen
        .iter()
        .filter(|(e, _, _)| e == "log")
        .map(|(_, id, _)| id.unwrap())
        .collect();
    assert!(
        logs.len() >= 4 && logs.windows(2).all(|w| w[0] < w[1]),
        "{logs:?}"
    );
    assert!(
        seen.iter()
            .filter(|(e, _, _)| e == "log")
            .all(|(_, id, d)| d["id"].as_i64() == *id),
        "a log event's data is the line, with the id the event carries: {seen:?}"
    );
    let last_log = seen.iter().rposition(|(e, _, _)| e == "log").unwrap();
    let completed = seen.iter().rposition(|(e, _, _)| e == "state").unwrap();
    assert!(
        last_log < completed,
        "every line comes before the end: {seen:?}"
    );
    assert!(
        seen.iter()
            .any(|(e, _, d)| e == "step" && d["state"] == "COMPLETED")
    );
    assert!(
        seen.iter()
            .any(|(e, _, d)| e == "progress" && d["progress"] == 100)
    );

    // A reconnect resumes after the last line it saw, with the state again.
    let resumed = api
        .client
        .get(api.url(&path))
        .header("Last-Event-ID", logs[1].to_string())
        .send()
        .await
        .unwrap();
    let again = events(resumed, Duration::from_secs(10)).await;
    let resent: Vec<i64> = again
        .iter()
        .filter(|(e, _, _)| e == "log")
        .map(|(_, id, _)| id.unwrap())
        .collect();
    assert_eq!(resent, logs[2..]);
    assert!(
        again
            .iter()
            .any(|(e, _, d)| e == "state" && d["state"] == "COMPLETED")
    );
    drop(runner);
}

/// A version allowing attempts runs a failed flow again after the backoff: here the source file
/// appears between the attempts, and the second completes. The attempt is in the view and log.
#[tokio::test]
async fn a_failed_attempt_is_run_again_while_the_flow_input_allows() {
    let server = TestServer::start(Options {
        env: vec![("SLUICE__RUNNER__RETRY_BACKOFF_MS", "1500".into())],
        ..Options::default()
    })
    .await;
    for store in [
        json!({"name": "orders", "type": "file", "connection": {"path": "later.csv", "format": "csv"}}),
        json!({"name": "lake", "type": "columnar_db", "connection": {"path": "lake"}}),
    ] {
        assert_eq!(server.post("/v2/data-stores", &store).await.0, 201);
    }
    let (status, input) = server
        .post(
            "/v2/flow-inputs",
            &json!({
                "name": "patient", "target": "lake", "max_attempts": 3,
                "sources": [{"data_store": "orders", "alias": "orders"}],
                "transforms": [{"name": "copied", "sql": "SELECT * FROM orders"}],
                "outputs": [{"transform": "copied", "table": "copied"}]
            }),
        )
        .await;
    assert_eq!(status, 201, "{input}");
    assert_eq!(input["max_attempts"], 3);
    let (_, flow) = server
        .post("/v2/flows", &json!({"flow_input": "patient"}))
        .await;
    let id = flow["id"].as_i64().unwrap();
    assert_eq!(flow["attempt"], 1);

    // The first attempt fails: the file is not there yet.
    let started = std::time::Instant::now();
    loop {
        let (_, page) = server.get(&format!("/v2/flows/{id}/logs?limit=100")).await;
        if page.to_string().contains("attempt 1 failed") {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "{page}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    std::fs::write(server.data.join("later.csv"), "id,amount\n1,2\n").unwrap();
    let (_, end) = server
        .wait_for_end(id, std::time::Duration::from_secs(30))
        .await;
    assert_eq!(end["output"]["state"], "COMPLETED", "{end}");
    let (_, view) = server.get(&format!("/v2/flows/{id}")).await;
    assert_eq!(view["attempt"], 2, "{view}");
    assert_eq!(
        view["errors"],
        json!([]),
        "the failed attempt is in the log, not the errors"
    );
    let logs = end["output"]["logs"]["lines"].to_string();
    assert!(logs.contains("(attempt 2 of 3)"), "{logs}");
    assert!(logs.contains("attempt 2 of 3 starts in 1.5 s"), "{logs}");
}

/// A flow is rerun once it has ended, linked both ways; lists of flows come newest first with
/// their totals, filtered by several states and by creation time.
#[tokio::test]
async fn an_ended_flow_is_rerun_and_flows_are_listed_newest_first_with_totals() {
    let api = TestServer::start(Options {
        postgres: true,
        max_concurrent_flows: 0,
        ..Options::default()
    })
    .await;
    stores(&api).await;
    let (status, _) = post(
        &api,
        "/v2/flow-inputs",
        &named("report", "SELECT * FROM orders"),
    )
    .await;
    assert_eq!(status, 201);
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (status, flow) = post(&api, "/v2/flows", &json!({"flow_input": "report:1"})).await;
        assert_eq!(status, 201, "{flow}");
        assert!(flow["started_at"].is_null() && flow["finished_at"].is_null());
        ids.push(flow["id"].as_i64().unwrap());
    }

    // Nothing runs here: a READY flow cannot be rerun yet.
    let (status, problem) = post(&api, &format!("/v2/flows/{}/rerun", ids[0]), &json!({})).await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["type"], "/problems/conflict");

    let (status, cancelled) = post(&api, &format!("/v2/flows/{}/cancel", ids[0]), &json!({})).await;
    assert_eq!(status, 202, "{cancelled}");
    // A rerun takes no body: one that says something is refused, not ignored.
    let (status, refused) = post(
        &api,
        &format!("/v2/flows/{}/rerun", ids[0]),
        &json!({"flow_input": "report:2"}),
    )
    .await;
    assert_eq!(status, 422, "{refused}");
    let (status, rerun) = post(&api, &format!("/v2/flows/{}/rerun", ids[0]), &json!({})).await;
    assert_eq!(status, 201, "{rerun}");
    assert_eq!(rerun["rerun_of"], ids[0]);
    assert_eq!(rerun["flow_input"], "report:1");
    assert_eq!(rerun["state"], "READY");
    let (_, original) = api.get(&format!("/v2/flows/{}", ids[0])).await;
    assert_eq!(original["reruns"], json!([rerun["id"]]));
    assert!(original["finished_at"].is_string(), "{original}");
    ids.push(rerun["id"].as_i64().unwrap());

    let (status, page) = api
        .get("/v2/flows?order_by=-created_at&limit=2&count=true")
        .await;
    assert_eq!(status, 200, "{page}");
    let newest: Vec<i64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_i64().unwrap())
        .collect();
    assert_eq!(newest, [ids[3], ids[2]]);
    assert_eq!(page["total"], 4);
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, rest) = api
        .get(&format!("/v2/flows?order_by=-created_at&cursor={cursor}"))
        .await;
    let older: Vec<i64> = rest["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_i64().unwrap())
        .collect();
    assert_eq!(older, [ids[1], ids[0]]);
    assert!(
        rest.get("total").is_none(),
        "a total only when asked: {rest}"
    );
    // A cursor belongs to the order it was taken in.
    let (status, problem) = api
        .get(&format!("/v2/flows?order_by=created_at&cursor={cursor}"))
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["pointer"], "/cursor");

    let (_, states) = api
        .get("/v2/flows?state=CANCELLED&state=READY&count=true&limit=1")
        .await;
    assert_eq!(states["total"], 4);
    let (_, cancelled) = api.get("/v2/flows?state=CANCELLED&count=true").await;
    assert_eq!(cancelled["total"], 1);
    let (status, problem) = api.get("/v2/flows?state=DONE").await;
    assert_eq!(status, 422, "{problem}");
    for far in ["%2B10000-01-01T00:00:00Z", "2026-12-07", "now"] {
        let (status, problem) = api.get(&format!("/v2/flows?created_after={far}")).await;
        assert_eq!(status, 422, "{far}: {problem}");
        assert_eq!(
            problem["errors"][0]["pointer"], "/created_after",
            "{problem}"
        );
    }
    let (status, problem) = api.get("/v2/flows?order_by=-id").await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("-finished_at"),
        "{problem}"
    );

    let (_, third) = api.get(&format!("/v2/flows/{}", ids[2])).await;
    let created = third["created_at"].as_str().unwrap();
    let since = url_escape(created);
    let (_, later) = api
        .get(&format!("/v2/flows?created_after={since}&count=true"))
        .await;
    assert_eq!(later["total"], 2, "{later}");
    let (_, earlier) = api
        .get(&format!("/v2/flows?created_before={since}&count=true"))
        .await;
    assert_eq!(earlier["total"], 2, "{earlier}");

    // Ended flows first by when they ended; the others after them.
    let (_, by_end) = api.get("/v2/flows?order_by=-finished_at").await;
    assert_eq!(by_end["items"][0]["id"], ids[0]);

    let (_, stores) = api
        .get("/v2/data-stores?order_by=-created_at&count=true")
        .await;
    assert_eq!(stores["items"][0]["name"], "lake");
    assert_eq!(stores["total"], 2);
    let (_, inputs) = api.get("/v2/flow-inputs?count=true").await;
    assert_eq!(inputs["total"], 1);
}

fn url_escape(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}

/// The `type` of a problem answer resolves against the server to its page, in JSON and HTML.
#[tokio::test]
async fn every_problem_type_an_answer_names_has_a_page() {
    let server = TestServer::start(Options::default()).await;
    let (status, problem) = server.get("/v2/flows/99").await;
    assert_eq!(status, 404);
    let (status, page) = server.get(problem["type"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["title"], problem["title"]);
    assert_eq!(page["status"], 404);
    assert!(page["advice"].as_str().unwrap().len() > 10);

    let (_, index) = server.get("/problems").await;
    let types = index["items"].as_array().unwrap();
    assert!(types.len() >= 15);
    for described in types {
        let (status, _) = server.get(described["type"].as_str().unwrap()).await;
        assert_eq!(status, 200, "{described}");
    }
    let html = server
        .client
        .get(server.url("/problems/too-many-requests"))
        .header("Accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert!(
        html.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(html.headers()["vary"], "Accept");
    assert_eq!(html.headers()["x-content-type-options"], "nosniff");
    let body = html.text().await.unwrap();
    assert!(
        body.contains("<h1>Too many requests</h1>") && body.contains("Retry-After"),
        "{body}"
    );
    let (status, _) = server.get("/problems/nothing").await;
    assert_eq!(status, 404);
}

/// `PATCH /v2/data-stores/{name}` is a merge patch: the password alone, the host alone; a stale
/// `If-Match` changes nothing; engines outside the document are refused.
#[tokio::test]
async fn a_store_is_patched_field_by_field_and_a_stale_etag_changes_nothing() {
    let server = TestServer::start(Options {
        postgres: true,
        ..Options::default()
    })
    .await;
    let dwh = json!({"name": "dwh", "type": "relational_db", "connection": {
        "engine": "postgres", "host": "db.internal", "user": "etl", "password": "old-secret", "database": "sales"}});
    let (status, _) = post(&server, "/v2/data-stores", &dwh).await;
    assert_eq!(status, 201);
    for name in [".", "..", "-x", "_x"] {
        let body = json!({"name": name, "type": "columnar_db", "connection": {"path": "lake"}});
        let (status, refused) = post(&server, "/v2/data-stores", &body).await;
        assert_eq!(status, 422, "{name}: {refused}");
        assert_eq!(refused["errors"][0]["pointer"], "/name", "{refused}");
    }
    let mariadb = json!({"name": "maria", "type": "relational_db", "connection": {
        "engine": "mariadb", "host": "db.internal", "user": "etl", "database": "sales"}});
    let (status, refused) = post(&server, "/v2/data-stores", &mariadb).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(
        refused["errors"][0]["pointer"], "/connection/engine",
        "{refused}"
    );

    let patch = |body: Value, if_match: Option<String>| {
        let mut request = server
            .client
            .patch(server.url("/v2/data-stores/dwh"))
            .header("content-type", "application/merge-patch+json")
            .body(body.to_string());
        if let Some(tag) = if_match {
            request = request.header("If-Match", tag);
        }
        async move { read(request.send().await.unwrap()).await }
    };
    let read_tag = || async {
        let response = server
            .client
            .get(server.url("/v2/data-stores/dwh"))
            .send()
            .await
            .unwrap();
        response.headers()["etag"].to_str().unwrap().to_owned()
    };

    let first = read_tag().await;
    let (status, host_only) = patch(
        json!({"connection": {"host": "db2.internal"}}),
        Some(first.clone()),
    )
    .await;
    assert_eq!(status, 200, "{host_only}");
    assert_eq!(host_only["connection"]["host"], "db2.internal");
    assert_eq!(host_only["connection"]["user"], "etl");
    assert_eq!(
        host_only["connection"]["has_password"], true,
        "the password is kept"
    );

    // The tag read before that change is stale now.
    let (status, stale) = patch(json!({"connection": {"host": "db3.internal"}}), Some(first)).await;
    assert_eq!(status, 412, "{stale}");
    assert_eq!(stale["type"], "/problems/precondition-failed");
    let (_, unchanged) = server.get("/v2/data-stores/dwh").await;
    assert_eq!(unchanged["connection"]["host"], "db2.internal");

    let (status, no_password) = patch(
        json!({"connection": {"password": null}}),
        Some(read_tag().await),
    )
    .await;
    assert_eq!(status, 200, "{no_password}");
    assert_eq!(no_password["connection"]["has_password"], false);
    assert_eq!(no_password["connection"]["host"], "db2.internal");
    let before_password = read_tag().await;
    let (status, password_only) =
        patch(json!({"connection": {"password": "new-secret"}}), None).await;
    assert_eq!(status, 200, "{password_only}");
    assert_eq!(password_only["connection"]["has_password"], true);
    assert!(!password_only.to_string().contains("new-secret"));
    // A password change shows nowhere but in the revision, which the tag follows.
    assert_ne!(read_tag().await, before_password);
    let (status, _) = patch(
        json!({"connection": {"password": "other"}}),
        Some(before_password),
    )
    .await;
    assert_eq!(status, 412);
    let (status, empty) = patch(json!({"connection": {"password": ""}}), None).await;
    assert_eq!(status, 422, "{empty}");

    // Of changes sent at once from one tag, one is made; the others are told.
    let current = read_tag().await;
    let racers = (0..8).map(|i| {
        patch(
            json!({"connection": {"port": 8000 + i}}),
            Some(current.clone()),
        )
    });
    let statuses: Vec<u16> = futures::future::join_all(racers)
        .await
        .into_iter()
        .map(|(status, _)| status)
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| [200, 412].contains(s)),
        "{statuses:?}"
    );

    let (status, typed) = patch(json!({"type": "file", "connection": {}}), None).await;
    assert_eq!(status, 422, "a store's type stays: {typed}");
    let (status, bad) = patch(json!({"connection": {"port": "high"}}), None).await;
    assert_eq!(status, 422, "{bad}");
    assert_eq!(bad["errors"][0]["pointer"], "/connection/port", "{bad}");
}
