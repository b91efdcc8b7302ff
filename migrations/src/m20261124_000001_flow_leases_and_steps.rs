//! Leases, so that several processes can share the flows of one store, and per-step results.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters a table one change at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(FlowOutput::Table)
                    // The process running the flow, while it runs.
                    .add_column(string_len_null(FlowOutput::RunnerId, 128))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(FlowOutput::Table)
                    // Until when that process holds the flow unless it renews its claim.
                    .add_column(timestamp_with_time_zone_null(FlowOutput::LeaseExpiresUtc))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(FlowStep::Table)
                    .col(big_pk_auto(FlowStep::Id))
                    .col(big_integer(FlowStep::FlowOutputId))
                    // The plan's order; steps added while running (a commit) come after.
                    .col(integer(FlowStep::Position))
                    .col(string_len(FlowStep::Kind, 16))
                    .col(text(FlowStep::Name))
                    .col(string_len(FlowStep::State, 16))
                    .col(big_integer_null(FlowStep::Rows))
                    .col(timestamp_with_time_zone_null(FlowStep::StartedUtc))
                    .col(timestamp_with_time_zone_null(FlowStep::FinishedUtc))
                    .col(text_null(FlowStep::Error))
                    .foreign_key(
                        ForeignKey::create()
                            .from(FlowStep::Table, FlowStep::FlowOutputId)
                            .to(FlowOutput::Table, FlowOutput::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_flow_step_output")
                    .table(FlowStep::Table)
                    .col(FlowStep::FlowOutputId)
                    .col(FlowStep::Position)
                    .to_owned(),
            )
            .await?;
        // A view reads each stream's newest lines: without the stream in the index, finding the
        // few error lines of a flow would walk all its log lines.
        manager
            .create_index(
                Index::create()
                    .name("idx_flow_output_line_stream")
                    .table(FlowOutputLine::Table)
                    .col(FlowOutputLine::FlowOutputId)
                    .col(FlowOutputLine::Stream)
                    .col(FlowOutputLine::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_flow_output_line_stream")
                    .table(FlowOutputLine::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(FlowStep::Table).to_owned())
            .await?;
        for column in [FlowOutput::LeaseExpiresUtc, FlowOutput::RunnerId] {
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

#[derive(DeriveIden)]
enum FlowOutput {
    Table,
    Id,
    RunnerId,
    LeaseExpiresUtc,
}

#[derive(DeriveIden)]
enum FlowOutputLine {
    Table,
    FlowOutputId,
    Stream,
    Id,
}

#[derive(DeriveIden)]
enum FlowStep {
    Table,
    Id,
    FlowOutputId,
    Position,
    Kind,
    Name,
    State,
    Rows,
    StartedUtc,
    FinishedUtc,
    Error,
}
