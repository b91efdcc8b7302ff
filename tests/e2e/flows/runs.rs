//! Flows that run to their end: joins across stores, each kind of target, appends and reruns,
//! failures named by their step, and log lines in order.

use super::*;

#[tokio::test]
async fn a_flow_joins_a_csv_with_a_sqlite_table_into_a_sqlite_target() {
    let server = TestServer::start(Options::default()).await;
    let target = json!({"name": "mart", "type": "relational_db", "connection": {"engine": "sqlite", "path": "out/mart.sqlite"}});
    let (orders, shop, target) = shop(&server, 2000, target).await;
    let input = server
        .flow_input(three_transforms(orders, shop, target))
        .await;
    let flow = server.start_flow(input).await;
    let (seen, end) = server.wait_for_end(flow, Duration::from_secs(30)).await;
    assert_eq!(end["output"]["state"], "COMPLETED", "{end}");
    assert_progress_and_logs(&seen, &end);
    assert_eq!(
        end["output"]["steps"][3]["rows"],
        big_order_count(2000),
        "big_orders counts its rows"
    );

    // Paged, the lines are the view's lines (all of them: fewer than a view holds), in order.
    let paged = all_lines(&server, flow, 3).await;
    let texts: Vec<&Value> = paged.iter().map(|l| &l["line"]).collect();
    let viewed: Vec<&Value> = end["output"]["logs"]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(texts, viewed);
    assert_eq!(end["output"]["logs"]["has_earlier"], false);
    assert!(
        paged
            .iter()
            .all(|l| l["stream"] == "log" && l["created_utc"].is_string())
    );
    let (status, problem) = server.get(&format!("/v1/flows/{flow}/logs?limit=0")).await;
    assert_eq!(status, 422, "{problem}");
    let (status, _) = server.get("/v1/flows/999999/logs").await;
    assert_eq!(status, 404);

    let mart = server.data.join("out/mart.sqlite");
    let count = sqlite_rows(&mart, "SELECT count(*) FROM enriched").await;
    assert_eq!(count[0][0], big_order_count(2000).to_string());
    let by_country = sqlite_rows(
        &mart,
        "SELECT country, orders FROM by_country ORDER BY country",
    )
    .await;
    assert_eq!(by_country.len(), 2);
    assert_eq!(by_country[1][0], "Ελλάδα", "non-ASCII text survives");
    let total: i64 = by_country
        .iter()
        .map(|r| r[1].parse::<i64>().unwrap())
        .sum();
    assert_eq!(total, big_order_count(2000));
}

