//! Flows and the views of them (output, newest lines, steps), and claiming them to run.

use async_trait::async_trait;
use chrono::Utc;
use sea_orm::sea_query::{
    Expr, ExprTrait, Func, LockBehavior, LockType, NullOrdering, Order, Query,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DbBackend, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionTrait,
};
use sluice_domain::flow::{
    Flow, FlowId, FlowOutput, FlowOutputId, FlowState, FlowView, LogLine, Progress, RunnerId,
};
use sluice_domain::flow_input::{FlowInputId, FlowInputName, FlowInputRef};
use sluice_domain::flow_list::{FlowFilter, FlowKey, FlowOrder, FlowOrderField, FlowPage};
use sluice_domain::ports::FlowRepository;
use sluice_domain::step::StepResult;
use sluice_domain::{Error, Result};
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use crate::entity::{flow, flow_input, flow_output};
use crate::error::{corrupt, map_db_err};
use crate::flow_lines::NewestLines;
use crate::{StateDatabase, lease_clock};

/// The states in which a flow is held by a runner's lease.
pub(crate) const LEASED: [FlowState; 2] = [FlowState::Running, FlowState::Cancelling];

/// Outputs whose lease ran out by the store's clock (or that never had one: claimed before
/// leases).
pub(crate) fn lease_ran_out(backend: DbBackend) -> Condition {
    Condition::any()
        .add(Expr::col(flow_output::Column::LeaseExpiresUtc).lt(lease_clock::now(backend)))
        .add(flow_output::Column::LeaseExpiresUtc.is_null())
}

pub(crate) fn state_names(states: &[FlowState]) -> Vec<&'static str> {
    states.iter().map(|s| s.as_str()).collect()
}

fn flow_to_domain(row: &flow::Model) -> Flow {
    Flow {
        id: FlowId(row.id),
        flow_input_id: FlowInputId(row.flow_input_id),
        flow_output_id: FlowOutputId(row.flow_output_id),
        created_utc: row.created_utc,
        rerun_of: row.rerun_of.map(FlowId),
    }
}

fn output_to_domain(
    row: flow_output::Model,
    lines: NewestLines,
    steps: Vec<StepResult>,
) -> Result<FlowOutput> {
    let state = FlowState::parse(&row.state)
        .ok_or_else(|| corrupt("flow output", row.id, "unknown state"))?;
    Ok(FlowOutput {
        id: FlowOutputId(row.id),
        state,
        progress: Progress {
            percent: u8::try_from(row.progress_percent).unwrap_or(0),
            updated_utc: row.progress_updated_utc,
        },
        logs: lines.logs,
        errors: lines.errors,
        steps,
        attempt: u32::try_from(row.attempt).unwrap_or(1),
        started_utc: row.started_utc,
        finished_utc: row.finished_utc,
    })
}

/// The flows a filter admits, as a condition on a flow joined to its output.
fn admitted(filter: &FlowFilter) -> Condition {
    let mut condition = Condition::all();
    if !filter.states.is_empty() {
        condition = condition.add(flow_output::Column::State.is_in(state_names(&filter.states)));
    }
    if let Some(inputs) = &filter.inputs {
        condition = condition.add(flow::Column::FlowInputId.is_in(inputs.iter().map(|i| i.0)));
    }
    if let Some(after) = filter.created_after {
        condition = condition.add(flow::Column::CreatedUtc.gte(after));
    }
    if let Some(before) = filter.created_before {
        condition = condition.add(flow::Column::CreatedUtc.lt(before));
    }
    condition
}

/// The column an order sorts by before the id; `created_at` is id order (see
/// [`sluice_domain::flow_list`]).
fn time_column(field: FlowOrderField) -> Option<flow_output::Column> {
    match field {
        FlowOrderField::CreatedAt => None,
        FlowOrderField::StartedAt => Some(flow_output::Column::StartedUtc),
        FlowOrderField::FinishedAt => Some(flow_output::Column::FinishedUtc),
    }
}

