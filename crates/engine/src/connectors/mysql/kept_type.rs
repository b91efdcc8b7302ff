//! MySQL column types that Arrow has no type for, remembered so that a MySQL target can create
//! them again.
//!
//! A `TIME`, `BIT(n)`, `SET(…)`, `ENUM(…)`, `JSON`, `YEAR` or spatial column of a MySQL table
//! arrives as text, a number or bytes ([`crate::connectors::mysql::arrow`]); its declared type (the catalog's
//! `COLUMN_TYPE`, such as `set('a','b')`) goes into the Arrow field's metadata under
//! [`MYSQL_TYPE`]. DataFusion keeps field metadata through plain column references and Parquet
//! files keep it, so a MySQL → Parquet → MySQL round trip creates `SET('a','b')` again rather
//! than `LONGTEXT`.
//!
//! The metadata may come from anywhere a flow reads (a Parquet file a caller wrote, say), and it
//! ends up in a `CREATE TABLE`: it is parsed into a [`KeptType`] and written out again from its
//! parts, never pasted. Anything that does not parse is ignored, and the column gets the type its
//! Arrow type maps to.

use datafusion::arrow::datatypes::{DataType, Field};

/// The field metadata key holding a MySQL column's declared type.
pub const MYSQL_TYPE: &str = "sluice.mysql_type";

/// The most members an `ENUM` may have in MySQL.
const MAX_MEMBERS: usize = 65_535;

/// A declared MySQL type Sluice can create again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeptType {
    /// `TIME(fsp)`, fsp 0 to 6.
    Time(u8),
    /// `BIT(n)`, n 1 to 64.
    Bit(u8),
    Set(Vec<String>),
    Enum(Vec<String>),
    Json,
    Year,
    /// A spatial type by its name (`point`, `polygon`, `geometry`, …).
    Spatial(&'static str),
}

const SPATIAL: [&str; 9] = [
    "geometry",
    "point",
    "linestring",
    "polygon",
    "multipoint",
    "multilinestring",
    "multipolygon",
    "geometrycollection",
    "geomcollection",
];

impl KeptType {
    /// Reads a declared type as the catalog writes it (`time(3)`, `bit(4)`, `set('a','b')`,
    /// `point`); `None` for any other type and for anything malformed.
    pub fn parse(declared: &str) -> Option<Self> {
        let lower = declared.trim().to_ascii_lowercase();
        let (name, arguments) = match lower.find('(') {
            Some(open) if lower.ends_with(')') => (
                &lower[..open],
                Some(&declared.trim()[open + 1..declared.trim().len() - 1]),
            ),
            Some(_) => return None,
            None => (lower.as_str(), None),
        };
        match (name.trim_end(), arguments) {
            ("time", None) => Some(Self::Time(0)),
            ("time", Some(fsp)) => fsp.parse().ok().filter(|f| *f <= 6).map(Self::Time),
            ("bit", Some(width)) => width
                .parse()
                .ok()
                .filter(|w| (1..=64).contains(w))
                .map(Self::Bit),
            ("bit", None) => Some(Self::Bit(1)),
            ("set", Some(members)) => members_of(members).filter(|m| m.len() <= 64).map(Self::Set),
            ("enum", Some(members)) => members_of(members).map(Self::Enum),
            ("json", None) => Some(Self::Json),
            ("year", None) => Some(Self::Year),
            ("year", Some(width)) if width.trim() == "4" => Some(Self::Year),
            (name, None) => SPATIAL
                .iter()
                .find(|spatial| **spatial == name)
                .map(|spatial| Self::Spatial(spatial)),
            _ => None,
        }
    }

    /// The type as it goes into a `CREATE TABLE`.
    pub fn sql(&self) -> String {
        match self {
            Self::Time(0) => "TIME".into(),
            Self::Time(fsp) => format!("TIME({fsp})"),
            Self::Bit(width) => format!("BIT({width})"),
            Self::Set(members) => format!("SET({})", quoted(members)),
            Self::Enum(members) => format!("ENUM({})", quoted(members)),
            Self::Json => "JSON".into(),
            Self::Year => "YEAR".into(),
            Self::Spatial(name) => name.to_ascii_uppercase(),
        }
    }

