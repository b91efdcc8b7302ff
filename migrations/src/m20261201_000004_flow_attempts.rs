//! Retried flows: how many attempts a flow input version allows, which attempt a flow is on, and
//! the time before which a flow waiting to be retried is not claimed.

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
                    .table(FlowInput::Table)
                    .add_column(integer(FlowInput::MaxAttempts).default(1))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(FlowOutput::Table)
                    .add_column(integer(FlowOutput::Attempt).default(1))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(FlowOutput::Table)
                    .add_column(timestamp_with_time_zone_null(FlowOutput::ReadyAfterUtc))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [FlowOutput::ReadyAfterUtc, FlowOutput::Attempt] {
            manager
                .alter_table(
                    Table::alter()
                        .table(FlowOutput::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(FlowInput::Table)
                    .drop_column(FlowInput::MaxAttempts)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum FlowInput {
    Table,
    MaxAttempts,
}

#[derive(DeriveIden)]
enum FlowOutput {
    Table,
    Attempt,
    ReadyAfterUtc,
}