/// The flows after `after` in `order`: later (or earlier, descending) by time, then by id among
/// equal times; flows without the time come last, by id.
fn after_key(order: FlowOrder, after: FlowKey) -> Condition {
    let id = after.id.0;
    let id_after = if order.descending {
        flow::Column::Id.lt(id)
    } else {
        flow::Column::Id.gt(id)
    };
    let Some(column) = time_column(order.field) else {
        return Condition::all().add(id_after);
    };
    match after.time {
        None => Condition::all().add(column.is_null()).add(id_after),
        Some(time) => {
            let later = if order.descending {
                column.lt(time)
            } else {
                column.gt(time)
            };
            Condition::any()
                .add(later)
                .add(Condition::all().add(column.eq(time)).add(id_after))
                .add(column.is_null())
        }
    }
}

/// `name:version` of a stored flow input.
fn input_ref(id: i64, name: Option<String>, version: Option<i32>) -> Result<FlowInputRef> {
    let name = name
        .as_deref()
        .ok_or("it has no name".to_owned())
        .and_then(FlowInputName::stored)
        .map_err(|e| corrupt("flow input", id, e))?;
    let version = version.and_then(|v| u32::try_from(v).ok());
    Ok(FlowInputRef { name, version })
}

impl StateDatabase {
    /// Reads the outputs, their newest lines and their steps for the given flows, keeping the
    /// flows' order: three queries however many flows and lines there are.
    async fn views(
        &self,
        rows: Vec<(flow::Model, Option<flow_output::Model>)>,
    ) -> Result<Vec<FlowView>> {
        let output_ids: Vec<i64> = rows.iter().map(|(f, _)| f.flow_output_id).collect();
        let input_ids: BTreeSet<i64> = rows.iter().map(|(f, _)| f.flow_input_id).collect();
        let inputs = self.input_refs(input_ids).await?;
        let mut lines = self.newest_lines(&output_ids).await?;
        let mut steps = self.steps_of(&output_ids).await?;
        let mut reruns = self.reruns_of(rows.iter().map(|(f, _)| f.id)).await?;
        rows.into_iter()
            .map(|(flow, output)| {
                let output =
                    output.ok_or_else(|| corrupt("flow", flow.id, "its output is missing"))?;
                let output = output_to_domain(
                    output,
                    lines.remove(&flow.flow_output_id).unwrap_or_default(),
                    steps.remove(&flow.flow_output_id).unwrap_or_default(),
                )?;
                let flow_input = inputs
                    .get(&flow.flow_input_id)
                    .cloned()
                    .ok_or_else(|| corrupt("flow", flow.id, "its flow input is missing"))?;
                Ok(FlowView {
                    reruns: reruns.remove(&flow.id).unwrap_or_default(),
                    flow: flow_to_domain(&flow),
                    flow_input,
                    output,
                })
            })
            .collect()
    }

    /// The reruns of each of the flows, oldest first, in one query.
    async fn reruns_of(&self, ids: impl Iterator<Item = i64>) -> Result<HashMap<i64, Vec<FlowId>>> {
        let rows: Vec<(i64, Option<i64>)> = flow::Entity::find()
            .select_only()
            .column(flow::Column::Id)
            .column(flow::Column::RerunOf)
            .filter(flow::Column::RerunOf.is_in(ids.collect::<Vec<_>>()))
            .order_by_asc(flow::Column::Id)
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(map_db_err)?;
        let mut reruns: HashMap<i64, Vec<FlowId>> = HashMap::new();
        for (id, of) in rows {
            if let Some(of) = of {
                reruns.entry(of).or_default().push(FlowId(id));
            }
        }
        Ok(reruns)
    }

