use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "flow_output_line")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub flow_output_id: i64,
    pub stream: String,
    #[sea_orm(column_type = "Text")]
    pub line: String,
    pub created_utc: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

pub const LOG: &str = "log";
pub const ERROR: &str = "error";
