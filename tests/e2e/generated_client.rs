//! The `/v2` client generated from `docs/openapi/v2.json` (clients/typescript, compiled by
//! `make test` after its drift check) runs README.md's `/v2` walkthrough against the binary, as
//! a client author's program would.

use std::process::Command;

use crate::support::{Options, TestServer, repository};

#[tokio::test]
async fn the_generated_client_runs_the_v2_walkthrough() {
    let client = repository().join("clients/typescript");
    let walkthrough = client.join("dist/walkthrough.js");
    assert!(
        walkthrough.exists(),
        "{} is missing: make test builds it (make client-check)",
        walkthrough.display()
    );
    let server = TestServer::start(Options {
        env: vec![("SLUICE__AUTH__REQUIRED", "true".into())],
        ..Options::default()
    })
    .await;
    // Before the first request, which reads the keys.
    let key = server.create_key("walkthrough", &["write"]);
    let samples = server.data.join("samples");
    std::fs::create_dir_all(&samples).unwrap();
    for file in ["orders.csv", "shop.sqlite"] {
        std::fs::copy(
            repository().join("data/samples").join(file),
            samples.join(file),
        )
        .unwrap();
    }

    let base = server.base.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(walkthrough)
            .env("SLUICE_URL", base)
            .env("SLUICE_KEY", key)
            .output()
            .expect("node runs the walkthrough (Node.js 20 or later)")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    for step in [
        "who am I: {\"name\":\"walkthrough\"",
        "what can be started: [\"revenue:2\"]",
        "start revenue:",
        "\"state\":\"COMPLETED\"",
        "read its logs:",
        "rerun it: {",
        "an issue page:",
        "a count: {\"dataset\":\"conservation-area\"",
    ] {
        assert!(stdout.contains(step), "no '{step}' in:\n{stdout}");
    }
    let report = std::fs::read_to_string(server.data.join("out/revenue_by_country.csv")).unwrap();
    assert!(report.starts_with("country,orders,revenue"), "{report}");
}
