//! `/v2` data stores by name: read, replaced, patched field by field under an ETag, deleted.

use super::*;

#[tokio::test]
async fn a_store_is_read_replaced_and_deleted_by_name_but_not_while_an_input_uses_it() {
    let server = TestServer::start(Options::default()).await;
    let dwh = json!({"name": "dwh", "type": "relational_db", "connection": {
        "engine": "postgres", "host": "db.internal", "user": "etl", "password": "old-secret", "database": "sales"}});
    let (status, created) = server.post("/v2/data-stores", &dwh).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["connection"]["port"], 5432);
    assert_eq!(created["connection"]["has_password"], true);
    assert!(!created.to_string().contains("old-secret"));

    let (status, patched) = server
        .send(
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

    let (status, bad) = server
        .send(
            reqwest::Method::PATCH,
            "/v2/data-stores/dwh",
            Some(&json!({"connection": {"engine": "postgres", "path": "x"}})),
        )
        .await;
    assert_eq!(status, 422, "{bad}");
    let (_, unchanged) = server.get("/v2/data-stores/dwh").await;
    assert_eq!(unchanged["connection"]["host"], "db2.internal");

    stores(&server).await;
    let (status, _) = server
        .post("/v2/flow-inputs", &named("report", "SELECT * FROM orders"))
        .await;
    assert_eq!(status, 201);
    let (status, refused) = server
        .send(reqwest::Method::DELETE, "/v2/data-stores/orders", None)
        .await;
    assert_eq!(status, 409, "{refused}");
    assert!(
        refused["detail"].as_str().unwrap().contains("report:1"),
        "{refused}"
    );
    let (status, _) = server.get("/v2/data-stores/orders").await;
    assert_eq!(status, 200);

    let (status, _) = server
        .send(reqwest::Method::DELETE, "/v2/data-stores/dwh", None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = server.get("/v2/data-stores/dwh").await;
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
    let (status, _) = server.post("/v2/data-stores", &dwh).await;
    assert_eq!(status, 201);
    for name in [".", "..", "-x", "_x"] {
        let body = json!({"name": name, "type": "columnar_db", "connection": {"path": "lake"}});
        let (status, refused) = server.post("/v2/data-stores", &body).await;
        assert_eq!(status, 422, "{name}: {refused}");
        assert_eq!(refused["errors"][0]["pointer"], "/name", "{refused}");
    }
    let mariadb = json!({"name": "maria", "type": "relational_db", "connection": {
        "engine": "mariadb", "host": "db.internal", "user": "etl", "database": "sales"}});
    let (status, refused) = server.post("/v2/data-stores", &mariadb).await;
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
