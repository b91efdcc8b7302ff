//! Keys themselves: read by their holder, made and listed by admins, refused alike when unknown,
//! malformed or revoked (on every replica, open event streams included), and rate-limited one
//! by one.

use super::*;

#[tokio::test]
async fn any_key_reads_its_own_name_and_scopes_and_never_the_key() {
    let server = TestServer::start(required(false)).await;
    let keys: Vec<_> = [
        ("reader", &["read"][..]),
        ("runner", &["run"]),
        ("ops", &["write", "admin"]),
    ]
    .into_iter()
    .map(|(name, scopes)| (name, scopes, server.create_key(name, scopes)))
    .collect();
    for (name, scopes, key) in &keys {
        let (status, body) = get_with(&server, "/v2/keys/current", key).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["name"], *name);
        assert_eq!(body["scopes"], json!(scopes));
        assert!(key.starts_with(body["prefix"].as_str().unwrap()), "{body}");
        assert!(
            !body.to_string().contains(key.as_str()),
            "the key itself: {body}"
        );
    }
    let (status, body) = server.get("/v2/keys/current").await;
    assert_eq!(status, 401, "{body}");
    // Two keys in one request: refused, rather than the second left unchecked.
    let reader = &keys[0].2;
    let response = server
        .client
        .get(server.url("/v2/keys/current"))
        .bearer_auth(reader)
        .header("X-API-Key", "sluice_garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    // `current` names the calling key: no key may take the name, nor one that is no path segment.
    let admin = &keys[2].2;
    for name in ["current", "..", "1st"] {
        let (status, problem) = post_with(
            &server,
            "/v2/keys",
            admin,
            &json!({"name": name, "scopes": ["read"]}),
        )
        .await;
        assert_eq!(status, 422, "{name}: {problem}");
        assert_eq!(problem["errors"][0]["pointer"], "/name", "{problem}");
    }
    let refused = server.command(&["keys", "create", "--name", "current", "--scope", "read"]);
    assert!(!refused.status.success());
    // Keys not required: a request without one still has no key to describe.
    let open = TestServer::start(Options::default()).await;
    let response = open
        .client
        .get(open.url("/v2/keys/current"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer realm=\"sluice\""
    );
}

#[tokio::test]
async fn unknown_malformed_and_revoked_keys_get_the_same_answer() {
    let server = TestServer::start(required(false)).await;
    let admin = server.create_key("ops", &["admin"]);
    let revoked = server.create_key("old", &["read"]);
    let (status, _) = get_with(&server, "/v1/flows", &revoked).await;
    assert_eq!(status, 200);

    let response = server
        .client
        .delete(server.url("/v2/keys/old"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);

    // The same key with its last character changed: right shape, wrong secret.
    let mut forged = admin.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == '0' { '1' } else { '0' });
    let mut answers = Vec::new();
    for key in [revoked.as_str(), forged.as_str(), "sluice_nothing", "x"] {
        let (status, body) = get_with(&server, "/v1/flows", key).await;
        assert_eq!(status, 401, "{key}: {body}");
        answers.push((body["type"].clone(), body["detail"].clone()));
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");

    let response = server
        .client
        .get(server.url("/v1/flows"))
        .header("Authorization", format!("Basic {admin}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn keys_are_listed_and_made_by_admins_without_their_secret_ever_shown_again() {
    let server = TestServer::start(required(false)).await;
    let admin = server.create_key("ops", &["admin"]);

    let (status, created) = post_with(
        &server,
        "/v2/keys",
        &admin,
        &json!({"name": "runner", "scopes": ["run", "read"]}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["key"].as_str().unwrap().to_owned();
    assert_eq!(created["scopes"], json!(["read", "run"]));
    assert!(secret.starts_with(created["prefix"].as_str().unwrap()));
    let (status, _) = get_with(&server, "/v1/flows", &secret).await;
    assert_eq!(status, 200);

    let (status, listed) = get_with(&server, "/v2/keys", &admin).await;
    assert_eq!(status, 200, "{listed}");
    let names: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ops", "runner"]);
    let text = listed.to_string();
    assert!(!text.contains(&secret) && !text.contains(&admin), "{text}");
    assert!(listed["items"][0].get("key").is_none());

    let (status, body) = post_with(
        &server,
        "/v2/keys",
        &admin,
        &json!({"name": "runner", "scopes": ["root"]}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["pointer"], "/scopes/0");
    let (status, body) = post_with(
        &server,
        "/v2/keys",
        &admin,
        &json!({"name": "runner", "scopes": ["read"]}),
    )
    .await;
    assert_eq!(status, 409, "{body}");

    // A new key's answer holds its secret: an Idempotency-Key does not make Sluice keep it.
    for expected in [201, 409] {
        let response = server
            .client
            .post(server.url("/v2/keys"))
            .bearer_auth(&admin)
            .header("Idempotency-Key", "make-deploy-key")
            .json(&json!({"name": "deploy", "scopes": ["write"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), expected);
        assert!(response.headers().get("idempotent-replayed").is_none());
    }

    let listed = server.command(&["keys", "list"]);
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert!(listed.contains("runner\tread,run\t"), "{listed}");
    assert!(!listed.contains(&secret));

    let output = server.output();
    assert!(
        !output.contains(&secret) && !output.contains(&admin[7..]),
        "{output}"
    );
}

#[tokio::test]
async fn a_key_revoked_on_one_replica_is_refused_by_the_other_within_its_cache_time() {
    let options = || {
        with_auth(
            true,
            &[
                ("SLUICE__AUTH__REQUIRED", "true"),
                ("SLUICE__AUTH__KEY_CACHE_SECS", "1"),
            ],
        )
    };
    let a = TestServer::start(options()).await;
    let b = a.replica(options()).await;
    let admin = a.create_key("ops", &["admin"]);
    let key = a.create_key("ci", &["write"]);
    let (status, _) = get_with(&b, "/v1/flows", &key).await;
    assert_eq!(status, 200);

    let response = a
        .client
        .delete(a.url("/v2/keys/ci"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let (status, _) = get_with(&a, "/v1/flows", &key).await;
    assert_eq!(status, 401, "the revoking replica refuses at once");

    let revoked = Instant::now();
    loop {
        let (status, _) = get_with(&b, "/v1/flows", &key).await;
        if status == 401 {
            break;
        }
        assert!(
            revoked.elapsed() < Duration::from_secs(5),
            "replica B still takes a key revoked on A"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(b);
}

#[tokio::test]
async fn an_event_stream_ends_when_the_key_it_was_opened_with_is_revoked() {
    // This process runs no flows: the flow followed waits for ever, and so would its stream.
    let server = TestServer::start(Options {
        max_concurrent_flows: 0,
        ..required(false)
    })
    .await;
    let admin = server.create_key("ops", &["admin"]);
    let watcher = server.create_key("watcher", &["read"]);
    std::fs::write(server.data.join("in.csv"), "id\n1\n").unwrap();
    let (_, store) = post_with(&server, "/v1/data-stores", &admin, &a_store("in")).await;
    let (status, input) = post_with(
        &server,
        "/v1/flow-inputs",
        &admin,
        &json!({
            "source_data_store_ids": [store["id"]], "target_data_store_id": store["id"],
            "sources": [{"data_store_id": store["id"], "as": "src"}],
            "transforms": [{"name": "t", "sql": "SELECT * FROM src"}],
            "outputs": [{"transform": "t", "mode": "replace"}]
        }),
    )
    .await;
    assert_eq!(status, 201, "{input}");
    let (_, flow) = post_with(
        &server,
        "/v1/flows",
        &admin,
        &json!({"flow_input_id": input["id"]}),
    )
    .await;
    let mut stream = server
        .client
        .get(server.url(&format!("/v2/flows/{}/events", flow["id"])))
        .bearer_auth(&watcher)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let first = stream.chunk().await.unwrap().unwrap();
    assert!(std::str::from_utf8(&first).unwrap().contains("READY"));

    let response = server
        .client
        .delete(server.url("/v2/keys/watcher"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let revoked = Instant::now();
    let mut rest = String::new();
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(5), stream.chunk())
        .await
        .expect("the stream goes on after its key was revoked")
        .unwrap()
    {
        rest.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert!(
        revoked.elapsed() < Duration::from_secs(2),
        "{:?}",
        revoked.elapsed()
    );
    assert!(rest.contains("no longer valid"), "{rest}");
}

#[tokio::test]
async fn a_key_past_its_rate_gets_429_with_retry_after_while_other_keys_go_on() {
    let server = TestServer::start(with_auth(
        false,
        &[
            ("SLUICE__API__RATE_LIMIT_PER_SECOND", "1"),
            ("SLUICE__API__RATE_LIMIT_BURST", "3"),
        ],
    ))
    .await;
    let busy = server.create_key("busy", &["read"]);
    let quiet = server.create_key("quiet", &["read"]);
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let response = server
            .client
            .get(server.url("/v1/flows"))
            .bearer_auth(&busy)
            .send()
            .await
            .unwrap();
        if response.status() == 429 {
            let wait: u64 = response.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=2).contains(&wait), "{wait}");
            let (_, body) = read(response).await;
            assert_eq!(body["type"], "/problems/too-many-requests");
            statuses.push(429);
        } else {
            statuses.push(response.status().as_u16());
        }
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    let (status, _) = get_with(&server, "/v2/data-stores", &quiet).await;
    assert_eq!(status, 200, "another key has its own allowance");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, _) = get_with(&server, "/v1/flows", &busy).await;
    assert_eq!(status, 200, "the rate refills");
}
