//! The services' rules, on in-memory ports.

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
use crate::testing::{MemoryStore, SlowEngine, WordAnalyzer};

fn table(name: &str) -> TableName {
    TableName::parse(name).unwrap()
}

async fn stores(store: &MemoryStore) -> (DataStoreId, DataStoreId) {
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
        source_data_store_ids: vec![source],
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
    store: Arc<MemoryStore>,
    inputs: FlowInputService,
    flows: FlowService,
    engine: Arc<SlowEngine>,
    runner: Arc<FlowRunner>,
}

fn services(max_concurrent_flows: usize, step_time: Duration) -> Services {
    let store = Arc::new(MemoryStore::default());
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
    store: &Arc<MemoryStore>,
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

#[tokio::test]
async fn a_flow_input_with_any_violation_stores_nothing() {
    let s = services(1, Duration::ZERO);
    let (csv, lake) = stores(&s.store).await;
    let mut bad = input(
        csv,
        lake,
        &[("a", "SELECT * FROM b"), ("b", "SELECT * FROM a")],
    );
    bad.target_data_store_id = DataStoreId(99);
    let Err(Error::Invalid(violations)) = s.inputs.create(bad).await else {
        panic!("accepted")
    };
    let pointers: Vec<_> = violations.iter().map(|v| v.path.to_string()).collect();
    assert_eq!(pointers, ["/target_data_store_id", "/transforms/0/sql"]);
    assert_eq!(s.store.flow_input_count(), 0);
    s.inputs
        .create(input(csv, lake, &[("a", "SELECT * FROM orders")]))
        .await
        .unwrap();
    assert_eq!(s.store.flow_input_count(), 1);
}

#[tokio::test]
async fn an_input_with_too_many_entries_or_too_long_sql_is_refused_before_any_lookup() {
    let s = services(1, Duration::ZERO);
    let (csv, lake) = stores(&s.store).await;
    let mut big = input(csv, lake, &[("a", "SELECT * FROM orders")]);
    big.source_data_store_ids = vec![csv; 100_000];
    big.transforms[0].sql = format!("SELECT * FROM orders WHERE 1 {}", "AND 1 ".repeat(20_000));
    let Err(Error::Invalid(violations)) = s.inputs.create(big).await else {
        panic!("accepted")
    };
    let pointers: Vec<_> = violations.iter().map(|v| v.path.to_string()).collect();
    assert_eq!(pointers, ["/source_data_store_ids", "/transforms/0/sql"]);
    assert_eq!(s.store.flow_input_count(), 0);
}

#[tokio::test]
async fn a_source_that_does_not_fit_its_store_is_refused() {
    let s = services(1, Duration::ZERO);
    let (csv, lake) = stores(&s.store).await;
    let mut bad = input(csv, lake, &[("a", "SELECT * FROM orders")]);
    bad.sources[0].read = SourceRead::Query("SELECT 1".into());
    let Err(Error::Invalid(violations)) = s.inputs.create(bad).await else {
        panic!("accepted")
    };
    assert_eq!(violations[0].path.to_string(), "/sources/0/query");
}

#[tokio::test]
async fn the_runner_completes_flows_at_100_percent_and_never_runs_more_than_its_limit() {
    let s = services(2, Duration::from_millis(20));
    let (csv, lake) = stores(&s.store).await;
    let id = s
        .inputs
        .create(input(
            csv,
            lake,
            &[("a", "SELECT * FROM orders"), ("b", "SELECT * FROM a")],
        ))
        .await
        .unwrap()
        .id;
    let shutdown = CancellationToken::new();
    tokio::spawn(
        s.runner
            .clone()
            .run_until(shutdown.clone(), CancellationToken::new()),
    );
    let mut flows = Vec::new();
    for _ in 0..6 {
        flows.push(s.flows.start(id).await.unwrap().flow.id);
    }
    for flow in flows {
        assert_eq!(
            wait_until_finished(&s.flows, flow).await,
            FlowState::Completed
        );
        let output = s.flows.get(flow).await.unwrap().output;
        assert_eq!(output.progress.percent, 100);
        assert!(
            output
                .logs
                .lines
                .last()
                .unwrap()
                .ends_with("flow completed")
        );
    }
    assert_eq!(
        s.engine
            .most_running
            .load(std::sync::atomic::Ordering::SeqCst),
        2
    );
    shutdown.cancel();
}

#[tokio::test]
async fn a_cancel_stops_a_running_flow_and_a_finished_flow_refuses_one() {
    let s = services(1, Duration::from_secs(60));
    let id = copy_input(&s).await;
    tokio::spawn(
        s.runner
            .clone()
            .run_until(CancellationToken::new(), CancellationToken::new()),
    );
    let flow = s.flows.start(id).await.unwrap().flow.id;
    while s.flows.get(flow).await.unwrap().output.state != FlowState::Running {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        s.flows.cancel(flow).await.unwrap().output.state,
        FlowState::Cancelling
    );
    assert_eq!(
        wait_until_finished(&s.flows, flow).await,
        FlowState::Cancelled
    );
    let refused = s.flows.cancel(flow).await;
    assert!(
        matches!(
            refused,
            Err(Error::IllegalTransition {
                from: FlowState::Cancelled,
                ..
            })
        ),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_failing_step_fails_the_flow_with_an_error_naming_it() {
    let s = services(1, Duration::from_millis(1));
    let (csv, lake) = stores(&s.store).await;
    let id = s
        .inputs
        .create(input(csv, lake, &[("a", "SELECT fail FROM orders")]))
        .await
        .unwrap()
        .id;
    tokio::spawn(
        s.runner
            .clone()
            .run_until(CancellationToken::new(), CancellationToken::new()),
    );
    let flow = s.flows.start(id).await.unwrap().flow.id;
    assert_eq!(wait_until_finished(&s.flows, flow).await, FlowState::Failed);
    let errors = s.flows.get(flow).await.unwrap().output.errors.lines;
    assert!(
        errors[0].ends_with("step transform 'a' failed: it was asked to"),
        "{errors:?}"
    );
}

#[tokio::test]
async fn a_flow_whose_process_died_runs_again_until_max_crashes_then_fails_and_is_not_claimed() {
    let s = services(1, Duration::ZERO);
    let id = copy_input(&s).await;
    let dead = RunnerId("dead".into());
    FlowRepository::create(s.store.as_ref(), id, None)
        .await
        .unwrap();
    FlowRepository::create(s.store.as_ref(), id, None)
        .await
        .unwrap();
    let running = s
        .store
        .claim_ready(&dead, Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    let cancelling = s
        .store
        .claim_ready(&dead, Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    s.store
        .set_state(
            cancelling.flow_output_id,
            FlowState::Running,
            FlowState::Cancelling,
        )
        .await
        .unwrap();

    assert_eq!(
        s.runner.settle_expired().await.unwrap(),
        0,
        "a lease that has not run out is left alone"
    );
    let discarded = || s.engine.discarded.lock().unwrap().clone();
    assert!(
        discarded().is_empty(),
        "nothing is discarded of a live flow"
    );
    s.store.expire_lease(running.flow_output_id);
    s.store.expire_lease(cancelling.flow_output_id);
    assert_eq!(s.runner.settle_expired().await.unwrap(), 2);
    assert_eq!(
        discarded(),
        [running.id, cancelling.id],
        "what each flow staged is discarded, the one to run again's before it is queued"
    );
    let again = s.store.output(running.flow_output_id);
    assert_eq!(
        again.state,
        FlowState::Ready,
        "the first death: it runs again"
    );
    assert!(again.logs.lines[0].contains("runs again"), "{again:?}");
    assert_eq!(
        s.store.output(cancelling.flow_output_id).state,
        FlowState::Cancelled
    );

    // Its next process dies too: the second death of max_crashes 2.
    let claimed = s
        .store
        .claim_ready(&dead, Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.id, running.id);
    s.store.expire_lease(running.flow_output_id);
    assert_eq!(s.runner.settle_expired().await.unwrap(), 1);
    let failed = s.store.output(running.flow_output_id);
    assert_eq!(failed.state, FlowState::Failed);
    assert!(
        failed.errors.lines[0].contains("runner.max_crashes"),
        "{failed:?}"
    );
    assert!(
        s.store
            .claim_ready(&dead, Duration::from_secs(60))
            .await
            .unwrap()
            .is_none(),
        "a failed flow is never claimed again"
    );
}

#[tokio::test]
async fn a_flow_reports_each_step_and_a_failure_skips_the_steps_after_it() {
    let s = services(1, Duration::from_millis(1));
    let (csv, lake) = stores(&s.store).await;
    let id = s
        .inputs
        .create(input(
            csv,
            lake,
            &[
                ("a", "SELECT * FROM orders"),
                ("b", "SELECT fail FROM a"),
                ("c", "SELECT * FROM b"),
            ],
        ))
        .await
        .unwrap()
        .id;
    tokio::spawn(
        s.runner
            .clone()
            .run_until(CancellationToken::new(), CancellationToken::new()),
    );
    let flow = s.flows.start(id).await.unwrap().flow.id;
    assert_eq!(wait_until_finished(&s.flows, flow).await, FlowState::Failed);
    let steps = s.flows.get(flow).await.unwrap().output.steps;
    let seen: Vec<(String, StepState, Option<u64>, Option<String>)> = steps
        .iter()
        .map(|r| (r.step.to_string(), r.state, r.rows, r.error.clone()))
        .collect();
    assert_eq!(
        seen,
        [
            ("ingest 'orders'".into(), StepState::Skipped, None, None),
            ("transform 'a'".into(), StepState::Completed, Some(1), None),
            (
                "transform 'b'".into(),
                StepState::Failed,
                None,
                Some("it was asked to".into())
            ),
            ("transform 'c'".into(), StepState::Skipped, None, None),
            ("output 'a -> a'".into(), StepState::Skipped, None, None),
        ],
        "the fake engine runs transforms only: its ingest never started"
    );
    let a = &steps[1];
    assert!(a.started_utc.is_some() && a.finished_utc >= a.started_utc);
}

#[tokio::test]
async fn a_runner_that_lost_its_lease_stops_the_flow_and_keeps_the_settled_state() {
    let s = services(1, Duration::from_millis(50));
    let (csv, lake) = stores(&s.store).await;
    let steps: Vec<(String, String)> = (0..100)
        .map(|i| (format!("t{i}"), "SELECT * FROM orders".to_owned()))
        .collect();
    let steps: Vec<(&str, &str)> = steps
        .iter()
        .map(|(n, q)| (n.as_str(), q.as_str()))
        .collect();
    let id = s.inputs.create(input(csv, lake, &steps)).await.unwrap().id;
    tokio::spawn(
        s.runner
            .clone()
            .run_until(CancellationToken::new(), CancellationToken::new()),
    );
    let view = s.flows.start(id).await.unwrap();
    while s.store.output(view.output.id).state != FlowState::Running {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // This process never settles its own running flow, however late its renewal...
    s.store.expire_lease(view.output.id);
    assert_eq!(s.runner.settle_expired().await.unwrap(), 0);
    assert_eq!(s.store.output(view.output.id).state, FlowState::Running);
    // ...but another process finds the lease out (as if this one had stalled) and settles it
    // (failing it at once, rather than running it again, as max_crashes 1 does).
    let other = runner_on(&s.store, &s.engine, "there", 1, Arc::new(Notify::new()), 1);
    s.store.expire_lease(view.output.id);
    assert_eq!(other.settle_expired().await.unwrap(), 1);
    for _ in 0..100 {
        if s.engine.running.load(Ordering::SeqCst) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        s.engine.running.load(Ordering::SeqCst),
        0,
        "the work went on"
    );
    let output = s.store.output(view.output.id);
    assert_eq!(output.state, FlowState::Failed);
    assert_eq!(output.errors.lines.len(), 1, "{:?}", output.errors);
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

#[tokio::test]
async fn a_stopping_runner_lets_its_running_flow_finish_within_the_drain_and_claims_no_more() {
    let s = services(2, Duration::from_millis(150));
    let id = copy_input(&s).await;
    let shutdown = CancellationToken::new();
    let runner = tokio::spawn(
        s.runner
            .clone()
            .run_until(shutdown.clone(), CancellationToken::new()),
    );
    let running = s.flows.start(id).await.unwrap().flow.id;
    wait_for(&s.flows, running, FlowState::Running).await;
    shutdown.cancel();
    let later = s.flows.start(id).await.unwrap().flow.id;
    runner.await.unwrap();
    assert_eq!(
        s.flows.get(running).await.unwrap().output.state,
        FlowState::Completed
    );
    assert_eq!(
        s.flows.get(later).await.unwrap().output.state,
        FlowState::Ready,
        "a draining runner claims nothing new"
    );
}

#[tokio::test]
async fn a_flow_still_running_when_the_drain_ends_goes_back_to_the_queue_and_another_runner_runs_it()
 {
    let s = services(1, Duration::from_secs(60));
    let id = copy_input(&s).await;
    let (shutdown, drain_over) = (CancellationToken::new(), CancellationToken::new());
    let runner = tokio::spawn(
        s.runner
            .clone()
            .run_until(shutdown.clone(), drain_over.clone()),
    );
    let flow = s.flows.start(id).await.unwrap().flow.id;
    wait_for(&s.flows, flow, FlowState::Running).await;
    shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(50)).await;
    drain_over.cancel();
    runner.await.unwrap();

    let view = s.flows.get(flow).await.unwrap();
    assert_eq!(view.output.state, FlowState::Ready);
    assert_eq!(view.output.progress.percent, 0);
    assert!(view.output.steps.is_empty(), "{:?}", view.output.steps);
    assert!(
        view.output.errors.lines.is_empty(),
        "a hand-back is no error"
    );
    assert!(
        view.output
            .logs
            .lines
            .last()
            .unwrap()
            .contains("handed back"),
        "{:?}",
        view.output.logs.lines
    );

    // Another process picks it up and runs it from the start.
    let fast = Arc::new(SlowEngine::new(Duration::ZERO));
    let next = runner_on(&s.store, &fast, "next", 1, Arc::new(Notify::new()), 2);
    tokio::spawn(next.run_until(CancellationToken::new(), CancellationToken::new()));
    assert_eq!(
        wait_until_finished(&s.flows, flow).await,
        FlowState::Completed
    );
    // The steps of the rerun alone (this engine reports only its transforms).
    let steps = s.flows.get(flow).await.unwrap().output.steps;
    assert_eq!(steps.len(), 3, "{steps:?}");
    assert_eq!(steps[1].state, StepState::Completed, "{steps:?}");
}

#[tokio::test]
async fn a_flow_cancelled_while_its_runner_drains_ends_cancelled_not_back_in_the_queue() {
    let s = services(1, Duration::from_secs(60));
    let id = copy_input(&s).await;
    let shutdown = CancellationToken::new();
    let runner = tokio::spawn(
        s.runner
            .clone()
            .run_until(shutdown.clone(), CancellationToken::new()),
    );
    let flow = s.flows.start(id).await.unwrap().flow.id;
    wait_for(&s.flows, flow, FlowState::Running).await;
    shutdown.cancel();
    s.flows.cancel(flow).await.unwrap();
    runner.await.unwrap();
    assert_eq!(
        s.flows.get(flow).await.unwrap().output.state,
        FlowState::Cancelled
    );
}

#[tokio::test]
async fn a_failed_flow_is_tried_again_while_its_input_allows_then_stays_failed() {
    let s = services(1, Duration::from_millis(1));
    let (csv, lake) = stores(&s.store).await;
    let mut new = input(csv, lake, &[("a", "SELECT * FROM orders WHERE fail")]);
    new.max_attempts = 3;
    let id = s.inputs.create(new).await.unwrap().id;
    tokio::spawn(
        s.runner
            .clone()
            .run_until(CancellationToken::new(), CancellationToken::new()),
    );
    let flow = s.flows.start(id).await.unwrap().flow.id;
    assert_eq!(wait_until_finished(&s.flows, flow).await, FlowState::Failed);
    let view = s.flows.get(flow).await.unwrap().output;
    assert_eq!(view.attempt, 3);
    let logs = view.logs.lines.join("\n");
    for attempt in 1..=3 {
        assert!(
            logs.contains(&format!("(attempt {attempt} of 3)")),
            "{logs}"
        );
    }
    assert!(
        logs.contains("attempt 1 failed: step transform 'a' failed"),
        "{logs}"
    );
    assert!(logs.contains("attempt 2 of 3 starts in"), "{logs}");
    assert_eq!(
        view.errors.lines.len(),
        1,
        "only the last attempt's error: {:?}",
        view.errors.lines
    );
}

#[tokio::test]
async fn an_input_allows_one_to_ten_attempts() {
    let s = services(1, Duration::ZERO);
    let (csv, lake) = stores(&s.store).await;
    for bad in [0, 11] {
        let mut new = input(csv, lake, &[("a", "SELECT * FROM orders")]);
        new.max_attempts = bad;
        let Err(Error::Invalid(violations)) = s.inputs.create(new).await else {
            panic!("{bad} accepted")
        };
        assert_eq!(violations[0].path.to_string(), "/max_attempts");
    }
}

#[tokio::test]
async fn ballista_is_refused_until_a_scheduler_is_configured() {
    let s = services(1, Duration::ZERO);
    let (csv, lake) = stores(&s.store).await;
    let mut new = input(csv, lake, &[("a", "SELECT * FROM orders")]);
    new.engine = ExecutionEngine::Ballista;
    let Err(Error::Invalid(violations)) = s.inputs.create(new.clone()).await else {
        panic!("Ballista accepted with no scheduler")
    };
    assert_eq!(violations[0].path.to_string(), "/engine");
    let inputs = s.inputs.clone().with_ballista(true);
    let stored = inputs.create(new).await.unwrap();
    assert_eq!(stored.engine, ExecutionEngine::Ballista);
}

#[tokio::test]
async fn a_flow_on_ballista_reads_no_database() {
    let s = services(1, Duration::ZERO);
    let (_, lake) = stores(&s.store).await;
    let database = NewDataStore {
        name: DataStoreName::parse("shop").unwrap(),
        connection: Connection::Relational(crate::data_store::RelationalConnection::Sqlite {
            path: DataPath::parse("shop.sqlite").unwrap(),
        }),
    };
    let database = DataStoreRepository::create(&*s.store, database)
        .await
        .unwrap()
        .id;
    let mut new = input(database, lake, &[("a", "SELECT * FROM orders")]);
    new.sources[0].read = SourceRead::Table("orders".into());
    new.engine = ExecutionEngine::Ballista;
    let inputs = s.inputs.clone().with_ballista(true);
    let Err(Error::Invalid(violations)) = inputs.create(new.clone()).await else {
        panic!("a database source accepted on Ballista")
    };
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert_eq!(violations[0].path.to_string(), "/sources/0/data_store_id");
    assert!(
        violations[0]
            .message
            .contains("'shop' is a relational database")
    );
    new.engine = ExecutionEngine::Local;
    inputs.create(new).await.unwrap();
}
