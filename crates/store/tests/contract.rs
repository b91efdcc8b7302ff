//! The repository contract: one suite, run against every database the store adapter supports.
//! PostgreSQL tests use a fresh database per test on `SLUICE_TEST_POSTGRES_URL`
//! (default `postgres://postgres@127.0.0.1:5432`).

use chrono::{DateTime, TimeDelta, Utc};
use secrecy::ExposeSecret;
use sluice_domain::Error;
use sluice_domain::api_key::{self, ApiKeyName, KeyHash, Scope, Scopes};
use sluice_domain::data_store::{
    Connection, DataPath, DataStoreId, FileFormat, NewDataStore, RelationalConnection,
    ServerConnection, ServerKind,
};
use sluice_domain::flow::{FlowId, FlowOutputId, FlowState, LineStream, RunnerId, Settlement};
use sluice_domain::flow_input::{
    ExecutionEngine, FlowInputId, FlowInputName, NewFlowInput, Output, Source, SourceRead,
    Transform, WriteMode,
};
use sluice_domain::flow_list::{FlowFilter, FlowOrder, FlowOrderField, FlowPage};
use sluice_domain::names::{DataStoreName, TableName};
use sluice_domain::page::Page;
use sluice_domain::ports::{
    ApiKeyRepository, DataStoreRepository, FlowInputRepository, FlowOutputRepository,
    FlowRepository, IdempotencyRepository,
};
use sluice_domain::step::{Step, StepChange, StepKind, StepResult, StepState};
use sluice_domain::testing::{MemoryApiKeys, MemoryIdempotency, MemoryStore};
use sluice_store::{KEY_LEN, Keyring, Store};
use std::time::Duration;

/// The state database's ports, as the suite holds every adapter and the in-memory fake to them.
trait StatePorts:
    DataStoreRepository
    + FlowInputRepository
    + FlowRepository
    + FlowOutputRepository
    + Clone
    + Send
    + Sync
    + 'static
{
}

impl<T> StatePorts for T where
    T: DataStoreRepository
        + FlowInputRepository
        + FlowRepository
        + FlowOutputRepository
        + Clone
        + Send
        + Sync
        + 'static
{
}

mod support {
    use sea_orm::{ConnectionTrait, Database};
    use sluice_store::Store;

