//! Pipeline configuration: per collection, where its data comes from (endpoints, sources) and the
//! rules its pipeline applies (column mappings, patches, filters, …), each a table of text.

use std::fmt;

use crate::page::Page;
use crate::{Error, Result};

/// A collection's name: lower-case letters, digits and `-`, so it can never name a path outside
/// the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CollectionName(String);

impl CollectionName {
    /// [`CollectionName::parse`]'s rule as a regular expression, for API documents.
    pub const PATTERN: &str = "^[a-z0-9-]{1,100}$";

    /// # Errors
    /// `Invalid` pointing at `/collection`.
    pub fn parse(raw: &str) -> Result<Self> {
        let valid = !raw.is_empty()
            && raw.len() <= 100
            && raw
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid {
            return Err(Error::invalid(
                crate::FieldPath::new("collection"),
                "must be 1 to 100 lower-case letters, digits and '-'",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CollectionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The kinds of pipeline rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleKind {
    Column,
    Combine,
    Concat,
    Default,
    DefaultValue,
    Filter,
    Lookup,
    Patch,
    Skip,
    Transform,
    EntityOrganisation,
    Expect,
}

impl RuleKind {
    pub const ALL: [RuleKind; 12] = [
        RuleKind::Column,
        RuleKind::Combine,
        RuleKind::Concat,
        RuleKind::Default,
        RuleKind::DefaultValue,
        RuleKind::Filter,
        RuleKind::Lookup,
        RuleKind::Patch,
        RuleKind::Skip,
        RuleKind::Transform,
        RuleKind::EntityOrganisation,
        RuleKind::Expect,
    ];

    /// The kind's name in the API and the configuration (`default-value`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Column => "column",
            Self::Combine => "combine",
            Self::Concat => "concat",
            Self::Default => "default",
            Self::DefaultValue => "default-value",
            Self::Filter => "filter",
            Self::Lookup => "lookup",
            Self::Patch => "patch",
            Self::Skip => "skip",
            Self::Transform => "transform",
            Self::EntityOrganisation => "entity-organisation",
            Self::Expect => "expect",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == raw)
    }
}

/// One table of a collection's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigurationTable {
    Endpoints,
    Sources,
    Rules(RuleKind),
}

impl fmt::Display for ConfigurationTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Endpoints => f.write_str("endpoints"),
            Self::Sources => f.write_str("sources"),
            Self::Rules(kind) => write!(f, "{} rules", kind.name()),
        }
    }
}

/// A page of one configuration table, in the order the configuration lists its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigurationQuery {
    pub collection: CollectionName,
    pub table: ConfigurationTable,
    pub page: Page,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collection_names_cannot_leave_the_configuration() {
        for bad in ["", "..", "../etc", "a/b", "Conservation", "a b", "a%2F"] {
            assert!(CollectionName::parse(bad).is_err(), "{bad}");
        }
        assert!(CollectionName::parse("conservation-area").is_ok());
    }

    #[test]
    fn rule_kinds_go_by_their_configuration_names() {
        assert_eq!(
            RuleKind::parse("default-value"),
            Some(RuleKind::DefaultValue)
        );
        assert_eq!(
            RuleKind::parse("entity-organisation"),
            Some(RuleKind::EntityOrganisation)
        );
        assert_eq!(RuleKind::parse("old-entity"), None);
    }
}
