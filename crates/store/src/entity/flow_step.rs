use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "flow_step")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub flow_output_id: i64,
    pub position: i32,
    pub kind: String,
    #[sea_orm(column_type = "Text")]
    pub name: String,
    pub state: String,
    pub rows: Option<i64>,
    pub started_utc: Option<DateTimeUtc>,
    pub finished_utc: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub ran_in: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
