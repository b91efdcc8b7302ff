//! The one constructor of a [`NewFlowInput`]: a [`DescribedFlowInput`] read whole, names
//! parsed, stores named by name resolved once each, defaults filled in; every problem reported
//! at once. The rules of the input itself (the graph, the stores' fit) are checked when it is
//! stored ([`FlowInputService::create`]).

use std::collections::HashMap;

use crate::data_store::DataStoreId;
use crate::described_input::{
    DEFAULT_ENGINE, DEFAULT_MAX_ATTEMPTS, DEFAULT_MODE, DescribedFlowInput, StoreRef,
};
use crate::error::{FieldPath, Violation};
use crate::flow_input::{
    NewFlowInput, Output, Source, SourceRead, Transform, WriteMode, list_too_long,
};
use crate::names::{DataStoreName, TableName};
use crate::{Error, Result};

use super::FlowInputService;

impl FlowInputService {
    /// The input `described` describes, its stores resolved.
    ///
    /// # Errors
    /// `Invalid` with a violation per problem (a list too long is said before any store is
    /// looked up); `Unavailable`.
    pub async fn describe(&self, described: DescribedFlowInput) -> Result<NewFlowInput> {
        let oversized: Vec<Violation> = [
            ("sources", described.sources.len()),
            ("transforms", described.transforms.len()),
            ("outputs", described.outputs.len()),
            (
                "source_data_store_ids",
                described.source_stores.as_ref().map_or(0, Vec::len),
            ),
        ]
        .into_iter()
        .filter_map(|(field, len)| list_too_long(field, len))
        .collect();
        if !oversized.is_empty() {
            return Err(Error::Invalid(oversized));
        }
        let mut resolver = Resolver {
            service: self,
            found: HashMap::new(),
            violations: Vec::new(),
        };
        let mut sources = Vec::new();
        // Each source's store, by the source's place in the list: `/v1` says where a store not
        // listed in `source_data_store_ids` is read.
        let mut read_stores = Vec::new();
        for (i, s) in described.sources.into_iter().enumerate() {
            let at = |field: &'static str| FieldPath::new("sources").index(i).field(field);
            let store = resolver.resolve(&s.store, at("data_store_id")).await?;
            let alias = resolver.check(at("alias"), TableName::parse(&s.alias));
            let read = SourceRead::describe(s.table, s.query)
                .map_err(|(field, message)| {
                    resolver.violations.push(Violation::new(at(field), message))
                })
                .ok();
            if let Some(store) = store {
                read_stores.push((i, store));
            }
            if let (Some(store), Some(alias), Some(read)) = (store, alias, read) {
                sources.push(Source {
                    data_store_id: store,
                    read,
                    alias,
                });
            }
        }
        let unlisted = match described.source_stores {
            Some(listed) => {
                self.check_listed(&mut resolver, &listed, &read_stores)
                    .await?
            }
            None => Vec::new(),
        };
        let target = resolver
            .resolve(&described.target, FieldPath::new("target_data_store_id"))
            .await?;
        let mut transforms = Vec::new();
        for (i, t) in described.transforms.into_iter().enumerate() {
            let at = FieldPath::new("transforms").index(i).field("name");
            if let Some(name) = resolver.check(at, TableName::parse(&t.name)) {
                transforms.push(Transform { name, sql: t.sql });
            }
        }
        let mut outputs = Vec::new();
        for (i, o) in described.outputs.into_iter().enumerate() {
            let at = |field: &'static str| FieldPath::new("outputs").index(i).field(field);
            let transform = resolver.check(at("transform"), TableName::parse(&o.transform));
            let table = match o.table {
                Some(raw) => resolver
                    .check(at("table"), TableName::parse(&raw))
                    .map(Some),
                None => Some(None),
            };
            let mode = match o.mode {
                None => Some(DEFAULT_MODE),
                Some(raw) => resolver.check(
                    at("mode"),
                    WriteMode::parse(&raw)
                        .ok_or_else(|| "must be 'replace' or 'append'".to_owned()),
                ),
            };
            if let (Some(transform), Some(table), Some(mode)) = (transform, table, mode) {
                outputs.push(Output {
                    transform,
                    table,
                    mode,
                });
            }
        }
        let new = match target {
            Some(target) if resolver.violations.is_empty() => NewFlowInput {
                name: described.name,
                target_data_store_id: target,
                sources,
                transforms,
                outputs,
                max_attempts: described.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS),
                engine: described.engine.unwrap_or(DEFAULT_ENGINE),
            },
            _ => {
                let mut violations = resolver.violations;
                violations.extend(unlisted);
                return Err(Error::Invalid(violations));
            }
        };
        if unlisted.is_empty() {
            return Ok(new);
        }
        // Said with whatever else is wrong with the input, as one answer.
        let mut violations = unlisted;
        match self.validate(&new).await {
            Err(Error::Invalid(more)) => violations.extend(more),
            Err(other) => return Err(other),
            Ok(()) => {}
        }
        Err(Error::Invalid(violations))
    }

    /// `/v1`'s `source_data_store_ids`, and what is wrong with it: each must exist, and each store
    /// a source reads (`read`: the source's place and its store) must be among them. The list is
    /// only checked: the input keeps its sources, which say what they read.
    async fn check_listed(
        &self,
        resolver: &mut Resolver<'_>,
        listed: &[StoreRef],
        read: &[(usize, DataStoreId)],
    ) -> Result<Vec<Violation>> {
        let mut violations = Vec::new();
        let mut ids = Vec::new();
        for (i, store) in listed.iter().enumerate() {
            let at = FieldPath::new("source_data_store_ids").index(i);
            let Some(id) = resolver.resolve(store, at.clone()).await? else {
                continue;
            };
            if self.find_store(id).await?.is_none() {
                let message = format!("data store {id} does not exist");
                violations.push(Violation::new(at, message));
            }
            ids.push(id);
        }
        for (i, store) in read {
            if !ids.contains(store) {
                violations.push(Violation::new(
                    FieldPath::new("sources").index(*i).field("data_store_id"),
                    format!("data store {store} is not listed in source_data_store_ids"),
                ));
            }
        }
        Ok(violations)
    }
}

/// Resolves store references, each name once per input, collecting what is wrong.
struct Resolver<'a> {
    service: &'a FlowInputService,
    found: HashMap<String, Option<DataStoreId>>,
    violations: Vec<Violation>,
}

impl Resolver<'_> {
    fn check<T>(&mut self, path: FieldPath, parsed: std::result::Result<T, String>) -> Option<T> {
        parsed
            .map_err(|message| self.violations.push(Violation::new(path, message)))
            .ok()
    }

    /// The store's id: an id as given (whether it exists is checked with the input), a name
    /// looked up; `None`, and a violation at `path`, for a name no store has.
    async fn resolve(&mut self, store: &StoreRef, path: FieldPath) -> Result<Option<DataStoreId>> {
        let raw = match store {
            StoreRef::Id(id) => return Ok(Some(*id)),
            StoreRef::Name(raw) => raw,
        };
        let id = match self.found.get(raw) {
            Some(id) => *id,
            None => {
                let id = match DataStoreName::parse(raw) {
                    Err(_) => None,
                    Ok(name) => match self.service.stores.get_by_name(&name).await {
                        Ok(store) => Some(store.id),
                        Err(Error::NotFound { .. }) => None,
                        Err(other) => return Err(other),
                    },
                };
                self.found.insert(raw.clone(), id);
                id
            }
        };
        if id.is_none() {
            self.violations.push(Violation::new(
                path,
                format!("data store '{raw}' does not exist"),
            ));
        }
        Ok(id)
    }
}
