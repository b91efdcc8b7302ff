//! How Sluice reaches S3 and S3-compatible servers: object_store's client, with credentials from
//! the AWS default chain in its usual order: the environment (`AWS_ACCESS_KEY_ID`, …), the
//! shared profile files (`AWS_PROFILE`, `~/.aws/credentials`, `~/.aws/config`), a web identity
//! token, the ECS task role, the instance metadata. object_store reads all but the profile files;
//! [`profile`] reads those.

mod profile;

use object_store::aws::AmazonS3Builder;

/// A client builder for `bucket`, with this process's AWS settings.
pub fn builder(bucket: &str) -> AmazonS3Builder {
    let environment = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    profile::apply(
        AmazonS3Builder::from_env().with_bucket_name(bucket),
        &environment,
    )
}
