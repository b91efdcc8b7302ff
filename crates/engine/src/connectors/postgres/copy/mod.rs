//! PostgreSQL's binary COPY format. Here: `COPY … TO STDOUT (FORMAT binary)` decoded into Arrow
//! record batches, the fastest way PostgreSQL hands out rows, read in chunks as they arrive so
//! memory stays bounded by one batch. [`encode`]: the way back in, for targets.
//!
//! Type mapping (by the column's type OID):
//!
//! | PostgreSQL | Arrow |
//! | --- | --- |
//! | boolean | Boolean |
//! | smallint, integer, bigint | Int16, Int32, Int64 |
//! | real, double precision | Float32, Float64 |
//! | numeric(p, s), p ≤ 38 | Decimal128(p, s) |
//! | numeric(p, s), 38 < p ≤ 76 | Decimal256(p, s) |
//! | numeric(p, s), p > 76 | Utf8, the exact decimal text |
//! | numeric (unconstrained, or an expression) | Decimal128(38, 9) |
//! | text, varchar, char(n), name | Utf8 |
//! | json, jsonb | Utf8, the JSON text |
//! | uuid | Utf8, hyphenated |
//! | bytea | Binary |
//! | date | Date32 |
//! | time | Time64(µs) |
//! | timestamp | Timestamp(µs) |
//! | timestamp with time zone | Timestamp(µs, "UTC") |
//! | interval | Interval(MonthDayNano) |
//! | a one-dimensional array of any of these | List of it |
//! | any other type (enums, citext, inet, money, ranges…) | Utf8, PostgreSQL's text form of it |
//!
//! NULL is NULL in every type. A domain arrives as its base type. A column of another type is
//! read as text: the COPY's query writes it with its type's output function, as psql shows it.
//! An array of more than one dimension fails the read naming the column.
//!
//! Decimals are exact. A numeric's precision and scale come from its column's declaration
//! (`numeric(10, 2)`); a negative scale (`numeric(5, -2)`, whole hundreds) becomes scale 0 with
//! the precision widened to match. Where PostgreSQL declares none (an unconstrained column, a
//! computed expression), the column arrives as Decimal128(38, 9): 29 digits before the point and 9
//! after, the choice analytical engines reading PostgreSQL commonly make. A value a decimal cannot
//! hold (NaN, an infinity, a tenth digit after the point, a thirtieth before it) fails the read
//! with an error naming the column; casting in the source query chooses another type.
//!
//! An unconstrained or wide numeric, json, jsonb or uuid column's Arrow field remembers its
//! PostgreSQL type in its metadata ([`POSTGRESQL_TYPE`]), which DataFusion keeps through plain
//! column references and Parquet keeps in its files: a PostgreSQL target creates such a column
//! with that type again (and a constrained numeric's decimal type says its precision and scale).

mod decode;
pub mod encode;
mod numeric;

pub use decode::CopyDecoder;

use datafusion::arrow::datatypes::{DataType, Field, IntervalUnit, Schema, SchemaRef, TimeUnit};
use std::sync::Arc;

use crate::Error;

/// The signature every binary COPY stream starts with.
const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";
/// The Arrow field metadata key that holds a column's PostgreSQL type where Arrow has none of its
/// own (`numeric`, `json`, `jsonb`, `uuid`).
pub const POSTGRESQL_TYPE: &str = "sluice.postgresql_type";
/// Days and microseconds between 1970-01-01 (Arrow's epoch) and 2000-01-01 (PostgreSQL's).
const EPOCH_DAYS: i32 = 10_957;
const EPOCH_MICROS: i64 = 946_684_800_000_000;

/// A PostgreSQL column type Sluice can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgType {
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Numeric(NumericShape),
    Text,
    Json,
    Jsonb,
    Uuid,
    Bytea,
    Date,
    /// time of day, µs.
    Time,
    Timestamp,
    Timestamptz,
    Interval,
    /// Any other type, read as PostgreSQL's text form of it: the query casts the column to text.
    AsText,
}

/// How a numeric column arrives, by its declared precision and scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumericShape {
    /// A decimal of this precision (at most 76) and scale.
    Decimal { precision: u8, scale: i8 },
    /// Declared without a precision: [`numeric::UNCONSTRAINED_PRECISION`] and
    /// [`numeric::UNCONSTRAINED_SCALE`].
    Unconstrained,
    /// Wider than Arrow's widest decimal: the exact text.
    Text,
}

/// The widest decimal Arrow has (Decimal256).
const MAX_DECIMAL_PRECISION: i32 = 76;
/// The widest Decimal128.
const MAX_DECIMAL128_PRECISION: u8 = 38;

