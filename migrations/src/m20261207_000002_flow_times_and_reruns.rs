//! When a flow started and ended, and which flow a rerun runs again: `/v2` orders and filters
//! flows by these, so they are columns (with indexes), not times read off a flow's steps.
//!
//! Flows stored before this migration get the times their steps recorded: started when their
//! first step started, finished when their last step ended (or, with no step, when their
//! progress last moved).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const BACKFILL: &str = "
UPDATE flow_output SET
  started_utc = (SELECT MIN(s.started_utc) FROM flow_step s WHERE s.flow_output_id = flow_output.id),
  finished_utc = CASE WHEN state IN ('COMPLETED', 'FAILED', 'CANCELLED') THEN COALESCE(
    (SELECT MAX(s.finished_utc) FROM flow_step s WHERE s.flow_output_id = flow_output.id),
    progress_updated_utc) END";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one at a time.
        for column in [FlowOutput::StartedUtc, FlowOutput::FinishedUtc] {
            manager
                .alter_table(
                    Table::alter()
                        .table(FlowOutput::Table)
                        .add_column(timestamp_with_time_zone_null(column))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Flow::Table)
                    .add_column(big_integer_null(Flow::RerunOf))
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(BACKFILL)
            .await?;
        for (name, table, column) in indexes() {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, _) in indexes() {
            manager
                .drop_index(Index::drop().name(name).table(table).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Flow::Table)
                    .drop_column(Flow::RerunOf)
                    .to_owned(),
            )
            .await?;
        for column in [FlowOutput::StartedUtc, FlowOutput::FinishedUtc] {
            manager
                .alter_table(
                    Table::alter()
                        .table(FlowOutput::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

/// The orders `/v2` lists flows in, and a flow's reruns.
fn indexes() -> [(&'static str, DynIden, DynIden); 3] {
    [
        (
            "idx_flow_output_started",
            FlowOutput::Table.into_iden(),
            FlowOutput::StartedUtc.into_iden(),
        ),
        (
            "idx_flow_output_finished",
            FlowOutput::Table.into_iden(),
            FlowOutput::FinishedUtc.into_iden(),
        ),
        (
            "idx_flow_rerun_of",
            Flow::Table.into_iden(),
            Flow::RerunOf.into_iden(),
        ),
    ]
}

#[derive(DeriveIden)]
enum FlowOutput {
    Table,
    StartedUtc,
    FinishedUtc,
}

#[derive(DeriveIden)]
enum Flow {
    Table,
    RerunOf,
}
