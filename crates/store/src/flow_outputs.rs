//! What a running flow writes: its state (compare and set), progress, lines, lease and steps.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, Set,
    TransactionTrait, UpdateMany,
};
use sluice_domain::flow::{FlowOutputId, FlowState, RunnerId, Settlement};
use sluice_domain::ports::FlowOutputRepository;
use sluice_domain::step::{Step, StepChange, StepState};
use sluice_domain::{Error, Result};
use std::time::Duration;

use crate::entity::{flow_output, flow_output_line, flow_step};
use crate::error::{corrupt, map_db_err};
use crate::flow_steps::end_open_steps;
use crate::flows::{LEASED, lease_ran_out, state_names};
use crate::{StateDatabase, lease_clock};

#[async_trait]
impl FlowOutputRepository for StateDatabase {
    async fn state(&self, id: FlowOutputId) -> Result<FlowState> {
        let row = flow_output::Entity::find_by_id(id.0)
            .one(&self.db)
            .await
            .map_err(map_db_err)?
            .ok_or(Error::NotFound {
                entity: "flow output",
                key: id.0.to_string(),
            })?;
        FlowState::parse(&row.state).ok_or_else(|| corrupt("flow output", row.id, "unknown state"))
    }

    async fn set_state(&self, id: FlowOutputId, from: FlowState, to: FlowState) -> Result<bool> {
        let backend = self.db.get_database_backend();
        let result = state_change(backend, to)
            .filter(flow_output::Column::Id.eq(id.0))
            .filter(flow_output::Column::State.eq(from.as_str()))
            .exec(&self.db)
            .await
            .map_err(map_db_err)?;
        Ok(result.rows_affected == 1)
    }

    async fn raise_progress(&self, id: FlowOutputId, percent: u8) -> Result<()> {
        flow_output::Entity::update_many()
            .col_expr(
                flow_output::Column::ProgressPercent,
                Expr::value(i16::from(percent)),
            )
            .col_expr(
                flow_output::Column::ProgressUpdatedUtc,
                Expr::value(Utc::now()),
            )
            .filter(flow_output::Column::Id.eq(id.0))
            .filter(flow_output::Column::ProgressPercent.lt(i16::from(percent)))
            .exec(&self.db)
            .await
            .map_err(map_db_err)?;
        Ok(())
    }

    async fn append_log(&self, id: FlowOutputId, line: String) -> Result<()> {
        append_line(&self.db, id, flow_output_line::LOG, line).await
    }

    async fn append_error(&self, id: FlowOutputId, line: String) -> Result<()> {
        append_line(&self.db, id, flow_output_line::ERROR, line).await
    }

    async fn renew_lease(
        &self,
        id: FlowOutputId,
        runner: &RunnerId,
        lease: Duration,
    ) -> Result<bool> {
        let backend = self.db.get_database_backend();
        let result = flow_output::Entity::update_many()
            .col_expr(
                flow_output::Column::LeaseExpiresUtc,
                lease_clock::lease_end(backend, lease),
            )
            .filter(flow_output::Column::Id.eq(id.0))
            .filter(flow_output::Column::RunnerId.eq(runner.0.as_str()))
            .filter(flow_output::Column::State.is_in(state_names(&LEASED)))
            .exec(&self.db)
            .await
            .map_err(map_db_err)?;
        Ok(result.rows_affected == 1)
    }

    async fn settle_expired(
        &self,
        id: FlowOutputId,
        from: FlowState,
        to: FlowState,
        settlement: &Settlement,
    ) -> Result<bool> {
        let backend = self.db.get_database_backend();
        let txn = self.db.begin().await.map_err(map_db_err)?;
        let result = state_change(backend, to)
            .filter(flow_output::Column::Id.eq(id.0))
            .filter(flow_output::Column::State.eq(from.as_str()))
            .filter(lease_ran_out(backend))
            .exec(&txn)
            .await
            .map_err(map_db_err)?;
        if result.rows_affected != 1 {
            return Ok(false);
        }
        let line = settlement.error_line.clone();
        append_line(&txn, id, flow_output_line::ERROR, line).await?;
        let step_error = Some(settlement.step_error.as_str());
        // When the steps ended is for people to read: this process's clock will do.
        end_open_steps(&txn, id, settlement.running_steps, step_error, Utc::now()).await?;
        txn.commit().await.map_err(map_db_err)?;
        Ok(true)
    }

