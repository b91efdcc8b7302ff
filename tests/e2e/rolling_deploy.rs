//! A rolling deploy behind a real load balancer: HAProxy (health checks on `/readyz`) in front of
//! two processes on one PostgreSQL state database. Under steady reads and flow starts, each
//! process in turn gets SIGTERM and is replaced; no client request fails, and every flow
//! completes exactly once.

use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::support::{Options, TestServer, free_port, write_orders_csv};

/// HAProxy on `port`, sending to the processes on `backends`, checking `/readyz` every 200 ms.
struct LoadBalancer {
    process: Child,
    _config: tempfile::NamedTempFile,
}

impl LoadBalancer {
    fn start(port: u16, backends: &[u16]) -> Self {
        let servers: String = backends
            .iter()
            .enumerate()
            .map(|(i, p)| format!("    server sluice{i} 127.0.0.1:{p} check\n"))
            .collect();
        // Server-side connections close after each answer, so none is reused after its process
        // closed it; a request that cannot connect is sent to the other process.
        let config = format!(
            "global\n    maxconn 512\n\
             defaults\n    mode http\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n    \
             option http-server-close\n    retries 3\n    option redispatch 1\n    retry-on conn-failure\n\
             frontend api\n    bind 127.0.0.1:{port}\n    default_backend sluice\n\
             backend sluice\n    option httpchk GET /readyz\n    http-check expect status 200\n    \
             default-server inter 200ms fall 1 rise 1\n{servers}"
        );
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), config).unwrap();
        let process = Command::new("haproxy")
            .args(["-db", "-f", file.path().to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "this test needs HAProxy (apt-get install haproxy; see tests/apt-packages.txt)",
            );
        Self {
            process,
            _config: file,
        }
    }
}

impl Drop for LoadBalancer {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn replica_options(port: u16) -> Options {
    Options {
        postgres: true,
        max_concurrent_flows: 2,
        env: vec![
            ("SLUICE__SERVER__ADDRESS", format!("127.0.0.1:{port}")),
            ("SLUICE__SERVER__SHUTDOWN_DELAY_SECS", "2".into()),
            ("SLUICE__RUNNER__DRAIN_SECS", "60".into()),
            ("SLUICE__RUNNER__LEASE_SECS", "2".into()),
        ],
        ..Options::default()
    }
}

#[derive(Default)]
struct Tally {
    requests: AtomicU64,
    failures: AtomicU64,
}

impl Tally {
    fn count(&self, ok: bool, what: &str) {
        self.requests.fetch_add(1, Ordering::SeqCst);
        if !ok {
            self.failures.fetch_add(1, Ordering::SeqCst);
            eprintln!("failed: {what}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn each_process_replaced_in_turn_under_load_fails_no_request_and_no_flow() {
    let _heavy = crate::support::machine_to_itself().await;
    let ports = [free_port(), free_port()];
    let mut first = TestServer::start(replica_options(ports[0])).await;
    let mut second = first.replica(replica_options(ports[1])).await;
    let balancer_port = free_port();
    let _balancer = LoadBalancer::start(balancer_port, &ports);
    let base = format!("http://127.0.0.1:{balancer_port}");
    let client = reqwest::Client::new();

    write_orders_csv(&first.data.join("orders.csv"), 800);
    let input = json!({
        "name": "crossed", "target": "lake",
        "sources": [{"data_store": "orders", "alias": "orders"}],
        "transforms": [{"name": "crossed", "sql": "SELECT count(*) AS n, sum(a.amount + b.amount + c.amount) AS s FROM orders a CROSS JOIN orders b CROSS JOIN orders c"}],
        "outputs": [{"transform": "crossed", "table": "crossed"}]
    });
    for (path, body) in [
        (
            "/v2/data-stores",
            json!({"name": "orders", "type": "file", "connection": {"path": "orders.csv", "format": "csv"}}),
        ),
        (
            "/v2/data-stores",
            json!({"name": "lake", "type": "columnar_db", "connection": {"path": "lake"}}),
        ),
        ("/v2/flow-inputs", input),
    ] {
        // The balancer may not have seen either process healthy yet.
        let started = Instant::now();
        loop {
            match client
                .post(format!("{base}{path}"))
                .json(&body)
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => break,
                other => {
                    assert!(
                        started.elapsed() < Duration::from_secs(10),
                        "{path}: {other:?}"
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    let tally = Arc::new(Tally::default());
    let flows = Arc::new(std::sync::Mutex::new(Vec::<i64>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut load = Vec::new();
    for reader in 0..4 {
        let (client, base, tally, flows, stop) = (
            client.clone(),
            base.clone(),
            tally.clone(),
            flows.clone(),
            stop.clone(),
        );
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let last = flows.lock().unwrap().last().copied();
                let path = match (reader % 2, last) {
                    (0, Some(id)) => format!("/v2/flows/{id}"),
                    _ => "/v1/flows?limit=20".to_owned(),
                };
                let answer = client.get(format!("{base}{path}")).send().await;
                let ok = matches!(&answer, Ok(r) if r.status().is_success());
                tally.count(ok, &format!("GET {path}: {answer:?}"));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }));
    }
    {
        let (client, base, tally, flows, stop) = (
            client.clone(),
            base.clone(),
            tally.clone(),
            flows.clone(),
            stop.clone(),
        );
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let answer = client
                    .post(format!("{base}/v2/flows"))
                    .json(&json!({"flow_input": "crossed"}))
                    .send()
                    .await;
                match answer {
                    Ok(r) if r.status().is_success() => {
                        let flow: Value = r.json().await.unwrap();
                        flows.lock().unwrap().push(flow["id"].as_i64().unwrap());
                        tally.count(true, "");
                    }
                    other => tally.count(false, &format!("POST /v2/flows: {other:?}")),
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }));
    }

    // Replace each process in turn, while both carry load and run flows. `first` keeps the
    // state database and the data folder whatever becomes of its process.
    tokio::time::sleep(Duration::from_secs(3)).await;
    first.terminate();
    let exit = first.wait_exit(Duration::from_secs(90)).await;
    assert!(exit.success(), "{exit}:\n{}", first.output());
    let _first_replacement = first.replica(replica_options(ports[0])).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    second.terminate();
    let exit = second.wait_exit(Duration::from_secs(90)).await;
    assert!(exit.success(), "{exit}:\n{}", second.output());
    let second = first.replica(replica_options(ports[1])).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::SeqCst);
    for task in load {
        task.await.unwrap();
    }

    let requests = tally.requests.load(Ordering::SeqCst);
    let failures = tally.failures.load(Ordering::SeqCst);
    let flows = flows.lock().unwrap().clone();
    eprintln!(
        "rolling deploy: {requests} requests through the balancer, {failures} failed; {} flows started",
        flows.len()
    );
    assert_eq!(failures, 0, "no client request fails");
    assert!(
        flows.len() >= 10,
        "flows ran through the deploy: {}",
        flows.len()
    );
    for flow in flows {
        let end = second
            .wait_for_state(flow, "COMPLETED", Duration::from_secs(120))
            .await;
        let logs = end["output"]["logs"]["lines"].to_string();
        assert_eq!(logs.matches("flow completed").count(), 1, "{end}");
        assert_eq!(end["output"]["errors"]["lines"], json!([]), "{end}");
    }
}
