//! How the document describes a `/v2` store request: one shape per store type, and for a
//! relational database one per engine, each with a discriminator, so a generated client offers
//! exactly the stores and engines Sluice takes. The handler reads the same bodies through
//! [`sluice_domain::described_store`], whose rules refuse any field a shape does not list.

use std::borrow::Cow;
use utoipa::openapi::schema::{
    AdditionalProperties, Discriminator, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type,
};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use sluice_domain::names::NEW_STORE_NAME_PATTERN;

fn text(description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
}

fn word(value: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some([value]))
}

fn port() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1))
        .maximum(Some(65535))
        .description(Some("The engine's default (5432, 3306) when left out"))
}

fn closed(object: ObjectBuilder) -> RefOr<Schema> {
    RefOr::T(Schema::Object(
        object
            .schema_type(Type::Object)
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .build(),
    ))
}

fn named<T: ToSchema>() -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name(T::name()))
}

const PATH: &str = "Inside the data folder, or `s3://bucket/prefix`";

/// A SQLite database file.
pub struct SqliteConnection;

impl PartialSchema for SqliteConnection {
    fn schema() -> RefOr<Schema> {
        closed(
            ObjectBuilder::new()
                .property("engine", word("sqlite"))
                .required("engine")
                .property("path", text("The database file, inside the data folder"))
                .required("path"),
        )
    }
}

impl ToSchema for SqliteConnection {}

/// A PostgreSQL server, or a MySQL or MariaDB server (`mysql`).
pub struct ServerConnection;

impl PartialSchema for ServerConnection {
    fn schema() -> RefOr<Schema> {
        closed(
            ObjectBuilder::new()
                .property(
                    "engine",
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some(["postgres", "mysql"]))
                        .description(Some("`mysql` for MySQL and MariaDB")),
                )
                .required("engine")
                .property("host", text("A host name or an IP address"))
                .required("host")
                .property("port", port())
                .property("user", text("The user Sluice connects as"))
                .required("user")
                .property(
                    "password",
                    text("Kept sealed; never shown again (`has_password` says there is one)"),
                )
                .property("database", text("The database to read and write"))
                .required("database"),
        )
    }
}

impl ToSchema for ServerConnection {}

/// A relational database's connection, by `engine`.
pub struct RelationalConnection;

impl PartialSchema for RelationalConnection {
    fn schema() -> RefOr<Schema> {
        let mut discriminator = Discriminator::new("engine");
        for (engine, shape) in [
            ("sqlite", SqliteConnection::name()),
            ("postgres", ServerConnection::name()),
            ("mysql", ServerConnection::name()),
        ] {
            discriminator
                .mapping
                .insert(engine.into(), format!("#/components/schemas/{shape}"));
        }
        OneOfBuilder::new()
            .item(named::<SqliteConnection>())
            .item(named::<ServerConnection>())
            .discriminator(Some(discriminator))
            .into()
    }
}

impl ToSchema for RelationalConnection {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((SqliteConnection::name().into(), SqliteConnection::schema()));
        schemas.push((ServerConnection::name().into(), ServerConnection::schema()));
    }
}

/// The fields every store request has, and its `type`.
fn store(kind: &str, connection: RefOr<Schema>) -> RefOr<Schema> {
    let name = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(NEW_STORE_NAME_PATTERN))
        .description(Some(
            "Letters, digits, `_`, `-` and `.`, starting with a letter or a digit; the store's address is `/v2/data-stores/{name}`",
        ));
    closed(
        ObjectBuilder::new()
            .property("name", name)
            .required("name")
            .property("type", word(kind))
            .required("type")
            .property("connection", connection)
            .required("connection"),
    )
}

/// A relational database: SQLite, PostgreSQL, or MySQL and MariaDB.
pub struct CreateRelationalStore;

impl PartialSchema for CreateRelationalStore {
    fn schema() -> RefOr<Schema> {
        store("relational_db", named::<RelationalConnection>())
    }
}

