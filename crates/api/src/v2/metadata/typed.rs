//! Metadata rows as `/v2` answers them: snake_case keys, numbers as JSON numbers, an empty source
//! string as `null`. A time in a date column (`entry-date`, `start-date`, …) is RFC 3339 with its
//! zone: the pipelines write UTC without saying so, so a time without a zone is given `Z`; a date
//! stays a date (`2021-12-08`).

use serde_json::{Map, Number, Value as Json};
use sluice_domain::metadata::{Record, Value};

/// A column that a text source (a CSV file) holds numbers in, and which kind.
#[derive(Debug, Clone, Copy)]
pub enum Numeric {
    Integer,
    Decimal,
}

/// A column name as `/v2` spells it: `issue-type` is `issue_type`.
pub fn snake(name: &str) -> String {
    name.replace('-', "_")
}

/// Text as `/v2` answers it: the empty string, which a CSV cell holds for "no value", is `null`.
pub fn text(value: Option<String>) -> Option<String> {
    value.filter(|s| !s.is_empty())
}

/// One cell; `numeric` says how a text cell of a numeric column reads. Text that does not read
/// as its column's number stays text rather than being lost.
pub fn cell(value: Value, numeric: Option<Numeric>) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(b),
        Value::Int(n) => Json::from(n),
        Value::Float(x) => Number::from_f64(x).map_or(Json::Null, Json::Number),
        Value::Text(s) if s.is_empty() => Json::Null,
        Value::Text(s) => match numeric {
            Some(Numeric::Integer) => s.parse::<i64>().map_or(Json::String(s), Json::from),
            Some(Numeric::Decimal) => s
                .parse::<f64>()
                .ok()
                .and_then(Number::from_f64)
                .map_or(Json::String(s), Json::Number),
            None => Json::String(s),
        },
        Value::List(items) => Json::Array(items.into_iter().map(|v| cell(v, None)).collect()),
        Value::Object(record) => Json::Object(object(record, &[])),
    }
}

/// A row as a JSON object with snake_case keys; `numeric` names the text columns that hold
/// numbers, by their source names.
pub fn object(record: Record, numeric: &[(&str, Numeric)]) -> Map<String, Json> {
    record
        .0
        .into_iter()
        .map(|(name, value)| {
            let kind = numeric
                .iter()
                .find(|(column, _)| *column == name)
                .map(|(_, kind)| *kind);
            let value = match value {
                Value::Text(text) if is_date_column(&name) => Value::Text(with_zone(text)),
                other => other,
            };
            (snake(&name), cell(value, kind))
        })
        .collect()
}

/// The archive's date columns: `entry-date`, `start-date`, `end-date`, ….
fn is_date_column(name: &str) -> bool {
    name == "date" || name.ends_with("-date") || name.ends_with("_date")
}

/// A time without a zone, as the pipelines write UTC, in RFC 3339 with `Z`; anything else (a
/// date, a time with its zone, text that is no time) as it is.
fn with_zone(text: String) -> String {
    const FORMATS: [&str; 2] = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"];
    FORMATS
        .iter()
        .find_map(|format| chrono::NaiveDateTime::parse_from_str(&text, format).ok())
        .map_or(text, |time| {
            time.and_utc()
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(pairs: &[(&str, Value)]) -> Record {
        Record(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn keys_are_snake_case_and_empty_text_is_null() {
        let row = record(&[
            ("entry-date", Value::Text("2021-12-08T00:45:14".into())),
            ("exception", Value::Text(String::new())),
            ("count", Value::Int(3)),
            ("ratio", Value::Float(0.5)),
        ]);
        assert_eq!(
            Json::Object(object(row, &[])),
            serde_json::json!({
                "entry_date": "2021-12-08T00:45:14Z",
                "exception": null,
                "count": 3,
                "ratio": 0.5,
            })
        );
    }

    #[test]
    fn times_in_date_columns_get_their_zone_and_dates_stay_dates() {
        let row = record(&[
            (
                "entry-date",
                Value::Text("2021-12-08T00:45:14.095210".into()),
            ),
            ("start-date", Value::Text("2021-02-01".into())),
            ("end-date", Value::Text("2022-01-01T10:00:00+01:00".into())),
            ("note", Value::Text("2021-12-08T00:45:14".into())),
        ]);
        assert_eq!(
            Json::Object(object(row, &[])),
            serde_json::json!({
                "entry_date": "2021-12-08T00:45:14.095210Z",
                "start_date": "2021-02-01",
                "end_date": "2022-01-01T10:00:00+01:00",
                "note": "2021-12-08T00:45:14",
            })
        );
    }

    #[test]
    fn numeric_text_columns_become_numbers_and_other_text_is_kept() {
        let row = record(&[
            ("bytes", Value::Text("226497".into())),
            ("elapsed", Value::Text("0.111".into())),
            ("status", Value::Text("not a number".into())),
            ("reference", Value::Text("0123".into())),
        ]);
        let numeric = [
            ("bytes", Numeric::Integer),
            ("elapsed", Numeric::Decimal),
            ("status", Numeric::Integer),
        ];
        assert_eq!(
            Json::Object(object(row, &numeric)),
            serde_json::json!({
                "bytes": 226497,
                "elapsed": 0.111,
                "status": "not a number",
                "reference": "0123",
            })
        );
    }
}
