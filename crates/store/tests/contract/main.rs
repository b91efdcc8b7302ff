//! The repository contract: one suite per port, run on every database the store adapter
//! supports and on the in-memory fake (`contract!` below).
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
use sluice_domain::testing::{MemoryApiKeys, MemoryIdempotency, MemoryStateDatabase};
use sluice_store::{KEY_LEN, Keyring, StateDatabase};
use std::time::Duration;

mod flows;
mod keys;
mod outputs;
mod runs;
mod sealing;
mod stores;

use flows::*;
use keys::*;
use outputs::*;
use runs::*;
use stores::*;

/// The state database's ports, as the suite holds every adapter and the in-memory fake to them.
pub(crate) trait StatePorts:
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
    use sluice_store::StateDatabase;
    use sluice_test_support::PostgresDatabase;

    pub struct Fixture {
        pub store: StateDatabase,
        pub url: String,
        postgres: Option<PostgresDatabase>,
        _dir: Option<tempfile::TempDir>,
    }

    impl Fixture {
        /// Closes the store before its database is dropped.
        pub async fn finish(self) {
            drop(self.store);
            drop(self.postgres);
        }
    }

    pub async fn sqlite() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("meta.sqlite").display()
        );
        Fixture {
            store: StateDatabase::connect(&url).await.unwrap(),
            url,
            postgres: None,
            _dir: Some(dir),
        }
    }

    pub async fn postgres() -> Fixture {
        let database = PostgresDatabase::create().await;
        let store = StateDatabase::connect(&database.url).await.unwrap();
        Fixture {
            store,
            url: database.url.clone(),
            postgres: Some(database),
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

contract!(state, MemoryStateDatabase::default() =>
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
