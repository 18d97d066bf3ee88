//! The PostgreSQL backend's own machinery: the connection settings and the group commit of
//! registrations (`writer`).

mod writer;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

pub(crate) use writer::{bind_arrays, Job, PgWriter};

use crate::{Store, StoreError};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

/// Opens the pool on `url`, runs the migrations and starts the writer.
pub(crate) async fn connect(url: &str) -> Result<Store, StoreError> {
    let opts = PgConnectOptions::from_str(url)?;
    let pool = PgPoolOptions::new()
        .max_connections(32)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(opts)
        .await?;
    MIGRATOR.run(&pool).await?;
    let writer = PgWriter::start(pool.clone());
    Ok(Store::Postgres(pool, writer))
}