impl NumericShape {
    /// The shape of a numeric column from its type modifier (`atttypmod`; -1 when it has none):
    /// `((precision << 16) | scale) + 4`, the scale an 11-bit signed number since PostgreSQL 15.
    pub fn from_modifier(modifier: i32) -> Self {
        if modifier < 4 {
            return Self::Unconstrained;
        }
        let packed = modifier - 4;
        let precision = (packed >> 16) & 0xffff;
        let scale = ((packed & 0x7ff) ^ 0x400) - 0x400;
        // Whole tens, hundreds…: as many more digits before the point, none after.
        let (precision, scale) = if scale < 0 {
            (precision - scale, 0)
        } else {
            (precision, scale)
        };
        if precision > MAX_DECIMAL_PRECISION {
            return Self::Text;
        }
        Self::Decimal {
            precision: precision as u8,
            scale: scale as i8,
        }
    }

    fn data_type(self) -> DataType {
        match self {
            Self::Decimal { precision, scale } if precision <= MAX_DECIMAL128_PRECISION => {
                DataType::Decimal128(precision, scale)
            }
            Self::Decimal { precision, scale } => DataType::Decimal256(precision, scale),
            Self::Unconstrained => DataType::Decimal128(
                numeric::UNCONSTRAINED_PRECISION,
                numeric::UNCONSTRAINED_SCALE,
            ),
            Self::Text => DataType::Utf8,
        }
    }
}

/// The element types of the arrays Sluice reads as lists: (array type OID, element type OID).
const ARRAYS: &[(u32, u32)] = &[
    (1000, 16),
    (1005, 21),
    (1007, 23),
    (1016, 20),
    (1021, 700),
    (1022, 701),
    (1231, 1700),
    (1009, 25),
    (1015, 1043),
    (1014, 1042),
    (1003, 19),
    (199, 114),
    (3807, 3802),
    (2951, 2950),
    (1001, 17),
    (1182, 1082),
    (1183, 1083),
    (1115, 1114),
    (1185, 1184),
    (1187, 1186),
];

impl PgType {
    /// The type Sluice decodes by its type OID and type modifier (-1 when it has none).
    fn scalar(oid: u32, modifier: i32) -> Option<Self> {
        Some(match oid {
            16 => Self::Bool,
            21 => Self::Int2,
            23 => Self::Int4,
            20 => Self::Int8,
            700 => Self::Float4,
            701 => Self::Float8,
            NUMERIC_OID => Self::Numeric(NumericShape::from_modifier(modifier)),
            25 | 1043 | 1042 | 19 => Self::Text,
            114 => Self::Json,
            3802 => Self::Jsonb,
            2950 => Self::Uuid,
            17 => Self::Bytea,
            1082 => Self::Date,
            1083 => Self::Time,
            1114 => Self::Timestamp,
            1184 => Self::Timestamptz,
            1186 => Self::Interval,
            _ => return None,
        })
    }

    fn data_type(self) -> DataType {
        match self {
            Self::Bool => DataType::Boolean,
            Self::Int2 => DataType::Int16,
            Self::Int4 => DataType::Int32,
            Self::Int8 => DataType::Int64,
            Self::Float4 => DataType::Float32,
            Self::Float8 => DataType::Float64,
            Self::Numeric(shape) => shape.data_type(),
            Self::Text | Self::Json | Self::Jsonb | Self::Uuid | Self::AsText => DataType::Utf8,
            Self::Bytea => DataType::Binary,
            Self::Date => DataType::Date32,
            Self::Time => DataType::Time64(TimeUnit::Microsecond),
            Self::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            Self::Timestamptz => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            Self::Interval => DataType::Interval(IntervalUnit::MonthDayNano),
        }
    }

    /// The PostgreSQL type to keep in the field's metadata, for the types Arrow lacks.
    fn kept_name(self) -> Option<&'static str> {
        match self {
            Self::Numeric(NumericShape::Unconstrained | NumericShape::Text) => Some("numeric"),
            Self::Json => Some("json"),
            Self::Jsonb => Some("jsonb"),
            Self::Uuid => Some("uuid"),
            _ => None,
        }
    }
}

/// The OID of `numeric` and of `numeric[]`, whose type modifiers say their precision and scale.
pub const NUMERIC_OID: u32 = 1700;
const BPCHAR_OID: u32 = 1042;
pub const NUMERIC_ARRAY_OID: u32 = 1231;

/// One column of the rows being decoded.
#[derive(Debug, Clone)]
pub struct PgColumn {
    pub name: String,
    pub pg_type: PgType,
    /// A one-dimensional array of `pg_type`'s values, read as a list.
    pub array: bool,
    /// `char(n)`, whose values keep their padding here but compare without it in PostgreSQL.
    pub padded: bool,
}

