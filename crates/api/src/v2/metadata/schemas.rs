//! The document's names for what the metadata endpoints answer. The archive's rows are open-ended
//! (each table has the columns its source files had), so a row is a [`MetadataRecord`]: keys in
//! snake_case, each value a [`MetadataValue`], typed down to its leaves, never an empty schema.
//! The shapes Sluice itself gives (a group's `count`, a specification's `fields`) are named.

use std::borrow::Cow;
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type,
};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

fn reference<T: ToSchema>() -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name(T::name()))
}

fn typed(kind: Type) -> Schema {
    Schema::Object(ObjectBuilder::new().schema_type(kind).build())
}

/// A cell of a metadata row: text, a number, a boolean, `null` (a cell the source left empty),
/// a list of cells or a record of them.
pub struct MetadataValue;

impl PartialSchema for MetadataValue {
    fn schema() -> RefOr<Schema> {
        let list = ArrayBuilder::new()
            .items(reference::<MetadataValue>())
            .build();
        let record = ObjectBuilder::new()
            .schema_type(Type::Object)
            .additional_properties(Some(AdditionalProperties::RefOr(
                reference::<MetadataValue>(),
            )))
            .build();
        OneOfBuilder::new()
            .item(typed(Type::String))
            .item(typed(Type::Number))
            .item(typed(Type::Boolean))
            .item(typed(Type::Null))
            .item(Schema::Array(list))
            .item(Schema::Object(record))
            .description(Some(
                "A cell: text, a number, a boolean, null (left empty in the source), a list or a record",
            ))
            .into()
    }
}

impl ToSchema for MetadataValue {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("MetadataValue")
    }
}

/// One row of a metadata table: its columns in snake_case, each a [`MetadataValue`].
pub struct MetadataRecord;

impl PartialSchema for MetadataRecord {
    fn schema() -> RefOr<Schema> {
        record_with(Vec::new())
    }
}

impl ToSchema for MetadataRecord {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("MetadataRecord")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((MetadataValue::name().into(), MetadataValue::schema()));
    }
}

/// A record whose other columns are [`MetadataValue`]s, with `fixed` properties of their own.
fn record_with(fixed: Vec<(&str, RefOr<Schema>, &str)>) -> RefOr<Schema> {
    let mut object = ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(AdditionalProperties::RefOr(
            reference::<MetadataValue>(),
        )));
    for (name, schema, description) in &fixed {
        let described = match schema {
            RefOr::T(Schema::Object(o)) => {
                let mut o = o.clone();
                o.description = Some((*description).to_owned());
                RefOr::T(Schema::Object(o))
            }
            RefOr::T(Schema::Array(a)) => {
                let mut a = a.clone();
                a.description = Some((*description).to_owned());
                RefOr::T(Schema::Array(a))
            }
            other => other.clone(),
        };
        object = object.property(*name, described).required(*name);
    }
    RefOr::T(Schema::Object(object.build()))
}

fn list_of(item: RefOr<Schema>) -> RefOr<Schema> {
    RefOr::T(Schema::Array(ArrayBuilder::new().items(item).build()))
}

fn text() -> RefOr<Schema> {
    RefOr::T(typed(Type::String))
}

/// A specification's dataset row with its fields.
pub struct SpecificationDataset;

impl PartialSchema for SpecificationDataset {
    fn schema() -> RefOr<Schema> {
        record_with(vec![(
            "fields",
            list_of(reference::<MetadataRecord>()),
            "The dataset's rows of `dataset-field`",
        )])
    }
}

impl ToSchema for SpecificationDataset {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((MetadataRecord::name().into(), MetadataRecord::schema()));
        MetadataRecord::schemas(schemas);
    }
}

/// A specification's field row with the datasets that have it.
pub struct SpecificationField;

impl PartialSchema for SpecificationField {
    fn schema() -> RefOr<Schema> {
        record_with(vec![(
            "datasets",
            list_of(text()),
            "The datasets that have the field",
        )])
    }
}

impl ToSchema for SpecificationField {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((MetadataValue::name().into(), MetadataValue::schema()));
    }
}

/// One dataset of one specification, as the specification describes it.
pub struct SpecificationEntry;

impl PartialSchema for SpecificationEntry {
    fn schema() -> RefOr<Schema> {
        let object = ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("specification", text())
            .required("specification")
            .property("dataset", text())
            .required("dataset")
            .property("entry", reference::<MetadataRecord>())
            .required("entry")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .build();
        RefOr::T(Schema::Object(object))
    }
}

impl ToSchema for SpecificationEntry {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((MetadataRecord::name().into(), MetadataRecord::schema()));
        MetadataRecord::schemas(schemas);
    }
}

/// How many issues a group holds: the grouped columns' values (`null` where the log has none)
/// and `count`.
pub struct IssueCountGroup;

impl PartialSchema for IssueCountGroup {
    fn schema() -> RefOr<Schema> {
        let nullable_text = || {
            RefOr::T(Schema::Object(
                ObjectBuilder::new()
                    .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
                    .description(Some("Present when grouped by it"))
                    .build(),
            ))
        };
        let mut object = ObjectBuilder::new().schema_type(Type::Object);
        for column in sluice_domain::metadata::IssueColumn::ALL {
            object = object.property(super::typed::snake(column.archive_name()), nullable_text());
        }
        let count = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .build();
        let object = object
            .property("count", RefOr::T(Schema::Object(count)))
            .required("count")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .build();
        RefOr::T(Schema::Object(object))
    }
}

impl ToSchema for IssueCountGroup {}

/// An export streamed as text (CSV or NDJSON).
pub struct ExportText;

impl PartialSchema for ExportText {
    fn schema() -> RefOr<Schema> {
        RefOr::T(Schema::Object(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("The export's text, streamed"))
                .build(),
        ))
    }
}

impl ToSchema for ExportText {}

/// An export streamed as a file (Parquet).
pub struct ExportBinary;

impl PartialSchema for ExportBinary {
    fn schema() -> RefOr<Schema> {
        RefOr::T(Schema::Object(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(utoipa::openapi::schema::SchemaFormat::KnownFormat(
                    utoipa::openapi::schema::KnownFormat::Binary,
                )))
                .content_media_type("application/vnd.apache.parquet")
                .description(Some("One Parquet file, streamed"))
                .build(),
        ))
    }
}

impl ToSchema for ExportBinary {}
