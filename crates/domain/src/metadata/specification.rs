//! The data specification: each specification describes one or more datasets and their fields.

use super::query::FilterValue;
use super::value::{Record, Value};
use crate::page::Page;

/// One dataset as a specification describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetSpecification {
    pub specification: String,
    pub dataset: String,
    /// The dataset's entry as the specification stores it: every key (`dataset`, `name`,
    /// `description`, `fields`, …) in its order, nothing added.
    pub item: Record,
}

/// A page of datasets across specifications: by specification, then in the order each
/// specification lists its datasets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecificationQuery {
    pub dataset: Option<FilterValue>,
    pub page: Page,
}

impl DatasetSpecification {
    /// The datasets a specification's document describes, in its order: a JSON array of
    /// objects, each naming its `dataset` (with `name`, `fields` and whatever else it gives).
    /// Both archives store the specification this way.
    ///
    /// # Errors
    /// `Internal` naming the specification when its document is not of that shape.
    pub fn from_document(specification: &str, document: &str) -> crate::Result<Vec<Self>> {
        use serde_json::Value as Json;
        let shape = |what: &str| {
            crate::Error::Internal(format!(
                "the specification {specification} is unreadable: {what}"
            ))
        };
        let parsed: Json =
            serde_json::from_str(document).map_err(|e| shape(&format!("invalid JSON: {e}")))?;
        let Json::Array(entries) = parsed else {
            return Err(shape("not an array of datasets"));
        };
        entries
            .into_iter()
            .map(|entry| {
                let dataset = match entry.get("dataset") {
                    Some(Json::String(dataset)) => dataset.clone(),
                    _ if !entry.is_object() => return Err(shape("a dataset is not an object")),
                    _ => return Err(shape("a dataset has no name")),
                };
                let Value::Object(item) = Value::from(entry) else {
                    return Err(shape("a dataset is not an object"));
                };
                Ok(Self {
                    specification: specification.to_owned(),
                    dataset,
                    item,
                })
            })
            .collect()
    }

    /// Orders datasets by specification, keeping each specification's own order of them.
    pub fn sort(datasets: &mut [Self]) {
        datasets.sort_by(|a, b| a.specification.cmp(&b.specification));
    }
}

/// One dataset as the specification's tables describe it: its row of `dataset.csv` and the rows
/// of `dataset-field.csv` that give its fields, in the table's order.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetEntry {
    pub dataset: Record,
    pub fields: Vec<Record>,
}

/// One field: its row of `field.csv` and the datasets that use it, in `dataset-field.csv`'s order.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldEntry {
    pub field: Record,
    pub datasets: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_gives_each_dataset_s_entry_as_it_is_in_its_order() {
        let document = r#"[{"dataset": "tree", "name": "Tree", "fields": [{"field": "reference", "description": "its id"}]},
                           {"fields": [], "dataset": "a-later-one", "description": "no name"}]"#;
        let datasets = DatasetSpecification::from_document("tpo", document).unwrap();
        let datasets: Vec<(&str, Vec<&str>)> = datasets
            .iter()
            .map(|d| {
                let keys = d.item.0.iter().map(|(k, _)| k.as_str()).collect();
                (d.dataset.as_str(), keys)
            })
            .collect();
        assert_eq!(
            datasets,
            [
                ("tree", vec!["dataset", "name", "fields"]),
                ("a-later-one", vec!["fields", "dataset", "description"]),
            ]
        );
    }

    #[test]
    fn a_document_of_another_shape_is_an_error_naming_the_specification() {
        for document in ["{}", "[1]", "[{\"name\": \"x\"}]", "not json"] {
            let err = DatasetSpecification::from_document("tpo", document).unwrap_err();
            assert!(err.to_string().contains("tpo"), "{document}: {err}");
        }
    }
}