    pub struct Fixture {
        pub store: Store,
        pub url: String,
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
            url,
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
        let url = format!("{base}/{name}");
        let store = Store::connect(&url).await.unwrap();
        Fixture {
            store,
            url,
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

async fn flow_input<S: StatePorts>(store: &S) -> FlowInputId {
    let source = DataStoreRepository::create(store, file_store("orders"))
        .await
        .unwrap();
    let new = NewFlowInput {
        name: None,
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
        max_attempts: 1,
        // Not the default, so that the round trip shows it is kept.
        engine: ExecutionEngine::Ballista,
    };
    FlowInputRepository::create(store, new).await.unwrap().id
}

async fn data_stores_round_trip_and_keep_their_password<S: StatePorts>(store: &S) {
    let server = NewDataStore {
        name: DataStoreName::parse("warehouse").unwrap(),
        connection: Connection::Relational(RelationalConnection::Server(ServerConnection {
            engine: ServerKind::Postgres,
            host: "db.internal".into(),
            port: 5433,
            user: "etl".into(),
            password: Some("s3cr3t".to_owned().into()),
            database: "sales".into(),
            password_unreadable: None,
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

async fn a_taken_name_is_a_conflict_and_unknown_ids_are_not_found<S: StatePorts>(store: &S) {
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
        FlowRepository::create(store, FlowInputId(999), None).await,
        Err(Error::NotFound { .. })
    ));
}

async fn data_stores_list_in_id_order_by_page<S: StatePorts>(store: &S) {
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
    let newest = Page::keyset(Some(2), None).unwrap().newest_first(true);
    let page = DataStoreRepository::list(store, newest).await.unwrap();
    let names: Vec<_> = page.iter().map(|s| s.name.to_string()).collect();
    assert_eq!(names, ["s4", "s3"]);
    let below = Page::keyset(Some(2), Some(page[1].id.0))
        .unwrap()
        .newest_first(true);
    let page = DataStoreRepository::list(store, below).await.unwrap();
    let names: Vec<_> = page.iter().map(|s| s.name.to_string()).collect();
    assert_eq!(names, ["s2", "s1"]);
    assert_eq!(DataStoreRepository::count(store).await.unwrap(), 5);
}

async fn a_connection_is_replaced_from_its_revision_and_of_racing_changes_one_wins<
    S: StatePorts,
>(
    store: &S,
) {
    let created = DataStoreRepository::create(store, file_store("s"))
        .await
        .unwrap();
    assert_eq!(created.revision, 0);
    let other = file_store("t").connection;
    let changed = DataStoreRepository::replace_connection(store, created.id, 0, other.clone())
        .await
        .unwrap();
    assert_eq!(changed.revision, 1);
    assert!(matches!(
        DataStoreRepository::replace_connection(store, created.id, 0, other.clone()).await,
        Err(Error::Stale { .. })
    ));
    assert!(matches!(
        DataStoreRepository::replace_connection(store, DataStoreId(999), 0, other.clone()).await,
        Err(Error::NotFound { .. })
    ));
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            let other = other.clone();
            tokio::spawn(async move {
                DataStoreRepository::replace_connection(&store, created.id, 1, other).await
            })
        })
        .collect();
    let mut won = 0;
    for racer in racers {
        match racer.await.unwrap() {
            Ok(store) => {
                assert_eq!(store.revision, 2);
                won += 1;
            }
            Err(Error::Stale { .. }) => {}
            Err(other) => panic!("{other}"),
        }
    }
    assert_eq!(won, 1, "exactly one change made from revision 1 wins");
}

async fn flow_inputs_round_trip<S: StatePorts>(store: &S) {
    let id = flow_input(store).await;
    let input = FlowInputRepository::get(store, id).await.unwrap();
    assert_eq!(input.sources[0].alias, table("orders"));
    assert_eq!(input.sources[0].read, SourceRead::File);
    assert_eq!(input.transforms[0].sql, "SELECT * FROM orders");
    assert_eq!(input.outputs[0].mode, WriteMode::Replace);
    assert_eq!(input.engine, ExecutionEngine::Ballista);
}

async fn flow_inputs_list_by_name_with_their_versions<S: StatePorts>(store: &S) {
    let id = flow_input(store).await;
    let template = FlowInputRepository::get(store, id).await.unwrap();
    let new = |name: &str| NewFlowInput {
        name: Some(FlowInputName::parse(name).unwrap()),
        source_data_store_ids: template.source_data_store_ids.clone(),
        target_data_store_id: template.target_data_store_id,
        sources: template.sources.clone(),
        transforms: template.transforms.clone(),
        outputs: template.outputs.clone(),
        max_attempts: 1,
        engine: ExecutionEngine::Local,
    };
    // `a_b` would match `aXb` under LIKE, and `Ab` `ab` under SQLite's LIKE: neither is a prefix.
    for name in ["a_b-report", "aXb-report", "Ab-report", "a_b-daily"] {
        FlowInputRepository::create(store, new(name)).await.unwrap();
    }
    let name = FlowInputName::parse("a_b-report").unwrap();
    FlowInputRepository::add_version(store, &name, new("a_b-report"))
        .await
        .unwrap();
    FlowInputRepository::add_version(store, &name, new("a_b-report"))
        .await
        .unwrap();

    let all = FlowInputRepository::list(store, "", Page::keyset(None, None).unwrap())
        .await
        .unwrap();
    let names: Vec<String> = all.iter().map(|s| s.name.to_string()).collect();
    assert_eq!(
        names[1..],
        ["a_b-report", "aXb-report", "Ab-report", "a_b-daily"]
    );
    let report = &all[1];
    assert_eq!((report.latest_version, report.versions), (3, 3));
    assert!(report.updated_utc >= report.created_utc);

    let prefixed = FlowInputRepository::list(store, "a_b", Page::keyset(None, None).unwrap())
        .await
        .unwrap();
    let names: Vec<String> = prefixed.iter().map(|s| s.name.to_string()).collect();
    assert_eq!(names, ["a_b-report", "a_b-daily"]);

    // A page after the first name holds the rest, in order, whatever versions came since.
    let page = Page::keyset(Some(2), Some(report.first_id.0)).unwrap();
    let next = FlowInputRepository::list(store, "", page).await.unwrap();
    let names: Vec<String> = next.iter().map(|s| s.name.to_string()).collect();
    assert_eq!(names, ["aXb-report", "Ab-report"]);

    // Newest name first, and the page below a name.
    let newest = Page::keyset(Some(2), None).unwrap().newest_first(true);
    let page = FlowInputRepository::list(store, "a_b", newest)
        .await
        .unwrap();
    let names: Vec<String> = page.iter().map(|s| s.name.to_string()).collect();
    assert_eq!(names, ["a_b-daily", "a_b-report"]);
    let below = Page::keyset(Some(10), Some(all[3].first_id.0))
        .unwrap()
        .newest_first(true);
    let page = FlowInputRepository::list(store, "", below).await.unwrap();
    let names: Vec<String> = page.iter().map(|s| s.name.to_string()).collect();
    assert_eq!(names[..2], ["aXb-report", "a_b-report"]);
    assert_eq!(FlowInputRepository::count(store, "a_b").await.unwrap(), 2);
    assert_eq!(FlowInputRepository::count(store, "").await.unwrap(), 5);
}

async fn a_new_flow_is_ready_at_zero_percent<S: StatePorts>(store: &S) {
    let input = flow_input(store).await;
    let created = FlowRepository::create(store, input, None).await.unwrap();
    let read = FlowRepository::get(store, created.flow.id).await.unwrap();
    assert_eq!(read, created);
    assert_eq!(read.output.state, FlowState::Ready);
    assert_eq!(read.output.progress.percent, 0);
    assert!(read.output.logs.lines.is_empty() && read.output.errors.lines.is_empty());
}

async fn state_moves_only_from_the_state_the_caller_expects<S: StatePorts>(store: &S) {
    let input = flow_input(store).await;
    let output = FlowRepository::create(store, input, None)
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

async fn progress_never_goes_down<S: StatePorts>(store: &S) {
    let input = flow_input(store).await;
    let flow = FlowRepository::create(store, input, None).await.unwrap();
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

async fn log_and_error_lines_keep_their_order<S: StatePorts>(store: &S) {
    let input = flow_input(store).await;
    let flow = FlowRepository::create(store, input, None).await.unwrap();
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

async fn flows_list_by_state_oldest_first<S: StatePorts>(store: &S) {
    let input = flow_input(store).await;
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(FlowRepository::create(store, input, None).await.unwrap());
    }
    store
        .set_state(ids[1].output.id, FlowState::Ready, FlowState::Running)
        .await
        .unwrap();
    let ready = FlowRepository::list(store, &in_states(&[FlowState::Ready]), oldest(50, 0))
        .await
        .unwrap();
    assert_eq!(
        ready.iter().map(|v| v.flow.id).collect::<Vec<_>>(),
        [ids[0].flow.id, ids[2].flow.id, ids[3].flow.id]
    );
    let all = FlowRepository::list(store, &FlowFilter::default(), oldest(2, 2))
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|v| v.flow.id).collect::<Vec<_>>(),
        [ids[2].flow.id, ids[3].flow.id]
    );
}

/// Flows in the states given, oldest first.
fn in_states(states: &[FlowState]) -> FlowFilter {
    FlowFilter {
        states: states.to_vec(),
        ..FlowFilter::default()
    }
}

/// `limit` flows from `offset`, oldest first.
fn oldest(limit: u64, offset: u64) -> FlowPage {
    FlowPage {
        order: FlowOrder::OLDEST_FIRST,
        after: None,
        limit,
        offset,
    }
}

/// Every flow `filter` admits in `order`, walked two at a time by key.
async fn walk<S: StatePorts>(store: &S, filter: &FlowFilter, order: FlowOrder) -> Vec<i64> {
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = FlowPage {
            order,
            after,
            limit: 2,
            offset: 0,
        };
        let views = FlowRepository::list(store, filter, page).await.unwrap();
        let Some(last) = views.last() else {
            return seen;
        };
        after = Some(order.key_of(last));
        seen.extend(views.iter().map(|v| v.flow.id.0));
    }
}

async fn flows_list_in_every_order_with_filters_counts_and_reruns<S: StatePorts>(store: &S) {
    let input = flow_input(store).await;
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(
            FlowRepository::create(store, input, None)
                .await
                .unwrap()
                .flow
                .id
                .0,
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let runner = RunnerId("r".into());
    let mut outputs = Vec::new();
    // The three oldest start, in id order; the third ends first, then the first.
    for _ in 0..3 {
        let flow = store
            .claim_ready(&runner, Duration::from_secs(60))
            .await
            .unwrap();
        outputs.push(flow.unwrap().flow_output_id);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for (output, end) in [
        (outputs[2], FlowState::Completed),
        (outputs[0], FlowState::Failed),
    ] {
        assert!(
            store
                .set_state(output, FlowState::Running, end)
                .await
                .unwrap()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let first = FlowRepository::get(store, FlowId(ids[0])).await.unwrap();
    assert!(first.output.started_utc.is_some() && first.output.finished_utc.is_some());
    assert!(first.output.started_utc <= first.output.finished_utc);

    let all = FlowFilter::default();
    let order = |field, descending| FlowOrder { field, descending };
    let at = |positions: &[usize]| positions.iter().map(|p| ids[*p]).collect::<Vec<_>>();
    use FlowOrderField::*;
    for (field, descending, expected) in [
        (CreatedAt, false, at(&[0, 1, 2, 3, 4, 5])),
        (CreatedAt, true, at(&[5, 4, 3, 2, 1, 0])),
        // Flows without the time come last either way, by id in the list's direction.
        (StartedAt, false, at(&[0, 1, 2, 3, 4, 5])),
        (StartedAt, true, at(&[2, 1, 0, 5, 4, 3])),
        (FinishedAt, false, at(&[2, 0, 1, 3, 4, 5])),
        (FinishedAt, true, at(&[0, 2, 5, 4, 3, 1])),
    ] {
        let order = order(field, descending);
        assert_eq!(walk(store, &all, order).await, expected, "{}", order.name());
    }

    let ended = in_states(&[FlowState::Completed, FlowState::Failed]);
    assert_eq!(
        walk(store, &ended, FlowOrder::OLDEST_FIRST).await,
        at(&[0, 2])
    );
    assert_eq!(FlowRepository::count(store, &ended).await.unwrap(), 2);
    assert_eq!(FlowRepository::count(store, &all).await.unwrap(), 6);
    let none = FlowFilter {
        inputs: Some(Vec::new()),
        ..FlowFilter::default()
    };
    assert_eq!(FlowRepository::count(store, &none).await.unwrap(), 0);
    let fourth = FlowRepository::get(store, FlowId(ids[3])).await.unwrap();
    let since = FlowFilter {
        created_after: Some(fourth.flow.created_utc),
        ..FlowFilter::default()
    };
    assert_eq!(
        walk(store, &since, FlowOrder::OLDEST_FIRST).await,
        at(&[3, 4, 5])
    );
    let before = FlowFilter {
        created_before: Some(fourth.flow.created_utc),
        ..FlowFilter::default()
    };
    assert_eq!(FlowRepository::count(store, &before).await.unwrap(), 3);

    let rerun = FlowRepository::create(store, input, Some(FlowId(ids[0])))
        .await
        .unwrap();
    assert_eq!(rerun.flow.rerun_of, Some(FlowId(ids[0])));
    let original = FlowRepository::get(store, FlowId(ids[0])).await.unwrap();
    assert_eq!(original.reruns, [rerun.flow.id]);
    assert!(
        FlowRepository::get(store, rerun.flow.id)
            .await
            .unwrap()
            .reruns
            .is_empty()
    );
}

async fn concurrent_claims_take_every_ready_flow_exactly_once<S: StatePorts>(store: &S) {
    let input = flow_input(store).await;
    let mut created = Vec::new();
    for _ in 0..30 {
        created.push(
            FlowRepository::create(store, input, None)
                .await
                .unwrap()
                .flow
                .id,
        );
    }
    let until = Duration::from_secs(60);
    let claimers: Vec<_> = (0..6)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let runner = RunnerId(format!("runner-{i}"));
                let mut taken = Vec::new();
                while let Some(flow) = store.claim_ready(&runner, until).await.unwrap() {
                    taken.push(flow.id);
                }
                taken
            })
        })
        .collect();
    let mut claimed = Vec::new();
    for claimer in claimers {
        claimed.extend(claimer.await.unwrap());
    }
    claimed.sort_by_key(|id| id.0);
    assert_eq!(claimed, created, "each flow claimed once");
    let running = FlowRepository::list(store, &in_states(&[FlowState::Running]), oldest(50, 0))
        .await
        .unwrap();
    assert_eq!(running.len(), 30);
}

/// Plans a flow of one transform step `t`.
async fn plan_one_step<S: StatePorts>(store: &S, output: FlowOutputId) {
    store
        .plan_steps(
            output,
            &[Step {
                kind: StepKind::Transform,
                name: "t".into(),
            }],
        )
        .await
        .unwrap();
}

async fn a_lease_is_renewed_by_its_runner_only_and_settled_once_it_ran_out<S: StatePorts>(
    store: &S,
) {
    // Leases run on the store's clock: this test lets short ones run out for real.
    let input = flow_input(store).await;
    let flow = FlowRepository::create(store, input, None).await.unwrap();
    let output = flow.output.id;
    let (mine, theirs) = (RunnerId("mine".into()), RunnerId("theirs".into()));
    let short = Duration::from_millis(400);
    let claimed = store.claim_ready(&mine, short).await.unwrap();
    assert_eq!(claimed.map(|f| f.id), Some(flow.flow.id));
    assert!(store.claim_ready(&theirs, short).await.unwrap().is_none());

    assert!(store.expired_leases(10).await.unwrap().is_empty());
    assert!(!store.renew_lease(output, &theirs, short).await.unwrap());
    assert!(
        store
            .renew_lease(output, &mine, Duration::from_secs(60))
            .await
            .unwrap()
    );
    let settlement = Settlement {
        error_line: "interrupted".into(),
        running_steps: StepState::Failed,
        step_error: "gone".into(),
    };
    tokio::time::sleep(short * 2).await;
    assert!(
        store.expired_leases(10).await.unwrap().is_empty(),
        "the renewed lease still holds"
    );
    assert!(
        !store
            .settle_expired(output, FlowState::Running, FlowState::Failed, &settlement)
            .await
            .unwrap(),
        "the renewed lease still holds"
    );

    plan_one_step(store, output).await;
    assert!(store.renew_lease(output, &mine, short).await.unwrap());
    tokio::time::sleep(short * 2).await;
    let expired = store.expired_leases(10).await.unwrap();
    assert_eq!(
        expired.iter().map(|f| f.id).collect::<Vec<_>>(),
        [flow.flow.id]
    );
    assert!(
        store
            .settle_expired(output, FlowState::Running, FlowState::Failed, &settlement)
            .await
            .unwrap()
    );
    assert!(
        !store.renew_lease(output, &mine, short).await.unwrap(),
        "a settled flow is no longer the runner's"
    );
    assert!(store.expired_leases(10).await.unwrap().is_empty());
}

async fn a_dead_runners_flow_is_taken_over_once_and_only_under_max_crashes<S: StatePorts>(
    store: &S,
) {
    let input = flow_input(store).await;
    let flow = FlowRepository::create(store, input, None).await.unwrap();
    let output = flow.output.id;
    let (dead, mine, theirs) = (
        RunnerId("dead".into()),
        RunnerId("mine".into()),
        RunnerId("theirs".into()),
    );
    let short = Duration::from_millis(400);
    let long = Duration::from_secs(60);
    store.claim_ready(&dead, short).await.unwrap().unwrap();
    assert!(
        !store
            .take_over_expired(output, &mine, long, 2)
            .await
            .unwrap(),
        "a lease that has not run out is not taken"
    );
    tokio::time::sleep(short * 2).await;
    assert!(
        store
            .take_over_expired(output, &mine, long, 2)
            .await
            .unwrap()
    );
    assert!(
        !store
            .take_over_expired(output, &theirs, long, 2)
            .await
            .unwrap(),
        "taken over once: the lease holds again"
    );
    assert!(store.renew_lease(output, &mine, short).await.unwrap());
    let line = "runs again".to_owned();
    assert!(store.hand_back(output, &mine, line).await.unwrap());

    // Its next runner dies too: a second death would reach max_crashes 2.
    store.claim_ready(&dead, short).await.unwrap().unwrap();
    tokio::time::sleep(short * 2).await;
    assert!(
        !store
            .take_over_expired(output, &mine, long, 2)
            .await
            .unwrap(),
        "at max_crashes the flow is not run again"
    );
    assert!(
        store
            .take_over_expired(output, &mine, long, 3)
            .await
            .unwrap(),
        "one death counted so far, so a bound of 3 allows another run"
    );
}

async fn a_flow_handed_back_is_ready_again_without_steps_and_only_its_runner_can_do_it<
    S: StatePorts,
>(
    store: &S,
) {
    let input = flow_input(store).await;
    let flow = FlowRepository::create(store, input, None).await.unwrap();
    let output = flow.output.id;
    let (mine, theirs) = (RunnerId("mine".into()), RunnerId("theirs".into()));
    let until = Duration::from_secs(30);
    store.claim_ready(&mine, until).await.unwrap().unwrap();
    plan_one_step(store, output).await;
    store.raise_progress(output, 40).await.unwrap();
    assert!(
        !store
            .hand_back(output, &theirs, "not theirs".into())
            .await
            .unwrap()
    );
    assert!(
        store
            .hand_back(output, &mine, "handed back".into())
            .await
            .unwrap()
    );
    let view = FlowRepository::get(store, flow.flow.id).await.unwrap();
    assert_eq!(view.output.state, FlowState::Ready);
    assert_eq!(view.output.progress.percent, 0);
    assert!(view.output.steps.is_empty());
    assert_eq!(view.output.logs.lines, ["handed back"]);
    assert!(!store.renew_lease(output, &mine, until).await.unwrap());

    // Claimed again and planned again, as a new run; a CANCELLING flow is not handed back.
    let again = store.claim_ready(&theirs, until).await.unwrap().unwrap();
    assert_eq!(again.id, flow.flow.id);
    plan_one_step(store, output).await;
    store
        .set_state(output, FlowState::Running, FlowState::Cancelling)
        .await
        .unwrap();
    assert!(!store.hand_back(output, &theirs, "no".into()).await.unwrap());
    let view = FlowRepository::get(store, flow.flow.id).await.unwrap();
    assert_eq!(view.output.state, FlowState::Cancelling);
    assert_eq!(view.output.steps.len(), 1);
}

async fn a_retried_flow_counts_its_attempt_and_waits_its_turn<S: StatePorts>(store: &S) {
    let input = flow_input(store).await;
    let flow = FlowRepository::create(store, input, None).await.unwrap();
    assert_eq!(flow.output.attempt, 1);
    let output = flow.output.id;
    let (mine, theirs) = (RunnerId("mine".into()), RunnerId("theirs".into()));
    let lease = Duration::from_secs(30);
    store.claim_ready(&mine, lease).await.unwrap().unwrap();
    plan_one_step(store, output).await;
    let wait = Duration::from_millis(500);
    assert!(
        !store
            .retry(output, &theirs, "no".into(), wait)
            .await
            .unwrap()
    );
    assert!(
        store
            .retry(output, &mine, "attempt 1 failed".into(), wait)
            .await
            .unwrap()
    );
    let view = FlowRepository::get(store, flow.flow.id).await.unwrap();
    assert_eq!(view.output.state, FlowState::Ready);
    assert_eq!(view.output.attempt, 2);
    assert!(view.output.steps.is_empty());
    assert_eq!(view.output.logs.lines, ["attempt 1 failed"]);
    assert!(
        store.claim_ready(&theirs, lease).await.unwrap().is_none(),
        "not before its turn"
    );
    tokio::time::sleep(wait * 2).await;
    let claimed = store.claim_ready(&theirs, lease).await.unwrap().unwrap();
    assert_eq!(claimed.id, flow.flow.id);
}

async fn a_page_of_six_hundred_flows_is_read_whole<S: StatePorts>(store: &S) {
    let input = flow_input(store).await;
    for _ in 0..600 {
        FlowRepository::create(store, input, None).await.unwrap();
    }
    store
        .append_log(FlowOutputId(599), "late".into())
        .await
        .unwrap();
    let views = FlowRepository::list(store, &FlowFilter::default(), oldest(1000, 0))
        .await
        .unwrap();
    assert_eq!(views.len(), 600);
    assert_eq!(views[598].output.logs.lines, ["late"]);
}

async fn a_view_holds_the_newest_lines_and_pages_reach_every_line<S: StatePorts>(store: &S) {
    let input = flow_input(store).await;
    let flow = FlowRepository::create(store, input, None).await.unwrap();
    let quiet = FlowRepository::create(store, input, None).await.unwrap();
    let mut written = Vec::new();
    for i in 0..250 {
        let line = format!("log {i}");
        store
            .append_log(flow.output.id, line.clone())
            .await
            .unwrap();
        written.push(line);
        if i % 100 == 0 {
            let line = format!("error {i}");
            store
                .append_error(flow.output.id, line.clone())
                .await
                .unwrap();
            written.push(line);
        }
    }
    store
        .append_log(quiet.output.id, "alone".into())
        .await
        .unwrap();

    let views = FlowRepository::list(store, &FlowFilter::default(), oldest(50, 0))
        .await
        .unwrap();
    let output = &views[0].output;
    let newest: Vec<String> = (150..250).map(|i| format!("log {i}")).collect();
    assert_eq!(output.logs.lines, newest);
    assert!(output.logs.earlier);
    assert_eq!(output.errors.lines, ["error 0", "error 100", "error 200"]);
    assert!(!output.errors.earlier);
    assert_eq!(views[1].output.logs.lines, ["alone"]);
    assert!(!views[1].output.logs.earlier);

    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = store.lines(flow.flow.id, after, 64).await.unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        paged.extend(page.into_iter().map(|l| (l.stream, l.line)));
    }
    assert_eq!(paged.len(), written.len());
    assert_eq!(
        paged.iter().map(|(_, l)| l.clone()).collect::<Vec<_>>(),
        written
    );
    assert_eq!(paged[1], (LineStream::Error, "error 0".to_owned()));
    assert!(matches!(
        store.lines(FlowId(987_654), None, 10).await,
        Err(Error::NotFound { .. })
    ));
}

async fn steps_are_planned_pending_then_changed_and_closed<S: StatePorts>(store: &S) {
    let input = flow_input(store).await;
    let flow = FlowRepository::create(store, input, None).await.unwrap();
    let output = flow.output.id;
    let step = |kind, name: &str| Step {
        kind,
        name: name.to_owned(),
    };
    let planned = [
        step(StepKind::Ingest, "orders"),
        step(StepKind::Ingest, "customers"),
        step(StepKind::Transform, "big"),
        step(StepKind::Output, "big -> big"),
    ];
    let commit = step(StepKind::Output, "commit");
    let at = |s: i64| DateTime::<Utc>::from_timestamp(1_800_000_000 + s, 0).unwrap();
    let changes = [
        (
            &planned[0],
            StepChange::Started {
                at: at(1),
                ran_in: "in Sluice".into(),
            },
        ),
        (&planned[0], StepChange::Completed { rows: 7, at: at(2) }),
        (
            &planned[1],
            StepChange::PushedDown {
                ran_in: "pushed down to postgres store \"dwh\"".into(),
                at: at(2),
            },
        ),
        (
            &planned[2],
            StepChange::Started {
                at: at(3),
                ran_in: "pushed down to postgres store \"dwh\"".into(),
            },
        ),
        (
            &commit,
            StepChange::Failed {
                error: "disk full".into(),
                at: at(4),
            },
        ),
    ];

    store.plan_steps(output, &planned).await.unwrap();
    let mut expected: Vec<StepResult> = planned.iter().cloned().map(StepResult::pending).collect();
    assert_eq!(
        FlowRepository::get(store, flow.flow.id)
            .await
            .unwrap()
            .output
            .steps,
        expected
    );
    for (step, change) in &changes {
        store
            .change_step(output, step, change.clone())
            .await
            .unwrap();
        if !expected.iter().any(|r| r.step == **step) {
            expected.push(StepResult::pending((*step).clone()));
        }
        expected
            .iter_mut()
            .filter(|r| r.step == **step)
            .for_each(|r| r.apply(change));
    }
    store
        .close_steps(output, StepState::Cancelled, Some("stopped"), at(5))
        .await
        .unwrap();
    expected
        .iter_mut()
        .for_each(|r| r.close(StepState::Cancelled, Some("stopped"), at(5)));

    let steps = FlowRepository::get(store, flow.flow.id)
        .await
        .unwrap()
        .output
        .steps;
    assert_eq!(steps, expected);
    let states: Vec<_> = steps.iter().map(|r| r.state).collect();
    assert_eq!(
        states,
        [
            StepState::Completed,
            StepState::Completed,
            StepState::Cancelled,
            StepState::Skipped,
            StepState::Failed
        ]
    );
    assert_eq!(steps[0].rows, Some(7));
    assert_eq!(steps[0].ran_in.as_deref(), Some("in Sluice"));
    // A source read only in its database has no rows of its own.
    assert_eq!(steps[1].rows, None);
    assert_eq!(
        steps[1].ran_in.as_deref(),
        Some("pushed down to postgres store \"dwh\"")
    );
    assert_eq!(steps[3].ran_in, None);
}

async fn api_keys_are_read_with_their_hashes_listed_by_name_and_deleted_by_name<
    K: ApiKeyRepository,
>(
    store: &K,
) {
    let scopes = Scopes::new(vec![Scope::Write, Scope::Read]).unwrap();
    let mut secrets = Vec::new();
    for name in ["zeta", "alpha"] {
        let issued = api_key::issue(ApiKeyName::parse(name).unwrap(), scopes.clone()).unwrap();
        let key = ApiKeyRepository::create(store, issued.stored.clone())
            .await
            .unwrap();
        assert_eq!(key.name.as_str(), name);
        secrets.push((issued.secret, issued.stored));
    }
    let (secret, stored) = &secrets[0];
    let all = store.all_stored().await.unwrap();
    assert_eq!(all.len(), 2);
    let found = all.iter().find(|k| k.key.lookup == stored.lookup).unwrap();
    assert_eq!(found.key.scopes.to_list(), "read,write");
    assert!(found.hash.matches(&KeyHash::of(secret.expose_secret())));

    let again = api_key::issue(ApiKeyName::parse("alpha").unwrap(), scopes).unwrap();
    let err = ApiKeyRepository::create(store, again.stored)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err:?}");