    /// `name:version` of each flow input, in one query.
    async fn input_refs(&self, ids: BTreeSet<i64>) -> Result<HashMap<i64, FlowInputRef>> {
        let rows: Vec<(i64, Option<String>, Option<i32>)> = flow_input::Entity::find()
            .select_only()
            .column(flow_input::Column::Id)
            .column(flow_input::Column::Name)
            .column(flow_input::Column::Version)
            .filter(flow_input::Column::Id.is_in(ids))
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(map_db_err)?;
        rows.into_iter()
            .map(|(id, name, version)| Ok((id, input_ref(id, name, version)?)))
            .collect()
    }

    async fn flow_row(&self, id: FlowId) -> Result<flow::Model> {
        flow::Entity::find_by_id(id.0)
            .one(&self.db)
            .await
            .map_err(map_db_err)?
            .ok_or(Error::NotFound {
                entity: "flow",
                key: id.0.to_string(),
            })
    }
}

#[async_trait]
impl FlowRepository for StateDatabase {
    async fn create(
        &self,
        flow_input_id: FlowInputId,
        rerun_of: Option<FlowId>,
    ) -> Result<FlowView> {
        // Flow inputs are never deleted, so checking before the transaction is as good as inside,
        // and keeps the transaction write-only: SQLite cannot upgrade a read snapshot to a write
        // once another writer has committed, but waits its turn for a transaction that only writes.
        let Some(input) = flow_input::Entity::find_by_id(flow_input_id.0)
            .one(&self.db)
            .await
            .map_err(map_db_err)?
        else {
            return Err(Error::NotFound {
                entity: "flow input",
                key: flow_input_id.0.to_string(),
            });
        };
        let flow_input = input_ref(input.id, input.name, input.version)?;
        let txn = self.db.begin().await.map_err(map_db_err)?;
        let now = Utc::now();
        let output = flow_output::ActiveModel {
            state: Set(FlowState::Ready.as_str().to_owned()),
            progress_percent: Set(0),
            progress_updated_utc: Set(now),
            attempt: Set(1),
            ready_after_utc: Set(None),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .map_err(map_db_err)?;
        let flow = flow::ActiveModel {
            flow_input_id: Set(flow_input_id.0),
            flow_output_id: Set(output.id),
            created_utc: Set(now),
            rerun_of: Set(rerun_of.map(|id| id.0)),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .map_err(map_db_err)?;
        txn.commit().await.map_err(map_db_err)?;
        Ok(FlowView {
            flow: flow_to_domain(&flow),
            flow_input,
            output: output_to_domain(output, NewestLines::default(), Vec::new())?,
            reruns: Vec::new(),
        })
    }

    async fn get(&self, id: FlowId) -> Result<FlowView> {
        let row = flow::Entity::find_by_id(id.0)
            .find_also_related(flow_output::Entity)
            .one(&self.db)
            .await
            .map_err(map_db_err)?
            .ok_or(Error::NotFound {
                entity: "flow",
                key: id.0.to_string(),
            })?;
        self.views(vec![row]).await?.pop().ok_or(Error::NotFound {
            entity: "flow",
            key: id.0.to_string(),
        })
    }

    async fn list(&self, filter: &FlowFilter, page: FlowPage) -> Result<Vec<FlowView>> {
        let mut query = flow::Entity::find()
            .find_also_related(flow_output::Entity)
            .filter(admitted(filter));
        if let Some(after) = page.after {
            query = query.filter(after_key(page.order, after));
        }
        let direction = if page.order.descending {
            Order::Desc
        } else {
            Order::Asc
        };
        if let Some(time) = time_column(page.order.field) {
            query = query.order_by_with_nulls(time, direction.clone(), NullOrdering::Last);
        }
        let rows = query
            .order_by(flow::Column::Id, direction)
            .limit(page.limit)
            .offset(page.offset)
            .all(&self.db)
            .await
            .map_err(map_db_err)?;
        self.views(rows).await
    }

    async fn count(&self, filter: &FlowFilter) -> Result<u64> {
        let query = flow::Entity::find().filter(admitted(filter));
        // Every flow has its output: only a filter on the state needs the join.
        let query = if filter.states.is_empty() {
            query
        } else {
            query.inner_join(flow_output::Entity)
        };
        query.count(&self.db).await.map_err(map_db_err)
    }

    async fn count_by_state(&self) -> Result<Vec<(FlowState, u64)>> {
        let rows: Vec<(String, i64)> = flow_output::Entity::find()
            .select_only()
            .column(flow_output::Column::State)
            .column_as(flow_output::Column::Id.count(), "n")
            .group_by(flow_output::Column::State)
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(map_db_err)?;
        rows.into_iter()
            .map(|(state, n)| {
                let state = FlowState::parse(&state)
                    .ok_or_else(|| corrupt("flow output", 0, "unknown state"))?;
                Ok((state, u64::try_from(n).unwrap_or(0)))
            })
            .collect()
    }

    async fn claim_ready(&self, runner: &RunnerId, lease: Duration) -> Result<Option<Flow>> {
        let backend = self.db.get_database_backend();
        // PostgreSQL locks the row it picks and skips rows others hold, so concurrent claimers
        // take different flows without waiting; SQLite runs one writer at a time (and its query
        // builder leaves the lock out).
        let pick = Query::select()
            .column(flow_output::Column::Id)
            .from(flow_output::Entity)
            .and_where(flow_output::Column::State.eq(FlowState::Ready.as_str()))
            // A flow waiting to be retried waits its turn (by the store's clock).
            .cond_where(
                Condition::any()
                    .add(flow_output::Column::ReadyAfterUtc.is_null())
                    .add(
                        Expr::col(flow_output::Column::ReadyAfterUtc)
                            .lte(lease_clock::now(backend)),
                    ),
            )
            .order_by(flow_output::Column::Id, Order::Asc)
            .limit(1)
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .to_owned();
        let claimed = flow_output::Entity::update_many()
            .col_expr(
                flow_output::Column::State,
                Expr::value(FlowState::Running.as_str()),
            )
            .col_expr(
                flow_output::Column::RunnerId,
                Expr::value(runner.0.as_str()),
            )
            .col_expr(
                flow_output::Column::LeaseExpiresUtc,
                lease_clock::lease_end(backend, lease),
            )
            // A retried flow keeps the start of its first attempt.
            .col_expr(
                flow_output::Column::StartedUtc,
                Func::coalesce([
                    Expr::col(flow_output::Column::StartedUtc),
                    lease_clock::now(backend),
                ])
                .into(),
            )
            // `=`, not `IN`: a scalar subquery runs once, where PostgreSQL may run an `IN`
            // subquery again for each row it scans, locking and claiming every READY flow.
            .filter(Expr::col((flow_output::Entity, flow_output::Column::Id)).eq(Expr::from(pick)))
            .filter(flow_output::Column::State.eq(FlowState::Ready.as_str()))
            .exec_with_returning(&self.db)
            .await
            .map_err(map_db_err)?;
        let Some(output) = claimed.first() else {
            return Ok(None);
        };
        let flow = flow::Entity::find()
            .filter(flow::Column::FlowOutputId.eq(output.id))
            .one(&self.db)
            .await
            .map_err(map_db_err)?
            .ok_or_else(|| corrupt("flow output", output.id, "it belongs to no flow"))?;
        Ok(Some(flow_to_domain(&flow)))
    }

    async fn expired_leases(&self, limit: u64) -> Result<Vec<Flow>> {
        let rows = flow::Entity::find()
            .inner_join(flow_output::Entity)
            .filter(flow_output::Column::State.is_in(state_names(&LEASED)))
            .filter(lease_ran_out(self.db.get_database_backend()))
            .order_by_asc(flow::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(map_db_err)?;
        Ok(rows.iter().map(flow_to_domain).collect())
    }

    async fn lines(&self, id: FlowId, after: Option<i64>, limit: u64) -> Result<Vec<LogLine>> {
        let flow = self.flow_row(id).await?;
        self.lines_after(FlowOutputId(flow.flow_output_id), after, limit)
            .await
    }
}
