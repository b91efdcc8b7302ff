//! The binary as installed (a `cargo install`, a package, the image): started from a folder that
//! is not the repository, with no settings at all. It serves on the embedded default; the
//! pipeline metadata it has no samples for answers that none is configured, and `/readyz` says
//! which sources are; a location named explicitly and missing still stops the start. Commands
//! print their own output and nothing else unless asked to say more.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::read;

/// `sluice <args>` run in `folder` with none of the test run's settings: only what is given.
fn bare(folder: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
    for (name, _) in std::env::vars() {
        if name.starts_with("SLUICE") || name == "RUST_LOG" {
            command.env_remove(name);
        }
    }
    command
        .current_dir(folder)
        .args(args)
        .envs(env.iter().copied())
        .env("NO_COLOR", "1");
    command
}

/// Starts `sluice serve` in `folder` and returns it with its address, once it listens.
fn serve(folder: &Path) -> (Child, String) {
    let mut process = bare(
        folder,
        &["serve"],
        &[("SLUICE__SERVER__ADDRESS", "127.0.0.1:0")],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit())
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(process.stdout.take().unwrap()).lines();
    let started = Instant::now();
    for line in lines.by_ref().map_while(Result::ok) {
        if let Some(rest) = line.split("listening on ").nth(1) {
            let address = rest.split_whitespace().next().unwrap().to_owned();
            // Read on, so the server's log never meets a closed pipe.
            std::thread::spawn(move || lines.for_each(drop));
            return (process, address);
        }
        assert!(started.elapsed() < Duration::from_secs(30), "did not start");
    }
    let status = process.wait().unwrap();
    panic!("sluice stopped before it listened: {status}");
}

#[tokio::test]
async fn the_binary_starts_on_the_embedded_default_from_any_folder() {
    let folder = tempfile::tempdir().unwrap();
    let made = bare(
        folder.path(),
        &["keys", "create", "--name", "reader", "--scope", "read"],
        &[],
    )
    .output()
    .unwrap();
    assert!(made.status.success(), "{made:?}");
    let key = String::from_utf8(made.stdout).unwrap().trim().to_owned();
    let (mut process, base) = serve(folder.path());
    let client = reqwest::Client::new();

    let (status, ready) = read(client.get(format!("{base}/readyz")).send().await.unwrap()).await;
    assert_eq!(status, 200, "{ready}");
    for source in [
        "archive",
        "configuration",
        "specification",
        "collection_log",
        "datasette",
    ] {
        assert_eq!(
            ready["metadata_sources"][source], false,
            "{source}: {ready}"
        );
    }

    for (path, setting) in [
        ("/v2/issues?dataset=conservation-area", "archive.url"),
        ("/v2/specification/datasets", "archive.url"),
        ("/v2/specification/fields/name", "specification.url"),
        ("/v2/configuration/conservation-area", "configuration.url"),
        ("/v2/collection-log", "collection_log.url"),
        ("/v1/log/issue?dataset=conservation-area", "archive.url"),
    ] {
        let response = client
            .get(format!("{base}{path}"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        let (status, problem): (u16, Value) = read(response).await;
        assert_eq!(status, 503, "{path}: {problem}");
        assert_eq!(content_type, "application/problem+json", "{path}");
        assert_eq!(
            problem["type"], "/problems/not-configured",
            "{path}: {problem}"
        );
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains(setting), "{path}: {detail}");
    }
    // Flows need no metadata: the embedded default serves them.
    let (status, _) = read(
        client
            .get(format!("{base}/v2/flows"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    let _ = process.kill();
    let _ = process.wait();
}

#[tokio::test]
async fn a_location_set_explicitly_and_missing_stops_the_start() {
    let folder = tempfile::tempdir().unwrap();
    for (variable, said) in [
        (
            "SLUICE__SPECIFICATION__URL",
            "the specification tables cannot be used",
        ),
        (
            "SLUICE__ARCHIVE__URL",
            "the collection archive cannot be used",
        ),
    ] {
        let stopped = bare(
            folder.path(),
            &["serve"],
            &[
                ("SLUICE__SERVER__ADDRESS", "127.0.0.1:0"),
                (variable, "nowhere/to/be/found"),
            ],
        )
        .output()
        .unwrap();
        assert!(!stopped.status.success(), "{variable}: {stopped:?}");
        let told = String::from_utf8_lossy(&stopped.stdout).into_owned()
            + &String::from_utf8_lossy(&stopped.stderr);
        assert!(told.contains(said), "{variable}: {told}");
    }
}

#[tokio::test]
async fn commands_print_their_own_output_and_say_more_when_asked() {
    let folder = tempfile::tempdir().unwrap();
    // The first command of a new folder also makes its state database: still the key alone on
    // standard output, and its one line of explanation alone on standard error.
    let made = bare(
        folder.path(),
        &["keys", "create", "--name", "ops", "--scope", "admin"],
        &[],
    )
    .output()
    .unwrap();
    assert!(made.status.success(), "{made:?}");
    assert_eq!(String::from_utf8_lossy(&made.stdout).lines().count(), 1);
    let said = String::from_utf8_lossy(&made.stderr).into_owned();
    assert_eq!(said.lines().count(), 1, "{said}");
    assert!(
        said.starts_with("created key 'ops' with scopes admin"),
        "{said}"
    );
    let listed = bare(folder.path(), &["keys", "list"], &[])
        .output()
        .unwrap();
    assert!(listed.status.success(), "{listed:?}");
    assert_eq!(String::from_utf8_lossy(&listed.stderr), "");
    // -v brings the information lines back (the migrations a new folder's database gets), on
    // standard error.
    let other = tempfile::tempdir().unwrap();
    let verbose = bare(other.path(), &["keys", "list", "-v"], &[])
        .output()
        .unwrap();
    assert!(verbose.status.success(), "{verbose:?}");
    assert!(
        String::from_utf8_lossy(&verbose.stderr).contains("INFO"),
        "{verbose:?}"
    );
    assert_eq!(verbose.stdout, b"");
}
