//! Per-step results: one row per step of a flow, planned PENDING and updated as it runs.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
};
use sluice_domain::Result;
use sluice_domain::flow::FlowOutputId;
use sluice_domain::step::{Step, StepChange, StepKind, StepResult, StepState};
use std::collections::HashMap;

use crate::StateDatabase;
use crate::entity::flow_step;
use crate::error::{corrupt, map_db_err};

fn pending_row(output: FlowOutputId, position: usize, step: &Step) -> flow_step::ActiveModel {
    flow_step::ActiveModel {
        flow_output_id: Set(output.0),
        position: Set(i32::try_from(position).unwrap_or(i32::MAX)),
        kind: Set(step.kind.as_str().to_owned()),
        name: Set(step.name.clone()),
        state: Set(StepState::Pending.as_str().to_owned()),
        rows: Set(None),
        started_utc: Set(None),
        finished_utc: Set(None),
        error: Set(None),
        ran_in: Set(None),
        ..Default::default()
    }
}

fn step_to_domain(row: flow_step::Model) -> Result<StepResult> {
    let kind =
        StepKind::parse(&row.kind).ok_or_else(|| corrupt("flow step", row.id, "unknown kind"))?;
    let state = StepState::parse(&row.state)
        .ok_or_else(|| corrupt("flow step", row.id, "unknown state"))?;
    Ok(StepResult {
        step: Step {
            kind,
            name: row.name,
        },
        state,
        rows: row.rows.map(|rows| u64::try_from(rows).unwrap_or(0)),
        started_utc: row.started_utc,
        finished_utc: row.finished_utc,
        error: row.error,
        ran_in: row.ran_in,
    })
}

impl StateDatabase {
    pub(crate) async fn steps_of(&self, outputs: &[i64]) -> Result<HashMap<i64, Vec<StepResult>>> {
        let mut steps: HashMap<i64, Vec<StepResult>> = HashMap::new();
        if outputs.is_empty() {
            return Ok(steps);
        }
        for row in flow_step::Entity::find()
            .filter(flow_step::Column::FlowOutputId.is_in(outputs.iter().copied()))
            .order_by_asc(flow_step::Column::FlowOutputId)
            .order_by_asc(flow_step::Column::Position)
            .all(&self.db)
            .await
            .map_err(map_db_err)?
        {
            steps
                .entry(row.flow_output_id)
                .or_default()
                .push(step_to_domain(row)?);
        }
        Ok(steps)
    }

    pub(crate) async fn insert_planned_steps(
        &self,
        output: FlowOutputId,
        steps: &[Step],
    ) -> Result<()> {
        if steps.is_empty() {
            return Ok(());
        }
        flow_step::Entity::insert_many(
            steps
                .iter()
                .enumerate()
                .map(|(position, step)| pending_row(output, position, step)),
        )
        .exec(&self.db)
        .await
        .map_err(map_db_err)?;
        Ok(())
    }

    pub(crate) async fn update_step(
        &self,
        output: FlowOutputId,
        step: &Step,
        change: StepChange,
    ) -> Result<()> {
        let mut update = flow_step::Entity::update_many()
            .filter(flow_step::Column::FlowOutputId.eq(output.0))
            .filter(flow_step::Column::Kind.eq(step.kind.as_str()))
            .filter(flow_step::Column::Name.eq(step.name.as_str()));
        let (state, at) = match &change {
            StepChange::Started { at, ran_in } => {
                update = update
                    .col_expr(flow_step::Column::StartedUtc, Expr::value(*at))
                    .col_expr(flow_step::Column::RanIn, Expr::value(ran_in.as_str()));
                (StepState::Running, at)
            }
            StepChange::PushedDown { ran_in, at } => {
                update = update
                    .col_expr(flow_step::Column::StartedUtc, Expr::value(*at))
                    .col_expr(flow_step::Column::RanIn, Expr::value(ran_in.as_str()));
                (StepState::Completed, at)
            }
            StepChange::Completed { rows, at } => {
                let rows = i64::try_from(*rows).unwrap_or(i64::MAX);
                update = update.col_expr(flow_step::Column::Rows, Expr::value(rows));
                (StepState::Completed, at)
            }
            StepChange::Failed { error, at } => {
                update = update.col_expr(flow_step::Column::Error, Expr::value(error.as_str()));
                (StepState::Failed, at)
            }
        };
        if state != StepState::Running {
            update = update.col_expr(flow_step::Column::FinishedUtc, Expr::value(*at));
        }
        let updated = update
            .col_expr(flow_step::Column::State, Expr::value(state.as_str()))
            .exec(&self.db)
            .await
            .map_err(map_db_err)?;
        if updated.rows_affected == 0 {
            // A step outside the plan (the commit of the outputs): it goes after the others.
            let position = flow_step::Entity::find()
                .filter(flow_step::Column::FlowOutputId.eq(output.0))
                .count(&self.db)
                .await
                .map_err(map_db_err)?;
            let mut result = StepResult::pending(step.clone());
            result.apply(&change);
            let mut row = pending_row(output, position as usize, step);
            row.state = Set(result.state.as_str().to_owned());
            row.rows = Set(result.rows.map(|r| i64::try_from(r).unwrap_or(i64::MAX)));
            row.started_utc = Set(result.started_utc);
            row.finished_utc = Set(result.finished_utc);
            row.error = Set(result.error);
            row.ran_in = Set(result.ran_in);
            flow_step::Entity::insert(row)
                .exec(&self.db)
                .await
                .map_err(map_db_err)?;
        }
        Ok(())
    }
}

/// Ends the steps a flow ended around, on `db` (the store, or a transaction it is part of).
pub(crate) async fn end_open_steps(
    db: &impl ConnectionTrait,
    output: FlowOutputId,
    running_end: StepState,
    error: Option<&str>,
    at: DateTime<Utc>,
) -> Result<()> {
    flow_step::Entity::update_many()
        .col_expr(flow_step::Column::State, Expr::value(running_end.as_str()))
        .col_expr(flow_step::Column::FinishedUtc, Expr::value(at))
        .col_expr(
            flow_step::Column::Error,
            Expr::value(error.map(str::to_owned)),
        )
        .filter(flow_step::Column::FlowOutputId.eq(output.0))
        .filter(flow_step::Column::State.eq(StepState::Running.as_str()))
        .exec(db)
        .await
        .map_err(map_db_err)?;
    flow_step::Entity::update_many()
        .col_expr(
            flow_step::Column::State,
            Expr::value(StepState::Skipped.as_str()),
        )
        .filter(flow_step::Column::FlowOutputId.eq(output.0))
        .filter(flow_step::Column::State.eq(StepState::Pending.as_str()))
        .exec(db)
        .await
        .map_err(map_db_err)?;
    Ok(())
}
