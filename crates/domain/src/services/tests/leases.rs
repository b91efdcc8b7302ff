//! Leases and drains: a runner that lost its lease, a process that died, a drain that ends.

use super::*;

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
