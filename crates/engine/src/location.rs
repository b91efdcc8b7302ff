//! Where a file or columnar store lives: a path in the data folder, or an `s3://bucket/key`
//! location reached with the process's AWS credentials.

use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::prelude::SessionContext;
use object_store::ObjectStore;
use object_store::path::Path as Key;
use sluice_domain::data_store::DataPath;
use std::path::PathBuf;
use std::sync::Arc;

use crate::folder::DataFolder;
use crate::{Error, Result};

/// How S3 is reached. Credentials come from the AWS default chain (see [`sluice_s3`]).
#[derive(Debug, Clone, Default)]
pub struct S3Settings {
    /// An S3-compatible server to use instead of AWS (`http://127.0.0.1:9000`).
    pub endpoint: Option<String>,
    /// Address buckets as `endpoint/bucket/key` rather than `bucket.endpoint/key`, as most
    /// S3-compatible servers need.
    pub path_style: bool,
}

pub enum Location {
    Local(PathBuf),
    S3(S3Location),
}

/// An object or a prefix in a bucket, with the store that reaches it.
#[derive(Clone)]
pub struct S3Location {
    pub bucket: String,
    /// Without leading or trailing `/`.
    pub key: String,
    pub store: Arc<dyn ObjectStore>,
}

impl S3Location {
    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    pub fn path(&self) -> Key {
        Key::from(self.key.as_str())
    }

    /// The location `name` under this one.
    pub fn join(&self, name: &str) -> Self {
        Self {
            key: format!("{}/{name}", self.key),
            ..self.clone()
        }
    }

    /// Lets DataFusion read and write `s3://<bucket>/…` in `ctx`.
    pub fn register(&self, ctx: &SessionContext) -> Result<()> {
        let url = ObjectStoreUrl::parse(format!("s3://{}", self.bucket))?;
        ctx.register_object_store(url.as_ref(), self.store.clone());
        Ok(())
    }

    /// An error naming this location.
    pub fn failed(&self, what: &str, err: impl std::fmt::Display) -> Error {
        Error::Location(format!("{what} {}: {err}", self.url()))
    }
}

/// Resolves data paths: in the data folder, or on S3.
#[derive(Clone)]
pub struct Locator {
    folder: DataFolder,
    s3: S3Settings,
}

impl Locator {
    pub fn new(folder: DataFolder, s3: S3Settings) -> Self {
        Self { folder, s3 }
    }

    /// `message` with the data folder's absolute path taken out, so that a path reads as the
    /// store gave it: where the folder lies on the server is not a caller's business.
    pub fn relative(&self, message: &str) -> String {
        let root = format!("{}/", self.folder.root().display());
        message.replace(&root, "")
    }

    /// # Errors
    /// `Location` for a path outside the data folder or an S3 client that cannot be built.
    pub fn locate(&self, path: &DataPath) -> Result<Location> {
        let Some((bucket, key)) = path.s3() else {
            return Ok(Location::Local(self.folder.resolve(path)?));
        };
        let mut builder =
            sluice_s3::builder(bucket).with_virtual_hosted_style_request(!self.s3.path_style);
        if let Some(endpoint) = &self.s3.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        let store = builder
            .build()
            .map_err(|e| Error::Location(format!("reaching {}: {e}", path.as_str())))?;
        Ok(Location::S3(S3Location {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            store: Arc::new(store),
        }))
    }

    /// A path that must be in the data folder (a SQLite database).
    ///
    /// # Errors
    /// `Location` for an S3 location or a path outside the data folder.
    pub fn local(&self, path: &DataPath) -> Result<PathBuf> {
        if path.s3().is_some() {
            return Err(Error::Location(format!(
                "'{}' is on S3, where a SQLite database cannot be opened",
                path.as_str()
            )));
        }
        self.folder.resolve(path)
    }
}
