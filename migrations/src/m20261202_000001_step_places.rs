//! Where each step of a flow ran: in Sluice, or pushed down to the database holding its sources.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(FlowStep::Table)
                    .add_column(text_null(FlowStep::RanIn))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(FlowStep::Table)
                    .drop_column(FlowStep::RanIn)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum FlowStep {
    Table,
    RanIn,
}
