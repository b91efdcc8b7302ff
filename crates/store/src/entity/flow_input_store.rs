use sea_orm::entity::prelude::*;

/// A data store a flow input reads or writes.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "flow_input_store")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub flow_input_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub data_store_id: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::flow_input::Entity",
        from = "Column::FlowInputId",
        to = "super::flow_input::Column::Id"
    )]
    FlowInput,
}

impl Related<super::flow_input::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::FlowInput.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
