//! Each version's OpenAPI document: served as committed, describing exactly the operations
//! served, and the `/docs` page over both.

use actix_web::test as http;
use sluice_api::openapi::Version;
use sluice_api::wire::problems;
use sluice_domain::testing::MemoryStateDatabase;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use crate::support::{app, body};

fn committed_path(version: Version) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/openapi")
        .join(format!("{}.json", version.prefix().trim_start_matches('/')))
}

/// The served document is the committed one, byte for byte; `SLUICE_WRITE_OPENAPI=1` (what
/// `make openapi` sets) writes the served one over the committed one instead.
#[actix_web::test]
async fn each_version_serves_the_committed_document() {
    let app = app(Arc::new(MemoryStateDatabase::default())).await;
    for version in Version::ALL {
        let uri = format!("{}/openapi.json", version.prefix());
        let response =
            http::call_service(&app, http::TestRequest::get().uri(&uri).to_request()).await;
        assert_eq!(response.status(), 200, "{uri}");
        let served = String::from_utf8(http::read_body(response).await.to_vec()).unwrap();
        let committed = committed_path(version);
        if std::env::var_os("SLUICE_WRITE_OPENAPI").is_some() {
            std::fs::write(&committed, &served).unwrap();
            continue;
        }
        let on_disk = std::fs::read_to_string(&committed).unwrap_or_default();
        assert!(
            on_disk == served,
            "{} differs from what {uri} serves: run `make openapi` and commit the result",
            committed.display()
        );
    }
}

#[test]
fn each_version_documents_exactly_the_operations_it_serves() {
    for version in Version::ALL {
        let served: BTreeSet<(String, String)> = version
            .served_operations()
            .into_iter()
            .map(|(path, method)| (path, method.to_string()))
            .collect();
        let documented: BTreeSet<(String, String)> = version
            .documented_operations()
            .into_iter()
            .map(|(path, method)| (path, method.to_string()))
            .collect();
        assert!(!served.is_empty());
        let undocumented: Vec<_> = served.difference(&documented).collect();
        let not_served: Vec<_> = documented.difference(&served).collect();
        assert!(
            undocumented.is_empty() && not_served.is_empty(),
            "{}: served but not documented {undocumented:?}; documented but not served {not_served:?}",
            version.prefix()
        );
    }
}

#[test]
fn every_operation_is_named_once_and_every_error_is_a_problem() {
    for version in Version::ALL {
        let doc = serde_json::to_value(version.document()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let mut ids = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let id = operation["operationId"].as_str().unwrap().to_owned();
                // One pattern: a verb, then the resource in CamelCase, no version.
                const VERBS: [&str; 12] = [
                    "list", "get", "create", "add", "update", "delete", "revoke", "start",
                    "cancel", "rerun", "follow", "count",
                ];
                let verb = VERBS.iter().find(|v| id.starts_with(*v));
                let rest = verb.map(|v| &id[v.len()..]).unwrap_or_default();
                assert!(
                    rest.starts_with(|c: char| c.is_ascii_uppercase())
                        && rest.chars().all(|c| c.is_ascii_alphanumeric())
                        && !rest.ends_with("V1")
                        && !rest.ends_with("V2"),
                    "{path} {method}: operationId {id} is not <verb><Resource>"
                );
                assert!(
                    ids.insert(id.clone()),
                    "{path} {method}: operationId {id} twice"
                );
                assert!(
                    operation["summary"].is_string(),
                    "{path} {method} has no summary"
                );
                let responses = operation["responses"].as_object().unwrap();
                assert!(responses.contains_key("500"), "{path} {method}");
                for (status, response) in responses {
                    if status.as_str() >= "400" {
                        assert_eq!(
                            response["content"]["application/problem+json"]["schema"]["$ref"],
                            "#/components/schemas/Problem",
                            "{path} {method} {status}"
                        );
                    }
                }
                if method == "get" && path.contains('{') {
                    assert!(responses.contains_key("404"), "{path} {method}");
                }
                // OpenAPI: a path parameter is required, and each one the path names is there.
                let parameters = operation["parameters"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let in_path: Vec<&serde_json::Value> =
                    parameters.iter().filter(|p| p["in"] == "path").collect();
                for parameter in &in_path {
                    assert_eq!(parameter["required"], true, "{path} {method}: {parameter}");
                }
                assert_eq!(in_path.len(), path.matches('{').count(), "{path} {method}");
            }
        }
        let types: Vec<&str> =
            doc["components"]["schemas"]["Problem"]["properties"]["type"]["enum"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap())
                .collect();
        let table: Vec<&str> = problems::ALL.iter().map(|p| p.uri).collect();
        assert_eq!(types, table);
    }
}

