//! Sluice's metadata store schema. An applied migration is never edited: change the schema with a
//! new `mYYYYMMDD_NNNNNN_name.rs` file whose `down()` undoes its `up()`.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_create_flow_tables;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(m20261123_000001_create_flow_tables::Migration)]
    }
}