impl PgColumn {
    /// The column of type `oid` with type modifier `modifier` (-1 when it has none). A type
    /// Sluice does not decode is [`PgType::AsText`]: the query reads it as text.
    pub fn new(name: &str, oid: u32, modifier: i32) -> Self {
        let (pg_type, array) = match PgType::scalar(oid, modifier) {
            Some(scalar) => (scalar, false),
            None => ARRAYS
                .iter()
                .find(|(array, _)| *array == oid)
                .and_then(|(_, element)| PgType::scalar(*element, modifier))
                .map_or((PgType::AsText, false), |element| (element, true)),
        };
        Self {
            name: name.to_owned(),
            pg_type,
            array,
            padded: oid == BPCHAR_OID,
        }
    }

    /// A column of a type Sluice decodes, not an array.
    #[cfg(test)]
    pub fn scalar(name: &str, pg_type: PgType) -> Self {
        Self {
            name: name.to_owned(),
            pg_type,
            array: false,
            padded: false,
        }
    }

    /// The column read as `planned`, the type Sluice gives it, when it is a numeric PostgreSQL
    /// describes without precision and scale (an aggregate, any expression) and `planned` is a
    /// decimal: its values are then read into that decimal exactly, or fail naming the column,
    /// rather than as [`NumericShape::Unconstrained`]'s 9 places.
    #[must_use]
    pub fn with_planned_decimal(self, planned: &DataType) -> Self {
        let (DataType::Decimal128(precision, scale) | DataType::Decimal256(precision, scale)) =
            planned
        else {
            return self;
        };
        match self.pg_type {
            PgType::Numeric(NumericShape::Unconstrained) if !self.array && *scale >= 0 => Self {
                pg_type: PgType::Numeric(NumericShape::Decimal {
                    precision: *precision,
                    scale: *scale,
                }),
                ..self
            },
            _ => self,
        }
    }

    /// Whether a query pushed down to PostgreSQL must read the column as its text form to mean
    /// what it means in Sluice: a column Sluice reads as text (`uuid`, `json`, `char(n)`, …)
    /// would otherwise be compared as its own type there (`uuid` ignoring case, `char(n)`
    /// ignoring padding).
    pub fn text_when_pushed_down(&self) -> bool {
        !self.array
            && self.pg_type.data_type() == DataType::Utf8
            && (self.padded || self.pg_type != PgType::Text)
    }

    fn field(&self) -> Field {
        let data_type = self.pg_type.data_type();
        if self.array {
            return Field::new(
                &self.name,
                DataType::List(Arc::new(Field::new("item", data_type, true))),
                true,
            );
        }
        let field = Field::new(&self.name, data_type, true);
        match self.pg_type.kept_name() {
            Some(kept) => field.with_metadata(
                [(POSTGRESQL_TYPE.to_owned(), kept.to_owned())]
                    .into_iter()
                    .collect(),
            ),
            None => field,
        }
    }
}

/// The Arrow schema rows of `columns` are decoded into.
pub fn schema_of(columns: &[PgColumn]) -> SchemaRef {
    Arc::new(Schema::new(
        columns.iter().map(PgColumn::field).collect::<Vec<_>>(),
    ))
}

fn malformed(why: &str) -> Error {
    Error::Unsupported(format!(
        "PostgreSQL sent a COPY stream Sluice cannot read: {why}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_computed_numeric_is_read_as_its_planned_decimal() {
        let computed = PgColumn::new("m", NUMERIC_OID, -1);
        let planned = computed
            .clone()
            .with_planned_decimal(&DataType::Decimal128(22, 2));
        assert_eq!(planned.field().data_type(), &DataType::Decimal128(22, 2));
        let wide = computed
            .clone()
            .with_planned_decimal(&DataType::Decimal256(60, 2));
        assert_eq!(wide.field().data_type(), &DataType::Decimal256(60, 2));
        // Not a decimal, or a negative scale: read as ever.
        for other in [DataType::Float64, DataType::Decimal128(10, -2)] {
            let kept = computed.clone().with_planned_decimal(&other);
            assert_eq!(kept.field().data_type(), &DataType::Decimal128(38, 9));
        }
    }

    #[test]
    fn a_declared_numeric_or_an_array_keeps_its_own_type() {
        // numeric(12, 2): modifier ((12 << 16) | 2) + 4.
        let declared = PgColumn::new("amount", NUMERIC_OID, ((12 << 16) | 2) + 4);
        let planned = declared.with_planned_decimal(&DataType::Decimal128(38, 9));
        assert_eq!(planned.field().data_type(), &DataType::Decimal128(12, 2));
        let array = PgColumn::new("amounts", NUMERIC_ARRAY_OID, -1);
        let planned = array.with_planned_decimal(&DataType::Decimal128(20, 2));
        assert!(matches!(planned.field().data_type(), DataType::List(_)));
    }
}
