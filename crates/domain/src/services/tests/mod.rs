//! The services' rules, on in-memory ports.

mod inputs;
mod leases;
mod runs;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{FlowInputService, FlowRunner, FlowService, RunnerSettings};
use crate::Error;
use crate::data_store::{Connection, DataPath, DataStoreId, FileFormat, NewDataStore};
use crate::flow::{FlowId, FlowState, RunnerId};
use crate::flow_input::{
    ExecutionEngine, NewFlowInput, Output, Source, SourceRead, Transform, WriteMode,
};
use crate::names::{DataStoreName, TableName};
use crate::ports::{DataStoreRepository, FlowOutputRepository, FlowRepository};
use crate::step::StepState;
use crate::testing::{MemoryStateDatabase, SlowEngine, WordAnalyzer};

fn table(name: &str) -> TableName {
    TableName::parse(name).unwrap()
}

async fn stores(store: &MemoryStateDatabase) -> (DataStoreId, DataStoreId) {
    let csv = NewDataStore {
        name: DataStoreName::parse("orders").unwrap(),
        connection: Connection::File {
            path: DataPath::parse("orders.csv").unwrap(),
            format: FileFormat::Csv,
        },
    };
    let lake = NewDataStore {
        name: DataStoreName::parse("lake").unwrap(),
        connection: Connection::Columnar {
            path: DataPath::parse("lake").unwrap(),
        },
    };
    (
        DataStoreRepository::create(store, csv).await.unwrap().id,
        DataStoreRepository::create(store, lake).await.unwrap().id,
    )
}

fn input(source: DataStoreId, target: DataStoreId, transforms: &[(&str, &str)]) -> NewFlowInput {
    NewFlowInput {
        name: None,
        target_data_store_id: target,
        sources: vec![Source {
            data_store_id: source,
            read: SourceRead::File,
            alias: table("orders"),
        }],
        transforms: transforms
            .iter()
            .map(|(n, sql)| Transform {
                name: table(n),
                sql: (*sql).into(),
            })
            .collect(),
        outputs: vec![Output {
            transform: table(transforms[0].0),
            table: Some(table(transforms[0].0)),
            mode: WriteMode::Replace,
        }],
        max_attempts: 1,
        engine: ExecutionEngine::Local,
    }
}

struct Services {
    store: Arc<MemoryStateDatabase>,
    inputs: FlowInputService,
    flows: FlowService,
    engine: Arc<SlowEngine>,
    runner: Arc<FlowRunner>,
}

fn services(max_concurrent_flows: usize, step_time: Duration) -> Services {
    let store = Arc::new(MemoryStateDatabase::default());
    let engine = Arc::new(SlowEngine::new(step_time));
    let wakeup = Arc::new(Notify::new());
    let runner = runner_on(
        &store,
        &engine,
        "here",
        max_concurrent_flows,
        wakeup.clone(),
        2,
    );
    Services {
        inputs: FlowInputService::new(store.clone(), store.clone(), Arc::new(WordAnalyzer)),
        flows: FlowService::new(store.clone(), store.clone(), wakeup),
        store,
        engine,
        runner,
    }
}

/// A runner named `name` on `store`: a second one stands for another process.
fn runner_on(
    store: &Arc<MemoryStateDatabase>,
    engine: &Arc<SlowEngine>,
    name: &str,
    max_concurrent_flows: usize,
    wakeup: Arc<Notify>,
    max_crashes: u32,
) -> Arc<FlowRunner> {
    let settings = RunnerSettings {
        runner: RunnerId(name.into()),
        max_concurrent_flows,
        poll_interval: Duration::from_millis(20),
        cancel_check_interval: Duration::from_millis(10),
        lease: Duration::from_millis(60),
        retry_backoff: Duration::from_millis(20),
        max_crashes,
    };
    Arc::new(FlowRunner::new(
        store.clone(),
        store.clone(),
        store.clone(),
        store.clone(),
        Arc::new(WordAnalyzer),
        engine.clone(),
        settings,
        wakeup,
    ))
}

async fn wait_until_finished(flows: &FlowService, id: FlowId) -> FlowState {
    for _ in 0..500 {
        let state = flows.get(id).await.unwrap().output.state;
        if state.is_finished() {
            return state;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("flow {id} did not finish");
}

/// A flow input of one transform over the orders, on fresh stores.
async fn copy_input(s: &Services) -> crate::flow_input::FlowInputId {
    let (csv, lake) = stores(&s.store).await;
    s.inputs
        .create(input(csv, lake, &[("a", "SELECT * FROM orders")]))
        .await
        .unwrap()
        .id
}

async fn wait_for(flows: &FlowService, flow: FlowId, state: FlowState) {
    for _ in 0..500 {
        if flows.get(flow).await.unwrap().output.state == state {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("flow {flow} never became {state}");
}