impl ToSchema for CreateRelationalStore {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((
            RelationalConnection::name().into(),
            RelationalConnection::schema(),
        ));
        RelationalConnection::schemas(schemas);
    }
}

/// A folder of tables, each a folder of Parquet files.
pub struct CreateColumnarStore;

impl PartialSchema for CreateColumnarStore {
    fn schema() -> RefOr<Schema> {
        store(
            "columnar_db",
            closed(
                ObjectBuilder::new()
                    .property("path", text(PATH))
                    .required("path"),
            ),
        )
    }
}

impl ToSchema for CreateColumnarStore {}

/// One file.
pub struct CreateFileStore;

impl PartialSchema for CreateFileStore {
    fn schema() -> RefOr<Schema> {
        store(
            "file",
            closed(
                ObjectBuilder::new()
                    .property("path", text(PATH))
                    .required("path")
                    .property(
                        "format",
                        ObjectBuilder::new()
                            .schema_type(Type::String)
                            .enum_values(Some(
                                sluice_domain::data_store::FileFormat::ALL
                                    .iter()
                                    .map(|f| f.as_str()),
                            )),
                    )
                    .required("format"),
            ),
        )
    }
}

impl ToSchema for CreateFileStore {}

/// A store to register, by `type`.
pub struct CreateDataStore;

impl PartialSchema for CreateDataStore {
    fn schema() -> RefOr<Schema> {
        let mut discriminator = Discriminator::new("type");
        for (kind, shape) in [
            ("relational_db", CreateRelationalStore::name()),
            ("columnar_db", CreateColumnarStore::name()),
            ("file", CreateFileStore::name()),
        ] {
            discriminator
                .mapping
                .insert(kind.into(), format!("#/components/schemas/{shape}"));
        }
        OneOfBuilder::new()
            .item(named::<CreateRelationalStore>())
            .item(named::<CreateColumnarStore>())
            .item(named::<CreateFileStore>())
            .discriminator(Some(discriminator))
            .into()
    }
}

impl ToSchema for CreateDataStore {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("CreateDataStore")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        for (name, schema) in [
            (
                CreateRelationalStore::name(),
                CreateRelationalStore::schema(),
            ),
            (CreateColumnarStore::name(), CreateColumnarStore::schema()),
            (CreateFileStore::name(), CreateFileStore::schema()),
        ] {
            schemas.push((name.into(), schema));
        }
        CreateRelationalStore::schemas(schemas);
    }
}

/// An RFC 7396 merge patch of a store's connection: the fields given replace the store's, a
/// `null` removes one (a password, say), the others are kept. The result must be a connection
/// of the store's type, as on creation.
pub struct ConnectionPatch;

impl PartialSchema for ConnectionPatch {
    fn schema() -> RefOr<Schema> {
        let nullable = |kind: Type, description: &str| {
            ObjectBuilder::new()
                .schema_type(SchemaType::from_iter([kind, Type::Null]))
                .description(Some(description))
        };
        let connection = closed(
            ObjectBuilder::new()
                .property("path", nullable(Type::String, PATH))
                .property("format", nullable(Type::String, "`csv` or `parquet`"))
                .property(
                    "engine",
                    nullable(Type::String, "`sqlite`, `postgres` or `mysql`"),
                )
                .property(
                    "host",
                    nullable(Type::String, "A host name or an IP address"),
                )
                .property(
                    "port",
                    nullable(Type::Integer, "1 to 65535; `null` for the engine's default")
                        .minimum(Some(1))
                        .maximum(Some(65535)),
                )
                .property(
                    "user",
                    nullable(Type::String, "The user Sluice connects as"),
                )
                .property(
                    "password",
                    nullable(Type::String, "A new password; `null` for none"),
                )
                .property("database", nullable(Type::String, "The database")),
        );
        closed(
            ObjectBuilder::new()
                .property("connection", connection)
                .required("connection"),
        )
    }
}

impl ToSchema for ConnectionPatch {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("DataStorePatch")
    }
}
