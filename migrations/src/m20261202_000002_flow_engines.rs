//! Which engine runs a flow input's transforms: Sluice's own (`local`) or a Ballista cluster.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(FlowInput::Table)
                    .add_column(text(FlowInput::Engine).default("local"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(FlowInput::Table)
                    .drop_column(FlowInput::Engine)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum FlowInput {
    Table,
    Engine,
}
