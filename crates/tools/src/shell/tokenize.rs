//! Splits an interactive command line into words the way zkCli does: whitespace separates words, and a
//! word that starts with a single or double quote runs to the matching quote (quotes removed), so
//! `create /x "hello world"` stores `hello world`.

/// The words of `line`. An unterminated quote takes the rest of the line.
pub(crate) fn tokenize(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut rest = line.trim_start();
    while let Some(first) = rest.chars().next() {
        let (word, after) = if first == '"' || first == '\'' {
            let body = &rest[first.len_utf8()..];
            match body.find(first) {
                Some(end) => (&body[..end], &body[end + first.len_utf8()..]),
                None => (body, ""),
            }
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            (&rest[..end], &rest[end..])
        };
        words.push(word.to_owned());
        rest = after.trim_start();
    }
    words
}

#[cfg(test)]
mod tests {
    use super::tokenize;

    #[test]
    fn splits_on_whitespace() {
        assert_eq!(tokenize("  ls   -s /a "), ["ls", "-s", "/a"]);
        assert!(tokenize("   ").is_empty());
    }

    #[test]
    fn quotes_group_words_and_are_removed() {
        assert_eq!(tokenize(r#"create /x "hello world" 'a b'"#), ["create", "/x", "hello world", "a b"]);
        assert_eq!(tokenize(r#"set /x """#), ["set", "/x", ""]);
    }

    #[test]
    fn unterminated_quote_takes_the_rest() {
        assert_eq!(tokenize("set /x 'abc def"), ["set", "/x", "abc def"]);
    }

    #[test]
    fn quote_inside_a_word_is_literal() {
        assert_eq!(tokenize(r#"set /x a"b"#), ["set", "/x", r#"a"b"#]);
    }
}
