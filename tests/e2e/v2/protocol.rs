//! What every `/v2` resource shares: cursor pages, idempotent retries (across replicas too),
//! ETags, `/v1`'s announced end, and a page for every problem type.

use super::*;

#[tokio::test]
async fn walking_pages_by_cursor_skips_and_repeats_nothing_while_rows_are_added() {
    let server = TestServer::start(Options::default()).await;
    for i in 0..7 {
        let body = json!({"name": format!("s{i}"), "type": "columnar_db", "connection": {"path": format!("s{i}")}});
        assert_eq!(server.post("/v2/data-stores", &body).await.0, 201);
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
            assert_eq!(server.post("/v2/data-stores", &body).await.0, 201);
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

pub(super) async fn post_once(
    server: &TestServer,
    path: &str,
    key: &str,
    body: &Value,
) -> reqwest::Response {
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
    let (status, _) = server
        .post("/v2/flow-inputs", &named("report", "SELECT * FROM orders"))
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
    let (status, _) = a
        .post("/v2/flow-inputs", &named("report", "SELECT * FROM orders"))
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
    let (status, _) = server
        .send(
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
