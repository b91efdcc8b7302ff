//! SQL text with its parameters: fixed fragments and known column names go into the text, every
//! client value becomes a parameter.

/// How a backend writes the `n`th parameter (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placeholders {
    /// SQLite's numbered `?1`, bound in order.
    Numbered,
    /// Datasette's named `:p1`, sent as query-string parameters `p1=…`.
    Named,
}

#[derive(Debug, Clone)]
pub(crate) struct Sql {
    pub text: String,
    pub params: Vec<String>,
    style: Placeholders,
}

impl Sql {
    pub fn new(style: Placeholders) -> Self {
        Self {
            text: String::new(),
            params: Vec::new(),
            style,
        }
    }

    /// Appends a fixed fragment. Never pass it a client's value.
    pub fn push(&mut self, fragment: &str) -> &mut Self {
        self.text.push_str(fragment);
        self
    }

    /// Appends a placeholder for `value`.
    pub fn bind(&mut self, value: impl Into<String>) -> &mut Self {
        self.params.push(value.into());
        let n = self.params.len();
        match self.style {
            Placeholders::Numbered => self.text.push_str(&format!("?{n}")),
            Placeholders::Named => self.text.push_str(&format!(":p{n}")),
        }
        self
    }
}

/// A column name as a quoted SQL identifier. Only names Sluice knows, or names a database
/// reported about itself, are quoted this way.
pub(crate) fn quoted(column: &str) -> String {
    format!("\"{}\"", column.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_become_parameters_in_either_style() {
        for (style, expected) in [
            (Placeholders::Numbered, "SELECT 1 WHERE a = ?1 AND b = ?2"),
            (Placeholders::Named, "SELECT 1 WHERE a = :p1 AND b = :p2"),
        ] {
            let mut sql = Sql::new(style);
            sql.push("SELECT 1 WHERE a = ")
                .bind("x' OR '1'='1")
                .push(" AND b = ")
                .bind("y");
            assert_eq!(sql.text, expected);
            assert_eq!(sql.params, ["x' OR '1'='1", "y"]);
        }
    }

    #[test]
    fn quoted_identifiers_escape_quotes() {
        assert_eq!(quoted("issue_type"), "\"issue_type\"");
        assert_eq!(quoted("a\"b"), "\"a\"\"b\"");
    }
}
