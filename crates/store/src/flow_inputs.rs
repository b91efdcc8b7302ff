use async_trait::async_trait;
use chrono::Utc;
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use sluice_domain::data_store::DataStoreId;
use sluice_domain::flow_input::{FlowInput, FlowInputId, NewFlowInput};
use sluice_domain::ports::FlowInputRepository;
use sluice_domain::{Error, Result};

use crate::Store;
use crate::connection_json::StoredDefinition;
use crate::entity::flow_input;
use crate::error::{corrupt, map_db_err};

fn to_domain(row: flow_input::Model) -> Result<FlowInput> {
    let stored: StoredDefinition =
        serde_json::from_str(&row.definition).map_err(|e| corrupt("flow input", row.id, e))?;
    let parts = stored
        .into_domain()
        .map_err(|e| corrupt("flow input", row.id, e))?;
    Ok(FlowInput {
        id: FlowInputId(row.id),
        source_data_store_ids: parts.source_data_store_ids,
        target_data_store_id: DataStoreId(row.target_data_store_id),
        sources: parts.sources,
        transforms: parts.transforms,
        outputs: parts.outputs,
        created_utc: row.created_utc,
    })
}

#[async_trait]
impl FlowInputRepository for Store {
    async fn create(&self, new: NewFlowInput) -> Result<FlowInput> {
        let definition = serde_json::to_string(&StoredDefinition::from_domain(&new))
            .map_err(|e| Error::Internal(e.to_string()))?;
        let row = flow_input::ActiveModel {
            target_data_store_id: Set(new.target_data_store_id.0),
            definition: Set(definition),
            created_utc: Set(Utc::now()),
            ..Default::default()
        }
        .insert(&self.db)
        .await
        .map_err(map_db_err)?;
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
}
