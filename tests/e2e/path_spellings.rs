//! Who may call what does not depend on how a path is spelled: every operation of both OpenAPI
//! documents, sent under many spellings of its path (percent-encoded characters in each segment,
//! `//`, `/./`, `/../`, a trailing `/`, `;x`, upper case, `+`) with no key, a read key and a
//! write key. Where the plain path is refused (401 or 403), a spelling must be refused the same
//! way or reach no operation at all (the fallback 404, a 405, a 400): never be answered by one.
//!
//! Requests go over a raw socket, as an attacker's would: an HTTP client library would normalize
//! dot segments before sending them.

use serde_json::Value;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{Options, TestServer, repository};

/// Every (method, path) of a version's committed document, parameters filled with values the
/// operations would take.
fn operations(version: &str) -> Vec<(String, String)> {
    let path = repository().join(format!("docs/openapi/{version}.json"));
    let document: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut operations = Vec::new();
    for (template, item) in document["paths"].as_object().unwrap() {
        for method in ["get", "post", "patch", "delete", "put"] {
            if item.get(method).is_some() {
                operations.push((method.to_uppercase(), fill_parameters(template)));
            }
        }
    }
    operations
}

fn fill_parameters(template: &str) -> String {
    template
        .split('/')
        .map(|segment| match segment {
            "{id}" | "{version}" => "1",
            s if s.starts_with('{') => "victim",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn percent(byte: u8, lower: bool) -> String {
    if lower {
        format!("%{byte:02x}")
    } else {
        format!("%{byte:02X}")
    }
}

/// Other spellings of `path` (which starts with `/`).
fn spellings(path: &str) -> Vec<String> {
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let join = |segments: &[String]| format!("/{}", segments.join("/"));
    let mut variants = Vec::new();
    for (i, segment) in segments.iter().enumerate() {
        let with = |replacement: String| {
            let mut changed: Vec<String> = segments.iter().map(|s| (*s).to_owned()).collect();
            changed[i] = replacement;
            join(&changed)
        };
        // One character encoded, the first letter or digit; then the last; then every character.
        let bytes = segment.as_bytes();
        for at in [
            bytes.iter().position(u8::is_ascii_alphanumeric),
            bytes.iter().rposition(u8::is_ascii_alphanumeric),
        ]
        .into_iter()
        .flatten()
        {
            let mut encoded = String::new();
            for (j, byte) in bytes.iter().enumerate() {
                if j == at {
                    encoded.push_str(&percent(*byte, false));
                } else {
                    encoded.push(*byte as char);
                }
            }
            variants.push(with(encoded));
        }
        variants.push(with(bytes.iter().map(|b| percent(*b, true)).collect()));
        variants.push(with(format!("{segment};x")));
        variants.push(with(segment.to_uppercase()));
        variants.push(with(segment.replace('-', "+")));
        variants.push(with(segment.replace('-', "%2D")));
        // Before the segment: an empty one, a dot, a step up from a made-up one.
        for before in ["", ".", "zz/.."] {
            let mut changed: Vec<String> = segments.iter().map(|s| (*s).to_owned()).collect();
            changed.insert(i, before.to_owned());
            variants.push(join(&changed));
        }
        // The slash after it, encoded.
        if i + 1 < segments.len() {
            let mut changed: Vec<String> = segments.iter().map(|s| (*s).to_owned()).collect();
            let next = changed.remove(i + 1);
            changed[i] = format!("{}%2F{next}", changed[i]);
            variants.push(join(&changed));
        }
    }
    variants.push(format!("{path}/"));
    variants.push(format!("{path}/."));
    variants.push(format!("/{path}"));
    variants.push(path.to_uppercase());
    variants.sort();
    variants.dedup();
    variants.retain(|v| v != path);
    variants
}

/// What came back: the status and, for a 404, whether it is the router's (no operation reached).
struct Answer {
    status: u16,
    body: String,
}

impl Answer {
    /// A malformed request (400), a path no resource has (the fallback 404), or a resource
    /// that takes other methods (405: `/v2/flows/.` is `/v2/flows/{id}`, which takes no POST).
    fn reached_no_operation(&self) -> bool {
        match self.status {
            400 | 405 => true,
            404 => self.body.contains("there is nothing at"),
            _ => false,
        }
    }

    fn refused(&self) -> bool {
        matches!(self.status, 401 | 403)
    }
}

/// Sends one request as written, over a fresh connection, and reads the status and the body.
async fn send(address: &str, method: &str, path: &str, key: Option<&str>) -> Answer {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let body = match method {
        "POST" | "PATCH" | "PUT" => r#"{"name":"made","scopes":["admin"]}"#,
        _ => "",
    };
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n");
    if let Some(key) = key {
        request.push_str(&format!("Authorization: Bearer {key}\r\n"));
    }
    if !body.is_empty() {
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).await.unwrap();
    // An event stream would stay open: what arrives within a moment is enough to judge.
    let mut received = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut received)).await;
    let text = String::from_utf8_lossy(&received).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line for {method} {path}: {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    Answer { status, body }
}

#[test]
fn spellings_of_a_path_change_its_segments_not_its_meaning() {
    let variants = spellings("/v2/keys/victim");
    for expected in [
        "/v%32/keys/victim",
        "/v2/%6Beys/victim",
        "/%76%32/keys/victim",
        "/v2//keys/victim",
        "/v2/./keys/victim",
        "/v2/zz/../keys/victim",
        "/v2/keys/victim/",
        "/v2;x/keys/victim",
        "/V2/keys/victim",
        "/v2%2Fkeys/victim",
    ] {
        assert!(
            variants.contains(&expected.to_owned()),
            "{expected} missing: {variants:?}"
        );
    }
}

#[tokio::test]
async fn no_spelling_of_a_path_reaches_an_operation_with_less_than_its_scope() {
    let server = TestServer::start(Options {
        env: vec![("SLUICE__AUTH__REQUIRED", "true".to_owned())],
        ..Options::default()
    })
    .await;
    let read_key = server.create_key("reader", &["read"]);
    let write_key = server.create_key("writer", &["write"]);
    // The key named in `/v2/keys/{name}`: revoking it must take an admin key whatever the path.
    let _victim = server.create_key("victim", &["read"]);
    let address = server.base.trim_start_matches("http://").to_owned();

    let mut checked = 0;
    let mut reached = Vec::new();
    for version in ["v1", "v2"] {
        for (method, path) in operations(version) {
            for (who, key) in [
                ("no key", None),
                ("a read key", Some(read_key.as_str())),
                ("a write key", Some(write_key.as_str())),
            ] {
                let plain = send(&address, &method, &path, key).await;
                if !plain.refused() {
                    continue;
                }
                for variant in spellings(&path) {
                    let answer = send(&address, &method, &variant, key).await;
                    checked += 1;
                    if !answer.refused() && !answer.reached_no_operation() {
                        reached.push(format!(
                            "{method} {variant} with {who}: {} (plain {path}: {}) {}",
                            answer.status, plain.status, answer.body
                        ));
                    }
                }
            }
        }
    }
    assert!(
        checked > 1000,
        "only {checked} spellings were refused plainly"
    );
    assert!(
        reached.is_empty(),
        "{} of {checked} spellings reached an operation the plain path refused:\n{}",
        reached.len(),
        reached.join("\n")
    );
}
