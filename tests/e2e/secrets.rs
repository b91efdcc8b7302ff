//! Passwords are never returned and never logged.

use serde_json::json;
use std::time::Duration;

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

async fn copy_runs(server: &TestServer, input: i64) {
    let flow = server.start_flow(input).await;
    let (_, end) = server.wait_for_end(flow, Duration::from_secs(60)).await;
    assert_eq!(end["output"]["state"], "COMPLETED", "{end}");
}

/// A MariaDB database with a table `present` of three rows that only the role
/// `sluice_password_check`, with `password`, may read: MariaDB checks the password.
async fn password_checked_database(password: &str) -> crate::databases::MysqlDatabase {
    crate::databases::MysqlDatabase::create(&format!(
        "CREATE TABLE present (id INT);
         INSERT INTO present VALUES (1), (2), (3);
         CREATE USER IF NOT EXISTS 'sluice_password_check'@'%' IDENTIFIED BY '{password}';
         GRANT SELECT ON present TO 'sluice_password_check'@'%';"
    ))
    .await
}

/// The store `shop` on that database with `password`, and a flow input copying `present` into a
/// CSV file: the input's id and the store's connection as registered.
async fn copy_from_the_checked_table(
    server: &TestServer,
    database: &crate::databases::MysqlDatabase,
    password: &str,
) -> (i64, serde_json::Value) {
    let mut shop = database.store("shop");
    shop["connection"]["user"] = json!("sluice_password_check");
    shop["connection"]["password"] = json!(password);
    let connection = shop["connection"].clone();
    let shop = server.data_store(shop).await;
    let out = server
        .data_store(json!({"name": "out", "type": "file", "connection": {"path": "out.csv", "format": "csv"}}))
        .await;
    let input = server
        .flow_input(json!({
            "source_data_store_ids": [shop], "target_data_store_id": out,
            "sources": [{"data_store_id": shop, "table": "present", "as": "present"}],
            "transforms": [{"name": "copied", "sql": "SELECT id FROM present"}],
            "outputs": [{"transform": "copied", "mode": "replace"}]
        }))
        .await;
    (input, connection)
}

/// What the state database holds in the password column, as a dump of it would show.
async fn stored_passwords(server: &TestServer) -> Vec<String> {
    use sea_orm::{ConnectionTrait, Database, Statement};
    let db = Database::connect(server.state_url()).await.unwrap();
    db.query_all_raw(Statement::from_string(
        db.get_database_backend(),
        "SELECT password FROM data_store WHERE password IS NOT NULL",
    ))
    .await
    .unwrap()
    .iter()
    .map(|row| row.try_get::<String>("", "password").unwrap())
    .collect()
}

/// A store password is sealed in the state database, opens for flows, and survives a key
/// rotation: the new key with the old one still known, `sluice secrets rotate`, then the new
/// key alone. MariaDB checks the password each time.
#[tokio::test]
async fn passwords_are_sealed_in_the_state_database_and_survive_a_key_rotation() {
    const PASSWORD: &str = "the-right-one";
    let database = password_checked_database(PASSWORD).await;
    let options = || Options {
        postgres: true,
        ..Options::default()
    };
    let server = TestServer::start(options()).await;
    let (input, _) = copy_from_the_checked_table(&server, &database, PASSWORD).await;
    copy_runs(&server, input).await;

    let stored = stored_passwords(&server).await;
    assert_eq!(stored.len(), 1);
    assert!(stored[0].starts_with("sluice-sealed:v1:k1:"), "{stored:?}");
    assert!(!stored[0].contains(PASSWORD));

    // The first key was made on first start, beside the state.
    let old = std::fs::read_to_string(server.data.parent().unwrap().join("state/secret.key"))
        .unwrap()
        .trim()
        .to_owned();
    let new = String::from_utf8(server.command(&["secrets", "generate-key"]).stdout)
        .unwrap()
        .trim()
        .to_owned();
    let rotating = vec![
        ("SLUICE__SECRETS__KEY", new.clone()),
        ("SLUICE__SECRETS__KEY_ID", "k2".to_owned()),
        ("SLUICE__SECRETS__PREVIOUS_KEYS", format!("k1:{old}")),
    ];
    let rotate = server.command_with(&["secrets", "rotate"], &rotating);
    let said = String::from_utf8_lossy(&rotate.stderr);
    assert!(rotate.status.success(), "{said}");
    assert!(
        said.contains("sealed 1 password(s) again under key 'k2'"),
        "{said}"
    );
    assert!(!said.contains(&new) && !said.contains(&old) && !said.contains(PASSWORD));
    let stored = stored_passwords(&server).await;
    assert!(stored[0].starts_with("sluice-sealed:v1:k2:"), "{stored:?}");

    // The new key alone opens it.
    let server = server
        .restart(Options {
            env: rotating[..2].to_vec(),
            ..options()
        })
        .await;
    copy_runs(&server, input).await;
}

/// A process whose key cannot open a store's password (the key file lost, a key not given) still
/// shows the store and lets it be given its password again; a flow that needs the password fails
/// saying why, never with the password.
#[tokio::test]
async fn a_store_whose_password_does_not_open_is_shown_its_flows_fail_saying_why_and_it_can_be_fixed()
 {
    const PASSWORD: &str = "the-right-one";
    let database = password_checked_database(PASSWORD).await;
    let server = TestServer::start(Options::default()).await;
    let (input, connection) = copy_from_the_checked_table(&server, &database, PASSWORD).await;
    copy_runs(&server, input).await;

    // Another key, and the one the password was sealed under not given.
    let other = String::from_utf8(server.command(&["secrets", "generate-key"]).stdout)
        .unwrap()
        .trim()
        .to_owned();
    let server = server
        .restart(Options {
            env: vec![
                ("SLUICE__SECRETS__KEY", other),
                ("SLUICE__SECRETS__KEY_ID", "k2".to_owned()),
            ],
            ..Options::default()
        })
        .await;
    let (status, stores) = server.get("/v1/data-stores").await;
    assert_eq!(status, 200, "{stores}");
    let (status, store) = server.get("/v2/data-stores/shop").await;
    assert_eq!(status, 200, "{store}");
    assert_eq!(store["connection"]["has_password"], true);

    let flow = server.start_flow(input).await;
    let (_, end) = server.wait_for_end(flow, Duration::from_secs(60)).await;
    assert_eq!(end["output"]["state"], "FAILED", "{end}");
    let error = end["output"]["errors"]["lines"][0].as_str().unwrap();
    assert!(
        error.contains("password cannot be opened") && error.contains("key 'k1'"),
        "{error}"
    );
    assert!(!end.to_string().contains(PASSWORD));

    // Given its password again, under the key this process has, the store works.
    let response = server
        .client
        .patch(server.url("/v2/data-stores/shop"))
        .json(&json!({ "connection": connection }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    copy_runs(&server, input).await;
    assert!(!server.output().contains(PASSWORD));
}
