use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use sluice_domain::idempotency::{Claim, IdempotencyKey, NewClaim, StoredResponse};
use sluice_domain::ports::IdempotencyRepository;
use sluice_domain::{Error, Result};

use crate::StateDatabase;
use crate::entity::idempotent_request::{self, Column};
use crate::error::map_db_err;

const IN_FLIGHT: &str = "in_flight";
const DONE: &str = "done";

fn of(key: &IdempotencyKey) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(Column::Owner.eq(key.owner.as_str()))
        .add(Column::Key.eq(key.key.as_str()))
}

#[async_trait]
impl IdempotencyRepository for StateDatabase {
    async fn claim(&self, claim: NewClaim) -> Result<Claim> {
        // The insert is the claim: of concurrent first requests, the primary key lets one in.
        let inserted = idempotent_request::ActiveModel {
            owner: Set(claim.key.owner.clone()),
            key: Set(claim.key.key.clone()),
            fingerprint: Set(claim.fingerprint.0.clone()),
            state: Set(IN_FLIGHT.into()),
            status: Set(None),
            content_type: Set(None),
            location: Set(None),
            body: Set(None),
            created_utc: Set(claim.now),
        }
        .insert(&self.db)
        .await;
        match inserted.map_err(map_db_err) {
            Ok(_) => return Ok(Claim::Claimed),
            Err(Error::Conflict(_)) => {}
            Err(other) => return Err(other),
        }
        let Some(record) = idempotent_request::Entity::find()
            .filter(of(&claim.key))
            .one(&self.db)
            .await
            .map_err(map_db_err)?
        else {
            // Purged between the insert and the read: the key is free again.
            return Ok(Claim::InFlight);
        };
        let stale = record.created_utc < claim.expired_before
            || (record.state == IN_FLIGHT && record.created_utc < claim.abandoned_before);
        if stale {
            // Taken over only if nobody else took it over first (the creation time is the
            // version of the record).
            let taken = idempotent_request::Entity::update_many()
                .col_expr(
                    Column::Fingerprint,
                    Expr::value(claim.fingerprint.0.clone()),
                )
                .col_expr(Column::State, Expr::value(IN_FLIGHT))
                .col_expr(Column::Status, Expr::value(Option::<i32>::None))
                .col_expr(Column::ContentType, Expr::value(Option::<String>::None))
                .col_expr(Column::Location, Expr::value(Option::<String>::None))
                .col_expr(Column::Body, Expr::value(Option::<Vec<u8>>::None))
                .col_expr(Column::CreatedUtc, Expr::value(claim.now))
                .filter(of(&claim.key))
                .filter(Column::CreatedUtc.eq(record.created_utc))
                .exec(&self.db)
                .await
                .map_err(map_db_err)?;
            return Ok(if taken.rows_affected == 1 {
                Claim::Claimed
            } else {
                Claim::InFlight
            });
        }
        if record.fingerprint != claim.fingerprint.0 {
            return Ok(Claim::Mismatch);
        }
        match (record.state.as_str(), record.status) {
            (DONE, Some(status)) => Ok(Claim::Replay(StoredResponse {
                status: u16::try_from(status).unwrap_or(500),
                content_type: record.content_type,
                location: record.location,
                body: record.body.unwrap_or_default(),
            })),
            _ => Ok(Claim::InFlight),
        }
    }

    async fn complete(&self, key: &IdempotencyKey, response: StoredResponse) -> Result<()> {
        idempotent_request::Entity::update_many()
            .col_expr(Column::State, Expr::value(DONE))
            .col_expr(Column::Status, Expr::value(i32::from(response.status)))
            .col_expr(Column::ContentType, Expr::value(response.content_type))
            .col_expr(Column::Location, Expr::value(response.location))
            .col_expr(Column::Body, Expr::value(response.body))
            .filter(of(key))
            .exec(&self.db)
            .await
            .map_err(map_db_err)?;
        Ok(())
    }

    async fn release(&self, key: &IdempotencyKey) -> Result<()> {
        idempotent_request::Entity::delete_many()
            .filter(of(key))
            .filter(Column::State.eq(IN_FLIGHT))
            .exec(&self.db)
            .await
            .map_err(map_db_err)?;
        Ok(())
    }

    async fn purge(&self, before: DateTime<Utc>) -> Result<u64> {
        let deleted = idempotent_request::Entity::delete_many()
            .filter(Column::CreatedUtc.lt(before))
            .exec(&self.db)
            .await
            .map_err(map_db_err)?;
        Ok(deleted.rows_affected)
    }
}
