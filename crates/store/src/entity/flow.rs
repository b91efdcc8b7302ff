use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "flow")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub flow_input_id: i64,
    #[sea_orm(unique)]
    pub flow_output_id: i64,
    pub created_utc: DateTimeUtc,
    /// The flow this one runs again, when it is a rerun.
    pub rerun_of: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::flow_output::Entity",
        from = "Column::FlowOutputId",
        to = "super::flow_output::Column::Id"
    )]
    FlowOutput,
}

impl Related<super::flow_output::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::FlowOutput.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
