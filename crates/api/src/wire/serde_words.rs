//! serde's messages about a request's shape, said in Sluice's words. serde writes for Rust
//! programmers (`invalid type: floating point `1e+20`, expected i64`); a client needs the rule
//! its value broke (`must be a whole number`). Sluice's own messages (a name's rules, a key
//! given twice) pass as they are.

/// `message` in a client's words when it is one of serde's; itself otherwise.
pub fn plain(message: &str) -> String {
    if let Some(rest) = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))
    {
        return match rest.rsplit_once(", expected ") {
            Some((_, expected)) => format!("must be {}", expected_words(expected)),
            None => "has the wrong type".into(),
        };
    }
    if let Some(rest) = message.strip_prefix("invalid length ") {
        return match rest.split_once(", expected ") {
            Some((_, expected)) => format!("must have {expected}"),
            None => "has the wrong number of entries".into(),
        };
    }
    if message.starts_with("unknown variant ") {
        return match message.split_once(", expected ") {
            Some((_, expected)) => format!("must be {}", choices(expected)),
            None => "is not one of the values allowed".into(),
        };
    }
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let name = first_quoted(rest).unwrap_or_default();
        return match rest.split_once(", expected ") {
            Some((_, expected)) => {
                format!(
                    "'{name}' is not a field here; the fields are {}",
                    choices(expected)
                )
            }
            None => format!("'{name}' is not a field here"),
        };
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        return format!("'{}' is required", first_quoted(rest).unwrap_or_default());
    }
    if let Some(rest) = message.strip_prefix("duplicate field ") {
        return format!(
            "'{}' is given twice",
            first_quoted(rest).unwrap_or_default()
        );
    }
    message.to_owned()
}

/// What serde says it expected (`i64`, `a string`, `struct Output`), for a person.
fn expected_words(expected: &str) -> String {
    let words = match expected.trim() {
        "u8" => "a whole number from 0 to 255",
        "u16" => "a whole number from 0 to 65535",
        "u32" => "a whole number from 0 to 4294967295",
        "u64" | "usize" => "a whole number from 0",
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number",
        "f32" | "f64" => "a number",
        "a boolean" | "bool" => "true or false",
        "a sequence" => "a list",
        "a map" => "an object",
        "a string" | "a borrowed string" | "a character" => "a string",
        other if other.starts_with("struct ") || other.starts_with("a map") => "an object",
        other if other.starts_with("enum ") => "one of the values allowed",
        other if other.starts_with('`') || other.starts_with("one of ") => {
            return choices(other);
        }
        other if other.starts_with("a ") || other.starts_with("an ") => other,
        _ => "of another type",
    };
    words.to_owned()
}

/// serde's list of names (`one of `a`, `b``, `` `a` or `b` ``) as `'a' or 'b'`.
fn choices(expected: &str) -> String {
    let names: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    match names.as_slice() {
        [] => "one of the values allowed".into(),
        [one] => format!("'{one}'"),
        [init @ .., last] => {
            let init: Vec<String> = init.iter().map(|name| format!("'{name}'")).collect();
            format!("{} or '{last}'", init.join(", "))
        }
    }
}

fn first_quoted(text: &str) -> Option<&str> {
    text.split('`').nth(1)
}

#[cfg(test)]
mod tests {
    use super::plain;

    #[test]
    fn serdes_words_become_the_rule_the_value_broke() {
        assert_eq!(
            plain("invalid type: floating point `1e+20`, expected i64"),
            "must be a whole number"
        );
        assert_eq!(
            plain("invalid value: integer `70000`, expected u16"),
            "must be a whole number from 0 to 65535"
        );
        assert_eq!(
            plain("invalid type: integer `42`, expected a string"),
            "must be a string"
        );
        assert_eq!(
            plain("unknown variant `upsert`, expected `replace` or `append`"),
            "must be 'replace' or 'append'"
        );
        assert_eq!(
            plain("unknown field `nme`, expected one of `name`, `type`, `connection`"),
            "'nme' is not a field here; the fields are 'name', 'type' or 'connection'"
        );
        assert_eq!(plain("missing field `name`"), "'name' is required");
        assert_eq!(
            plain("invalid type: map, expected struct Output"),
            "must be an object"
        );
    }

    #[test]
    fn sluices_own_words_pass_as_they_are() {
        for message in [
            "must be lower-case letters, digits and _",
            "the key 'name' is given twice",
        ] {
            assert_eq!(plain(message), message);
        }
    }
}