    /// Whether values of `arrow` are what a column of this type was read as, so they can be
    /// written back into it.
    pub fn holds(&self, arrow: &DataType) -> bool {
        match self {
            Self::Time(_) | Self::Set(_) | Self::Enum(_) | Self::Json => {
                matches!(
                    arrow,
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                )
            }
            Self::Bit(_) => *arrow == DataType::UInt64,
            Self::Year => *arrow == DataType::Int16,
            Self::Spatial(_) => matches!(
                arrow,
                DataType::Binary | DataType::LargeBinary | DataType::BinaryView
            ),
        }
    }

    /// The kept type of a field, when its metadata names one its values fit.
    pub fn of(field: &Field) -> Option<Self> {
        field
            .metadata()
            .get(MYSQL_TYPE)
            .and_then(|declared| Self::parse(declared))
            .filter(|kept| kept.holds(field.data_type()))
    }
}

/// The members of a `SET` or `ENUM` as the catalog lists them: `'a','b''s'`. A member with a
/// backslash is refused (its meaning depends on the server's SQL mode), as is anything that is
/// not a list of quoted strings.
fn members_of(list: &str) -> Option<Vec<String>> {
    let mut members = Vec::new();
    let mut chars = list.trim().chars().peekable();
    loop {
        if chars.next()? != '\'' {
            return None;
        }
        let mut member = String::new();
        loop {
            match chars.next()? {
                '\'' if chars.peek() == Some(&'\'') => {
                    chars.next();
                    member.push('\'');
                }
                '\'' => break,
                '\\' => return None,
                c => member.push(c),
            }
        }
        members.push(member);
        if members.len() > MAX_MEMBERS {
            return None;
        }
        match chars.next() {
            None => return Some(members),
            Some(',') => {}
            Some(_) => return None,
        }
    }
}

fn quoted(members: &[String]) -> String {
    members
        .iter()
        .map(|m| format!("'{}'", m.replace('\'', "''")))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_s_types_are_read_and_written_again() {
        for (declared, sql) in [
            ("time", "TIME"),
            ("time(3)", "TIME(3)"),
            ("bit(4)", "BIT(4)"),
            ("bit(64)", "BIT(64)"),
            ("set('a','b','c')", "SET('a','b','c')"),
            ("enum('x','it''s','')", "ENUM('x','it''s','')"),
            ("json", "JSON"),
            ("year(4)", "YEAR"),
            ("year", "YEAR"),
            ("point", "POINT"),
            ("geomcollection", "GEOMCOLLECTION"),
            ("SET('Δ','b c')", "SET('Δ','b c')"),
        ] {
            let kept = KeptType::parse(declared).unwrap_or_else(|| panic!("{declared}"));
            assert_eq!(kept.sql(), sql);
            assert_eq!(KeptType::parse(&kept.sql()), Some(kept), "{declared}");
        }
    }

    #[test]
    fn anything_else_is_not_a_kept_type() {
        for declared in [
            "int",
            "varchar(10)",
            "time(7)",
            "bit(0)",
            "bit(65)",
            "set('a'",
            "set('a' 'b')",
            "set('a'), x int",
            "enum('a'); DROP TABLE t; --')",
            "set('a\\'), b INT, c ENUM(''')",
            "enum(a)",
            "point(1)",
            "year(2)",
            "set()",
            "",
        ] {
            assert_eq!(KeptType::parse(declared), None, "{declared}");
        }
        let members: Vec<String> = (0..65).map(|i| format!("'{i}'")).collect();
        assert_eq!(
            KeptType::parse(&format!("set({})", members.join(","))),
            None
        );
    }

    #[test]
    fn a_kept_type_is_used_only_for_the_values_it_was_read_as() {
        let field = |data_type, declared: &str| {
            Field::new("c", data_type, true).with_metadata(
                [(MYSQL_TYPE.to_owned(), declared.to_owned())]
                    .into_iter()
                    .collect(),
            )
        };
        assert_eq!(
            KeptType::of(&field(DataType::UInt64, "bit(4)")),
            Some(KeptType::Bit(4))
        );
        assert_eq!(KeptType::of(&field(DataType::Utf8, "bit(4)")), None);
        assert_eq!(KeptType::of(&field(DataType::Int64, "time")), None);
        assert_eq!(
            KeptType::of(&field(DataType::Binary, "point")),
            Some(KeptType::Spatial("point"))
        );
        assert_eq!(KeptType::of(&Field::new("c", DataType::Utf8, true)), None);
    }
}
