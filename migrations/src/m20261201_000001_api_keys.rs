//! API keys: each kept as the SHA-256 of the key, never the key itself.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ApiKey::Table)
                    .col(big_pk_auto(ApiKey::Id))
                    .col(string_len_uniq(ApiKey::Name, 64))
                    // The key's random lookup part, by which a presented key is found.
                    .col(string_len_uniq(ApiKey::Lookup, 32))
                    // Hexadecimal SHA-256 of the whole key.
                    .col(string_len(ApiKey::Hash, 64))
                    // Comma-separated: read, write, run, admin.
                    .col(string_len(ApiKey::Scopes, 64))
                    .col(timestamp_with_time_zone(ApiKey::CreatedUtc))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ApiKey::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ApiKey {
    Table,
    Id,
    Name,
    Lookup,
    Hash,
    Scopes,
    CreatedUtc,
}
