//! `/v2` flow inputs: named, versioned as made, started by name, listed, checked in `/v2`'s terms;
//! and `/v1` inputs seen from `/v2`.

use super::*;

pub(super) async fn v2_inputs_are_named_versioned_and_started_by_name(postgres: bool) {
    let server = TestServer::start(Options {
        postgres,
        ..Options::default()
    })
    .await;
    stores(&server).await;

    let (status, first) = server
        .post(
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

    let (status, taken) = server
        .post("/v2/flow-inputs", &named("orders-report", "SELECT 1 AS x"))
        .await;
    assert_eq!(status, 409, "{taken}");

    let (status, second) = server
        .post(
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

    let (status, flow) = server
        .post("/v2/flows", &json!({"flow_input": "orders-report:1"}))
        .await;
    assert_eq!(status, 201, "{flow}");
    assert_eq!(flow["flow_input"], "orders-report:1");
    let done = server.wait_for_v2_end(flow["id"].as_i64().unwrap()).await;
    assert_eq!(done["state"], "COMPLETED", "{done}");
    assert!(
        done["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["state"] == "COMPLETED")
    );

    let (_, latest_flow) = server
        .post("/v2/flows", &json!({"flow_input": "orders-report"}))
        .await;
    assert_eq!(latest_flow["flow_input"], "orders-report:2");

    let (status, missing) = server
        .post("/v2/flows", &json!({"flow_input": "orders-report:9"}))
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
async fn a_v2_flow_input_names_each_wrong_field_in_v2_terms() {
    let server = TestServer::start(Options::default()).await;
    stores(&server).await;
    let mut body = named("report", "SELECT * FROM nowhere");
    body["sources"][0]["data_store"] = json!("missing");
    body["target"] = json!("also-missing");
    let (status, problem) = server.post("/v2/flow-inputs", &body).await;
    assert_eq!(status, 422, "{problem}");
    let pointers: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(pointers, ["/sources/0/data_store", "/target"], "{problem}");

    let (status, problem) = server
        .post("/v2/flow-inputs", &named("1report", "SELECT 1 AS x"))
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
        let (status, created) = server
            .post(
                "/v2/flow-inputs",
                &named(name, "SELECT 1 AS one FROM orders"),
            )
            .await;
        assert_eq!(status, 201, "{created}");
    }
    for _ in 0..2 {
        let (status, _) = server
            .post(
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
    let (status, flow) = server
        .post("/v2/flows", &json!({"flow_input": input.to_string()}))
        .await;
    assert_eq!(status, 201, "{flow}");
    let (_, v1) = server.get(&format!("/v1/flows/{}", flow["id"])).await;
    assert_eq!(v1["flow_input_id"], input);
}
