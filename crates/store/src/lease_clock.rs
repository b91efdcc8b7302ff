//! Lease times from the state database's clock, never a process's: replicas whose clocks
//! disagree (a paused VM, a drifting host) still agree on whether a lease ran out. PostgreSQL's
//! `now()` is that clock; SQLite serves one process, whose clock is its database's.

use chrono::Utc;
use sea_orm::DbBackend;
use sea_orm::sea_query::{Expr, SimpleExpr};
use std::time::Duration;

/// The store's "now".
pub(crate) fn now(backend: DbBackend) -> SimpleExpr {
    match backend {
        DbBackend::Postgres => Expr::cust("now()"),
        _ => Expr::value(Utc::now()),
    }
}

/// The store's "now" plus `lease`.
pub(crate) fn lease_end(backend: DbBackend, lease: Duration) -> SimpleExpr {
    match backend {
        DbBackend::Postgres => Expr::cust_with_values(
            "now() + $1 * interval '1 microsecond'",
            [i64::try_from(lease.as_micros()).unwrap_or(i64::MAX)],
        ),
        _ => Expr::value(Utc::now() + lease),
    }
}
