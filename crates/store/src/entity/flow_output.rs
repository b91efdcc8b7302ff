use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "flow_output")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub state: String,
    pub progress_percent: i16,
    pub progress_updated_utc: DateTimeUtc,
    pub runner_id: Option<String>,
    pub lease_expires_utc: Option<DateTimeUtc>,
    /// Which attempt of the flow this is, from 1.
    pub attempt: i32,
    /// A flow waiting to be retried is not claimed before this.
    pub ready_after_utc: Option<DateTimeUtc>,
    /// How many times a process died while running the flow.
    pub crashes: i32,
    /// When its first attempt was claimed, by the state database's clock.
    pub started_utc: Option<DateTimeUtc>,
    /// When it ended, by the state database's clock.
    pub finished_utc: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
