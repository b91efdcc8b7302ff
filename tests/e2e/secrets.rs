//! Passwords are never returned and never logged.

use serde_json::json;

use crate::support::{Options, TestServer};

#[tokio::test]
async fn no_password_appears_in_any_response_or_log_line() {
    const PASSWORD: &str = "pw-7f3a9c-never-shown";
    let server = TestServer::start(Options {
        log_level: "trace",
        ..Options::default()
    })
    .await;
    let mut bodies = Vec::new();
    let (status, created) = server
        .post(
            "/v1/data-stores",
            &json!({"name": "warehouse", "type": "relational_db", "connection": {
                "engine": "postgres", "host": "127.0.0.1", "port": 5432, "user": "etl", "password": PASSWORD, "database": "sales"
            }}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["connection"]["has_password"], true);
    bodies.push(created.to_string());
    bodies.push(server.get("/v1/data-stores/1").await.1.to_string());
    bodies.push(server.get("/v1/data-stores").await.1.to_string());
    // A refused request that carries the password must not echo it either.
    let (_, refused) = server
        .post("/v1/data-stores", &json!({"name": "warehouse", "type": "relational_db", "connection": {
            "engine": "postgres", "host": "h", "user": "u", "password": PASSWORD, "database": "d"
        }}))
        .await;
    bodies.push(refused.to_string());
    let (_, refused) = server
        .post("/v1/data-stores", &json!({"name": "x", "type": "relational_db", "connection": {
            "engine": "postgres", "host": "h", "user": "u", "password": PASSWORD, "database": "d", "extra": 1
        }}))
        .await;
    bodies.push(refused.to_string());

    for body in &bodies {
        assert!(
            !body.contains(PASSWORD),
            "a response carried the password: {body}"
        );
    }
    let output = server.output();
    assert!(
        output.contains("warehouse") || output.contains("/v1/data-stores"),
        "the log should show the requests"
    );
    assert!(!output.contains(PASSWORD), "the log carried the password");
}
