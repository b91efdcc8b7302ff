//! The parts every metadata query shares: filter values and pages of results.

use crate::Error;
use crate::page::Page;

/// A value to filter on: any text but the empty string, which would only ever match nothing and
/// is almost always a client's mistake, up to [`MAX_FILTER_BYTES`] and without control
/// characters. Adapters match it against the data; none may make a path of it unchecked.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FilterValue(String);

/// The longest filter value, in bytes: longer than any identifier, URL or name in the metadata.
pub const MAX_FILTER_BYTES: usize = 2048;

/// The most values one filter takes: enough for any list a person or a tool means, few enough
/// that no query grows without bound.
pub const MAX_FILTER_VALUES: usize = 100;

impl FilterValue {
    /// # Errors
    /// `Invalid` pointing at `/{parameter}` when `raw` is empty, too long or holds control
    /// characters.
    pub fn parse(parameter: &str, raw: String) -> crate::Result<Self> {
        let pointer = || crate::FieldPath::new(parameter.to_owned());
        if raw.is_empty() {
            return Err(Error::invalid(pointer(), "must not be empty"));
        }
        if raw.len() > MAX_FILTER_BYTES {
            return Err(Error::invalid(
                pointer(),
                format!("must be at most {MAX_FILTER_BYTES} bytes long"),
            ));
        }
        if raw.chars().any(char::is_control) {
            return Err(Error::invalid(
                pointer(),
                "must not contain control characters",
            ));
        }
        Ok(Self(raw))
    }

    /// Parses an optional parameter.
    ///
    /// # Errors
    /// As [`FilterValue::parse`].
    pub fn optional(parameter: &str, raw: Option<String>) -> crate::Result<Option<Self>> {
        raw.map(|raw| Self::parse(parameter, raw)).transpose()
    }

    /// Parses the values of a repeated parameter (`dataset=a&dataset=b`), keeping the first of
    /// any repeated value.
    ///
    /// # Errors
    /// As [`FilterValue::parse`]; `Invalid` when more than [`MAX_FILTER_VALUES`] are given.
    pub fn list(parameter: &str, raws: Vec<String>) -> crate::Result<Vec<Self>> {
        if raws.len() > MAX_FILTER_VALUES {
            return Err(Error::invalid(
                crate::FieldPath::new(parameter.to_owned()),
                format!("takes at most {MAX_FILTER_VALUES} values"),
            ));
        }
        let mut values: Vec<Self> = Vec::with_capacity(raws.len());
        for raw in raws {
            let value = Self::parse(parameter, raw)?;
            if !values.contains(&value) {
                values.push(value);
            }
        }
        Ok(values)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One page of a result and the number of rows in the whole result.
#[derive(Debug, Clone, PartialEq)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub total: u64,
}

impl<T> Paged<T> {
    /// The answer of a query that nothing can match.
    pub fn nothing() -> Self {
        Self {
            items: Vec::new(),
            total: 0,
        }
    }

    /// Cuts one page out of a whole result.
    pub fn cut(all: Vec<T>, page: Page) -> Self {
        let total = all.len() as u64;
        let (offset, limit) = page.window();
        Self {
            items: all.into_iter().skip(offset).take(limit).collect(),
            total,
        }
    }
}