    async fn take_over_expired(
        &self,
        id: FlowOutputId,
        runner: &RunnerId,
        lease: Duration,
        max_crashes: u32,
    ) -> Result<bool> {
        let backend = self.db.get_database_backend();
        let result = flow_output::Entity::update_many()
            .col_expr(
                flow_output::Column::Crashes,
                Expr::col(flow_output::Column::Crashes).add(1),
            )
            .col_expr(
                flow_output::Column::RunnerId,
                Expr::value(runner.0.as_str()),
            )
            .col_expr(
                flow_output::Column::LeaseExpiresUtc,
                lease_clock::lease_end(backend, lease),
            )
            .filter(flow_output::Column::Id.eq(id.0))
            .filter(flow_output::Column::State.eq(FlowState::Running.as_str()))
            .filter(lease_ran_out(backend))
            // This death counted, the flow must stay under the bound to run again.
            .filter(
                Expr::col(flow_output::Column::Crashes)
                    .add(1)
                    .lt(i64::from(max_crashes)),
            )
            .exec(&self.db)
            .await
            .map_err(map_db_err)?;
        Ok(result.rows_affected == 1)
    }

    async fn hand_back(&self, id: FlowOutputId, runner: &RunnerId, line: String) -> Result<bool> {
        self.requeue(id, runner, line, None).await
    }

    async fn retry(
        &self,
        id: FlowOutputId,
        runner: &RunnerId,
        line: String,
        after: Duration,
    ) -> Result<bool> {
        self.requeue(id, runner, line, Some(after)).await
    }

    async fn plan_steps(&self, id: FlowOutputId, steps: &[Step]) -> Result<()> {
        self.insert_planned_steps(id, steps).await
    }

    async fn change_step(&self, id: FlowOutputId, step: &Step, change: StepChange) -> Result<()> {
        self.update_step(id, step, change).await
    }

    async fn close_steps(
        &self,
        id: FlowOutputId,
        running_end: StepState,
        error: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        end_open_steps(&self.db, id, running_end, error, at).await
    }
}

impl StateDatabase {
    /// Back to READY for another run from the start: a hand-back (`retry_after` none) or the
    /// next attempt, not claimed before `retry_after` by the store's clock.
    async fn requeue(
        &self,
        id: FlowOutputId,
        runner: &RunnerId,
        line: String,
        retry_after: Option<Duration>,
    ) -> Result<bool> {
        let backend = self.db.get_database_backend();
        let txn = self.db.begin().await.map_err(map_db_err)?;
        let mut update = flow_output::Entity::update_many()
            .col_expr(
                flow_output::Column::State,
                Expr::value(FlowState::Ready.as_str()),
            )
            .col_expr(flow_output::Column::RunnerId, Expr::value(None::<String>))
            .col_expr(
                flow_output::Column::LeaseExpiresUtc,
                Expr::value(None::<DateTime<Utc>>),
            )
            .col_expr(flow_output::Column::ProgressPercent, Expr::value(0_i16))
            .col_expr(
                flow_output::Column::ProgressUpdatedUtc,
                Expr::value(Utc::now()),
            );
        if let Some(after) = retry_after {
            update = update
                .col_expr(
                    flow_output::Column::Attempt,
                    Expr::col(flow_output::Column::Attempt).add(1),
                )
                .col_expr(
                    flow_output::Column::ReadyAfterUtc,
                    lease_clock::lease_end(backend, after),
                );
        }
        let result = update
            .filter(flow_output::Column::Id.eq(id.0))
            .filter(flow_output::Column::RunnerId.eq(runner.0.as_str()))
            .filter(flow_output::Column::State.eq(FlowState::Running.as_str()))
            .exec(&txn)
            .await
            .map_err(map_db_err)?;
        if result.rows_affected != 1 {
            // Dropping the transaction rolls it back.
            return Ok(false);
        }
        flow_step::Entity::delete_many()
            .filter(flow_step::Column::FlowOutputId.eq(id.0))
            .exec(&txn)
            .await
            .map_err(map_db_err)?;
        append_line(&txn, id, flow_output_line::LOG, line).await?;
        txn.commit().await.map_err(map_db_err)?;
        Ok(true)
    }
}

/// An update to state `to`, which stamps the end time when `to` ends the flow.
fn state_change(backend: DbBackend, to: FlowState) -> UpdateMany<flow_output::Entity> {
    let update = flow_output::Entity::update_many()
        .col_expr(flow_output::Column::State, Expr::value(to.as_str()));
    if to.is_finished() {
        update.col_expr(flow_output::Column::FinishedUtc, lease_clock::now(backend))
    } else {
        update
    }
}

async fn append_line(
    db: &impl ConnectionTrait,
    id: FlowOutputId,
    stream: &str,
    line: String,
) -> Result<()> {
    flow_output_line::ActiveModel {
        flow_output_id: Set(id.0),
        stream: Set(stream.to_owned()),
        line: Set(line),
        created_utc: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(map_db_err)?;
    Ok(())
}
