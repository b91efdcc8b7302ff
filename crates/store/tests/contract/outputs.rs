//! A flow's output: its view, its pages of lines, its steps.

use super::*;

pub(crate) async fn a_view_holds_the_newest_lines_and_pages_reach_every_line<S: StatePorts>(
    store: &S,
) {
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

pub(crate) async fn steps_are_planned_pending_then_changed_and_closed<S: StatePorts>(store: &S) {
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
