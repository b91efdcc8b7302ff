//! What Sluice's test suites share: the fixtures of real pipeline metadata, a real
//! S3-compatible server (moto's server mode) on a loopback port, and fresh databases on the
//! machine's PostgreSQL and MySQL/MariaDB ([`databases`]).

pub mod databases;

pub use databases::{MysqlDatabase, PostgresDatabase, finish_on_a_thread};

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Real pipeline metadata: the repository's cut (`tests/fixtures`), or the full set that
/// `SLUICE_FIXTURES` points at.
///
/// # Panics
/// When the folder holds no collection archive.
pub fn fixtures() -> PathBuf {
    let path = std::env::var_os("SLUICE_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures"));
    assert!(
        path.join("collection-archive").is_dir(),
        "the metadata tests need fixtures at {} (SLUICE_FIXTURES points elsewhere)",
        path.display()
    );
    path.canonicalize().unwrap()
}

/// A real S3-compatible server (moto's server mode) on a free loopback port, stopped when dropped.
pub struct S3Server {
    pub endpoint: String,
    process: Child,
}

impl S3Server {
    /// Starts the server; moto comes from the tests' Python environment.
    ///
    /// # Panics
    /// When the server does not answer within 30 s.
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let process = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run python3");
        let endpoint = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while reqwest::get(&endpoint).await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the S3-compatible server did not start (pip install -r tests/requirements.txt)"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self { endpoint, process }
    }

    /// The variables that point Sluice (and any AWS client) at this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("SLUICE__ARCHIVE__ENDPOINT", self.endpoint.clone()),
            ("SLUICE__S3__ENDPOINT", self.endpoint.clone()),
            ("SLUICE__S3__PATH_STYLE", "true".into()),
            ("AWS_ACCESS_KEY_ID", "sluice-test".into()),
            ("AWS_SECRET_ACCESS_KEY", "sluice-test".into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }

    /// Creates `bucket` if need be and copies every file under `folder` to `bucket/prefix/…`.
    pub async fn upload(&self, folder: &Path, bucket: &str, prefix: &str) {
        use futures::StreamExt;
        use object_store::{ObjectStoreExt, PutPayload, path::Path as Key};
        let created = reqwest::Client::new()
            .put(format!("{}/{bucket}", self.endpoint))
            .send()
            .await
            .unwrap();
        assert!(
            created.status().is_success(),
            "create bucket: {}",
            created.status()
        );
        let store = self.bucket(bucket);
        let mut files = Vec::new();
        let mut pending = vec![folder.to_owned()];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    pending.push(path);
                } else {
                    files.push(path);
                }
            }
        }
        let store = &store;
        futures::stream::iter(files)
            .map(|path| async move {
                let relative = path
                    .strip_prefix(folder)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                let key = Key::from(format!("{prefix}/{relative}"));
                let bytes = std::fs::read(&path).unwrap();
                store.put(&key, PutPayload::from(bytes)).await.unwrap();
            })
            .buffer_unordered(16)
            .collect::<Vec<_>>()
            .await;
    }
}

impl S3Server {
    /// A client for `bucket` on this server.
    pub fn bucket(&self, bucket: &str) -> object_store::aws::AmazonS3 {
        object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_endpoint(&self.endpoint)
            .with_allow_http(true)
            .with_virtual_hosted_style_request(false)
            .with_region("us-east-1")
            .with_access_key_id("sluice-test")
            .with_secret_access_key("sluice-test")
            .build()
            .unwrap()
    }

    /// Every key in `bucket`, sorted.
    pub async fn keys(&self, bucket: &str) -> Vec<String> {
        use futures::TryStreamExt;
        use object_store::ObjectStore;
        let mut keys: Vec<String> = self
            .bucket(bucket)
            .list(None)
            .map_ok(|meta| meta.location.to_string())
            .try_collect()
            .await
            .unwrap();
        keys.sort();
        keys
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}
