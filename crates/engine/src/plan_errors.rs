//! A transform's SQL that does not plan, said as the user's problem rather than the engine's.
//!
//! DataFusion explains a type mismatch from the inside: "Internal error: Function 'sum' failed to
//! match any signature … This issue was likely caused by a bug in DataFusion's code. Please help
//! us … filing a bug report", then every candidate signature. A user needs to hear which function
//! or operator, what it takes and what it got: `SUM needs a number, but column amount is text`.
//! Messages of shapes not recognised here keep DataFusion's words, without its boilerplate.

use datafusion::error::DataFusionError;

/// The message for a planning error of a transform whose SQL is `sql`.
pub fn readable(error: &DataFusionError, sql: &str) -> String {
    let message = error.to_string();
    if let Some(message) = function_mismatch(&message, sql) {
        return message;
    }
    if let Some(message) = operator_mismatch(&message) {
        return message;
    }
    plain(&message)
}

/// DataFusion's message without its prefixes, its bug-report plea and its line breaks.
fn plain(message: &str) -> String {
    let message = message
        .split("\nThis issue was likely caused by a bug")
        .next()
        .unwrap_or(message);
    let mut text = message.to_owned();
    for prefix in [
        "Error during planning: ",
        "Internal error: ",
        "Schema error: ",
    ] {
        text = text.replace(prefix, "");
    }
    let text = text
        .replace("No field named", "no column named")
        .replace(".\nValid fields are", "; the columns it can read are")
        .replace("Invalid function", "no function")
        .replace(".\nDid you mean", "; did you mean");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// "No function matches the given name and argument types 'sum(Utf8View)'", with its candidate
/// signatures: what the function needs, and what its argument is.
fn function_mismatch(message: &str, sql: &str) -> Option<String> {
    let marker = "argument types '";
    let start = message.find(marker)? + marker.len();
    let call = &message[start..start + message[start..].find('\'')?];
    let (name, arguments) = call.split_once('(')?;
    let got: Vec<&str> = split_types(arguments.strip_suffix(')')?);
    let wanted_first: Vec<&str> = message
        .lines()
        .filter_map(|line| line.trim().strip_prefix(name)?.strip_prefix('('))
        .filter_map(|args| split_types(args.strip_suffix(')')?).first().copied())
        .collect();
    let function = name.to_uppercase();
    let first = *got.first()?;
    let wants_number = !wanted_first.is_empty() && wanted_first.iter().any(|t| is_number(t));
    if wants_number && !is_number(first) {
        let argument = first_argument(sql, name)
            .map_or_else(|| "its argument".to_owned(), |a| describe_argument(&a));
        return Some(format!(
            "{function} needs a number, but {argument} is {}; cast it to one \
             (CAST(… AS DECIMAL(18, 2)) or CAST(… AS DOUBLE))",
            plain_type(first)
        ));
    }
    let got = got
        .iter()
        .map(|t| plain_type(t))
        .collect::<Vec<_>>()
        .join(", ");
    Some(format!(
        "{function} cannot take arguments of type ({got}); cast them to the types it takes"
    ))
}

/// "Cannot coerce arithmetic expression Utf8View + Int64 to valid types".
fn operator_mismatch(message: &str) -> Option<String> {
    let marker = "Cannot coerce arithmetic expression ";
    let start = message.find(marker)? + marker.len();
    let expression = &message[start..start + message[start..].find(" to valid types")?];
    let mut parts = expression.split_whitespace();
    let (left, operator, right) = (parts.next()?, parts.next()?, parts.next()?);
    Some(format!(
        "`{operator}` needs numbers (or dates and intervals) on both sides, but got {} and {}; \
         cast the {} side to a number",
        plain_type(left),
        plain_type(right),
        if is_number(left) { "right" } else { "left" }
    ))
}

/// Argument types as DataFusion lists them, split at the commas between them (not those inside
/// a type such as `Timestamp(ns, "UTC")`).
fn split_types(list: &str) -> Vec<&str> {
    let mut types = Vec::new();
    let (mut depth, mut from) = (0, 0);
    for (i, c) in list.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                types.push(list[from..i].trim());
                from = i + 1;
            }
            _ => {}
        }
    }
    if !list[from..].trim().is_empty() {
        types.push(list[from..].trim());
    }
    types
}

fn is_number(arrow_type: &str) -> bool {
    ["Int", "UInt", "Float", "Decimal", "Numeric", "Integer"]
        .iter()
        .any(|prefix| arrow_type.starts_with(prefix))
}

