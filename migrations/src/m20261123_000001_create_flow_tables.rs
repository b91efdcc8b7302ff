use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DataStore::Table)
                    .col(big_pk_auto(DataStore::Id))
                    .col(string_len_uniq(DataStore::Name, 64))
                    .col(string_len(DataStore::Kind, 32))
                    // The connection without its secret, as JSON.
                    .col(text(DataStore::Connection))
                    // Kept apart from the connection so that nothing that serializes the connection
                    // can carry it out.
                    .col(text_null(DataStore::Password))
                    .col(timestamp_with_time_zone(DataStore::CreatedUtc))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(FlowInput::Table)
                    .col(big_pk_auto(FlowInput::Id))
                    .col(big_integer(FlowInput::TargetDataStoreId))
                    // Source ids, sources, transforms and outputs, as JSON: a flow input is immutable
                    // and always read whole.
                    .col(text(FlowInput::Definition))
                    .col(timestamp_with_time_zone(FlowInput::CreatedUtc))
                    .foreign_key(
                        ForeignKey::create()
                            .from(FlowInput::Table, FlowInput::TargetDataStoreId)
                            .to(DataStore::Table, DataStore::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(FlowOutput::Table)
                    .col(big_pk_auto(FlowOutput::Id))
                    .col(string_len(FlowOutput::State, 16))
                    .col(small_integer(FlowOutput::ProgressPercent))
                    .col(timestamp_with_time_zone(FlowOutput::ProgressUpdatedUtc))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Flow::Table)
                    .col(big_pk_auto(Flow::Id))
                    .col(big_integer(Flow::FlowInputId))
                    .col(big_integer_uniq(Flow::FlowOutputId))
                    .col(timestamp_with_time_zone(Flow::CreatedUtc))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Flow::Table, Flow::FlowInputId)
                            .to(FlowInput::Table, FlowInput::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Flow::Table, Flow::FlowOutputId)
                            .to(FlowOutput::Table, FlowOutput::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(FlowOutputLine::Table)
                    .col(big_pk_auto(FlowOutputLine::Id))
                    .col(big_integer(FlowOutputLine::FlowOutputId))
                    // "log" or "error": one table, so a line is one insert and never a rewrite.
                    .col(string_len(FlowOutputLine::Stream, 8))
                    .col(text(FlowOutputLine::Line))
                    .col(timestamp_with_time_zone(FlowOutputLine::CreatedUtc))
                    .foreign_key(
                        ForeignKey::create()
                            .from(FlowOutputLine::Table, FlowOutputLine::FlowOutputId)
                            .to(FlowOutput::Table, FlowOutput::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_flow_output_line_output")
                    .table(FlowOutputLine::Table)
                    .col(FlowOutputLine::FlowOutputId)
                    .col(FlowOutputLine::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_flow_output_state")
                    .table(FlowOutput::Table)
                    .col(FlowOutput::State)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(FlowOutputLine::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Flow::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(FlowOutput::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(FlowInput::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(DataStore::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum DataStore {
    Table,
    Id,
    Name,
    Kind,
    Connection,
    Password,
    CreatedUtc,
}

#[derive(DeriveIden)]
enum FlowInput {
    Table,
    Id,
    TargetDataStoreId,
    Definition,
    CreatedUtc,
}

#[derive(DeriveIden)]
enum FlowOutput {
    Table,
    Id,
    State,
    ProgressPercent,
    ProgressUpdatedUtc,
}

// The column names are the schema's: flow.flow_input_id reads better than flow.input_id would.
#[allow(clippy::enum_variant_names)]
#[derive(DeriveIden)]
enum Flow {
    Table,
    Id,
    FlowInputId,
    FlowOutputId,
    CreatedUtc,
}

#[derive(DeriveIden)]
enum FlowOutputLine {
    Table,
    Id,
    FlowOutputId,
    Stream,
    Line,
    CreatedUtc,
}
