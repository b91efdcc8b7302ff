//! Requests answered under an `Idempotency-Key`, so that a retry on any process gets the first
//! answer again.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(IdempotentRequest::Table)
                    // The API key's name ('' without one): two clients may pick the same key.
                    .col(string_len(IdempotentRequest::Owner, 64))
                    .col(string_len(IdempotentRequest::Key, 255))
                    // SHA-256 of the method, path and body.
                    .col(string_len(IdempotentRequest::Fingerprint, 64))
                    // in_flight, then done with the answer below.
                    .col(string_len(IdempotentRequest::State, 16))
                    .col(integer_null(IdempotentRequest::Status))
                    .col(string_len_null(IdempotentRequest::ContentType, 255))
                    .col(text_null(IdempotentRequest::Location))
                    .col(blob_null(IdempotentRequest::Body))
                    .col(timestamp_with_time_zone(IdempotentRequest::CreatedUtc))
                    .primary_key(
                        Index::create()
                            .col(IdempotentRequest::Owner)
                            .col(IdempotentRequest::Key),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_idempotent_request_created")
                    .table(IdempotentRequest::Table)
                    .col(IdempotentRequest::CreatedUtc)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(IdempotentRequest::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum IdempotentRequest {
    Table,
    Owner,
    Key,
    Fingerprint,
    State,
    Status,
    ContentType,
    Location,
    Body,
    CreatedUtc,
}
