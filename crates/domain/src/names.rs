//! Validated names: what a data store is called and the table names that SQL transforms use.

use std::fmt;

/// A data store's name: 1 to 64 characters of letters, digits, `_`, `-` and `.`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DataStoreName(String);

impl DataStoreName {
    /// # Errors
    /// A message saying what is wrong with the name.
    pub fn parse(raw: &str) -> Result<Self, String> {
        check_resource_name(raw)?;
        Ok(Self(raw.to_owned()))
    }

    /// The name of a store being registered: as [`Self::parse`], and starting with a letter or
    /// a digit, so that no name is `.` or `..` (which clients resolve away in the store's
    /// address) or reads as an option (`-x`). Stores named before this rule keep their names.
    ///
    /// # Errors
    /// A message saying which rule the name breaks.
    pub fn new_name(raw: &str) -> Result<Self, String> {
        let name = Self::parse(raw)?;
        if !raw.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err("must start with a letter or a digit".into());
        }
        Ok(name)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DataStoreName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The rule for the names people give resources (data stores, API keys, flow inputs): 1 to 64
/// letters, digits, `_`, `-` and `.`.
///
/// # Errors
/// A message saying what is wrong with the name.
/// [`check_resource_name`]'s rule as a regular expression, for API documents.
pub const RESOURCE_NAME_PATTERN: &str = "^[A-Za-z0-9_.-]{1,64}$";

/// [`DataStoreName::new_name`]'s rule as a regular expression, for API documents.
pub const NEW_STORE_NAME_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$";

pub fn check_resource_name(raw: &str) -> Result<(), String> {
    if raw.is_empty() || raw.len() > 64 {
        return Err("must be 1 to 64 characters long".into());
    }
    if !raw
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err("may hold only letters, digits, '_', '-' and '.'".into());
    }
    Ok(())
}

/// The name a table goes by in transform SQL and in a target: a lower-case SQL identifier, so it
/// means the same thing quoted or not (DataFusion folds unquoted identifiers to lower case).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableName(String);

impl TableName {
    /// [`TableName::parse`]'s rule as a regular expression, for API documents.
    pub const PATTERN: &str = "^[a-z_][a-z0-9_]{0,62}$";

    /// # Errors
    /// A message saying what is wrong with the name.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut chars = raw.chars();
        let valid_start = chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
        let valid_rest = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid_start || !valid_rest || raw.len() > 63 {
            return Err("must be a lower-case identifier of at most 63 characters: a-z, 0-9 and '_', not starting with a digit".into());
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_lower_case_identifiers() {
        assert!(TableName::parse("big_orders2").is_ok());
        assert!(TableName::parse("_x").is_ok());
        for bad in ["", "Orders", "2x", "a-b", "a b", "a;drop"] {
            assert!(TableName::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    /// Each rule's published pattern accepts exactly what the rule accepts.
    #[test]
    fn each_name_pattern_says_what_its_rule_says() {
        use crate::flow_input::FlowInputName;
        use crate::metadata::CollectionName;
        let samples: Vec<String> = [
            "", "a", "A", "z9", "_", "_x", "-", ".", "9", "9a", "a-b", "a.b", "a_b", "a b", "a/b",
            "ä", "aé", "A-1.b_2", "x;y", "a\n", "Orders", "orders", "a\u{0}",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .chain([62, 63, 64, 65, 100, 101].iter().map(|n| "a".repeat(*n)))
        .collect();
        type Rule = fn(&str) -> bool;
        let rules: [(&str, Rule); 5] = [
            (RESOURCE_NAME_PATTERN, |s| check_resource_name(s).is_ok()),
            (NEW_STORE_NAME_PATTERN, |s| {
                DataStoreName::new_name(s).is_ok()
            }),
            (TableName::PATTERN, |s| TableName::parse(s).is_ok()),
            (FlowInputName::PATTERN, |s| FlowInputName::parse(s).is_ok()),
            (CollectionName::PATTERN, |s| {
                CollectionName::parse(s).is_ok()
            }),
        ];
        for (pattern, rule) in rules {
            let regex = regex::Regex::new(pattern).unwrap();
            for sample in &samples {
                assert_eq!(
                    regex.is_match(sample),
                    rule(sample),
                    "{pattern} on {sample:?}"
                );
            }
        }
    }

    #[test]
    fn data_store_names_reject_spaces_and_slashes() {
        assert!(DataStoreName::parse("shop-db.v2").is_ok());
        assert!(DataStoreName::parse("a/b").is_err());
        assert!(DataStoreName::parse("a b").is_err());
        assert!(DataStoreName::parse(&"x".repeat(65)).is_err());
    }
}
