//! The built `sluice` binary, started on port 0 with a temporary data folder and a fresh state
//! database, and spoken to over HTTP like any client.

use serde_json::{Value, json};
use sluice_test_support::PostgresDatabase;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Options {
    pub max_concurrent_flows: usize,
    pub postgres: bool,
    pub log_level: &'static str,
    /// The collection archive the metadata endpoints read; the project's sample by default.
    pub archive: PathBuf,
    /// More settings, as `SLUICE__…` variables.
    pub env: Vec<(&'static str, String)>,
    /// Keep the state database where the embedded default puts it (no `SLUICE__DATABASE__URL`).
    pub embedded_state: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            max_concurrent_flows: 4,
            postgres: false,
            log_level: "info",
            archive: repository().join("data/samples/archive"),
            env: Vec::new(),
            embedded_state: false,
        }
    }
}

pub fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub use sluice_test_support::{S3Server, fixtures};

/// A state database that outlives server processes, so a test can restart the server on it.
pub struct StateDatabase {
    pub url: String,
    _postgres: Option<PostgresDatabase>,
}

impl StateDatabase {
    pub fn sqlite(dir: &Path) -> Self {
        Self {
            url: format!("sqlite://{}?mode=rwc", dir.join("meta.sqlite").display()),
            _postgres: None,
        }
    }

    /// None of the test's own: the embedded default's, or one another server holds.
    fn none() -> Self {
        Self {
            url: String::new(),
            _postgres: None,
        }
    }

    pub async fn postgres() -> Self {
        let database = PostgresDatabase::create().await;
        Self {
            url: database.url.clone(),
            _postgres: Some(database),
        }
    }
}

pub struct TestServer {
    pub base: String,
    pub data: PathBuf,
    /// The state database's URL; empty for the embedded default's file.
    state_url: String,
    pub client: reqwest::Client,
    process: Child,
    output: Arc<Mutex<Vec<String>>>,
    // Dropped last: the data folder and the SQLite state database live in it.
    _state: StateDatabase,
    _dir: Option<tempfile::TempDir>,
}