/// An Arrow type in a user's words.
fn plain_type(arrow_type: &str) -> &'static str {
    let words: [(&[&str], &str); 13] = [
        (&["Utf8", "LargeUtf8", "String"], "text"),
        (&["Int", "UInt", "Integer"], "an integer"),
        (&["Float"], "a floating-point number"),
        (&["Decimal", "Numeric"], "a decimal"),
        (&["Boolean"], "a boolean"),
        (&["Timestamp"], "a timestamp"),
        (&["Date"], "a date"),
        (&["Time"], "a time of day"),
        (&["Interval"], "an interval"),
        (&["Duration"], "a duration"),
        (&["Binary", "LargeBinary", "FixedSizeBinary"], "binary"),
        (&["List", "LargeList", "FixedSizeList"], "a list"),
        (&["Struct"], "a struct"),
    ];
    words
        .iter()
        .find(|(prefixes, _)| prefixes.iter().any(|p| arrow_type.starts_with(p)))
        .map_or("a value of another type", |(_, word)| word)
}

/// The first argument of the first call of `function` in `sql`, as written.
fn first_argument(sql: &str, function: &str) -> Option<String> {
    // ASCII only, so that byte positions in `lower` are positions in `sql` too (a full
    // lowercase can change a character's length, and the slice below would then split one).
    let lower = sql.to_ascii_lowercase();
    let call = format!("{}(", function.to_ascii_lowercase());
    let mut search = 0;
    let start = loop {
        let at = search + lower[search..].find(&call)?;
        // A whole word: not the end of a longer name (`checksum(`).
        let before = lower[..at].chars().next_back();
        if !before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            break at + call.len();
        }
        search = at + call.len();
    };
    let mut depth = 0;
    for (i, c) in sql[start..].char_indices() {
        match c {
            '(' => depth += 1,
            ')' | ',' if depth == 0 => return Some(sql[start..start + i].trim().to_owned()),
            ')' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// "column amount" for a plain column reference, else the expression in backquotes.
fn describe_argument(argument: &str) -> String {
    let name = argument
        .rsplit('.')
        .next()
        .unwrap_or(argument)
        .trim_matches('"');
    let plain_name = !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_');
    if plain_name && !argument.contains(' ') {
        format!("column {name}")
    } else {
        format!("`{argument}`")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    async fn planning_error(sql: &str) -> String {
        let ctx = SessionContext::new();
        ctx.sql(
            "CREATE TABLE orders (customer_id INT, amount VARCHAR, at TIMESTAMP) \
             AS VALUES (1, '2', now())",
        )
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
        let Err(error) = ctx.sql(sql).await else {
            panic!("{sql} planned");
        };
        readable(&error, sql)
    }

    #[tokio::test]
    async fn an_aggregate_of_text_says_it_needs_a_number_and_names_the_column() {
        let message =
            planning_error("SELECT customer_id, SUM(amount) FROM orders GROUP BY 1").await;
        assert!(
            message.starts_with("SUM needs a number, but column amount is text"),
            "{message}"
        );
        assert!(!message.contains("bug"), "{message}");
        let message = planning_error("SELECT avg(o.amount) FROM orders o").await;
        assert!(
            message.starts_with("AVG needs a number, but column amount is text"),
            "{message}"
        );
        let message = planning_error("SELECT sum(trim(amount)) FROM orders").await;
        assert!(message.contains("but `trim(amount)` is text"), "{message}");
        // A character whose lowercase is longer comes before the call.
        let message = planning_error("SELECT 'İİİ' AS x, SUM(amount) FROM orders").await;
        assert!(message.contains("but column amount is text"), "{message}");
    }

    #[tokio::test]
    async fn arithmetic_on_text_says_which_side_to_cast() {
        let message = planning_error("SELECT amount * 2 FROM orders").await;
        assert!(
            message.starts_with(
                "`*` needs numbers (or dates and intervals) on both sides, but got text and an integer; cast the left side"
            ),
            "{message}"
        );
    }

    #[tokio::test]
    async fn other_planning_errors_lose_only_the_engine_s_boilerplate() {
        let message = planning_error("SELECT nope FROM orders").await;
        assert!(
            message.starts_with("no column named nope; the columns it can read are"),
            "{message}"
        );
        assert!(!message.contains('\n'), "{message}");
        let message = planning_error("SELECT frobnicate(amount) FROM orders").await;
        assert!(message.starts_with("no function 'frobnicate'"), "{message}");
        let message = planning_error("SELECT round(amount, 2) FROM orders").await;
        assert!(
            message.starts_with("ROUND needs a number, but column amount is text"),
            "{message}"
        );
    }
}
