//! Running flows: claims, leases, take-overs, hand-backs, retries.

use super::*;

pub(crate) async fn concurrent_claims_take_every_ready_flow_exactly_once<S: StatePorts>(store: &S) {
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
pub(crate) async fn plan_one_step<S: StatePorts>(store: &S, output: FlowOutputId) {
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

pub(crate) async fn a_lease_is_renewed_by_its_runner_only_and_settled_once_it_ran_out<
    S: StatePorts,
>(
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

pub(crate) async fn a_dead_runners_flow_is_taken_over_once_and_only_under_max_crashes<
    S: StatePorts,
>(
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

pub(crate) async fn a_flow_handed_back_is_ready_again_without_steps_and_only_its_runner_can_do_it<
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

pub(crate) async fn a_retried_flow_counts_its_attempt_and_waits_its_turn<S: StatePorts>(store: &S) {
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

pub(crate) async fn a_page_of_six_hundred_flows_is_read_whole<S: StatePorts>(store: &S) {
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
