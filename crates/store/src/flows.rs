use async_trait::async_trait;
use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    TransactionTrait,
};
use sluice_domain::flow::{
    Flow, FlowId, FlowOutput, FlowOutputId, FlowState, FlowView, Lines, Progress,
};
use sluice_domain::flow_input::FlowInputId;
use sluice_domain::page::Page;
use sluice_domain::ports::{FlowOutputRepository, FlowRepository};
use sluice_domain::{Error, Result};
use std::collections::HashMap;

use crate::Store;
use crate::entity::{flow, flow_input, flow_output, flow_output_line};
use crate::error::{corrupt, map_db_err};

fn state_names(states: &[FlowState]) -> Vec<&'static str> {
    states.iter().map(|s| s.as_str()).collect()
}

fn flow_to_domain(row: &flow::Model) -> Flow {
    Flow {
        id: FlowId(row.id),
        flow_input_id: FlowInputId(row.flow_input_id),
        flow_output_id: FlowOutputId(row.flow_output_id),
        created_utc: row.created_utc,
    }
}

fn output_to_domain(
    row: flow_output::Model,
    lines: Vec<flow_output_line::Model>,
) -> Result<FlowOutput> {
    let state = FlowState::parse(&row.state)
        .ok_or_else(|| corrupt("flow output", row.id, "unknown state"))?;
    let mut logs = Lines::default();
    let mut errors = Lines::default();
    for line in lines {
        let stream = if line.stream == flow_output_line::ERROR {
            &mut errors
        } else {
            &mut logs
        };
        stream.updated_utc = Some(line.created_utc);
        stream.lines.push(line.line);
    }
    Ok(FlowOutput {
        id: FlowOutputId(row.id),
        state,
        progress: Progress {
            percent: u8::try_from(row.progress_percent).unwrap_or(0),
            updated_utc: row.progress_updated_utc,
        },
        logs,
        errors,
    })
}

impl Store {
    /// Reads the outputs and their lines for the given flows, keeping the flows' order.
    async fn views(
        &self,
        rows: Vec<(flow::Model, Option<flow_output::Model>)>,
    ) -> Result<Vec<FlowView>> {
        let output_ids: Vec<i64> = rows.iter().map(|(f, _)| f.flow_output_id).collect();
        let mut lines: HashMap<i64, Vec<flow_output_line::Model>> = HashMap::new();
        if !output_ids.is_empty() {
            for line in flow_output_line::Entity::find()
                .filter(flow_output_line::Column::FlowOutputId.is_in(output_ids))
                .order_by_asc(flow_output_line::Column::Id)
                .all(&self.db)
                .await
                .map_err(map_db_err)?
            {
                lines.entry(line.flow_output_id).or_default().push(line);
            }
        }
        rows.into_iter()
            .map(|(flow, output)| {
                let output =
                    output.ok_or_else(|| corrupt("flow", flow.id, "its output is missing"))?;
                let output = output_to_domain(
                    output,
                    lines.remove(&flow.flow_output_id).unwrap_or_default(),
                )?;
                Ok(FlowView {
                    flow: flow_to_domain(&flow),
                    output,
                })
            })
            .collect()
    }
}

#[async_trait]
impl FlowRepository for Store {
    async fn create(&self, flow_input_id: FlowInputId) -> Result<FlowView> {
        // Flow inputs are never deleted, so checking before the transaction is as good as inside,
        // and keeps the transaction write-only: SQLite cannot upgrade a read snapshot to a write
        // once another writer has committed, but waits its turn for a transaction that only writes.
        if flow_input::Entity::find_by_id(flow_input_id.0)
            .one(&self.db)
            .await
            .map_err(map_db_err)?
            .is_none()
        {
            return Err(Error::NotFound {
                entity: "flow input",
                key: flow_input_id.0.to_string(),
            });
        }
        let txn = self.db.begin().await.map_err(map_db_err)?;
        let now = Utc::now();
        let output = flow_output::ActiveModel {
            state: Set(FlowState::Ready.as_str().to_owned()),
            progress_percent: Set(0),
            progress_updated_utc: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .map_err(map_db_err)?;
        let flow = flow::ActiveModel {
            flow_input_id: Set(flow_input_id.0),
            flow_output_id: Set(output.id),
            created_utc: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .map_err(map_db_err)?;
        txn.commit().await.map_err(map_db_err)?;
        Ok(FlowView {
            flow: flow_to_domain(&flow),
            output: output_to_domain(output, Vec::new())?,
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

    async fn list(&self, states: &[FlowState], page: Page) -> Result<Vec<FlowView>> {
        let mut query = flow::Entity::find().find_also_related(flow_output::Entity);
        if !states.is_empty() {
            query = query.filter(flow_output::Column::State.is_in(state_names(states)));
        }
        let rows = query
            .order_by_asc(flow::Column::Id)
            .limit(page.limit())
            .offset(page.offset())
            .all(&self.db)
            .await
            .map_err(map_db_err)?;
        self.views(rows).await
    }

    async fn in_states(&self, states: &[FlowState], limit: u64) -> Result<Vec<Flow>> {
        let rows = flow::Entity::find()
            .inner_join(flow_output::Entity)
            .filter(flow_output::Column::State.is_in(state_names(states)))
            .order_by_asc(flow::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(map_db_err)?;
        Ok(rows.iter().map(flow_to_domain).collect())
    }
}

#[async_trait]
impl FlowOutputRepository for Store {
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
        let result = flow_output::Entity::update_many()
            .col_expr(flow_output::Column::State, Expr::value(to.as_str()))
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
        self.append_line(id, flow_output_line::LOG, line).await
    }

    async fn append_error(&self, id: FlowOutputId, line: String) -> Result<()> {
        self.append_line(id, flow_output_line::ERROR, line).await
    }
}

impl Store {
    async fn append_line(&self, id: FlowOutputId, stream: &str, line: String) -> Result<()> {
        flow_output_line::ActiveModel {
            flow_output_id: Set(id.0),
            stream: Set(stream.to_owned()),
            line: Set(line),
            created_utc: Set(Utc::now()),
            ..Default::default()
        }
        .insert(&self.db)
        .await
        .map_err(map_db_err)?;
        Ok(())
    }
}
