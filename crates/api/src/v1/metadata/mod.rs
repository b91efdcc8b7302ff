//! `/v1` pipeline metadata: the paths and parameters existing consumers of the Datasette and
//! DuckDB services call, so that moving to Sluice changes only a base URL. Rows are keyed by the
//! archive's own column names (`line-number`, `issue-type`).

pub(super) mod collection;
pub(super) mod configuration;
mod dto;
pub(super) mod issues;
pub(super) mod performance;
pub(super) mod specification;

use crate::wire::endpoint::{Endpoint, Routes};

pub fn routes(cfg: &mut Routes) {
    Endpoint::at("/log/issue")
        .get(issues::issue_page)
        .register(cfg);
    Endpoint::at("/log/collection")
        .get(collection::log_entries)
        .register(cfg);
    Endpoint::at("/resource")
        .get(collection::resources)
        .register(cfg);
    // Before `/performance/{table}`, which would otherwise take it.
    Endpoint::at("/performance/issues")
        .get(issues::counts)
        .register(cfg);
    Endpoint::at("/performance/{table}")
        .get(performance::rows)
        .register(cfg);
    Endpoint::at("/specification/specification")
        .get(specification::datasets)
        .register(cfg);
    Endpoint::at("/specification/datasets/{dataset}")
        .get(specification::dataset)
        .register(cfg);
    Endpoint::at("/specification/fields/{field}")
        .get(specification::field)
        .register(cfg);
    Endpoint::at("/configuration/{collection}")
        .get(configuration::overview)
        .register(cfg);
    Endpoint::at("/configuration/{collection}/{table}")
        .get(configuration::origin)
        .register(cfg);
    Endpoint::at("/configuration/{collection}/rules/{kind}")
        .get(configuration::rules)
        .register(cfg);
}
