//! Sluice's state database schema. An applied migration is never edited: change the schema with a
//! new `mYYYYMMDD_NNNNNN_name.rs` file whose `down()` undoes its `up()`.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_create_flow_tables;
mod m20261124_000001_flow_leases_and_steps;
mod m20261201_000001_api_keys;
mod m20261201_000002_named_flow_inputs;
mod m20261201_000003_idempotent_requests;
mod m20261201_000004_flow_attempts;
mod m20261202_000001_step_places;
mod m20261202_000002_flow_engines;
mod m20261207_000001_flow_crashes;
mod m20261207_000002_flow_times_and_reruns;
mod m20261207_000003_data_store_revisions;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_create_flow_tables::Migration),
            Box::new(m20261124_000001_flow_leases_and_steps::Migration),
            Box::new(m20261201_000001_api_keys::Migration),
            Box::new(m20261201_000002_named_flow_inputs::Migration),
            Box::new(m20261201_000003_idempotent_requests::Migration),
            Box::new(m20261201_000004_flow_attempts::Migration),
            Box::new(m20261202_000001_step_places::Migration),
            Box::new(m20261202_000002_flow_engines::Migration),
            Box::new(m20261207_000001_flow_crashes::Migration),
            Box::new(m20261207_000002_flow_times_and_reruns::Migration),
            Box::new(m20261207_000003_data_store_revisions::Migration),
        ]
    }
}
