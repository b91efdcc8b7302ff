use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionTrait,
};
use sluice_domain::data_store::DataStoreId;
use sluice_domain::flow_input::{
    ExecutionEngine, FlowInput, FlowInputId, FlowInputName, FlowInputRef, FlowInputSummary,
    FlowInputVersion, NewFlowInput,
};
use sluice_domain::page::Page;
use sluice_domain::ports::FlowInputRepository;
use sluice_domain::{Error, Result};
use std::collections::BTreeSet;

use crate::connection_json::StoredDefinition;
use crate::entity::{flow_input, flow_input_store};
use crate::error::{corrupt, map_db_err};
use crate::{StateDatabase, id_order};

fn to_domain(row: flow_input::Model) -> Result<FlowInput> {
    let stored: StoredDefinition =
        serde_json::from_str(&row.definition).map_err(|e| corrupt("flow input", row.id, e))?;
    let parts = stored
        .into_domain()
        .map_err(|e| corrupt("flow input", row.id, e))?;
    let name = row
        .name
        .as_deref()
        .ok_or("it has no name".to_owned())
        .and_then(FlowInputName::stored)
        .map_err(|e| corrupt("flow input", row.id, e))?;
    let version = row
        .version
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| corrupt("flow input", row.id, "it has no version"))?;
    Ok(FlowInput {
        id: FlowInputId(row.id),
        name,
        version,
        target_data_store_id: DataStoreId(row.target_data_store_id),
        sources: parts.sources,
        transforms: parts.transforms,
        outputs: parts.outputs,
        max_attempts: u32::try_from(row.max_attempts).unwrap_or(1),
        engine: ExecutionEngine::parse(&row.engine).ok_or_else(|| {
            corrupt(
                "flow input",
                row.id,
                format!("unknown engine '{}'", row.engine),
            )
        })?,
        created_utc: row.created_utc,
    })
}

