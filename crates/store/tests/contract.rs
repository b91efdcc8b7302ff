//! The repository contract: one suite, run against every database the store adapter supports.
//! PostgreSQL tests use a fresh database per test on `SLUICE_TEST_POSTGRES_URL`
//! (default `postgres://postgres@127.0.0.1:5432`).

use secrecy::ExposeSecret;
use sluice_domain::Error;
use sluice_domain::data_store::{
    Connection, DataPath, DataStoreId, FileFormat, NewDataStore, RelationalConnection,
    ServerConnection, ServerEngine,
};
use sluice_domain::flow::{FlowId, FlowState};
use sluice_domain::flow_input::{
    FlowInputId, NewFlowInput, Output, Source, SourceRead, Transform, WriteMode,
};
use sluice_domain::names::{DataStoreName, TableName};
use sluice_domain::page::Page;
use sluice_domain::ports::{
    DataStoreRepository, FlowInputRepository, FlowOutputRepository, FlowRepository,
};
use sluice_store::Store;

mod support {
    use sea_orm::{ConnectionTrait, Database};
    use sluice_store::Store;

    pub struct Fixture {
        pub store: Store,
        cleanup: Option<(String, String)>,
        _dir: Option<tempfile::TempDir>,
    }

    impl Fixture {
        pub async fn finish(self) {
            if let Some((admin_url, name)) = self.cleanup {
                drop(self.store);
                let admin = Database::connect(&admin_url)
                    .await
                    .expect("reconnect to PostgreSQL");
                let _ = admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await;
            }
        }
    }

    pub async fn sqlite() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("meta.sqlite").display()
        );
        Fixture {
            store: Store::connect(&url).await.unwrap(),
            cleanup: None,
            _dir: Some(dir),
        }
    }

    pub async fn postgres() -> Fixture {
        let base = std::env::var("SLUICE_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
        let admin_url = format!("{base}/postgres");
        let admin = Database::connect(&admin_url).await.unwrap_or_else(|err| {
            panic!("these tests need PostgreSQL at {base} (set SLUICE_TEST_POSTGRES_URL to point elsewhere): {err}")
        });
        let name = format!("sluice_test_{}", uuid::Uuid::new_v4().simple());
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap();
        let store = Store::connect(&format!("{base}/{name}")).await.unwrap();
        Fixture {
            store,
            cleanup: Some((admin_url, name)),
            _dir: None,
        }
    }
}

fn file_store(name: &str) -> NewDataStore {
    NewDataStore {
        name: DataStoreName::parse(name).unwrap(),
        connection: Connection::File {
            path: DataPath::parse("in/orders.csv").unwrap(),
            format: FileFormat::Csv,
        },
    }
}

fn table(name: &str) -> TableName {
    TableName::parse(name).unwrap()
}

async fn flow_input(store: &Store) -> FlowInputId {
    let source = DataStoreRepository::create(store, file_store("orders"))
        .await
        .unwrap();
    let new = NewFlowInput {
        source_data_store_ids: vec![source.id],
        target_data_store_id: source.id,
        sources: vec![Source {
            data_store_id: source.id,
            read: SourceRead::File,
            alias: table("orders"),
        }],
        transforms: vec![Transform {
            name: table("big"),
            sql: "SELECT * FROM orders".into(),
        }],
        outputs: vec![Output {
            transform: table("big"),
            table: None,
            mode: WriteMode::Replace,
        }],
    };
    FlowInputRepository::create(store, new).await.unwrap().id
}

async fn data_stores_round_trip_and_keep_their_password(store: &Store) {
    let server = NewDataStore {
        name: DataStoreName::parse("warehouse").unwrap(),
        connection: Connection::Relational(RelationalConnection::Server(ServerConnection {
            engine: ServerEngine::Postgres,
            host: "db.internal".into(),
            port: 5433,
            user: "etl".into(),
            password: Some("s3cr3t".to_owned().into()),
            database: "sales".into(),
        })),
    };
    let created = DataStoreRepository::create(store, server).await.unwrap();
    let read = DataStoreRepository::get(store, created.id).await.unwrap();
    let Connection::Relational(RelationalConnection::Server(server)) = read.connection else {
        panic!("kind changed")
    };
    assert_eq!(
        (
            server.host.as_str(),
            server.port,
            server.user.as_str(),
            server.database.as_str()
        ),
        ("db.internal", 5433, "etl", "sales")
    );
    assert_eq!(server.password.unwrap().expose_secret(), "s3cr3t");

    let file = DataStoreRepository::create(store, file_store("orders"))
        .await
        .unwrap();
    let Connection::File { path, format } = DataStoreRepository::get(store, file.id)
        .await
        .unwrap()
        .connection
    else {
        panic!("kind changed")
    };
    assert_eq!((path.as_str(), format), ("in/orders.csv", FileFormat::Csv));
}

async fn a_taken_name_is_a_conflict_and_unknown_ids_are_not_found(store: &Store) {
    DataStoreRepository::create(store, file_store("orders"))
        .await
        .unwrap();
    let again = DataStoreRepository::create(store, file_store("orders")).await;
    assert!(matches!(again, Err(Error::Conflict(_))), "{again:?}");
    assert!(matches!(
        DataStoreRepository::get(store, DataStoreId(999)).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        FlowInputRepository::get(store, FlowInputId(999)).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        FlowRepository::get(store, FlowId(999)).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        FlowRepository::create(store, FlowInputId(999)).await,
        Err(Error::NotFound { .. })
    ));
}