#[tokio::test]
async fn a_flow_writes_a_columnar_target_and_a_rerun_replaces_it() {
    let server = TestServer::start(Options::default()).await;
    let target = json!({"name": "lake", "type": "columnar_db", "connection": {"path": "lake"}});
    let (orders, shop, target) = shop(&server, 1000, target).await;
    let input = server
        .flow_input(three_transforms(orders, shop, target))
        .await;
    for _ in 0..2 {
        let flow = server.start_flow(input).await;
        let (seen, end) = server.wait_for_end(flow, Duration::from_secs(30)).await;
        assert_eq!(end["output"]["state"], "COMPLETED", "{end}");
        assert_progress_and_logs(&seen, &end);
    }
    let batches = parquet_rows(&server.data.join("lake/enriched"), "SELECT count(*) FROM t").await;
    let count = batches[0]
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .value(0);
    assert_eq!(
        count,
        big_order_count(1000),
        "replace keeps one copy of the rows"
    );
    let leftovers: Vec<_> = std::fs::read_dir(server.data.join("lake"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(
        leftovers.is_empty(),
        "staging folders left behind: {leftovers:?}"
    );
}

#[tokio::test]
async fn appending_to_a_csv_file_target_keeps_the_old_rows() {
    let server = TestServer::start(Options::default()).await;
    write_orders_csv(&server.data.join("orders.csv"), 50);
    let orders = server
        .data_store(json!({"name": "orders", "type": "file", "connection": {"path": "orders.csv", "format": "csv"}}))
        .await;
    let out = server
        .data_store(json!({"name": "report", "type": "file", "connection": {"path": "reports/small.csv", "format": "csv"}}))
        .await;
    let input = server
        .flow_input(json!({
            "source_data_store_ids": [orders], "target_data_store_id": out,
            "sources": [{"data_store_id": orders, "as": "orders"}],
            "transforms": [{"name": "small", "sql": "SELECT id, amount FROM orders WHERE amount < 100 ORDER BY id"}],
            "outputs": [{"transform": "small", "mode": "append"}]
        }))
        .await;
    for _ in 0..2 {
        let flow = server.start_flow(input).await;
        let (_, end) = server.wait_for_end(flow, Duration::from_secs(30)).await;
        assert_eq!(end["output"]["state"], "COMPLETED", "{end}");
    }
    let csv = std::fs::read_to_string(server.data.join("reports/small.csv")).unwrap();
    let small = (1..=50).filter(|id| id * 7 % 500 < 100).count();
    assert_eq!(csv.lines().count(), 1 + 2 * small, "{csv}");
    assert!(csv.starts_with("id,amount\n"));
}

#[tokio::test]
async fn a_transform_that_fails_at_run_time_fails_the_flow_naming_it_and_leaves_the_target_alone() {
    let server = TestServer::start(Options::default()).await;
    let target = json!({"name": "mart", "type": "relational_db", "connection": {"engine": "sqlite", "path": "mart.sqlite"}});
    let (orders, shop, target) = shop(&server, 100, target).await;
    let mart = server.data.join("mart.sqlite");
    let pool = crate::support::sqlite_pool(&mart).await;
    sea_orm::sqlx::query("CREATE TABLE enriched (kept TEXT)")
        .execute(&pool)
        .await
        .unwrap();
    sea_orm::sqlx::query("INSERT INTO enriched VALUES ('before')")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    let mut body = three_transforms(orders, shop, target);
    body["transforms"][1]["sql"] = json!("SELECT no_such_column FROM orders");
    let input = server.flow_input(body).await;
    let flow = server.start_flow(input).await;
    let (_, end) = server.wait_for_end(flow, Duration::from_secs(30)).await;
    assert_eq!(end["output"]["state"], "FAILED", "{end}");
    let errors = end["output"]["errors"]["lines"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let error = errors[0].as_str().unwrap();
    assert!(
        error.contains("step transform 'big_orders' failed") && error.contains("no_such_column"),
        "{error}"
    );
    let states: Vec<(&str, &str)> = end["output"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["state"].as_str().unwrap()))
        .collect();
    // Each source streams into the one transform reading it, so it may still have been running
    // (and so be CANCELLED) when big_orders failed.
    for (name, state) in &states[..2] {
        assert!(
            ["COMPLETED", "CANCELLED"].contains(state),
            "{name}: {state}"
        );
    }
    assert_eq!(
        states[2..],
        [
            ("by_country", "SKIPPED"),
            ("big_orders", "FAILED"),
            ("enriched", "SKIPPED"),
            ("enriched -> enriched", "SKIPPED"),
            ("by_country -> by_country", "SKIPPED"),
        ]
    );
    let failed = &end["output"]["steps"][3];
    assert!(
        failed["error"].as_str().unwrap().contains("no_such_column"),
        "{failed}"
    );
    assert_eq!(
        sqlite_rows(&mart, "SELECT * FROM enriched").await,
        vec![vec!["before".to_owned()]]
    );
}

#[tokio::test]
async fn a_sum_of_a_text_column_fails_saying_which_transform_function_and_column() {
    let server = TestServer::start(Options::default()).await;
    let target =
        json!({"name": "out", "type": "file", "connection": {"path": "out.csv", "format": "csv"}});
    let (orders, _shop, target) = shop(&server, 10, target).await;
    let end = server
        .run_flow(crate::support::one_source_flow(
            orders,
            json!({}),
            target,
            // A CSV column of words is text.
            json!([{"name": "s", "sql": "SELECT SUM(CAST(id AS VARCHAR)) AS total FROM src"}]),
            json!([{"transform": "s", "mode": "replace"}]),
        ))
        .await;
    assert_eq!(end["output"]["state"], "FAILED", "{end}");
    let error = end["output"]["errors"]["lines"][0].as_str().unwrap();
    assert!(
        error.contains(
            "step transform 's' failed: SUM needs a number, but `CAST(id AS VARCHAR)` is text"
        ),
        "{error}"
    );
    assert!(
        !error.contains("DataFusion") && !error.contains("Candidate"),
        "{error}"
    );
}

#[tokio::test]
async fn log_lines_are_in_time_order_and_each_table_s_maker_finishes_before_its_reader() {
    let server = TestServer::start(Options::default()).await;
    let target = json!({"name": "mart", "type": "relational_db", "connection": {"engine": "sqlite", "path": "mart.sqlite"}});
    let (orders, shop, target) = shop(&server, 2000, target).await;
    let input = server
        .flow_input(three_transforms(orders, shop, target))
        .await;
    // Steps report from tasks of their own: run it often enough for a race to show.
    for _ in 0..8 {
        let flow = server.start_flow(input).await;
        let (_, end) = server.wait_for_end(flow, Duration::from_secs(30)).await;
        assert_eq!(end["output"]["state"], "COMPLETED", "{end}");
        let lines: Vec<&str> = end["output"]["logs"]["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect();
        let stamps: Vec<&str> = lines.iter().map(|l| &l[..24]).collect();
        assert!(stamps.is_sorted(), "{lines:#?}");
        let finished = |step: &str| {
            lines
                .iter()
                .position(|l| l.contains(&format!("step {step} finished")))
                .unwrap_or_else(|| panic!("no end of {step}: {lines:#?}"))
        };
        for (maker, reader) in [
            ("ingest 'orders'", "transform 'big_orders'"),
            ("transform 'big_orders'", "transform 'enriched'"),
            ("ingest 'customers'", "transform 'enriched'"),
            ("transform 'enriched'", "transform 'by_country'"),
            (
                "transform 'by_country'",
                "output 'by_country -> by_country'",
            ),
        ] {
            assert!(
                finished(maker) < finished(reader),
                "{maker} after {reader}: {lines:#?}"
            );
        }
    }
}
