//! Znode path rules (`PathUtils.validatePath`) and path arithmetic.
//!
//! ZooKeeper keeps the root under two names, `/` and `""`; path arithmetic here follows its
//! `substring(0, lastIndexOf('/'))`, so the parent of `/a` is `/` and the parent of `/` is `""`.

use paddock_proto::ErrorCode;

/// `PathUtils.validatePath`: absolute, no empty segment, no `.` or `..` segment, no trailing `/` (except
/// the root), and none of the characters ZooKeeper rejects. Any violation is `BadArguments`.
pub fn validate(path: &str) -> Result<(), ErrorCode> {
    if is_valid(path) { Ok(()) } else { Err(ErrorCode::BadArguments) }
}

/// The parent of `path`: everything before its last `/`, with the root's children answering `/`.
/// The root's parent, and the parent of a string without `/`, is `""`.
pub fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) if path.len() > 1 => "/",
        Some(i) => &path[..i],
        None => "",
    }
}

/// The last segment of `path` (the child name its parent lists).
pub fn name(path: &str) -> &str {
    match path.rfind('/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

fn is_valid(path: &str) -> bool {
    if !path.starts_with('/') {
        return false;
    }
    if path.len() == 1 {
        return true;
    }
    !path.ends_with('/') && path.split('/').skip(1).all(valid_segment)
}

fn valid_segment(segment: &str) -> bool {
    !segment.is_empty() && segment != "." && segment != ".." && segment.chars().all(valid_char)
}

/// Java checks UTF-16 code units, so every character outside the BMP (a surrogate pair there) is refused
/// along with the control, private-use and specials ranges.
fn valid_char(c: char) -> bool {
    let c = c as u32;
    !(c <= 0x1f || (0x7f..=0x9f).contains(&c) || (0xd800..=0xf8ff).contains(&c) || c >= 0xfff0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_zookeeper_accepts() {
        for ok in ["/", "/a", "/a/b", "/a.", "/.a", "/...", "/a/..b", "/zookeeper", "/é", "/a b", "/\u{fff}"] {
            assert_eq!(validate(ok), Ok(()), "{ok:?}");
        }
    }

    #[test]
    fn refuses_what_zookeeper_refuses() {
        for bad in [
            "",
            "a",
            "a/b",
            "/a/",
            "//",
            "/a//b",
            "/.",
            "/..",
            "/a/.",
            "/a/../b",
            "/a\0b",
            "/a\u{1}",
            "/\u{7f}",
            "/\u{9f}",
            "/\u{e000}",
            "/\u{f8ff}",
            "/\u{fff0}",
            "/\u{ffff}",
            "/\u{fffd}",
            "/\u{1f600}",
        ] {
            assert_eq!(validate(bad), Err(ErrorCode::BadArguments), "{bad:?}");
        }
    }

    #[test]
    fn parent_and_name() {
        assert_eq!(parent("/a/b"), "/a");
        assert_eq!(parent("/a"), "/");
        assert_eq!(parent("/"), "");
        assert_eq!(parent("a"), "");
        assert_eq!(parent("/a/"), "/a");
        assert_eq!(name("/a/b"), "b");
        assert_eq!(name("/a"), "a");
        assert_eq!(name("/"), "");
    }
}