impl TestServer {
    pub async fn start(options: Options) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let state = if options.postgres {
            StateDatabase::postgres().await
        } else if options.embedded_state {
            StateDatabase::none()
        } else {
            StateDatabase::sqlite(dir.path())
        };
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        let mut server = Self::spawn(&data, &state.url, &options).await;
        server._state = state;
        server._dir = Some(dir);
        server
    }

    /// Starts another process on the same data folder and state database (after a crash, say).
    pub async fn restart(mut self, options: Options) -> Self {
        let _ = self.process.kill();
        let _ = self.process.wait();
        let state = std::mem::replace(&mut self._state, StateDatabase::none());
        let dir = self._dir.take();
        let mut next = Self::spawn(&self.data, &state.url, &options).await;
        next._state = state;
        next._dir = dir;
        next
    }

    /// Starts a second process on the same data folder and state database, as another replica
    /// behind a load balancer would be. Drop it before `self`, which owns both.
    pub async fn replica(&self, options: Options) -> Self {
        Self::spawn(&self.data, &self._state.url, &options).await
    }

    /// Sends SIGTERM, as an orchestrator stopping the task does.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.process.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Waits for the process to exit by itself, at most `within`.
    pub async fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.process.try_wait().unwrap() {
                return status;
            }
            assert!(
                started.elapsed() < within,
                "sluice did not exit within {within:?}:\n{}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the process with SIGKILL, as a crash or an out-of-memory kill would.
    pub fn kill(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }

    async fn spawn(data: &Path, state_db_url: &str, options: &Options) -> Self {
        let mut process = sluice_command(data, state_db_url, options)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the sluice binary");
        let output = Arc::new(Mutex::new(Vec::new()));
        for pipe in [
            Box::new(process.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(process.stderr.take().unwrap()),
        ] {
            let output = output.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    output.lock().unwrap().push(line);
                }
            });
        }
        let started = Instant::now();
        let base = loop {
            let found = output.lock().unwrap().iter().find_map(|line| {
                // In text or JSON lines: the address ends at a space or a quote.
                line.split("listening on ").nth(1).map(|rest| {
                    rest.split(|c: char| c.is_whitespace() || c == '"')
                        .next()
                        .unwrap_or("")
                        .to_owned()
                })
            });
            if let Some(base) = found {
                break base;
            }
            if let Ok(Some(status)) = process.try_wait() {
                panic!(
                    "sluice exited with {status}:\n{}",
                    output.lock().unwrap().join("\n")
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "sluice did not start:\n{}",
                output.lock().unwrap().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        Self {
            base,
            data: data.to_owned(),
            state_url: state_db_url.to_owned(),
            client: reqwest::Client::new(),
            process,
            output,
            _state: StateDatabase::none(),
            _dir: None,
        }
    }

    /// Runs `sluice <args>` as a command on this server's state database and data folder, as an
    /// operator would on its host.
    pub fn command(&self, args: &[&str]) -> std::process::Output {
        self.command_with(args, &[])
    }

    /// `sluice <args>` with more settings, as `SLUICE__…` variables.
    pub fn command_with(
        &self,
        args: &[&str],
        env: &[(&'static str, String)],
    ) -> std::process::Output {
        let options = Options {
            env: env.to_vec(),
            ..Options::default()
        };
        sluice_command(&self.data, &self.state_url, &options)
            .args(args)
            .output()
            .expect("run the sluice binary")
    }

    /// The state database's URL (PostgreSQL), to read what it holds as a dump would.
    pub fn state_url(&self) -> &str {
        &self.state_url
    }

    /// A new API key made with `sluice keys create`.
    pub fn create_key(&self, name: &str, scopes: &[&str]) -> String {
        let mut args = vec!["keys", "create", "--name", name];
        for scope in scopes {
            args.extend(["--scope", scope]);
        }
        let output = self.command(&args);
        assert!(
            output.status.success(),
            "sluice keys create failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    /// The name of the PostgreSQL state database this server runs on.
    pub fn state_database_name(&self) -> String {
        let url = &self._state.url;
        assert!(
            url.starts_with("postgres"),
            "this server's state database is not PostgreSQL"
        );
        url.rsplit('/').next().unwrap().to_owned()
    }

    pub fn pid(&self) -> u32 {
        self.process.id()
    }

    /// Everything the process has written to stdout and stderr so far.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().join("\n")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self.client.get(self.url(path)).send().await.unwrap();
        read(response).await
    }

    /// A list and its `X-Pagination-Total-Results`.
    pub async fn get_page(&self, path: &str) -> (Vec<Value>, u64) {
        let response = self.client.get(self.url(path)).send().await.unwrap();
        let total = response
            .headers()
            .get("x-pagination-total-results")
            .map(|v| v.to_str().unwrap().parse().unwrap());
        let (status, body) = read(response).await;
        assert_eq!(status, 200, "{path}: {body}");
        let total = total.unwrap_or_else(|| panic!("{path}: no X-Pagination-Total-Results"));
        (body.as_array().unwrap().clone(), total)
    }

    /// `method` on `path`, with `body` as JSON if there is one.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut request = self.client.request(method, self.url(path));
        if let Some(body) = body {
            request = request.json(body);
        }
        read(request.send().await.unwrap()).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let response = self
            .client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap();
        read(response).await
    }

    /// Registers a data store and returns its id.
    pub async fn data_store(&self, body: Value) -> i64 {
        let (status, created) = self.post("/v1/data-stores", &body).await;
        assert_eq!(status, 201, "{created}");
        created["id"].as_i64().unwrap()
    }

    /// Defines a flow input and returns its id.
    pub async fn flow_input(&self, body: Value) -> i64 {
        let (status, created) = self.post("/v1/flow-inputs", &body).await;
        assert_eq!(status, 201, "{created}");
        created["id"].as_i64().unwrap()
    }

    pub async fn start_flow(&self, flow_input_id: i64) -> i64 {
        let (status, created) = self
            .post("/v1/flows", &json!({"flow_input_id": flow_input_id}))
            .await;
        assert_eq!(status, 201, "{created}");
        created["id"].as_i64().unwrap()
    }

    /// Defines `input`, starts a flow of it and returns the flow once it has ended (within a
    /// minute).
    pub async fn run_flow(&self, input: Value) -> Value {
        let input = self.flow_input(input).await;
        let flow = self.start_flow(input).await;
        self.wait_for_end(flow, Duration::from_secs(60)).await.1
    }

    /// Polls a flow until it has finished, returning every state seen on the way and the end.
    pub async fn wait_for_end(&self, flow_id: i64, within: Duration) -> (Vec<Value>, Value) {
        let started = Instant::now();
        let mut seen = Vec::new();
        loop {
            let (status, flow) = self.get(&format!("/v1/flows/{flow_id}")).await;
            assert_eq!(status, 200, "{flow}");
            let state = flow["output"]["state"].as_str().unwrap().to_owned();
            seen.push(flow.clone());
            if ["COMPLETED", "FAILED", "CANCELLED"].contains(&state.as_str()) {
                return (seen, flow);
            }
            assert!(
                started.elapsed() < within,
                "flow {flow_id} still {state} after {within:?}: {flow}\n{}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Polls a flow on `/v2` until it has ended (within a minute), and returns it.
    pub async fn wait_for_v2_end(&self, id: i64) -> Value {
        let started = Instant::now();
        loop {
            let (status, flow) = self.get(&format!("/v2/flows/{id}")).await;
            assert_eq!(status, 200, "{flow}");
            if ["COMPLETED", "FAILED", "CANCELLED"].contains(&flow["state"].as_str().unwrap()) {
                return flow;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "{flow}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub async fn wait_for_state(&self, flow_id: i64, state: &str, within: Duration) -> Value {
        let started = Instant::now();
        loop {
            let (_, flow) = self.get(&format!("/v1/flows/{flow_id}")).await;
            if flow["output"]["state"] == state {
                return flow;
            }
            assert!(
                started.elapsed() < within,
                "flow {flow_id} not {state} after {within:?}: {flow}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the flow's `kind` step `name` is in `state`; returns the flow.
    pub async fn wait_for_step(
        &self,
        flow_id: i64,
        (kind, name): (&str, &str),
        state: &str,
        within: Duration,
    ) -> Value {
        let started = Instant::now();
        loop {
            let (_, flow) = self.get(&format!("/v1/flows/{flow_id}")).await;
            let steps = flow["output"]["steps"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if steps
                .iter()
                .any(|s| s["kind"] == kind && s["name"] == name && s["state"] == state)
            {
                return flow;
            }
            assert!(
                started.elapsed() < within,
                "flow {flow_id}'s {kind} '{name}' not {state} after {within:?}: {flow}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// The `sluice` binary with a test's settings, run from beside the data folder.
fn sluice_command(data: &Path, state_db_url: &str, options: &Options) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
    if !state_db_url.is_empty() {
        command.env("SLUICE__DATABASE__URL", state_db_url);
    }
    command
        .current_dir(data.parent().unwrap())
        .env("SLUICE__SERVER__ADDRESS", "127.0.0.1:0")
        .env("SLUICE__DATA__ROOT", data)
        .env(
            "SLUICE__RUNNER__MAX_CONCURRENT_FLOWS",
            options.max_concurrent_flows.to_string(),
        )
        .env("SLUICE__ARCHIVE__URL", &options.archive)
        // The embedded default's samples, wherever the test runs; options.env may override.
        .env(
            "SLUICE__CONFIGURATION__URL",
            repository().join("data/samples/config"),
        )
        .env(
            "SLUICE__SPECIFICATION__URL",
            repository().join("data/samples/specification"),
        )
        .env(
            "SLUICE__COLLECTION_LOG__URL",
            repository().join("data/samples/collection-log"),
        )
        .envs(options.env.iter().map(|(k, v)| (*k, v)))
        .env("RUST_LOG", options.log_level)
        .env("NO_COLOR", "1");
    command
}

pub async fn read(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body)
}

/// A loopback port nothing listens on once this returns (the OS gave it, and it was let go).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
