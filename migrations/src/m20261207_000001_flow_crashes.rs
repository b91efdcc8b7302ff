//! How many times a flow's process died while running it: a flow that keeps killing the
//! processes that run it is failed after `runner.max_crashes` of them, never claimed forever.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(FlowOutput::Table)
                    .add_column(integer(FlowOutput::Crashes).default(0))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(FlowOutput::Table)
                    .drop_column(FlowOutput::Crashes)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum FlowOutput {
    Table,
    Crashes,
}
