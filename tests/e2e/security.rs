//! What a caller must not reach with nothing but the API, one test per class of attack (see
//! docs/security.md): Sluice's own files, other files through SQLite, the event loop, backing
//! services through filter values, worker panics, slow clients, transient database faults, and
//! lenient or leaky answers.
//!
//! Longer than other test files on purpose: it follows docs/security.md class by class, so that
//! the document and its proofs read side by side.

use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::{Options, TestServer, one_source_flow, write_customers_sqlite};

fn sqlite_store(name: &str, path: &str) -> Value {
    json!({"name": name, "type": "relational_db", "connection": {"engine": "sqlite", "path": path}})
}

fn csv_store(name: &str, path: &str) -> Value {
    json!({"name": name, "type": "file", "connection": {"path": path, "format": "csv"}})
}

/// A flow input reading `source` (as `src`, with `read`), running `sql` as transform `t` and
/// replacing `target` with its rows.
fn one_transform(source: i64, read: Value, target: i64, sql: &str) -> Value {
    one_source_flow(
        source,
        read,
        target,
        json!([{"name": "t", "sql": sql}]),
        json!([{"transform": "t", "mode": "replace"}]),
    )
}

/// Registers `body`, expecting a 422 at `/connection/path`; returns its message.
async fn refused_path(server: &TestServer, body: &Value) -> String {
    let (status, problem) = server.post("/v1/data-stores", body).await;
    assert_eq!(status, 422, "{body} was accepted: {problem}");
    assert_eq!(
        problem["errors"][0]["pointer"], "/connection/path",
        "{problem}"
    );
    problem["errors"][0]["message"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_embedded_state_database_lives_outside_the_data_folder() {
    let server = TestServer::start(Options {
        embedded_state: true,
        ..Options::default()
    })
    .await;
    server.data_store(csv_store("first", "first.csv")).await;
    let state = server.data.parent().unwrap().join("state/sluice.sqlite");
    assert!(
        state.is_file(),
        "the state database is not at {}",
        state.display()
    );
    assert!(!server.data.join("sluice.sqlite").exists());
    for path in [
        "../state/sluice.sqlite".to_owned(),
        state.to_string_lossy().into_owned(),
        format!("{}-wal", state.display()),
    ] {
        refused_path(&server, &sqlite_store("own", &path)).await;
    }
}

#[tokio::test]
async fn sluices_own_files_in_the_data_folder_are_no_stores_path_by_any_spelling_or_link() {
    // Where an operator might put it: inside the data folder.
    let server = TestServer::start(Options {
        embedded_state: true,
        env: vec![("SLUICE__DATABASE__PATH", "data/sluice.sqlite".into())],
        ..Options::default()
    })
    .await;
    let state = server.data.join("sluice.sqlite");
    assert!(state.is_file());
    std::os::unix::fs::symlink(&state, server.data.join("innocent.sqlite")).unwrap();
    let absolute = state.to_string_lossy().into_owned();
    for (body, spelled) in [
        (sqlite_store("a", "sluice.sqlite"), "sluice.sqlite"),
        (sqlite_store("b", "./sluice.sqlite"), "./sluice.sqlite"),
        (sqlite_store("c", ".//sluice.sqlite"), ".//sluice.sqlite"),
        (sqlite_store("d", &absolute), "absolute"),
        (sqlite_store("e", "innocent.sqlite"), "a symlink"),
        (csv_store("f", "sluice.sqlite"), "a CSV target"),
        (csv_store("g", "sluice.sqlite-wal"), "the WAL"),
        (
            csv_store("h", "sluice.sqlite-shm"),
            "the shared memory file",
        ),
    ] {
        let message = refused_path(&server, &body).await;
        assert!(
            message.contains("Sluice's own files"),
            "{spelled}: {message}"
        );
    }
    let (_, stores) = server.get("/v1/data-stores").await;
    assert_eq!(stores, json!([]), "nothing was stored");
}

#[tokio::test]
async fn a_link_made_after_registration_cannot_reach_the_state_database() {
    let server = TestServer::start(Options {
        embedded_state: true,
        env: vec![("SLUICE__DATABASE__PATH", "data/sluice.sqlite".into())],
        ..Options::default()
    })
    .await;
    let source = server
        .data_store(sqlite_store("later", "later.sqlite"))
        .await;
    let target = server.data_store(csv_store("out", "out.csv")).await;
    std::os::unix::fs::symlink(
        server.data.join("sluice.sqlite"),
        server.data.join("later.sqlite"),
    )
    .unwrap();
    let flow = server
        .run_flow(one_transform(
            source,
            json!({"table": "data_store"}),
            target,
            "SELECT * FROM src",
        ))
        .await;
    assert_eq!(flow["output"]["state"], "FAILED", "{flow}");
    assert!(flow.to_string().contains("Sluice's own files"), "{flow}");
    assert!(!server.data.join("out.csv").exists());
}

/// A flow reading `query` from a SQLite file in the data folder into a CSV; returns the flow.
async fn run_sqlite_query(server: &TestServer, query: &str) -> Value {
    let shop = server.data.join("shop.sqlite");
    if !shop.exists() {
        write_customers_sqlite(&shop).await;
    }
    let (_, stores) = server.get("/v1/data-stores").await;
    let id_of = |name: &str| {
        stores
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .map(|s| s["id"].as_i64().unwrap())
    };
    let source = match id_of("shop") {
        Some(id) => id,
        None => server.data_store(sqlite_store("shop", "shop.sqlite")).await,
    };
    let target = match id_of("out") {
        Some(id) => id,
        None => server.data_store(csv_store("out", "out.csv")).await,
    };
    server
        .run_flow(one_transform(
            source,
            json!({"query": query}),
            target,
            "SELECT * FROM src",
        ))
        .await
}

#[tokio::test]
async fn a_sqlite_source_query_reads_its_own_file_and_nothing_else() {
    let server = TestServer::start(Options::default()).await;
    let outside = server.data.parent().unwrap().join("secret.sqlite");
    let pool = crate::support::sqlite_pool(&outside).await;
    sea_orm::sqlx::query("CREATE TABLE secret (s TEXT); INSERT INTO secret VALUES ('pw-never')")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let attach = format!("ATTACH DATABASE '{}' AS x", outside.display());
    for (query, said) in [
        (
            format!("{attach}; SELECT * FROM x.secret"),
            "ATTACH is not allowed",
        ),
        (attach.clone(), "ATTACH is not allowed"),
        (
            "SELECT * FROM customers; DROP TABLE customers".into(),
            "one statement",
        ),
        ("SELECT 1; SELECT 2".into(), "one statement"),
        ("PRAGMA writable_schema = 1".into(), "PRAGMA"),
        (
            "SELECT load_extension('/tmp/x.so')".into(),
            "load_extension",
        ),
        ("DELETE FROM customers".into(), "writing"),
        ("VACUUM INTO '/tmp/copy.sqlite'".into(), "only read"),
    ] {
        let flow = run_sqlite_query(&server, &query).await;
        assert_eq!(flow["output"]["state"], "FAILED", "{query}: {flow}");
        let errors = flow["output"]["errors"].to_string();
        assert!(errors.contains(said), "{query}: {errors}");
        assert!(!errors.contains("pw-never"));
    }
    assert!(!server.data.join("out.csv").exists(), "nothing was written");
    let flow = run_sqlite_query(&server, "SELECT name FROM customers WHERE id <= 2").await;
    assert_eq!(flow["output"]["state"], "COMPLETED", "{flow}");
    assert_eq!(
        std::fs::read_to_string(server.data.join("out.csv")).unwrap(),
        "name\ncustomer 1\ncustomer 2\n"
    );
}

#[tokio::test]
async fn a_value_read_from_a_source_is_never_echoed_by_an_error() {
    let server = TestServer::start(Options::default()).await;
    std::fs::write(
        server.data.join("users.csv"),
        "name,password\nann,pw-7c1e-secret\n",
    )
    .unwrap();
    let source = server.data_store(csv_store("users", "users.csv")).await;
    let target = server.data_store(csv_store("out", "out.csv")).await;
    let flow = server
        .run_flow(one_transform(
            source,
            json!({}),
            target,
            "SELECT CAST(password AS INT) AS p FROM src",
        ))
        .await;
    assert_eq!(flow["output"]["state"], "FAILED", "{flow}");
    let (_, logs) = server.get(&format!("/v1/flows/{}/logs", flow["id"])).await;
    for shown in [flow.to_string(), logs.to_string(), server.output()] {
        assert!(
            !shown.contains("pw-7c1e-secret"),
            "a source value was echoed: {shown}"
        );
    }
    assert!(flow.to_string().contains("Cannot cast string"), "{flow}");
}

#[tokio::test]
async fn oversized_paths_and_lists_are_refused_without_stalling_the_server() {
    let server = TestServer::start(Options::default()).await;
    let client = server.client.clone();
    let health = server.url("/healthz");
    let long_path = "a/".repeat(350_000);
    let body =
        json!({"name": "deep", "type": "file", "connection": {"path": long_path, "format": "csv"}});
    // Two at once, as the probe did; the health check must still answer meanwhile.
    let (first, second, healthy) = tokio::join!(
        server.post("/v1/data-stores", &body),
        server.post("/v1/data-stores", &body),
        async { client.get(&health).send().await.unwrap().status().as_u16() }
    );
    assert_eq!(healthy, 200);
    for (status, problem) in [first, second] {
        assert_eq!(status, 422, "{problem}");
        assert_eq!(problem["errors"][0]["pointer"], "/connection/path");
        assert!(
            problem["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("at most")
        );
    }
    let csv = server.data_store(csv_store("orders", "orders.csv")).await;
    let ids = vec![csv; 100_000];
    let (status, problem) = server
        .post(
            "/v1/flow-inputs",
            &json!({
                "source_data_store_ids": ids, "target_data_store_id": csv,
                "sources": [], "transforms": [], "outputs": []
            }),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["pointer"], "/source_data_store_ids");
}

#[tokio::test]
async fn a_filter_value_is_matched_never_made_into_a_path() {
    let server = TestServer::start(Options::default()).await;
    for value in [
        "a".repeat(300),
        "a".repeat(2000),
        "../../../../etc".to_owned(),
        "x/y".to_owned(),
        "dataset=conservation-area".to_owned(),
    ] {
        for path in ["/v1/log/issue", "/v1/performance/issues"] {
            let url = format!("{path}?dataset={value}");
            let (status, body) = server.get(&url).await;
            assert_eq!(
                status,
                200,
                "{path} {}: {body}",
                &value[..20.min(value.len())]
            );
            assert_eq!(body, json!([]), "{url}");
        }
    }
    let (status, problem) = server
        .get(&format!("/v1/log/issue?dataset={}", "a".repeat(3000)))
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["pointer"], "/dataset");
    assert!(!server.output().contains("Unable to walk dir"));
}

#[tokio::test]
async fn offsets_past_64_bits_are_refused_with_422() {
    let server = TestServer::start(Options::default()).await;
    for path in [
        "/v1/log/issue?dataset=conservation-area&",
        "/v1/flows?",
        "/v1/data-stores?",
    ] {
        for offset in [
            "18446744073709551615",
            "9223372036854775807",
            "99999999999999999999999",
            "abc",
            "-1",
        ] {
            let (status, problem) = server.get(&format!("{path}offset={offset}")).await;
            assert_eq!(status, 422, "{path}offset={offset}: {problem}");
            assert_eq!(problem["errors"][0]["pointer"], "/offset", "{problem}");
            let text = problem.to_string();
            for internal in ["invalid digit", "too large to fit", "Deserialize"] {
                assert!(!text.contains(internal), "{text}");
            }
        }
    }
    assert!(!server.output().contains("panicked"), "{}", server.output());
}

/// Sends a request head announcing a body and then only part of it; returns the status line.
fn send_partial_body(address: &str) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .write_all(b"POST /v1/flows HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
        .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buffer) {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buffer[..n]);
        if answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}") {
            break;
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_ends_with_408_and_one_client_has_bounded_requests() {
    let server = TestServer::start(Options {
        env: vec![
            ("SLUICE__SERVER__BODY_READ_TIMEOUT_SECS", "1".into()),
            ("SLUICE__SERVER__MAX_REQUESTS_PER_CLIENT", "2".into()),
        ],
        ..Options::default()
    })
    .await;
    let address = server.base.trim_start_matches("http://").to_owned();
    let started = Instant::now();
    let slow: Vec<_> = (0..2)
        .map(|_| {
            let address = address.clone();
            std::thread::spawn(move || send_partial_body(&address))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, problem) = server.get("/v1/data-stores").await;
    assert_eq!(status, 429, "{problem}");
    assert_eq!(problem["type"], "/problems/too-many-requests");
    for answer in slow {
        let answer = answer.join().unwrap();
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("application/problem+json"), "{answer}");
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    let (status, _) = server.get("/v1/data-stores").await;
    assert_eq!(status, 200, "the client's slots were given back");
}

#[tokio::test]
async fn terminated_state_database_sessions_give_503_or_an_answer_never_500_and_flows_complete() {
    let server = TestServer::start(Options {
        postgres: true,
        ..Options::default()
    })
    .await;
    crate::support::write_orders_csv(&server.data.join("orders.csv"), 20_000);
    let source = server.data_store(csv_store("orders", "orders.csv")).await;
    let target = server.data_store(csv_store("out", "out.csv")).await;
    let input = server
        .flow_input(one_transform(
            source,
            json!({}),
            target,
            "SELECT customer_id, sum(amount) AS s FROM src GROUP BY customer_id",
        ))
        .await;
    let flow = server.start_flow(input).await;
    let base = sluice_test_support::databases::postgres_server();
    let admin = sea_orm::Database::connect(format!("{base}/postgres"))
        .await
        .unwrap();
    let name = server.state_database_name();
    let mut statuses = Vec::new();
    for _ in 0..20 {
        use sea_orm::ConnectionTrait;
        admin
            .execute_unprepared(&format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
            ))
            .await
            .unwrap();
        let response = server
            .client
            .get(server.url("/v1/data-stores"))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        if status == 503 {
            assert!(response.headers().contains_key("retry-after"));
        }
        statuses.push(status);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        statuses.iter().all(|s| [200, 503].contains(s)),
        "{statuses:?}"
    );
    let (_, end) = server.wait_for_end(flow, Duration::from_secs(60)).await;
    assert_eq!(end["output"]["state"], "COMPLETED", "{end}");
}

#[tokio::test]
async fn lenient_json_is_refused() {
    let server = TestServer::start(Options::default()).await;
    let raw = |body: &'static str, path: &'static str| {
        let request = server
            .client
            .post(server.url(path))
            .header("content-type", "application/json")
            .body(body);
        async move { crate::support::read(request.send().await.unwrap()).await }
    };
    let (status, problem) = raw("[1]", "/v1/flows").await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("JSON object")
    );
    let (status, problem) = raw(r#"{"flow_input_id": 1, "flow_input_id": 2}"#, "/v1/flows").await;
    assert_eq!(status, 400, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("twice"),
        "{problem}"
    );
    let (status, problem) = raw(
        r#"{"name": "x", "type": "file", "connection": ["a.csv", "csv"]}"#,
        "/v1/data-stores",
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    for (connection, pointer) in [
        (
            json!({"engine": "postgres", "host": "db", "port": 0, "user": "u", "database": "d"}),
            "/connection/port",
        ),
        (
            json!({"engine": "postgres", "host": "db host", "user": "u", "database": "d"}),
            "/connection/host",
        ),
        (
            json!({"engine": "mysql", "host": "/var/run/mysqld/mysqld.sock", "user": "u", "database": "d"}),
            "/connection/host",
        ),
    ] {
        let (status, problem) = server
            .post(
                "/v1/data-stores",
                &json!({"name": "db", "type": "relational_db", "connection": connection}),
            )
            .await;
        assert_eq!(status, 422, "{problem}");
        assert_eq!(problem["errors"][0]["pointer"], pointer, "{problem}");
    }
    let (_, stores) = server.get("/v1/data-stores").await;
    assert_eq!(stores, json!([]));
}

#[tokio::test]
async fn http_errors_are_problems_in_plain_words() {
    let server = TestServer::start(Options::default()).await;
    let response = server
        .client
        .put(server.url("/v1/data-stores"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST, GET, HEAD");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let response = server
        .client
        .delete(server.url("/v1/flows/1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET, HEAD");
    for path in [
        "/v1/data-stores",
        "/v1/log/issue?dataset=conservation-area",
        "/healthz",
        "/v1/specification/specification",
    ] {
        let response = server.client.head(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "HEAD {path}");
        assert_eq!(
            response.text().await.unwrap(),
            "",
            "HEAD {path} has no body"
        );
    }
    let (status, problem) = server.get("/v1/flows/abc").await;
    assert_eq!(status, 404);
    let (_, other) = server
        .post("/v1/data-stores", &json!({"name": "x", "type": "file", "connection": {"path": "a.csv", "format": "csv"}, "extra": 1}))
        .await;
    let (status, huge) = server
        .post(
            "/v1/flow-inputs",
            &json!({"source_data_store_ids": [1e20], "target_data_store_id": 1, "sources": [], "transforms": [], "outputs": []}),
        )
        .await;
    assert_eq!(status, 422, "{huge}");
    assert_eq!(
        huge["errors"][0]["message"], "must be a whole number",
        "{huge}"
    );
    let (status, unparsed) = server
        .post(
            "/v1/flow-inputs",
            &json!({"source_data_store_ids": [1], "target_data_store_id": 1,
                    "sources": [{"data_store_id": 1, "as": "a"}],
                    "transforms": [{"name": "t", "sql": "SELECT 'open FROM a"}], "outputs": []}),
        )
        .await;
    assert_eq!(status, 422, "{unparsed}");
    for text in [
        problem.to_string(),
        other.to_string(),
        huge.to_string(),
        unparsed.to_string(),
    ] {
        for internal in [
            "Path deserialize",
            "can not parse",
            "expected struct",
            "ParserError",
            "TokenizerError",
            "invalid type",
            "expected i64",
            "Custom {",
        ] {
            assert!(!text.contains(internal), "{text}");
        }
    }
    let response = server
        .client
        .get(server.url("/v1/data-stores"))
        .header("origin", "https://elsewhere.example")
        .send()
        .await
        .unwrap();
    assert!(
        !response
            .headers()
            .contains_key("access-control-allow-origin"),
        "cross-origin calls are off by default"
    );
}

#[tokio::test]
async fn cross_origin_calls_are_allowed_from_configured_origins_only() {
    let server = TestServer::start(Options {
        env: vec![(
            "SLUICE__SERVER__CORS_ALLOWED_ORIGINS",
            "https://dash.example".into(),
        )],
        ..Options::default()
    })
    .await;
    let allowed = |origin: &'static str| {
        let request = server
            .client
            .get(server.url("/v1/data-stores"))
            .header("origin", origin);
        async move {
            request
                .send()
                .await
                .unwrap()
                .headers()
                .get("access-control-allow-origin")
                .map(|v| v.to_str().unwrap().to_owned())
        }
    };
    assert_eq!(
        allowed("https://dash.example").await.as_deref(),
        Some("https://dash.example")
    );
    assert_eq!(allowed("https://elsewhere.example").await, None);
}

#[tokio::test]
async fn a_postgres_store_cannot_reach_the_state_database_by_any_host_name() {
    let server = TestServer::start(Options {
        postgres: true,
        ..Options::default()
    })
    .await;
    let database = server.state_database_name();
    let target = server.data_store(csv_store("out", "out.csv")).await;
    for (name, host) in [("by-address", "127.0.0.1"), ("by-name", "localhost")] {
        let source = server
            .data_store(json!({"name": name, "type": "relational_db", "connection": {
                "engine": "postgres", "host": host, "port": 5432, "user": "postgres", "database": database
            }}))
            .await;
        let flow = server
            .run_flow(one_transform(
                source,
                json!({"table": "data_store"}),
                target,
                "SELECT * FROM src",
            ))
            .await;
        assert_eq!(flow["output"]["state"], "FAILED", "{flow}");
        assert!(
            flow.to_string().contains("Sluice's own state database"),
            "{flow}"
        );
    }
    assert!(!server.data.join("out.csv").exists());
}
