//! Named, versioned flow inputs, and which data stores each flow input uses.
//!
//! A flow input is one version of a named input: `(name, version)` is unique. Inputs made before
//! names existed (and those `/v1` makes) are version 1 of an input named after their id; `/v2`
//! names start with a letter, so the two never meet. `flow_input_store` lists every store an
//! input reads or writes, so that a store in use cannot be deleted (its foreign key refuses).

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
                    .add_column(string_len_null(FlowInput::Name, 64))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(FlowInput::Table)
                    .add_column(integer_null(FlowInput::Version))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared(
            "UPDATE flow_input SET name = CAST(id AS TEXT), version = 1 WHERE name IS NULL",
        )
        .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_flow_input_name_version")
                    .table(FlowInput::Table)
                    .col(FlowInput::Name)
                    .col(FlowInput::Version)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(FlowInputStore::Table)
                    .col(big_integer(FlowInputStore::FlowInputId))
                    .col(big_integer(FlowInputStore::DataStoreId))
                    .primary_key(
                        Index::create()
                            .col(FlowInputStore::FlowInputId)
                            .col(FlowInputStore::DataStoreId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(FlowInputStore::Table, FlowInputStore::FlowInputId)
                            .to(FlowInput::Table, FlowInput::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(FlowInputStore::Table, FlowInputStore::DataStoreId)
                            .to(DataStore::Table, DataStore::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_flow_input_store_data_store")
                    .table(FlowInputStore::Table)
                    .col(FlowInputStore::DataStoreId)
                    .to_owned(),
            )
            .await?;
        // The stores of the inputs already made: the target, and the sources listed in the
        // stored definition.
        let sources = match manager.get_database_backend() {
            sea_orm_migration::sea_orm::DatabaseBackend::Postgres => {
                "SELECT f.id, CAST(s.value AS BIGINT) FROM flow_input f, \
                 json_array_elements_text(CAST(f.definition AS JSON) -> 'source_data_store_ids') AS s(value)"
            }
            _ => {
                "SELECT f.id, CAST(s.value AS INTEGER) FROM flow_input f, \
                 json_each(f.definition, '$.source_data_store_ids') AS s"
            }
        };
        db.execute_unprepared(&format!(
            "INSERT INTO flow_input_store (flow_input_id, data_store_id) \
             SELECT DISTINCT * FROM ({sources} UNION SELECT id, target_data_store_id FROM flow_input) AS used"
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(FlowInputStore::Table).to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_flow_input_name_version")
                    .table(FlowInput::Table)
                    .to_owned(),
            )
            .await?;
        for column in [FlowInput::Version, FlowInput::Name] {
            manager
                .alter_table(
                    Table::alter()
                        .table(FlowInput::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum FlowInput {
    Table,
    Id,
    Name,
    Version,
}

#[derive(DeriveIden)]
enum FlowInputStore {
    Table,
    FlowInputId,
    DataStoreId,
}

#[derive(DeriveIden)]
enum DataStore {
    Table,
    Id,
}
