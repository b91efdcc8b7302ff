//! Applies or reverts Sluice's migrations: `sluice-migration up|down|status`, against the
//! database in `DATABASE_URL`. The server applies pending migrations itself at start.

use sea_orm_migration::MigratorTrait;
use sea_orm_migration::sea_orm::Database;
use sluice_migration::Migrator;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL")
        .map_err(|_| "set DATABASE_URL to the state database's URL")?;
    let db = Database::connect(&url).await?;
    match std::env::args().nth(1).as_deref() {
        Some("up") => Migrator::up(&db, None).await?,
        Some("down") => Migrator::down(&db, Some(1)).await?,
        Some("status") => Migrator::status(&db).await?,
        _ => return Err("usage: sluice-migration up|down|status".into()),
    }
    Ok(())
}
