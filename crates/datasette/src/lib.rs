//! Pipeline metadata from Datasette-style SQLite databases: the legacy source, answering the same
//! ports as the Parquet archive so that consumers can move between the two.
//!
//! The databases hold the tables the legacy Datasette served, with underscore column names:
//! `issue` (`dataset`, `resource`, `line_number`, `entry_number`, `field`, `issue_type`, `value`,
//! `message`), the performance tables (`provision_summary`, …) and `specification`
//! (`specification`, `json`), and the collection log's `log` and `resource` (`entry_date`,
//! `content_type`, …; lists in `datasets`, `organisations` and `endpoints` separated by `;`), and
//! the specification's tables `dataset`, `field` and `dataset_field`, and the pipeline
//! configuration (`endpoint`, `source`, a table per kind of rule, and `configuration_file`; see
//! `configuration_tables`). They are read either as SQLite files ([`Datasette::open_files`]) or
//! through a running Datasette's JSON API ([`Datasette::open_http`]). Each table is looked up in
//! whichever database holds it.
//!
//! Every query is SQL text built from fixed fragments and column names Sluice knows, with each
//! client value bound as a parameter.

mod backend;
mod collection_log;
mod configuration_tables;
mod error;
mod http;
mod ports;
mod query;
mod specification_tables;
mod sqlite;

pub use backend::Datasette;
pub use error::{Error, Result};
