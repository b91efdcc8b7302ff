//! Flows on a Ballista cluster: a real scheduler and two executors (`sluice-ballista`, built
//! from the same DataFusion) on loopback, and a Sluice configured with the scheduler.

use serde_json::{Value, json};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

/// A scheduler and its executors, stopped when dropped.
struct BallistaCluster {
    url: String,
    scheduler: Child,
    executors: Vec<Child>,
    work: tempfile::TempDir,
}

fn ballista(args: &[String], env: &[(&'static str, String)]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_sluice-ballista"))
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env(
            "RUST_LOG",
            std::env::var("SLUICE_TEST_BALLISTA_LOG").unwrap_or("warn".into()),
        )
        // Their logs, with SLUICE_TEST_BALLISTA_LOG=info (say), beside the test's.
        .stdout(if std::env::var_os("SLUICE_TEST_BALLISTA_LOG").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start sluice-ballista")
}

impl BallistaCluster {
    async fn start(executors: usize) -> Self {
        Self::start_with(executors, &[]).await
    }

    /// With `env` in the executors' environment (their S3 credentials).
    async fn start_with(executors: usize, env: &[(&'static str, String)]) -> Self {
        let work = tempfile::tempdir().unwrap();
        let port = free_port();
        let scheduler = ballista(
            &[
                "scheduler".into(),
                "--bind-host=127.0.0.1".into(),
                "--external-host=127.0.0.1".into(),
                format!("--bind-port={port}"),
            ],
            env,
        );
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the Ballista scheduler did not listen on {port} within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut cluster = Self {
            url: format!("df://127.0.0.1:{port}"),
            scheduler,
            executors: Vec::new(),
            work,
        };
        let client = reqwest::Client::new();
        for i in 0..executors {
            let health = free_port();
            let dir = cluster.work.path().join(format!("executor-{i}"));
            std::fs::create_dir_all(&dir).unwrap();
            cluster.executors.push(ballista(
                &[
                    "executor".into(),
                    "--scheduler-host=127.0.0.1".into(),
                    format!("--scheduler-port={port}"),
                    "--bind-host=127.0.0.1".into(),
                    "--external-host=127.0.0.1".into(),
                    format!("--bind-port={}", free_port()),
                    format!("--bind-grpc-port={}", free_port()),
                    format!("--bind-health-port={health}"),
                    format!("--work-dir={}", dir.display()),
                    "--vcores=2".into(),
                ],
                env,
            ));
            let ready = format!("http://127.0.0.1:{health}/readyz");
            let started = Instant::now();
            loop {
                let answer = client.get(&ready).send().await;
                if answer.is_ok_and(|r| r.status().is_success()) {
                    break;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "Ballista executor {i} not ready within 30 s"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        cluster
    }

    fn executor_pids(&self) -> Vec<u32> {
        self.executors.iter().map(Child::id).collect()
    }
}

impl Drop for BallistaCluster {
    fn drop(&mut self) {
        for child in self.executors.iter_mut().chain([&mut self.scheduler]) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

async fn sluice_on(cluster: &BallistaCluster) -> TestServer {
    TestServer::start(Options {
        env: vec![("SLUICE__ENGINE__BALLISTA__URL", cluster.url.clone())],
        ..Options::default()
    })
    .await
}

/// `orders.csv` (3,000 orders) as the file store `orders`, `customers` as a Parquet table of
/// the columnar store `lake` (written by a local flow), and the columnar store `out`.
async fn orders_and_customers(server: &TestServer) {
    let (orders, lake) = orders_and_lake(server, 3000).await;
    let customers = server
        .run_flow(one_transform_over_orders(
            orders,
            lake,
            "SELECT DISTINCT customer_id AS id, 'customer ' || customer_id AS name, \
             customer_id % 3 AS region FROM orders",
            "customers",
        ))
        .await;
    assert_eq!(customers["output"]["state"], "COMPLETED", "{customers}");
    server
        .data_store(json!({"name": "out", "type": "columnar_db", "connection": {"path": "out"}}))
        .await;
}

/// A flow input over both sources: an intermediate transform only other transforms read, a join
/// with an aggregate, a window, and a filtered left join, each of the last three written.
fn report(name: &str, engine: &str) -> Value {
    json!({
        "name": name, "target": "out", "engine": engine,
        "sources": [
            {"data_store": "orders", "alias": "orders"},
            {"data_store": "lake", "table": "customers", "alias": "customers"}
        ],
        "transforms": [
            {"name": "big", "sql": "SELECT * FROM orders WHERE amount >= 100"},
            {"name": "per_region", "sql": "SELECT c.region, count(*) AS orders, sum(b.amount) AS total, avg(b.amount) AS mean FROM big b JOIN customers c ON c.id = b.customer_id GROUP BY c.region"},
            {"name": "ranked", "sql": "SELECT id, customer_id, amount, rank() OVER (PARTITION BY customer_id ORDER BY amount DESC, id) AS r FROM orders"},
            {"name": "named", "sql": "SELECT b.id, c.name FROM big b LEFT JOIN customers c ON c.id = b.customer_id WHERE b.id % 7 = 0"}
        ],
        "outputs": [
            {"transform": "per_region", "table": format!("{name}_per_region")},
            {"transform": "ranked", "table": format!("{name}_ranked")},
            {"transform": "named", "table": format!("{name}_named")}
        ]
    })
}

async fn start_v2(server: &TestServer, input: &Value) -> i64 {
    let (status, created) = server.post("/v2/flow-inputs", input).await;
    assert_eq!(status, 201, "{created}");
    let (status, flow) = server
        .post("/v2/flows", &json!({"flow_input": input["name"]}))
        .await;
    assert_eq!(status, 201, "{flow}");
    flow["id"].as_i64().unwrap()
}

/// A table's rows as sorted text lines, and its columns' names and types.
async fn table_rows(folder: &Path) -> (Vec<String>, Vec<String>) {
    let (mut rows, types) = rows_and_types(&parquet_rows(folder, "SELECT * FROM t").await);
    rows.sort();
    (rows, types)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flow_on_ballista_gives_what_the_local_engine_gives() {
    let cluster = BallistaCluster::start(2).await;
    let server = sluice_on(&cluster).await;
    orders_and_customers(&server).await;

    let mut ends = Vec::new();
    for engine in ["local", "ballista"] {
        let flow = start_v2(&server, &report(engine, engine)).await;
        let (_, end) = server.wait_for_end(flow, Duration::from_secs(120)).await;
        assert_eq!(end["output"]["state"], "COMPLETED", "{engine}: {end}");
        let (_, view) = server.get(&format!("/v2/flows/{flow}")).await;
        ends.push(view);
    }
    for table in ["per_region", "ranked", "named"] {
        let local = table_rows(&server.data.join(format!("out/local_{table}"))).await;
        let distributed = table_rows(&server.data.join(format!("out/ballista_{table}"))).await;
        assert!(!local.0.is_empty(), "{table}: no rows");
        assert_eq!(
            local, distributed,
            "{table}: Ballista differs from the local engine"
        );
    }

    // Where each step ran, and what Sluice itself did: only the outputs.
    let view = &ends[1];
    let steps = view["steps"].as_array().unwrap();
    let step = |kind: &str, name: &str| {
        steps
            .iter()
            .find(|s| s["kind"] == kind && s["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} {name}: {view}"))
            .clone()
    };
    for (kind, name) in [
        ("ingest", "orders"),
        ("ingest", "customers"),
        ("transform", "big"),
    ] {
        let s = step(kind, name);
        assert_eq!(s["ran_in"], "on the Ballista cluster", "{s}");
        assert_eq!(s["state"], "COMPLETED", "{s}");
        assert!(s["rows"].is_null(), "Sluice read no rows of {name}: {s}");
    }
    let ranked = step("transform", "ranked");
    assert_eq!(ranked["ran_in"], "on the Ballista cluster", "{ranked}");
    assert_eq!(ranked["rows"], 3000, "{ranked}");
    assert_eq!(
        step("output", "ranked -> ballista_ranked")["ran_in"],
        "in Sluice"
    );
    assert_eq!(view["progress"], 100, "{view}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_executors_read_sources_on_s3_with_their_own_credentials() {
    let s3 = S3Server::start().await;
    let upload = tempfile::tempdir().unwrap();
    write_orders_csv(&upload.path().join("orders.csv"), 1000);
    s3.upload(upload.path(), "lake", "raw").await;
    // Only the executors have the credentials' variables beside Sluice's own; Sluice sends the
    // endpoint, never a key.
    let credentials: Vec<_> = (s3.env().into_iter())
        .filter(|(name, _)| name.starts_with("AWS_"))
        .collect();
    let cluster = BallistaCluster::start_with(2, &credentials).await;
    let mut env = s3.env();
    env.push(("SLUICE__ENGINE__BALLISTA__URL", cluster.url.clone()));
    let server = TestServer::start(Options {
        env,
        ..Options::default()
    })
    .await;
    server
        .data_store(json!({"name": "orders", "type": "file", "connection": {"path": "s3://lake/raw/orders.csv", "format": "csv"}}))
        .await;
    server
        .data_store(json!({"name": "out", "type": "columnar_db", "connection": {"path": "out"}}))
        .await;
    let input = json!({
        "name": "per-customer", "target": "out", "engine": "ballista",
        "sources": [{"data_store": "orders", "alias": "orders"}],
        "transforms": [{"name": "totals", "sql": "SELECT count(*) AS n, sum(id) AS ids, sum(amount) AS amount FROM orders"}],
        "outputs": [{"transform": "totals", "table": "totals"}]
    });
    let flow = start_v2(&server, &input).await;
    let (_, end) = server.wait_for_end(flow, Duration::from_secs(60)).await;
    assert_eq!(end["output"]["state"], "COMPLETED", "{end}");
    let expected_amount: usize = (1..=1000).map(|id| id * 7 % 500).sum();
    let (rows, _) = table_rows(&server.data.join("out/totals")).await;
    let row: Vec<String> = rows[0]
        .split('|')
        .map(|cell| cell.trim().to_owned())
        .filter(|cell| !cell.is_empty())
        .collect();
    assert_eq!(
        row,
        ["1000", "500500", expected_amount.to_string().as_str()]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancel_stops_the_job_on_the_executors() {
    let cluster = BallistaCluster::start(2).await;
    let server = sluice_on(&cluster).await;
    orders_and_lake(&server, 3000).await;
    server
        .data_store(json!({"name": "out", "type": "columnar_db", "connection": {"path": "out"}}))
        .await;
    let input = json!({
        "name": "endless", "target": "out", "engine": "ballista",
        "sources": [{"data_store": "orders", "alias": "orders"}],
        // Far longer than the test waits: 3,000 orders crossed three times.
        "transforms": [{"name": "crossed", "sql": "SELECT count(*) AS n, sum(a.amount + b.amount + c.amount) AS s FROM orders a CROSS JOIN orders b CROSS JOIN orders c"}],
        "outputs": [{"transform": "crossed", "table": "crossed"}]
    });
    let flow = start_v2(&server, &input).await;
    server
        .wait_for_step(
            flow,
            ("transform", "crossed"),
            "RUNNING",
            Duration::from_secs(30),
        )
        .await;
    // The executors are at work before the cancel.
    let pids = cluster.executor_pids();
    let busy = |pids: &[u32]| pids.iter().map(|&pid| cpu_time(pid)).sum::<Duration>();
    let before = busy(&pids);
    let started = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if busy(&pids) - before > Duration::from_millis(500) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the executors never started the job"
        );
    }
    let asked = Instant::now();
    let (status, body) = server
        .post(&format!("/v2/flows/{flow}/cancel"), &json!({}))
        .await;
    assert!(status < 300, "{status}: {body}");
    let (_, end) = server.wait_for_end(flow, Duration::from_secs(10)).await;
    assert_eq!(end["output"]["state"], "CANCELLED", "{end}");
    for pid in pids {
        assert_idle(pid, "the cancel", asked).await;
    }
    assert!(
        !server.data.join("out/crossed").exists(),
        "a cancelled flow wrote its output"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ballista_is_chosen_only_where_it_can_run() {
    let input = |source: &str| {
        json!({
            "name": "r", "target": "lake", "engine": "ballista",
            "sources": [{"data_store": source, "alias": "orders"}],
            "transforms": [{"name": "t", "sql": "SELECT * FROM orders"}],
            "outputs": [{"transform": "t", "table": "t"}]
        })
    };
    // Without a scheduler configured: refused, naming the setting.
    let server = TestServer::start(Options::default()).await;
    orders_and_lake(&server, 10).await;
    let (status, problem) = server.post("/v2/flow-inputs", &input("orders")).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["pointer"], "/engine", "{problem}");
    assert!(
        problem.to_string().contains("engine.ballista.url"),
        "{problem}"
    );

    // With one: a database is not the executors' to read; an unknown engine is refused.
    let server = TestServer::start(Options {
        // A port nothing listens on: the scheduler that does not answer.
        env: vec![(
            "SLUICE__ENGINE__BALLISTA__URL",
            format!("df://127.0.0.1:{}", free_port()),
        )],
        ..Options::default()
    })
    .await;
    orders_and_lake(&server, 10).await;
    write_customers_sqlite(&server.data.join("shop.sqlite")).await;
    server
        .data_store(json!({"name": "shop", "type": "relational_db", "connection": {"engine": "sqlite", "path": "shop.sqlite"}}))
        .await;
    let mut from_database = input("shop");
    from_database["sources"][0]["table"] = json!("customers");
    let (status, problem) = server.post("/v2/flow-inputs", &from_database).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(
        problem["errors"][0]["pointer"], "/sources/0/data_store",
        "{problem}"
    );
    assert!(
        problem
            .to_string()
            .contains("'shop' is a relational database"),
        "{problem}"
    );
    let mut unknown = input("orders");
    unknown["engine"] = json!("spark");
    let (status, problem) = server.post("/v2/flow-inputs", &unknown).await;
    assert!(status == 400 || status == 422, "{status}: {problem}");
    assert!(problem.to_string().contains("/engine"), "{problem}");
    let (status, _) = server.get("/v2/flow-inputs/r").await;
    assert_eq!(status, 404, "a refused input was stored");
    // Accepted and shown as chosen.
    let (status, created) = server.post("/v2/flow-inputs", &input("orders")).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["engine"], "ballista", "{created}");

    // Run where no scheduler answers: the flow fails saying so, and the target is untouched.
    let (status, flow) = server.post("/v2/flows", &json!({"flow_input": "r"})).await;
    assert_eq!(status, 201, "{flow}");
    let flow = flow["id"].as_i64().unwrap();
    let (_, end) = server.wait_for_end(flow, Duration::from_secs(60)).await;
    assert_eq!(end["output"]["state"], "FAILED", "{end}");
    let error = end["output"]["errors"]["lines"][0].as_str().unwrap();
    assert!(
        error.contains("the Ballista cluster could not be reached (ConnectionRefused)"),
        "{error}"
    );
    assert!(!server.data.join("lake/t").exists(), "{end}");
}