/// Inserts one version with the stores it uses, in the caller's transaction. A row made without
/// a name is named after its id.
async fn insert(
    db: &impl ConnectionTrait,
    name: Option<&FlowInputName>,
    version: u32,
    new: &NewFlowInput,
) -> Result<flow_input::Model> {
    let definition = serde_json::to_string(&StoredDefinition::from_domain(new))
        .map_err(|e| Error::Internal(e.to_string()))?;
    let mut row = flow_input::ActiveModel {
        target_data_store_id: Set(new.target_data_store_id.0),
        definition: Set(definition),
        created_utc: Set(Utc::now()),
        name: Set(name.map(|n| n.as_str().to_owned())),
        version: Set(Some(
            i32::try_from(version).map_err(|e| Error::Internal(e.to_string()))?,
        )),
        max_attempts: Set(i32::try_from(new.max_attempts).unwrap_or(1)),
        engine: Set(new.engine.as_str().to_owned()),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(map_db_err)?;
    if name.is_none() {
        let id = row.id;
        let mut named: flow_input::ActiveModel = row.into();
        named.name = Set(Some(FlowInputName::of_unnamed(FlowInputId(id)).to_string()));
        row = named.update(db).await.map_err(map_db_err)?;
    }
    let stores: BTreeSet<i64> = new
        .source_stores()
        .iter()
        .chain([&new.target_data_store_id])
        .map(|id| id.0)
        .collect();
    flow_input_store::Entity::insert_many(stores.into_iter().map(|store| {
        flow_input_store::ActiveModel {
            flow_input_id: Set(row.id),
            data_store_id: Set(store),
        }
    }))
    .exec(db)
    .await
    .map_err(map_db_err)?;
    Ok(row)
}

#[async_trait]
impl FlowInputRepository for StateDatabase {
    async fn create(&self, new: NewFlowInput) -> Result<FlowInput> {
        let txn = self.db.begin().await.map_err(map_db_err)?;
        let row = insert(&txn, new.name.as_ref(), 1, &new)
            .await
            .map_err(|err| match (err, &new.name) {
                (Error::Conflict(_), Some(name)) => Error::Conflict(format!(
                    "a flow input named '{name}' exists: add a version to it with POST /v2/flow-inputs/{name}/versions"
                )),
                (other, _) => other,
            })?;
        txn.commit().await.map_err(map_db_err)?;
        to_domain(row)
    }

    async fn add_version(&self, name: &FlowInputName, new: NewFlowInput) -> Result<FlowInput> {
        let txn = self.db.begin().await.map_err(map_db_err)?;
        let latest = flow_input::Entity::find()
            .filter(flow_input::Column::Name.eq(name.as_str()))
            .order_by_desc(flow_input::Column::Version)
            .one(&txn)
            .await
            .map_err(map_db_err)?
            .and_then(|row| row.version)
            .and_then(|v| u32::try_from(v).ok())
            .ok_or(Error::NotFound {
                entity: "flow input",
                key: name.to_string(),
            })?;
        let row = insert(&txn, Some(name), latest + 1, &new)
            .await
            .map_err(|err| match err {
                Error::Conflict(_) => Error::Conflict(format!(
                    "another version of flow input '{name}' was added at the same moment: try again"
                )),
                other => other,
            })?;
        txn.commit().await.map_err(map_db_err)?;
        to_domain(row)
    }

    async fn get(&self, id: FlowInputId) -> Result<FlowInput> {
        flow_input::Entity::find_by_id(id.0)
            .one(&self.db)
            .await
            .map_err(map_db_err)?
            .ok_or(Error::NotFound {
                entity: "flow input",
                key: id.0.to_string(),
            })
            .and_then(to_domain)
    }

    async fn find(&self, reference: &FlowInputRef) -> Result<FlowInput> {
        let mut query =
            flow_input::Entity::find().filter(flow_input::Column::Name.eq(reference.name.as_str()));
        if let Some(version) = reference.version {
            query = query.filter(flow_input::Column::Version.eq(i64::from(version)));
        }
        query
            .order_by_desc(flow_input::Column::Version)
            .one(&self.db)
            .await
            .map_err(map_db_err)?
            .ok_or(Error::NotFound {
                entity: "flow input",
                key: reference.to_string(),
            })
            .and_then(to_domain)
    }

    async fn versions(&self, name: &FlowInputName) -> Result<Vec<FlowInputVersion>> {
        flow_input::Entity::find()
            .filter(flow_input::Column::Name.eq(name.as_str()))
            .order_by_asc(flow_input::Column::Version)
            .all(&self.db)
            .await
            .map_err(map_db_err)?
            .into_iter()
            .map(|row| {
                let version = row
                    .version
                    .and_then(|v| u32::try_from(v).ok())
                    .ok_or_else(|| corrupt("flow input", row.id, "it has no version"))?;
                Ok(FlowInputVersion {
                    id: FlowInputId(row.id),
                    version,
                    created_utc: row.created_utc,
                })
            })
            .collect()
    }

    async fn count(&self, name_prefix: &str) -> Result<u64> {
        let mut query = flow_input::Entity::find()
            .select_only()
            .column(flow_input::Column::Name)
            .group_by(flow_input::Column::Name);
        if let Some(starts) = name_starts_with(name_prefix) {
            query = query.filter(starts);
        }
        query.count(&self.db).await.map_err(map_db_err)
    }

    async fn list(&self, name_prefix: &str, page: Page) -> Result<Vec<FlowInputSummary>> {
        use flow_input::Column;
        let mut query = flow_input::Entity::find()
            .select_only()
            .column(Column::Name)
            .column_as(Column::Id.min(), "first_id")
            .column_as(Column::Version.max(), "latest_version")
            .column_as(Column::Id.count(), "versions")
            .column_as(Column::CreatedUtc.min(), "created_utc")
            .column_as(Column::CreatedUtc.max(), "updated_utc")
            .group_by(Column::Name);
        if let Some(starts) = name_starts_with(name_prefix) {
            query = query.filter(starts);
        }
        if let Some(after) = page.after() {
            query = query.having(if page.descending() {
                Column::Id.min().lt(after)
            } else {
                Column::Id.min().gt(after)
            });
        }
        let rows: Vec<(
            Option<String>,
            i64,
            Option<i32>,
            i64,
            DateTime<Utc>,
            DateTime<Utc>,
        )> = query
            .order_by(Column::Id.min(), id_order(page))
            .limit(page.limit())
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(map_db_err)?;
        rows.into_iter()
            .map(
                |(name, first_id, latest, versions, created_utc, updated_utc)| {
                    let name = name
                        .as_deref()
                        .ok_or("it has no name".to_owned())
                        .and_then(FlowInputName::stored)
                        .map_err(|e| corrupt("flow input", first_id, e))?;
                    Ok(FlowInputSummary {
                        first_id: FlowInputId(first_id),
                        name,
                        latest_version: latest
                            .and_then(|v| u32::try_from(v).ok())
                            .ok_or_else(|| corrupt("flow input", first_id, "it has no version"))?,
                        versions: u32::try_from(versions).unwrap_or(u32::MAX),
                        created_utc,
                        updated_utc,
                    })
                },
            )
            .collect()
    }
}

/// Names that start with `prefix` (none to check when it is empty). substr, not LIKE: SQLite's
/// LIKE ignores case and `_` matches any character. Names are ASCII, so characters are bytes;
/// the arguments are int4, as PostgreSQL's substr(text, integer, integer) takes.
fn name_starts_with(prefix: &str) -> Option<SimpleExpr> {
    if prefix.is_empty() {
        return None;
    }
    let length = i32::try_from(prefix.len()).unwrap_or(i32::MAX);
    let start = Func::cust(Alias::new("substr"))
        .arg(Expr::col(flow_input::Column::Name))
        .arg(1i32)
        .arg(length);
    Some(Expr::expr(start).eq(prefix))
}