async fn data_stores_list_in_id_order_by_page(store: &Store) {
    for i in 0..5 {
        DataStoreRepository::create(store, file_store(&format!("s{i}")))
            .await
            .unwrap();
    }
    let page = DataStoreRepository::list(store, Page::new(Some(2), Some(1)).unwrap())
        .await
        .unwrap();
    let names: Vec<_> = page.iter().map(|s| s.name.to_string()).collect();
    assert_eq!(names, ["s1", "s2"]);
}

async fn flow_inputs_round_trip(store: &Store) {
    let id = flow_input(store).await;
    let input = FlowInputRepository::get(store, id).await.unwrap();
    assert_eq!(input.sources[0].alias, table("orders"));
    assert_eq!(input.sources[0].read, SourceRead::File);
    assert_eq!(input.transforms[0].sql, "SELECT * FROM orders");
    assert_eq!(input.outputs[0].mode, WriteMode::Replace);
}

async fn a_new_flow_is_ready_at_zero_percent(store: &Store) {
    let input = flow_input(store).await;
    let created = FlowRepository::create(store, input).await.unwrap();
    let read = FlowRepository::get(store, created.flow.id).await.unwrap();
    assert_eq!(read, created);
    assert_eq!(read.output.state, FlowState::Ready);
    assert_eq!(read.output.progress.percent, 0);
    assert!(read.output.logs.lines.is_empty() && read.output.errors.lines.is_empty());
}

async fn state_moves_only_from_the_state_the_caller_expects(store: &Store) {
    let input = flow_input(store).await;
    let output = FlowRepository::create(store, input)
        .await
        .unwrap()
        .output
        .id;
    assert!(
        store
            .set_state(output, FlowState::Ready, FlowState::Running)
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_state(output, FlowState::Ready, FlowState::Running)
            .await
            .unwrap()
    );
    assert_eq!(store.state(output).await.unwrap(), FlowState::Running);
}

async fn progress_never_goes_down(store: &Store) {
    let input = flow_input(store).await;
    let flow = FlowRepository::create(store, input).await.unwrap();
    store.raise_progress(flow.output.id, 60).await.unwrap();
    store.raise_progress(flow.output.id, 40).await.unwrap();
    assert_eq!(
        FlowRepository::get(store, flow.flow.id)
            .await
            .unwrap()
            .output
            .progress
            .percent,
        60
    );
}

async fn log_and_error_lines_keep_their_order(store: &Store) {
    let input = flow_input(store).await;
    let flow = FlowRepository::create(store, input).await.unwrap();
    for line in ["one", "two", "three"] {
        store.append_log(flow.output.id, line.into()).await.unwrap();
    }
    store
        .append_error(flow.output.id, "boom".into())
        .await
        .unwrap();
    let output = FlowRepository::get(store, flow.flow.id)
        .await
        .unwrap()
        .output;
    assert_eq!(output.logs.lines, ["one", "two", "three"]);
    assert_eq!(output.errors.lines, ["boom"]);
    assert!(output.logs.updated_utc.is_some() && output.errors.updated_utc.is_some());
}

async fn flows_list_by_state_oldest_first(store: &Store) {
    let input = flow_input(store).await;
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(FlowRepository::create(store, input).await.unwrap());
    }
    store
        .set_state(ids[1].output.id, FlowState::Ready, FlowState::Running)
        .await
        .unwrap();
    let ready = FlowRepository::list(store, &[FlowState::Ready], Page::default())
        .await
        .unwrap();
    assert_eq!(
        ready.iter().map(|v| v.flow.id).collect::<Vec<_>>(),
        [ids[0].flow.id, ids[2].flow.id, ids[3].flow.id]
    );
    let all = FlowRepository::list(store, &[], Page::new(Some(2), Some(2)).unwrap())
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|v| v.flow.id).collect::<Vec<_>>(),
        [ids[2].flow.id, ids[3].flow.id]
    );
    let running = store.in_states(&[FlowState::Running], 10).await.unwrap();
    assert_eq!(
        running.iter().map(|f| f.id).collect::<Vec<_>>(),
        [ids[1].flow.id]
    );
}

macro_rules! contract {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $test() {
                let fixture = super::support::sqlite().await;
                super::$test(&fixture.store).await;
                fixture.finish().await;
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $test() {
                let fixture = super::support::postgres().await;
                super::$test(&fixture.store).await;
                fixture.finish().await;
            })*
        }
    };
}

contract!(
    data_stores_round_trip_and_keep_their_password,
    a_taken_name_is_a_conflict_and_unknown_ids_are_not_found,
    data_stores_list_in_id_order_by_page,
    flow_inputs_round_trip,
    a_new_flow_is_ready_at_zero_percent,
    state_moves_only_from_the_state_the_caller_expects,
    progress_never_goes_down,
    log_and_error_lines_keep_their_order,
    flows_list_by_state_oldest_first,
);
