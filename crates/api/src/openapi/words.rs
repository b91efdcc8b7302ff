//! Schemas of the words a field takes, built from the domain's own lists, so a document cannot
//! name a state or a scope the service does not know.

use sluice_domain::api_key::Scope;
use sluice_domain::flow::{FlowState, LineStream};
use sluice_domain::flow_input::{FlowInputName, WriteMode};
use sluice_domain::flow_list::FlowOrder;
use sluice_domain::metadata::{CollectionName, PerformanceTable, RuleKind};
use sluice_domain::names::{NEW_STORE_NAME_PATTERN, RESOURCE_NAME_PATTERN, TableName};
use sluice_domain::step::{StepKind, StepState};
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};

fn one_of(words: impl IntoIterator<Item = &'static str>) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(words))
        .build()
}

pub fn flow_states() -> Object {
    one_of(FlowState::ALL.iter().map(|s| s.as_str()))
}

/// Any of the states, as a repeatable query parameter takes them.
pub fn flow_state_list() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(flow_states())
        .build()
}

/// The orders a list of flows takes: a field, `-` first for descending.
pub fn flow_orders() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(FlowOrder::names()))
        .default(Some(serde_json::json!("created_at")))
        .build()
}

/// The orders of a list kept in creation order.
pub fn created_orders() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(crate::wire::cursor::CREATED_ORDERS))
        .default(Some(serde_json::json!("created_at")))
        .build()
}

/// `/v2/issues`' formats: a page (`json`) or an export.
pub fn export_formats() -> Object {
    one_of(["json", "csv", "ndjson", "parquet"])
}

/// The orders of issue counts.
pub fn count_orders() -> Object {
    one_of(
        sluice_domain::metadata::CountOrder::NAMES
            .iter()
            .map(|(name, _)| *name),
    )
}

/// `/v1` knows five states: a cancel in progress reads RUNNING there.
pub fn v1_flow_states() -> Object {
    one_of(
        FlowState::ALL
            .iter()
            .filter(|s| **s != FlowState::Cancelling)
            .map(|s| s.as_str()),
    )
}

pub fn step_states() -> Object {
    one_of(StepState::ALL.iter().map(|s| s.as_str()))
}

pub fn step_kinds() -> Object {
    one_of(StepKind::ALL.iter().map(|k| k.as_str()))
}

pub fn streams() -> Object {
    one_of(LineStream::ALL.iter().map(|s| s.as_str()))
}

pub fn scope() -> Object {
    one_of(Scope::ALL.iter().map(|s| s.as_str()))
}

/// How an output is written; `replace` when left out.
pub fn write_modes() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(WriteMode::ALL.iter().map(|m| m.as_str())))
        .default(Some(WriteMode::Replace.as_str().into()))
        .build()
}

pub fn performance_tables() -> Object {
    one_of(PerformanceTable::ALL.iter().map(|t| t.name()))
}

pub fn rule_kinds() -> Object {
    one_of(RuleKind::ALL.iter().map(|k| k.name()))
}

/// A configuration table of where a collection's data comes from.
pub fn origin_tables() -> Object {
    one_of(["endpoints", "sources"])
}

fn matching(pattern: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .build()
}

/// A data store's or an API key's name.
pub fn resource_name() -> Object {
    matching(RESOURCE_NAME_PATTERN)
}

/// The name of a store being registered.
pub fn new_store_name() -> Object {
    matching(NEW_STORE_NAME_PATTERN)
}

pub fn flow_input_name() -> Object {
    matching(FlowInputName::PATTERN)
}

/// A table's name in transform SQL and in a target.
pub fn table_name() -> Object {
    matching(TableName::PATTERN)
}

/// A table's name, or `null` for the default.
pub fn table_name_or_null() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .pattern(Some(TableName::PATTERN))
        .build()
}

pub fn collection_name() -> Object {
    matching(CollectionName::PATTERN)
}