#[test]
fn operations_name_the_scope_their_key_needs() {
    let v2 = serde_json::to_value(Version::V2.document()).unwrap();
    let scope =
        |path: &str, method: &str| v2["paths"][path][method]["security"][0]["bearer"][0].clone();
    assert_eq!(scope("/v2/flows", "get"), "read");
    assert_eq!(scope("/v2/flows", "post"), "run");
    assert_eq!(scope("/v2/flows/{id}/cancel", "post"), "run");
    assert_eq!(scope("/v2/flows/{id}/rerun", "post"), "run");
    let description = v2["paths"]["/v2/flows/{id}/rerun"]["post"]["description"]
        .as_str()
        .unwrap();
    assert!(
        description.ends_with(
            "Needs a key with the `run` scope (or one that includes it: `write`, `admin`)."
        ),
        "{description}"
    );
    assert_eq!(scope("/v2/flow-inputs", "post"), "write");
    assert_eq!(scope("/v2/keys/current", "get"), "read");
    assert_eq!(scope("/v2/keys", "get"), "admin");
    assert_eq!(
        v2["paths"]["/v2/openapi.json"]["get"]["security"][0],
        serde_json::json!({})
    );
}

#[actix_web::test]
async fn the_docs_page_and_its_assets_come_from_the_binary() {
    let app = app(Arc::new(MemoryStateDatabase::default())).await;
    let response =
        http::call_service(&app, http::TestRequest::get().uri("/docs").to_request()).await;
    assert_eq!(response.status(), 308);
    assert_eq!(response.headers().get("location").unwrap(), "/docs/");
    let response =
        http::call_service(&app, http::TestRequest::get().uri("/docs/").to_request()).await;
    assert_eq!(response.status(), 200);
    assert!(
        response
            .headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = String::from_utf8(http::read_body(response).await.to_vec()).unwrap();
    assert!(page.contains("swagger-ui"), "{page}");
    // Assets the page loads by relative path, and the settings naming both documents.
    for asset in [
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-initializer.js",
    ] {
        assert!(page.contains(asset), "the page does not load {asset}");
        let response = http::call_service(
            &app,
            http::TestRequest::get()
                .uri(&format!("/docs/{asset}"))
                .to_request(),
        )
        .await;
        assert_eq!(response.status(), 200, "{asset}");
        if asset == "swagger-initializer.js" {
            let script = String::from_utf8(http::read_body(response).await.to_vec()).unwrap();
            assert!(script.contains("/v2/openapi.json") && script.contains("/v1/openapi.json"));
        }
    }
    let missing = http::call_service(
        &app,
        http::TestRequest::get()
            .uri("/docs/nothing.js")
            .to_request(),
    )
    .await;
    assert_eq!(missing.status(), 404);
    assert_eq!(body(missing).await["type"], "/problems/not-found");
}

/// Every schema reachable in `/v2`'s document says what it holds: no `{}`, no list of
/// anything.
#[test]
fn every_v2_schema_is_typed_to_its_leaves() {
    fn typed(schema: &serde_json::Value) -> bool {
        ["type", "$ref", "oneOf", "anyOf", "allOf", "enum", "const"]
            .iter()
            .any(|key| schema.get(key).is_some())
    }
    fn walk(node: &serde_json::Value, at: String, untyped: &mut Vec<String>) {
        match node {
            serde_json::Value::Object(map) => {
                for (key, value) in map {
                    let here = format!("{at}/{key}");
                    let schemas: Vec<(String, &serde_json::Value)> = match key.as_str() {
                        "schema" | "items" | "additionalProperties" if value.is_object() => {
                            vec![(here.clone(), value)]
                        }
                        "properties" | "schemas" => value
                            .as_object()
                            .into_iter()
                            .flatten()
                            .map(|(name, s)| (format!("{here}/{name}"), s))
                            .collect(),
                        "oneOf" | "anyOf" | "allOf" => value
                            .as_array()
                            .into_iter()
                            .flatten()
                            .enumerate()
                            .map(|(i, s)| (format!("{here}/{i}"), s))
                            .collect(),
                        _ => Vec::new(),
                    };
                    for (path, schema) in schemas {
                        if !typed(schema) {
                            untyped.push(format!("{path}: {schema}"));
                        }
                    }
                    walk(value, here, untyped);
                }
            }
            serde_json::Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, format!("{at}/{i}"), untyped);
                }
            }
            _ => {}
        }
    }
    let v2 = serde_json::to_value(Version::V2.document()).unwrap();
    let mut untyped = Vec::new();
    walk(&v2, String::new(), &mut untyped);
    assert!(
        untyped.is_empty(),
        "untyped schemas:\n{}",
        untyped.join("\n")
    );
}

/// The columns `/v2/issues/counts` documents for `group_by` are the domain's.
#[test]
fn the_documented_group_columns_are_the_domains() {
    let v2 = serde_json::to_value(Version::V2.document()).unwrap();
    let documented = &v2["components"]["schemas"]["IssueGroupColumn"]["enum"];
    let domain: Vec<String> = sluice_domain::metadata::IssueColumn::ALL
        .iter()
        .map(|c| c.archive_name().replace('-', "_"))
        .collect();
    assert_eq!(documented, &serde_json::json!(domain));
}