    let names: Vec<String> = ApiKeyRepository::list(store)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.name.to_string())
        .collect();
    assert_eq!(names, ["alpha", "zeta"]);

    let zeta = ApiKeyName::parse("zeta").unwrap();
    ApiKeyRepository::delete(store, &zeta).await.unwrap();
    let left = store.all_stored().await.unwrap();
    assert!(left.iter().all(|k| k.key.lookup != stored.lookup));
    let err = ApiKeyRepository::delete(store, &zeta).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

async fn an_idempotency_key_is_claimed_once_replayed_after_and_free_again_once_expired<
    I: IdempotencyRepository,
>(
    store: &I,
) {
    use sluice_domain::idempotency::{
        Claim, Fingerprint, IdempotencyKey, NewClaim, StoredResponse,
    };
    let key = IdempotencyKey::parse("ci", "k-1").unwrap();
    let request = Fingerprint::of("POST", "/v2/flows", b"{}");
    let now = Utc::now();
    let claim = |fingerprint: &Fingerprint, now: DateTime<Utc>| NewClaim {
        key: key.clone(),
        fingerprint: fingerprint.clone(),
        now,
        expired_before: now - TimeDelta::hours(24),
        abandoned_before: now - TimeDelta::minutes(5),
    };
    let claims = futures_join(store, claim(&request, now)).await;
    assert_eq!(
        claims.iter().filter(|c| **c == Claim::Claimed).count(),
        1,
        "{claims:?}"
    );
    assert!(
        claims
            .iter()
            .all(|c| matches!(c, Claim::Claimed | Claim::InFlight))
    );

    let other = Fingerprint::of("POST", "/v2/flows", b"{\"x\":1}");
    assert_eq!(
        store.claim(claim(&other, now)).await.unwrap(),
        Claim::Mismatch
    );

    let answer = StoredResponse {
        status: 201,
        content_type: Some("application/json".into()),
        location: Some("/v2/flows/7".into()),
        body: b"{\"id\":7}".to_vec(),
    };
    store.complete(&key, answer.clone()).await.unwrap();
    assert_eq!(
        store.claim(claim(&request, now)).await.unwrap(),
        Claim::Replay(answer)
    );
    // Another client may use the same key text.
    let mut theirs = claim(&request, now);
    theirs.key = IdempotencyKey::parse("other", "k-1").unwrap();
    assert_eq!(store.claim(theirs).await.unwrap(), Claim::Claimed);

    let tomorrow = now + TimeDelta::hours(25);
    assert_eq!(
        store.claim(claim(&other, tomorrow)).await.unwrap(),
        Claim::Claimed
    );
    store.release(&key).await.unwrap();
    assert_eq!(
        store.purge(tomorrow + TimeDelta::hours(1)).await.unwrap(),
        1
    );
}

/// Four claims of one key at once.
async fn futures_join<I: IdempotencyRepository>(
    store: &I,
    claim: sluice_domain::idempotency::NewClaim,
) -> Vec<sluice_domain::idempotency::Claim> {
    let (a, b, c, d) = tokio::join!(
        store.claim(claim.clone()),
        store.claim(claim.clone()),
        store.claim(claim.clone()),
        store.claim(claim),
    );
    vec![a.unwrap(), b.unwrap(), c.unwrap(), d.unwrap()]
}

fn keyring(current: (&str, u8), previous: &[(&str, u8)]) -> Keyring {
    let previous: Vec<(String, [u8; KEY_LEN])> = previous
        .iter()
        .map(|(id, b)| ((*id).to_owned(), [*b; KEY_LEN]))
        .collect();
    Keyring::new((current.0, &[current.1; KEY_LEN]), &previous).unwrap()
}

/// What the state database itself holds in the password column.
async fn stored_passwords(url: &str) -> Vec<String> {
    use sea_orm::{ConnectionTrait, Database, Statement};
    let db = Database::connect(url).await.unwrap();
    db.query_all_raw(Statement::from_string(
        db.get_database_backend(),
        "SELECT password FROM data_store WHERE password IS NOT NULL ORDER BY id",
    ))
    .await
    .unwrap()
    .iter()
    .map(|row| row.try_get::<String>("", "password").unwrap())
    .collect()
}

fn password_of(store: &sluice_domain::data_store::DataStore) -> String {
    let Connection::Relational(RelationalConnection::Server(server)) = &store.connection else {
        panic!("not a server store")
    };
    server.password.as_ref().unwrap().expose_secret().to_owned()
}

async fn passwords_are_sealed_at_rest_and_sealed_again_under_a_new_key(fixture: support::Fixture) {
    let url = fixture.url.clone();
    // A password stored before passwords were sealed.
    let plain = NewDataStore {
        name: DataStoreName::parse("legacy").unwrap(),
        connection: Connection::Relational(RelationalConnection::Server(ServerConnection {
            engine: ServerKind::Postgres,
            host: "db".into(),
            port: 5432,
            user: "etl".into(),
            password: Some("old-plain-pw".to_owned().into()),
            database: "sales".into(),
            password_unreadable: None,
        })),
    };
    DataStoreRepository::create(&fixture.store, plain)
        .await
        .unwrap();

    let k1 = Store::connect(&url)
        .await
        .unwrap()
        .with_keyring(keyring(("k1", 1), &[]));
    let sealed = NewDataStore {
        name: DataStoreName::parse("warehouse").unwrap(),
        connection: Connection::Relational(RelationalConnection::Server(ServerConnection {
            engine: ServerKind::Postgres,
            host: "db".into(),
            port: 5432,
            user: "etl".into(),
            password: Some("s3cr3t-at-rest".to_owned().into()),
            database: "sales".into(),
            password_unreadable: None,
        })),
    };
    let created = DataStoreRepository::create(&k1, sealed).await.unwrap();
    let raw = stored_passwords(&url).await;
    assert_eq!(raw[0], "old-plain-pw");
    assert!(raw[1].starts_with("sluice-sealed:v1:k1:"), "{raw:?}");
    assert!(!raw[1].contains("s3cr3t"), "{raw:?}");
    assert_eq!(
        password_of(&DataStoreRepository::get(&k1, created.id).await.unwrap()),
        "s3cr3t-at-rest"
    );
    assert_eq!(
        password_of(&DataStoreRepository::get(&k1, DataStoreId(1)).await.unwrap()),
        "old-plain-pw"
    );

    // Rotating: k2 seals, k1 still opens; every password is sealed again under k2.
    let k2 = Store::connect(&url)
        .await
        .unwrap()
        .with_keyring(keyring(("k2", 2), &[("k1", 1)]));
    assert_eq!(k2.reseal_passwords().await.unwrap(), 2);
    assert_eq!(
        k2.reseal_passwords().await.unwrap(),
        0,
        "nothing left to seal"
    );
    let raw = stored_passwords(&url).await;
    assert!(
        raw.iter().all(|p| p.starts_with("sluice-sealed:v1:k2:")),
        "{raw:?}"
    );
    let only_k2 = Store::connect(&url)
        .await
        .unwrap()
        .with_keyring(keyring(("k2", 2), &[]));
    assert_eq!(
        password_of(
            &DataStoreRepository::get(&only_k2, created.id)
                .await
                .unwrap()
        ),
        "s3cr3t-at-rest"
    );
    assert_eq!(
        password_of(
            &DataStoreRepository::get(&only_k2, DataStoreId(1))
                .await
                .unwrap()
        ),
        "old-plain-pw"
    );
    let only_k1 = Store::connect(&url)
        .await
        .unwrap()
        .with_keyring(keyring(("k1", 1), &[]));
    // A password that does not open leaves the store readable, saying why it does not open.
    let store = DataStoreRepository::get(&only_k1, created.id)
        .await
        .unwrap();
    let Connection::Relational(RelationalConnection::Server(server)) = &store.connection else {
        panic!("{store:?}");
    };
    assert!(server.password.is_none());
    let reason = server.password_unreadable.as_deref().unwrap_or_default();
    assert!(reason.contains("key 'k2'"), "{reason}");
    drop((k1, k2, only_k1, only_k2));
    fixture.finish().await;
}

#[tokio::test]
async fn passwords_are_sealed_at_rest_on_sqlite() {
    passwords_are_sealed_at_rest_and_sealed_again_under_a_new_key(support::sqlite().await).await;
}

#[tokio::test]
async fn passwords_are_sealed_at_rest_on_postgres() {
    passwords_are_sealed_at_rest_and_sealed_again_under_a_new_key(support::postgres().await).await;
}

/// Each test on SQLite, on PostgreSQL (a fresh database each) and on the in-memory fake
/// `$memory` builds: `contract!(suite, fake => tests…)` makes `suite::{sqlite,postgres,memory}`.
macro_rules! contract {
    ($suite:ident, $memory:expr => $($test:ident),* $(,)?) => {
        mod $suite {
            mod sqlite {
                $(#[tokio::test]
                async fn $test() {
                    let fixture = super::super::support::sqlite().await;
                    super::super::$test(&fixture.store).await;
                    fixture.finish().await;
                })*
            }
            mod postgres {
                $(#[tokio::test]
                async fn $test() {
                    let fixture = super::super::support::postgres().await;
                    super::super::$test(&fixture.store).await;
                    fixture.finish().await;
                })*
            }
            mod memory {
                #[allow(unused_imports)]
                use super::super::*;
                $(#[tokio::test]
                async fn $test() {
                    super::super::$test(&$memory).await;
                })*
            }
        }
    };
}

contract!(state, MemoryStore::default() =>
    data_stores_round_trip_and_keep_their_password,
    a_taken_name_is_a_conflict_and_unknown_ids_are_not_found,
    data_stores_list_in_id_order_by_page,
    a_connection_is_replaced_from_its_revision_and_of_racing_changes_one_wins,
    flow_inputs_round_trip,
    flow_inputs_list_by_name_with_their_versions,
    a_new_flow_is_ready_at_zero_percent,
    state_moves_only_from_the_state_the_caller_expects,
    progress_never_goes_down,
    log_and_error_lines_keep_their_order,
    flows_list_by_state_oldest_first,
    flows_list_in_every_order_with_filters_counts_and_reruns,
    concurrent_claims_take_every_ready_flow_exactly_once,
    a_lease_is_renewed_by_its_runner_only_and_settled_once_it_ran_out,
    a_dead_runners_flow_is_taken_over_once_and_only_under_max_crashes,
    a_flow_handed_back_is_ready_again_without_steps_and_only_its_runner_can_do_it,
    a_retried_flow_counts_its_attempt_and_waits_its_turn,
    a_page_of_six_hundred_flows_is_read_whole,
    a_view_holds_the_newest_lines_and_pages_reach_every_line,
    steps_are_planned_pending_then_changed_and_closed,
);

contract!(api_keys, MemoryApiKeys::default() =>
    api_keys_are_read_with_their_hashes_listed_by_name_and_deleted_by_name,
);

contract!(idempotency, MemoryIdempotency::default() =>
    an_idempotency_key_is_claimed_once_replayed_after_and_free_again_once_expired,
);
