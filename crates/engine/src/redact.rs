//! Keeps values read from a source out of a flow's error lines. Drivers and the engine quote the
//! value that failed ("Cannot cast string 'hunter2' to value of Int32 type", PostgreSQL's
//! `invalid input syntax for type integer: "hunter2"`, MySQL's `Duplicate entry 'x'`), and an
//! error line is shown to every reader of the flow and written to the log. Quoted text is kept
//! only where the word before it says it names something (`relation "orders"`, `column 'id'`),
//! which is how those messages name tables and columns; any other quoted text is hidden.

/// Words after which a quoted text is a name, not a value.
const NAMING_WORDS: &[&str] = &[
    "relation",
    "table",
    "column",
    "columns",
    "field",
    "schema",
    "database",
    "role",
    "user",
    "function",
    "constraint",
    "index",
    "key",
    "view",
    "sequence",
    "type",
    "store",
    "transform",
    "source",
    "output",
    "step",
    "file",
    "folder",
    "object",
    "bucket",
    "alias",
    "identifier",
];

/// What is shown instead of a hidden value.
pub const HIDDEN: &str = "…";

/// How the regex crate begins an error about a pattern, which it then quotes unquoted, on a line
/// of its own, with a caret under the fault and a last line `error: …` saying the rule broken.
/// DataFusion's regular expression functions take their pattern from a column as readily as
/// from a literal, so the pattern may be a value.
const REGEX_ERROR: &str = "regex parse error:";

/// `message` with every quoted text that is not a name replaced by [`HIDDEN`], and every regular
/// expression pattern that did not compile replaced by the rule it broke. A quote opens only
/// where a word does not go on before it, and closes only where none goes on after it, so an
/// apostrophe ("the database's tables") is not taken for one.
pub fn hide_values(message: &str) -> String {
    hide_quoted(&hide_patterns(message))
}

/// How DataFusion's regular expression functions begin an error about a pattern; what follows
/// is the regex crate's error, or the pattern alone (`regexp_count`).
const PATTERN_FAILED: &str = "Regular expression did not compile:";

/// `message` with the pattern of each regex error left out: `regex parse error: the pattern (…)
/// does not compile: unclosed group`. After DataFusion's own heading nothing is kept but the
/// rule broken, as some functions put the bare pattern there.
fn hide_patterns(message: &str) -> String {
    if let Some(at) = message.find(PATTERN_FAILED) {
        let after = &message[at + PATTERN_FAILED.len()..];
        let rule = after
            .match_indices('\n')
            .map(|(i, _)| &after[i + 1..])
            .find_map(|line| line.strip_prefix("error: "))
            .and_then(|rule| rule.lines().next());
        let mut out = message[..at].to_owned();
        out.push_str("a regular expression's pattern (");
        out.push_str(HIDDEN);
        out.push_str(") does not compile");
        if let Some(rule) = rule {
            out.push_str(": ");
            out.push_str(rule.trim_end());
        }
        return out;
    }
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find(REGEX_ERROR) {
        out.push_str(&rest[..at + REGEX_ERROR.len()]);
        let after = &rest[at + REGEX_ERROR.len()..];
        // The rule is on the first line that starts `error: ` (the pattern's own lines are
        // indented, so a pattern holding those words is not taken for it); without one,
        // nothing after the heading is known not to be the pattern.
        let rule = after
            .match_indices('\n')
            .map(|(i, _)| &after[i + 1..])
            .find_map(|line| line.strip_prefix("error: "));
        match rule {
            Some(rule) => {
                let (said, next) = rule.split_once('\n').unwrap_or((rule, ""));
                out.push_str(&format!(
                    " the pattern ({HIDDEN}) does not compile: {}",
                    said.trim_end()
                ));
                if !next.is_empty() {
                    out.push('\n');
                }
                rest = next;
            }
            None => {
                out.push_str(&format!(" the pattern ({HIDDEN}) does not compile"));
                return out;
            }
        }
    }
    out.push_str(rest);
    out
}

