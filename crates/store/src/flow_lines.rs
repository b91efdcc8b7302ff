//! A flow's log and error lines: each stream's newest lines for views, and pages of all of them.

use sea_orm::sea_query::{Alias, Asterisk, Order, Query, UnionType};
use sea_orm::{ColumnTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect};
use sluice_domain::Result;
use sluice_domain::flow::{FlowOutputId, LineStream, Lines, LogLine};
use std::collections::HashMap;

use crate::StateDatabase;
use crate::entity::flow_output_line;
use crate::error::{corrupt, map_db_err};

/// Outputs whose newest lines one statement reads: two `UNION ALL` terms each, and SQLite takes
/// at most 500 terms in a compound SELECT (`SQLITE_MAX_COMPOUND_SELECT`).
const OUTPUTS_PER_STATEMENT: usize = 200;

/// Each flow output's log and error lines, as a view shows them.
#[derive(Default)]
pub(crate) struct NewestLines {
    pub logs: Lines,
    pub errors: Lines,
}

fn stream_of(row: &flow_output_line::Model) -> Result<LineStream> {
    match row.stream.as_str() {
        flow_output_line::LOG => Ok(LineStream::Log),
        flow_output_line::ERROR => Ok(LineStream::Error),
        _ => Err(corrupt("flow output line", row.id, "unknown stream")),
    }
}

impl StateDatabase {
    /// The newest [`Lines::NEWEST`] lines of each stream of each output, in one statement per
    /// [`OUTPUTS_PER_STATEMENT`] outputs: a `UNION ALL` of one index range scan per output and
    /// stream (newest first, one more than is shown), so that it costs the same however many
    /// lines a flow has written.
    pub(crate) async fn newest_lines(&self, outputs: &[i64]) -> Result<HashMap<i64, NewestLines>> {
        let mut found: HashMap<i64, NewestLines> = HashMap::new();
        // One more than is shown, to learn whether earlier lines exist.
        let wanted = Lines::NEWEST as u64 + 1;
        let newest_of = |output: i64, stream: &str| {
            let newest_first = Query::select()
                .columns([
                    flow_output_line::Column::Id,
                    flow_output_line::Column::FlowOutputId,
                    flow_output_line::Column::Stream,
                    flow_output_line::Column::Line,
                    flow_output_line::Column::CreatedUtc,
                ])
                .from(flow_output_line::Entity)
                .and_where(flow_output_line::Column::FlowOutputId.eq(output))
                .and_where(flow_output_line::Column::Stream.eq(stream))
                .order_by(flow_output_line::Column::Id, Order::Desc)
                .limit(wanted)
                .to_owned();
            // Wrapped, because SQLite takes no ORDER BY or LIMIT on a member of a UNION.
            Query::select()
                .column(Asterisk)
                .from_subquery(newest_first, Alias::new("newest"))
                .to_owned()
        };
        let mut rows = Vec::new();
        for chunk in outputs.chunks(OUTPUTS_PER_STATEMENT) {
            let mut parts = chunk.iter().flat_map(|&output| {
                [flow_output_line::LOG, flow_output_line::ERROR]
                    .map(|stream| newest_of(output, stream))
            });
            let Some(mut query) = parts.next() else {
                continue;
            };
            for part in parts {
                query.union(UnionType::All, part);
            }
            let statement = self.db.get_database_backend().build(&query);
            rows.extend(
                flow_output_line::Model::find_by_statement(statement)
                    .all(&self.db)
                    .await
                    .map_err(map_db_err)?,
            );
        }
        rows.sort_by_key(|row| row.id);
        // Oldest first now; a stream with one line too many has earlier lines.
        let mut counts: HashMap<(i64, LineStream), usize> = HashMap::new();
        for row in &rows {
            *counts
                .entry((row.flow_output_id, stream_of(row)?))
                .or_default() += 1;
        }
        for row in rows {
            let stream = stream_of(&row)?;
            let count = counts
                .get_mut(&(row.flow_output_id, stream))
                .expect("counted above");
            let entry = found.entry(row.flow_output_id).or_default();
            let lines = match stream {
                LineStream::Log => &mut entry.logs,
                LineStream::Error => &mut entry.errors,
            };
            if *count > Lines::NEWEST {
                // The oldest of the fetched ones is only the sign that there are more.
                *count -= 1;
                lines.earlier = true;
                continue;
            }
            lines.updated_utc = Some(row.created_utc);
            lines.lines.push(row.line);
        }
        Ok(found)
    }

    /// Lines of one output after line `after`, oldest first.
    pub(crate) async fn lines_after(
        &self,
        output: FlowOutputId,
        after: Option<i64>,
        limit: u64,
    ) -> Result<Vec<LogLine>> {
        let mut query = flow_output_line::Entity::find()
            .filter(flow_output_line::Column::FlowOutputId.eq(output.0));
        if let Some(after) = after {
            query = query.filter(flow_output_line::Column::Id.gt(after));
        }
        query
            .order_by_asc(flow_output_line::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(map_db_err)?
            .into_iter()
            .map(|row| {
                Ok(LogLine {
                    id: row.id,
                    stream: stream_of(&row)?,
                    line: row.line,
                    created_utc: row.created_utc,
                })
            })
            .collect()
    }
}
