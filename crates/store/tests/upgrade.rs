//! Upgrading a state database made by an earlier Sluice keeps everything it holds: flow inputs
//! made before names existed become version 1 of an input named after their id, and the stores
//! they use can no longer be deleted from under them.

use chrono::Utc;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use sluice_domain::Error;
use sluice_domain::data_store::DataStoreId;
use sluice_domain::flow_input::FlowInputId;
use sluice_domain::ports::{DataStoreRepository, FlowInputRepository};
use sluice_migration::{Migrator, MigratorTrait};
use sluice_store::StateDatabase;

/// The migrations the earlier Sluice had applied.
const BEFORE_NAMES: u32 = 3;

async fn fill_earlier_database(db: &DatabaseConnection) {
    Migrator::up(db, Some(BEFORE_NAMES)).await.unwrap();
    let backend = db.get_database_backend();
    let (store_sql, input_sql) = match backend {
        DbBackend::Postgres => (
            "INSERT INTO data_store (name, kind, connection, created_utc) VALUES ($1, 'columnar_db', $2, $3)",
            "INSERT INTO flow_input (target_data_store_id, definition, created_utc) VALUES ($1, $2, $3)",
        ),
        _ => (
            "INSERT INTO data_store (name, kind, connection, created_utc) VALUES (?, 'columnar_db', ?, ?)",
            "INSERT INTO flow_input (target_data_store_id, definition, created_utc) VALUES (?, ?, ?)",
        ),
    };
    for name in ["a", "b", "lake", "unused"] {
        let connection = format!(r#"{{"type":"columnar","path":"{name}"}}"#);
        db.execute_raw(Statement::from_sql_and_values(
            backend,
            store_sql,
            [name.into(), connection.into(), Utc::now().into()],
        ))
        .await
        .unwrap();
    }
    let definition = r#"{"source_data_store_ids":[1,2],"sources":[{"data_store_id":1,"table":"x","alias":"a"},{"data_store_id":2,"table":"y","alias":"b"}],"transforms":[{"name":"t","sql":"SELECT * FROM a"}],"outputs":[{"transform":"t","table":"t","mode":"replace"}]}"#;
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        input_sql,
        [3i64.into(), definition.into(), Utc::now().into()],
    ))
    .await
    .unwrap();
}

async fn an_upgrade_names_earlier_inputs_and_protects_their_stores(store: &StateDatabase) {
    let input = FlowInputRepository::get(store, FlowInputId(1))
        .await
        .unwrap();
    assert_eq!(input.public_id(), "1:1");
    assert_eq!(input.sources.len(), 2);
    for used in [1, 2, 3] {
        let err = DataStoreRepository::delete(store, DataStoreId(used))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "store {used}: {err:?}");
    }
    DataStoreRepository::delete(store, DataStoreId(4))
        .await
        .unwrap();
}

#[tokio::test]
async fn an_upgraded_sqlite_state_database_keeps_its_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("state.sqlite").display()
    );
    fill_earlier_database(&Database::connect(&url).await.unwrap()).await;
    let store = StateDatabase::connect(&url).await.unwrap();
    an_upgrade_names_earlier_inputs_and_protects_their_stores(&store).await;
}

#[tokio::test]
async fn an_upgraded_postgres_state_database_keeps_its_inputs() {
    let database = sluice_test_support::PostgresDatabase::create().await;
    fill_earlier_database(&Database::connect(&database.url).await.unwrap()).await;
    let store = StateDatabase::connect(&database.url).await.unwrap();
    an_upgrade_names_earlier_inputs_and_protects_their_stores(&store).await;
    drop(store);
}
