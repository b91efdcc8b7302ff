//! Flows: their state machine, progress, lines, and every order and filter of their list.

use super::*;

pub(crate) async fn a_new_flow_is_ready_at_zero_percent<S: StatePorts>(store: &S) {
    let input = flow_input(store).await;
    let created = FlowRepository::create(store, input, None).await.unwrap();
    let read = FlowRepository::get(store, created.flow.id).await.unwrap();
    assert_eq!(read, created);
    assert_eq!(read.output.state, FlowState::Ready);
    assert_eq!(read.output.progress.percent, 0);
    assert!(read.output.logs.lines.is_empty() && read.output.errors.lines.is_empty());
}

pub(crate) async fn state_moves_only_from_the_state_the_caller_expects<S: StatePorts>(store: &S) {
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

pub(crate) async fn progress_never_goes_down<S: StatePorts>(store: &S) {
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

pub(crate) async fn log_and_error_lines_keep_their_order<S: StatePorts>(store: &S) {
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

pub(crate) async fn flows_list_by_state_oldest_first<S: StatePorts>(store: &S) {
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
pub(crate) fn in_states(states: &[FlowState]) -> FlowFilter {
    FlowFilter {
        states: states.to_vec(),
        ..FlowFilter::default()
    }
}

/// `limit` flows from `offset`, oldest first.
pub(crate) fn oldest(limit: u64, offset: u64) -> FlowPage {
    FlowPage {
        order: FlowOrder::OLDEST_FIRST,
        after: None,
        limit,
        offset,
    }
}

/// Every flow `filter` admits in `order`, walked two at a time by key.
pub(crate) async fn walk<S: StatePorts>(
    store: &S,
    filter: &FlowFilter,
    order: FlowOrder,
) -> Vec<i64> {
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

pub(crate) async fn flows_list_in_every_order_with_filters_counts_and_reruns<S: StatePorts>(
    store: &S,
) {
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
