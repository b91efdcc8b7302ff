//! A Datasette-style SQLite copy of the fixtures as the metadata source.

use super::*;

/// The legacy SQLite copy of the fixtures (issue log, collection log, specification tables).
pub(super) fn legacy_sqlite(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("legacy.sqlite");
    let status = std::process::Command::new("python3")
        .arg(crate::support::repository().join("crates/datasette/tests/legacy_copy.py"))
        .arg(fixtures().join("collection-archive"))
        .arg(&path)
        .arg(fixtures().join("collection-log"))
        .arg(fixtures().join("specification"))
        .arg(fixtures().join("config"))
        .status()
        .expect("run python3");
    assert!(status.success(), "building the SQLite copy failed");
    path
}

/// A server reading Datasette-style SQLite answers as one reading the archive and the CSV
/// folders does: pages, exports, counts, the specification's tables and the configuration
/// (which the SQLite file holds, so they come from it).
#[tokio::test]
async fn a_datasette_source_answers_as_the_archive_does() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = legacy_sqlite(dir.path());
    let from_archive = on_fixtures().await;
    let from_datasette = TestServer::start(Options {
        archive: fixtures().join("collection-archive"),
        env: vec![
            (
                "SLUICE__DATASETTE__PATHS",
                sqlite.to_string_lossy().into_owned(),
            ),
            // Not the specification's tables nor the configuration: the SQLite file holds them.
            (
                "SLUICE__SPECIFICATION__URL",
                dir.path().to_string_lossy().into_owned(),
            ),
            (
                "SLUICE__CONFIGURATION__URL",
                dir.path().to_string_lossy().into_owned(),
            ),
        ],
        ..Options::default()
    })
    .await;
    for path in [
        "/v2/issues?dataset=border&dataset=conservation-area-document&limit=1000",
        "/v2/issues/counts?group_by=dataset,issue_type&order_by=key&limit=1000",
        "/v1/specification/datasets/conservation-area",
        "/v2/specification/fields/reference",
        "/v2/resources?organisation=local-authority-eng:SWK",
        "/v2/configuration/border",
        "/v2/configuration/listed-building/sources",
        "/v2/configuration/border/rules/column?limit=3",
        "/v1/configuration/listed-building",
    ] {
        let (status, archive) = from_archive.get(path).await;
        assert_eq!(status, 200, "{path}: {archive}");
        let (status, datasette) = from_datasette.get(path).await;
        assert_eq!(status, 200, "{path}: {datasette}");
        assert_eq!(datasette, archive, "{path}");
    }
    let export = |server: &TestServer| {
        server
            .client
            .get(server.url("/v2/issues?dataset=conservation-area&format=csv"))
            .send()
    };
    let archive_csv = export(&from_archive).await.unwrap().text().await.unwrap();
    let datasette_csv = export(&from_datasette).await.unwrap().text().await.unwrap();
    assert!(archive_csv.lines().count() > 20_000);
    assert_eq!(datasette_csv, archive_csv);
}
