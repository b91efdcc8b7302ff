//! Values of metadata rows whose columns the archive defines (performance tables, specification
//! fields), kept free of any wire format.

/// One cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    List(Vec<Value>),
    Object(Record),
}

/// A row: its columns in the order the source defines them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Record(pub Vec<(String, Value)>);

impl Record {
    pub fn get(&self, column: &str) -> Option<&Value> {
        self.0
            .iter()
            .find(|(name, _)| name == column)
            .map(|(_, v)| v)
    }
}

impl From<serde_json::Value> for Value {
    fn from(json: serde_json::Value) -> Self {
        use serde_json::Value as Json;
        match json {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(b),
            Json::Number(n) => n
                .as_i64()
                .map(Value::Int)
                .unwrap_or_else(|| Value::Float(n.as_f64().unwrap_or(f64::NAN))),
            Json::String(s) => Value::Text(s),
            Json::Array(items) => Value::List(items.into_iter().map(Value::from).collect()),
            Json::Object(map) => Value::Object(Record(
                map.into_iter().map(|(k, v)| (k, Value::from(v))).collect(),
            )),
        }
    }
}
