//! Each version's OpenAPI document against the running binary: Schemathesis generates valid and
//! invalid requests for every operation the document describes and checks each answer against
//! it (no server errors; statuses, content types, headers and bodies as documented; invalid
//! input refused), with keys required as in production.

use serde_json::{Value, json};
use std::process::Command;

use crate::support::{Options, TestServer, fixtures};

/// Requests per operation and phase: enough to reach each documented answer, small enough for
/// `make test`.
const EXAMPLES_PER_OPERATION: &str = "25";

fn schemathesis(server: &TestServer, version: &str, key: &str) -> std::process::Output {
    let report = server.data.join(format!("schemathesis-{version}"));
    let config = crate::support::repository().join("tests/schemathesis.toml");
    Command::new("schemathesis")
        .args([
            "--config-file",
            config.to_str().unwrap(),
            "run",
            &server.url(&format!("/{version}/openapi.json")),
            "--checks",
            "all",
            // Answers that depend on the resources earlier requests made are not this test's
            // concern, and the document's keys are not OAuth: what the other checks cover.
            "--exclude-checks",
            "use_after_free,ensure_resource_availability,ignored_auth,object_level_authorization,positive_data_acceptance",
            "--header",
            &format!("Authorization: Bearer {key}"),
            "--max-examples",
            EXAMPLES_PER_OPERATION,
            "--generation-deterministic",
            // One worker: with two, Hypothesis parses lambda sources on two threads at once, and
            // CPython 3.11.7's `ast.parse` then fails now and then with "AST constructor
            // recursion depth mismatch" (a runtime error of the tool, not of Sluice).
            "--workers",
            "1",
            "--no-color",
            "--report-dir",
            report.to_str().unwrap(),
        ])
        .output()
        .unwrap_or_else(|err| {
            panic!("schemathesis could not run ({err}): pip install -r tests/requirements.txt")
        })
}

/// The resources the documents' examples name (`orders`, `orders-report:1`, flow 1, …), so that
/// generated requests reach them as well as the not-found paths.
async fn seed(server: &TestServer, key: &str) {
    std::fs::write(server.data.join("orders.csv"), "id,amount\n1,10.5\n2,3\n").unwrap();
    let post = |path: &'static str, body: Value| {
        let request = server
            .client
            .post(server.url(path))
            .bearer_auth(key)
            .json(&body);
        async move {
            let response = request.send().await.unwrap();
            assert!(
                response.status().is_success(),
                "{path}: {}",
                response.status()
            );
        }
    };
    post(
        "/v2/data-stores",
        json!({"name": "orders", "type": "file", "connection": {"path": "orders.csv", "format": "csv"}}),
    )
    .await;
    post(
        "/v2/data-stores",
        json!({"name": "report", "type": "columnar_db", "connection": {"path": "report"}}),
    )
    .await;
    post(
        "/v2/flow-inputs",
        json!({
            "name": "orders-report", "target": "report",
            "sources": [{"data_store": "orders", "alias": "orders"}],
            "transforms": [{"name": "totals", "sql": "SELECT sum(amount) AS total FROM orders"}],
            "outputs": [{"transform": "totals", "table": "totals"}]
        }),
    )
    .await;
    post("/v2/flows", json!({"flow_input": "orders-report"})).await;
    post("/v2/keys", json!({"name": "ci", "scopes": ["read"]})).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_binary_answers_as_each_version_documents() {
    let _heavy = crate::support::machine_to_itself().await;
    let server = TestServer::start(Options {
        env: vec![("SLUICE__AUTH__REQUIRED", "true".into())],
        archive: fixtures().join("collection-archive"),
        ..Options::default()
    })
    .await;
    let key = server.create_key("schemathesis", &["admin"]);
    seed(&server, &key).await;
    for version in ["v1", "v2"] {
        let output = schemathesis(&server, version, &key);
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            output.status.success(),
            "/{version} answers otherwise than its document says:\n{report}"
        );
        // How much ran, for the record (`--nocapture` shows it).
        for line in report.lines().filter(|l| {
            l.contains("Selected:") || l.contains("generated,") || l.contains("passed,")
        }) {
            eprintln!("/{version}: {}", line.trim());
        }
    }
}
