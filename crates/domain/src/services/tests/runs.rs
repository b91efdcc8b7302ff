//! The runner: flows run to 100 %, cancelled, failed at a named step, retried.

use super::*;

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
