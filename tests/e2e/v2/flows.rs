//! `/v2` flows: followed as events across replicas, retried while their input allows, rerun,
//! and listed newest first with totals.

use super::*;

/// The events of a stream, read until it ends: (event, id, data).
pub(super) async fn events(
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
    let (status, _) = api
        .post("/v2/flow-inputs", &named("report", "SELECT * FROM orders"))
        .await;
    assert_eq!(status, 201);
    let (_, flow) = api
        .post("/v2/flows", &json!({"flow_input": "report"}))
        .await;
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
    let (status, _) = api
        .post("/v2/flow-inputs", &named("report", "SELECT * FROM orders"))
        .await;
    assert_eq!(status, 201);
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (status, flow) = api
            .post("/v2/flows", &json!({"flow_input": "report:1"}))
            .await;
        assert_eq!(status, 201, "{flow}");
        assert!(flow["started_at"].is_null() && flow["finished_at"].is_null());
        ids.push(flow["id"].as_i64().unwrap());
    }

    // Nothing runs here: a READY flow cannot be rerun yet.
    let (status, problem) = api
        .post(&format!("/v2/flows/{}/rerun", ids[0]), &json!({}))
        .await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["type"], "/problems/conflict");

    let (status, cancelled) = api
        .post(&format!("/v2/flows/{}/cancel", ids[0]), &json!({}))
        .await;
    assert_eq!(status, 202, "{cancelled}");
    // A rerun takes no body: one that says something is refused, not ignored.
    let (status, refused) = api
        .post(
            &format!("/v2/flows/{}/rerun", ids[0]),
            &json!({"flow_input": "report:2"}),
        )
        .await;
    assert_eq!(status, 422, "{refused}");
    let (status, rerun) = api
        .post(&format!("/v2/flows/{}/rerun", ids[0]), &json!({}))
        .await;
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
