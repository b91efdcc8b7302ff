use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "flow_input")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub target_data_store_id: i64,
    #[sea_orm(column_type = "Text")]
    pub definition: String,
    pub created_utc: DateTimeUtc,
    /// Set on every row; nullable only because SQLite adds columns that way.
    pub name: Option<String>,
    pub version: Option<i32>,
    pub max_attempts: i32,
    /// `local` or `ballista` ([`sluice_domain::flow_input::ExecutionEngine`]).
    pub engine: String,
}

impl Model {
    /// `name:version`, as a person addresses this version.
    pub fn public_id(&self) -> Option<String> {
        Some(format!("{}:{}", self.name.as_ref()?, self.version?))
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
