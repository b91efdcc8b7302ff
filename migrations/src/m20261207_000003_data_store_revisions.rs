//! A data store's revision: how many times its connection was replaced. A change names the
//! revision it was made from and is refused when another change came first, so `If-Match` on
//! `/v2` holds across replicas, and a password change (which shows nowhere else) changes the
//! store's `ETag`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(DataStore::Table)
                    .add_column(big_integer(DataStore::Revision).default(0))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(DataStore::Table)
                    .drop_column(DataStore::Revision)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum DataStore {
    Table,
    Revision,
}
