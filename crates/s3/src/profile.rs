//! The shared AWS profile files, as the AWS SDKs and CLI read them: the profile `AWS_PROFILE`
//! (else `default`) in the credentials file (`AWS_SHARED_CREDENTIALS_FILE`, else
//! `~/.aws/credentials`, sections `[name]`) and the config file (`AWS_CONFIG_FILE`, else
//! `~/.aws/config`, sections `[profile name]` and `[default]`), the credentials file winning.
//!
//! Static keys (`aws_access_key_id`, `aws_secret_access_key`, `aws_session_token`) and `region`
//! are taken. A profile that gets its credentials another way (`role_arn`, `sso_session`,
//! `credential_process`) gives none here, and the rest of the chain is tried.

use object_store::aws::AmazonS3Builder;
use std::path::PathBuf;

/// A profile's settings that Sluice uses.
#[derive(Debug, Default, PartialEq, Eq)]
struct Profile {
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    session_token: Option<String>,
    region: Option<String>,
}

/// Adds what the profile holds to `builder`, below the environment: its keys unless the
/// environment has some, its region unless the environment names one.
pub fn apply(
    builder: AmazonS3Builder,
    environment: &dyn Fn(&str) -> Option<String>,
) -> AmazonS3Builder {
    let profile = read(environment);
    let mut builder = builder;
    let keys_in_environment = environment("AWS_ACCESS_KEY_ID").is_some();
    if let (false, Some(id), Some(secret)) = (
        keys_in_environment,
        profile.access_key_id,
        profile.secret_access_key,
    ) {
        builder = builder
            .with_access_key_id(id)
            .with_secret_access_key(secret);
        if let Some(token) = profile.session_token {
            builder = builder.with_token(token);
        }
    }
    let region_in_environment =
        environment("AWS_REGION").is_some() || environment("AWS_DEFAULT_REGION").is_some();
    if let (false, Some(region)) = (region_in_environment, profile.region) {
        builder = builder.with_region(region);
    }
    builder
}

/// The profile the environment names, from both files; empty where there are none.
fn read(environment: &dyn Fn(&str) -> Option<String>) -> Profile {
    let name = environment("AWS_PROFILE").unwrap_or_else(|| "default".into());
    let home = environment("HOME").map(PathBuf::from);
    let file = |variable: &str, default: &str| {
        environment(variable)
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|home| home.join(".aws").join(default)))
    };
    let config_section = if name == "default" {
        name.clone()
    } else {
        format!("profile {name}")
    };
    let mut profile = Profile::default();
    // The credentials file first: what it sets, the config file does not change.
    for (path, section) in [
        (file("AWS_SHARED_CREDENTIALS_FILE", "credentials"), &name),
        (file("AWS_CONFIG_FILE", "config"), &config_section),
    ] {
        let Some(path) = path.filter(|path| path.is_file()) else {
            continue;
        };
        let ini = match ini::Ini::load_from_file(&path) {
            Ok(ini) => ini,
            Err(error) => {
                tracing::warn!(file = %path.display(), %error, "skipping an AWS profile file that does not parse");
                continue;
            }
        };
        let Some(values) = ini.section(Some(section.as_str())) else {
            continue;
        };
        let take = |slot: &mut Option<String>, key: &str| {
            if slot.is_none() {
                *slot = values.get(key).map(str::to_owned).filter(|v| !v.is_empty());
            }
        };
        take(&mut profile.access_key_id, "aws_access_key_id");
        take(&mut profile.secret_access_key, "aws_secret_access_key");
        take(&mut profile.session_token, "aws_session_token");
        take(&mut profile.region, "region");
    }
    profile
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::aws::AmazonS3ConfigKey as Key;
    use std::collections::HashMap;

    /// An environment of `pairs` whose home is `home`.
    fn environment(
        home: &std::path::Path,
        pairs: &[(&str, &str)],
    ) -> impl Fn(&str) -> Option<String> {
        let mut variables: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        variables.insert("HOME".into(), home.display().to_string());
        move |name| variables.get(name).cloned()
    }

    fn home_with(credentials: &str, config: &str) -> tempfile::TempDir {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join(".aws")).unwrap();
        std::fs::write(home.path().join(".aws/credentials"), credentials).unwrap();
        std::fs::write(home.path().join(".aws/config"), config).unwrap();
        home
    }

    const CREDENTIALS: &str = "[default]\naws_access_key_id = AKDEFAULT\naws_secret_access_key = s-default\n\n[etl]\naws_access_key_id = AKETL\naws_secret_access_key = s-etl\naws_session_token = t-etl\n";
    const CONFIG: &str = "[default]\nregion = eu-west-1\n\n[profile etl]\nregion = eu-central-1\naws_access_key_id = AKIGNORED\n";

    #[test]
    fn the_named_profile_gives_keys_from_credentials_and_region_from_config() {
        let home = home_with(CREDENTIALS, CONFIG);
        let profile = read(&environment(home.path(), &[("AWS_PROFILE", "etl")]));
        assert_eq!(
            profile,
            Profile {
                access_key_id: Some("AKETL".into()),
                secret_access_key: Some("s-etl".into()),
                session_token: Some("t-etl".into()),
                region: Some("eu-central-1".into()),
            }
        );
        let default = read(&environment(home.path(), &[]));
        assert_eq!(default.access_key_id.as_deref(), Some("AKDEFAULT"));
        assert_eq!(default.region.as_deref(), Some("eu-west-1"));
    }

    #[test]
    fn files_named_by_the_environment_are_read_and_missing_ones_give_nothing() {
        let elsewhere = home_with(CREDENTIALS, CONFIG);
        let empty_home = tempfile::tempdir().unwrap();
        let credentials = elsewhere.path().join(".aws/credentials");
        let profile = read(&environment(
            empty_home.path(),
            &[(
                "AWS_SHARED_CREDENTIALS_FILE",
                &credentials.display().to_string(),
            )],
        ));
        assert_eq!(profile.access_key_id.as_deref(), Some("AKDEFAULT"));
        assert_eq!(profile.region, None);
        assert_eq!(
            read(&environment(empty_home.path(), &[])),
            Profile::default()
        );
    }

    #[test]
    fn keys_and_region_in_the_environment_win_over_the_profile() {
        let home = home_with(CREDENTIALS, CONFIG);
        let applied = |pairs: &[(&str, &str)]| {
            let builder = apply(AmazonS3Builder::new(), &environment(home.path(), pairs));
            (
                builder.get_config_value(&Key::AccessKeyId),
                builder.get_config_value(&Key::Region),
            )
        };
        assert_eq!(
            applied(&[]),
            (Some("AKDEFAULT".into()), Some("eu-west-1".into()))
        );
        // object_store has read the environment's own values already; the profile adds nothing.
        assert_eq!(
            applied(&[("AWS_ACCESS_KEY_ID", "AKENV"), ("AWS_REGION", "us-east-2")]),
            (None, None)
        );
    }
}
