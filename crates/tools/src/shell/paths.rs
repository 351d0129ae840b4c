//! Client-side znode path checks with the messages of ZooKeeper's `PathUtils.validatePath`, so a bad path
//! is reported the way zkCli reports it instead of as a generic client-library error.

/// Checks `path`; `sequential` paths are checked with a digit appended, as the server will append one.
pub(crate) fn validate(path: &str, sequential: bool) -> Result<(), String> {
    if sequential {
        return validate(&format!("{path}1"), false);
    }
    if path.is_empty() {
        return Err("Path length must be > 0".to_owned());
    }
    if !path.starts_with('/') {
        return Err("Path must start with / character".to_owned());
    }
    if path.len() == 1 {
        return Ok(());
    }
    if path.ends_with('/') {
        return Err("Path must not end with / character".to_owned());
    }
    match first_problem(path) {
        Some(reason) => Err(format!("Invalid path string \"{path}\" caused by {reason}")),
        None => Ok(()),
    }
}

fn first_problem(path: &str) -> Option<String> {
    let chars: Vec<char> = path.chars().collect();
    for (i, &c) in chars.iter().enumerate().skip(1) {
        let last = chars.get(i - 1).copied().unwrap_or('/');
        let before_last = i.checked_sub(2).and_then(|j| chars.get(j)).copied();
        let next = chars.get(i + 1).copied();
        let ends_segment = next.is_none_or(|n| n == '/');
        if c == '\0' {
            return Some(format!("null character not allowed @{i}"));
        } else if c == '/' && last == '/' {
            return Some(format!("empty node name specified @{i}"));
        } else if c == '.' && ends_segment && (last == '/' || (last == '.' && before_last == Some('/'))) {
            return Some(format!("relative paths not allowed @{i}"));
        } else if is_invalid_char(c) {
            return Some(format!("invalid character @{i}"));
        }
    }
    None
}

fn is_invalid_char(c: char) -> bool {
    matches!(c, '\u{1}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{e000}'..='\u{f8ff}' | '\u{fff0}'..='\u{ffff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_good_paths() {
        for path in ["/", "/a", "/a/b.c", "/x hello", "/a/..b"] {
            assert_eq!(validate(path, false), Ok(()), "{path}");
        }
        assert_eq!(validate("/a/", true), Ok(()));
    }

    #[test]
    fn rejects_like_zookeeper() {
        assert_eq!(validate("a", false).unwrap_err(), "Path must start with / character");
        assert_eq!(validate("/a/", false).unwrap_err(), "Path must not end with / character");
        assert_eq!(validate("", false).unwrap_err(), "Path length must be > 0");
        assert_eq!(
            validate("/a//b", false).unwrap_err(),
            "Invalid path string \"/a//b\" caused by empty node name specified @3"
        );
        assert_eq!(
            validate("/a/..", false).unwrap_err(),
            "Invalid path string \"/a/..\" caused by relative paths not allowed @4"
        );
        assert_eq!(
            validate("/a/.", false).unwrap_err(),
            "Invalid path string \"/a/.\" caused by relative paths not allowed @3"
        );
        assert_eq!(
            validate("/a\u{1}", false).unwrap_err(),
            "Invalid path string \"/a\u{1}\" caused by invalid character @2"
        );
    }
}
