//! The data specification: each specification describes one or more datasets and their fields.

use super::query::FilterValue;
use super::value::{Record, Value};
use crate::page::Page;

/// One dataset as a specification describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetSpecification {
    pub specification: String,
    pub dataset: String,
    pub name: Option<String>,
    /// Each field with the attributes the specification gives it (`field`, `description`, …).
    pub fields: Vec<Record>,
}

/// A page of datasets across specifications, ordered by specification then dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecificationQuery {
    pub dataset: Option<FilterValue>,
    pub page: Page,
}

impl DatasetSpecification {
    /// The datasets a specification's document describes: a JSON array of objects, each with
    /// `dataset`, `name` and `fields` (objects of the field's attributes). Both archives store the
    /// specification this way.
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
                let Json::Object(mut entry) = entry else {
                    return Err(shape("a dataset is not an object"));
                };
                let text = |v: Option<Json>| match v {
                    Some(Json::String(s)) => Some(s),
                    _ => None,
                };
                let dataset =
                    text(entry.remove("dataset")).ok_or_else(|| shape("a dataset has no name"))?;
                let fields = match entry.remove("fields") {
                    Some(Json::Array(fields)) => fields
                        .into_iter()
                        .map(|f| match Value::from(f) {
                            Value::Object(record) => Ok(record),
                            _ => Err(shape(&format!("a field of {dataset} is not an object"))),
                        })
                        .collect::<crate::Result<_>>()?,
                    None => Vec::new(),
                    Some(_) => {
                        return Err(shape(&format!("the fields of {dataset} are not a list")));
                    }
                };
                Ok(Self {
                    specification: specification.to_owned(),
                    name: text(entry.remove("name")),
                    dataset,
                    fields,
                })
            })
            .collect()
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
    fn a_document_gives_one_item_per_dataset_with_its_fields() {
        let document = r#"[{"dataset": "tree", "name": "Tree", "fields": [{"field": "reference", "description": "its id"}]},
                           {"dataset": "tree-preservation-zone", "fields": []}]"#;
        let datasets = DatasetSpecification::from_document("tpo", document).unwrap();
        assert_eq!(datasets.len(), 2);
        assert_eq!(datasets[0].name.as_deref(), Some("Tree"));
        assert_eq!(
            datasets[0].fields[0].get("description"),
            Some(&Value::Text("its id".into()))
        );
        assert_eq!(datasets[1].name, None);
    }

    #[test]
    fn a_document_of_another_shape_is_an_error_naming_the_specification() {
        for document in ["{}", "[1]", "[{\"name\": \"x\"}]", "not json"] {
            let err = DatasetSpecification::from_document("tpo", document).unwrap_err();
            assert!(err.to_string().contains("tpo"), "{document}: {err}");
        }
    }
}