fn hide_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(open) = opening_quote(rest) {
        let quote = rest[open..].chars().next().unwrap_or('\'');
        out.push_str(&rest[..open]);
        let after_open = &rest[open + 1..];
        let Some(close) = closing_quote(after_open, quote) else {
            // An unclosed quote: what follows may be a cut-off value.
            out.push(quote);
            out.push_str(HIDDEN);
            return out;
        };
        let quoted = &after_open[..close];
        out.push(quote);
        if names_something(&out[..out.len() - 1]) {
            out.push_str(quoted);
        } else {
            out.push_str(HIDDEN);
        }
        out.push(quote);
        rest = &after_open[close + 1..];
    }
    out.push_str(rest);
    out
}

/// Where the first quote that opens a quoted text is in `text`.
fn opening_quote(text: &str) -> Option<usize> {
    let mut before: Option<char> = None;
    for (i, c) in text.char_indices() {
        if (c == '\'' || c == '"') && !before.is_some_and(char::is_alphanumeric) {
            return Some(i);
        }
        before = Some(c);
    }
    None
}

/// Where the quote that closes a text opened by `quote` is in `text` (which follows the opening).
fn closing_quote(text: &str, quote: char) -> Option<usize> {
    let mut candidates = text.char_indices().filter(|&(_, c)| c == quote).peekable();
    let first = candidates.peek().map(|&(i, _)| i);
    candidates
        .find(|&(i, _)| {
            !text[i + quote.len_utf8()..]
                .chars()
                .next()
                .is_some_and(char::is_alphanumeric)
        })
        .map(|(i, _)| i)
        .or(first)
}

/// Whether the text before a quote ends with a word that says the quoted text is a name.
fn names_something(before: &str) -> bool {
    let word = before
        .trim_end()
        .rsplit(|c: char| !c.is_alphanumeric() && c != '_')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    // `column "x"` and also `column: "x"`, but not `integer: "x"`.
    NAMING_WORDS.contains(&word.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_in_cast_and_parse_errors_are_hidden() {
        assert_eq!(
            hide_values(
                "Arrow error: Cast error: Cannot cast string 'pw-secret' to value of Int32 type"
            ),
            "Arrow error: Cast error: Cannot cast string '…' to value of Int32 type"
        );
        assert_eq!(
            hide_values(r#"invalid input syntax for type integer: "pw-secret""#),
            r#"invalid input syntax for type integer: "…""#
        );
        assert_eq!(
            hide_values("Duplicate entry 'pw-secret' for key 'PRIMARY'"),
            "Duplicate entry '…' for key 'PRIMARY'"
        );
        assert_eq!(
            hide_values("Error while parsing value 'x,y' as type Int64. Row data: '[a, b]'"),
            "Error while parsing value '…' as type Int64. Row data: '…'"
        );
        assert_eq!(hide_values("cut off 'pw-sec"), "cut off '…");
        assert_eq!(
            hide_values("Cannot cast string 'it's mine' to value"),
            "Cannot cast string '…' to value"
        );
    }

    #[test]
    fn a_pattern_that_does_not_compile_is_not_shown_and_its_rule_is() {
        let said = "Arrow error: Compute error: Regular expression did not compile: \
                    ParseError(regex parse error:\n    TOPSECRET_(42\n    ^\nerror: unclosed group\n)";
        let shown = hide_values(said);
        assert!(!shown.contains("TOPSECRET"), "{shown}");
        let bare = hide_values(
            "Arrow error: Compute error: Regular expression did not compile: TOPSECRET_(42",
        );
        assert!(!bare.contains("TOPSECRET"), "{bare}");
        assert!(bare.ends_with("pattern (…) does not compile"), "{bare}");
        assert!(
            shown.contains("does not compile: unclosed group"),
            "{shown}"
        );
        let cut = hide_values("regex parse error:\n    TOPSECRET_(42\n    ^");
        assert!(!cut.contains("TOPSECRET"), "{cut}");
        let posing =
            hide_values("regex parse error:\n    error: TOPSECRET(\n    ^\nerror: unclosed group");
        assert!(!posing.contains("TOPSECRET"), "{posing}");
    }

    #[test]
    fn names_stay() {
        for message in [
            r#"relation "missing" does not exist"#,
            "column 'amount' is read as Int64 but row 3 holds a TEXT value",
            r#"permission denied for table "orders""#,
            "a source query only reads the database's tables: ATTACH is not allowed",
            "it can't be read",
            "no quotes at all",
        ] {
            assert_eq!(hide_values(message), message);
        }
    }
}
