//! Command flags parsed like zkCli's (Apache commons-cli `PosixParser`): flags may appear before or after
//! the positional words, `-sw` is `-s -w`, a flag that takes a value takes the next word (or the rest of
//! its own word, `-v3`), multi-letter flags such as reconfig's `-members` are matched whole, and `--`
//! ends the flags.

/// One flag a command accepts.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Flag {
    pub name: &'static str,
    pub takes_value: bool,
}

impl Flag {
    pub const fn switch(name: &'static str) -> Flag {
        Flag { name, takes_value: false }
    }

    pub const fn value(name: &'static str) -> Flag {
        Flag { name, takes_value: true }
    }
}

/// The flags that were given (in order, with their values) and the positional words.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    flags: Vec<(&'static str, Option<String>)>,
    pub args: Vec<String>,
}

impl Parsed {
    /// Every word positional, none a flag.
    pub fn plain(words: &[String]) -> Parsed {
        Parsed { flags: Vec::new(), args: words.to_vec() }
    }

    pub fn has(&self, name: &str) -> bool {
        self.flags.iter().any(|(n, _)| *n == name)
    }

    /// The value of the last occurrence of a value flag.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.flags.iter().rev().find(|(n, _)| *n == name).and_then(|(_, v)| v.as_deref())
    }

    /// The positional word at `index`, if given.
    pub fn arg(&self, index: usize) -> Option<&str> {
        self.args.get(index).map(String::as_str)
    }
}

/// Parses `words` (the command name already removed) against `flags`; the error is the message zkCli
/// prints for an unknown flag or a flag missing its value.
pub(crate) fn parse(words: &[String], flags: &[Flag]) -> Result<Parsed, String> {
    let mut parsed = Parsed::default();
    let mut words = words.iter();
    while let Some(word) = words.next() {
        if word == "--" {
            parsed.args.extend(words.by_ref().cloned());
            break;
        }
        let Some(body) = word.strip_prefix('-').filter(|body| !body.is_empty()) else {
            parsed.args.push(word.clone());
            continue;
        };
        if let Some(flag) = flags.iter().find(|f| f.name == body) {
            let value = if flag.takes_value { Some(next_value(&mut words, flag)?) } else { None };
            parsed.flags.push((flag.name, value));
            continue;
        }
        burst(body, flags, &mut words, &mut parsed)?;
    }
    Ok(parsed)
}

/// `-sw` → `-s -w`; `-v3` → `-v 3`.
fn burst<'a>(
    body: &str,
    flags: &[Flag],
    words: &mut impl Iterator<Item = &'a String>,
    parsed: &mut Parsed,
) -> Result<(), String> {
    for (at, c) in body.char_indices() {
        let name = &body[at..at + c.len_utf8()];
        let Some(flag) = flags.iter().find(|f| f.name == name) else {
            return Err(format!("Unrecognized option: -{body}"));
        };
        if flag.takes_value {
            let attached = &body[at + c.len_utf8()..];
            let value = if attached.is_empty() { next_value(words, flag)? } else { attached.to_owned() };
            parsed.flags.push((flag.name, Some(value)));
            return Ok(());
        }
        parsed.flags.push((flag.name, None));
    }
    Ok(())
}

fn next_value<'a>(words: &mut impl Iterator<Item = &'a String>, flag: &Flag) -> Result<String, String> {
    words.next().cloned().ok_or_else(|| format!("Missing argument for option: {}", flag.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLAGS: &[Flag] = &[Flag::switch("s"), Flag::switch("w"), Flag::value("v"), Flag::value("members")];

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn flags_anywhere_and_bundled() {
        let p = parse(&words("/a -sw x -v 3"), FLAGS).unwrap();
        assert!(p.has("s") && p.has("w"));
        assert_eq!(p.value("v"), Some("3"));
        assert_eq!(p.args, ["/a", "x"]);
    }

    #[test]
    fn attached_value_and_long_flag() {
        let p = parse(&words("-v7 -members a=b"), FLAGS).unwrap();
        assert_eq!(p.value("v"), Some("7"));
        assert_eq!(p.value("members"), Some("a=b"));
    }

    #[test]
    fn unknown_flag_and_missing_value() {
        assert_eq!(parse(&words("-z /a"), FLAGS).unwrap_err(), "Unrecognized option: -z");
        assert_eq!(parse(&words("/a -v"), FLAGS).unwrap_err(), "Missing argument for option: v");
    }

    #[test]
    fn double_dash_ends_flags() {
        let p = parse(&words("-- -s /a"), FLAGS).unwrap();
        assert!(!p.has("s"));
        assert_eq!(p.args, ["-s", "/a"]);
    }

    #[test]
    fn lone_dash_is_a_word() {
        assert_eq!(parse(&words("/a -"), FLAGS).unwrap().args, ["/a", "-"]);
    }
}
