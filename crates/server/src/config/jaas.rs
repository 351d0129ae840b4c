//! JAAS login configuration files, in the syntax Java's `ConfigFile` reads, for the file named by
//! `java.security.auth.login.config`:
//!
//! ```text
//! // comments as in Java, also /* ... */
//! Server {
//!     org.apache.zookeeper.server.auth.DigestLoginModule required
//!     user_super="adminsecret"
//!     user_bob="bobsecret";
//! };
//! ```
//!
//! A section (a login context) names login modules, each with a control flag (`required`, `requisite`,
//! `sufficient`, `optional`) and `key=value` options ending in `;`. Values are words or quoted strings
//! (`"..."` or `'...'`, with backslash escapes). As in Java, a name given to two sections is an error.
//! Java's `${property}` expansion is not done. Option values may be passwords: they never appear in an
//! error or in `Debug` output.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// A parsed JAAS file: its sections in file order.
#[derive(Debug, Default)]
pub struct JaasConfig {
    pub sections: Vec<Section>,
}

/// One login context, e.g. `Server`.
#[derive(Debug)]
pub struct Section {
    pub name: String,
    pub modules: Vec<LoginModule>,
}

/// One login module line of a section.
pub struct LoginModule {
    /// The module's class, e.g. `org.apache.zookeeper.server.auth.DigestLoginModule`.
    pub class: String,
    pub flag: ControlFlag,
    /// Its options; a key given twice keeps its last value, as Java's option map does.
    pub options: BTreeMap<String, String>,
}

/// Values are left out: they may be passwords (CVE-2026-24308).
impl fmt::Debug for LoginModule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginModule")
            .field("class", &self.class)
            .field("flag", &self.flag)
            .field("options", &self.options.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlFlag {
    Required,
    Requisite,
    Sufficient,
    Optional,
}

/// Why a JAAS file could not be used: the file, the line and the problem (never an option's value).
#[derive(Debug, thiserror::Error)]
pub enum JaasError {
    #[error("cannot read JAAS file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("JAAS file {path}:{line}: {problem}")]
    Syntax { path: PathBuf, line: usize, problem: String },
}

impl JaasConfig {
    /// Reads and parses the file at `path`.
    pub fn load(path: &Path) -> Result<JaasConfig, JaasError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| JaasError::Read { path: path.to_path_buf(), source })?;
        JaasConfig::parse(&text).map_err(|(line, problem)| JaasError::Syntax {
            path: path.to_path_buf(),
            line,
            problem,
        })
    }

    /// Parses JAAS text; an error is the line (from 1) and the problem.
    pub fn parse(text: &str) -> Result<JaasConfig, (usize, String)> {
        let tokens = tokenize(text)?;
        let end_line = tokens.last().map_or(1, |(line, _)| *line);
        Parser { tokens, next: 0, end_line }.file()
    }

    /// The section named `name`, if any.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }
}

#[derive(Debug, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Open,
    Close,
    Semicolon,
    Equals,
}

impl Token {
    /// What a message may say about the token: punctuation and words as written, quoted strings only as
    /// such (they may be passwords).
    fn describe(&self) -> String {
        match self {
            Token::Word(w) => format!("`{w}`"),
            Token::Quoted(_) => "a quoted string".to_string(),
            Token::Open => "`{`".to_string(),
            Token::Close => "`}`".to_string(),
            Token::Semicolon => "`;`".to_string(),
            Token::Equals => "`=`".to_string(),
        }
    }
}

/// A word: what Java's tokenizer takes unquoted (letters, digits, `.`, `_`, `$`, `-`, `*`).
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '.' | '_' | '$' | '-' | '*')
}

fn tokenize(text: &str) -> Result<Vec<(usize, Token)>, (usize, String)> {
    let mut tokens = Vec::new();
    let mut line = 1;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let token = match c {
            '\n' => {
                line += 1;
                continue;
            }
            c if c.is_whitespace() => continue,
            '/' if chars.peek() == Some(&'/') => {
                while chars.next_if(|&c| c != '\n').is_some() {}
                continue;
            }
            '/' if chars.peek() == Some(&'*') => {
                let start = line;
                chars.next();
                let mut star = false;
                loop {
                    match chars.next() {
                        Some('/') if star => break,
                        Some(c) => {
                            star = c == '*';
                            line += usize::from(c == '\n');
                        }
                        None => return Err((start, "unterminated /* comment".to_string())),
                    }
                }
                continue;
            }
            '{' => Token::Open,
            '}' => Token::Close,
            ';' => Token::Semicolon,
            '=' => Token::Equals,
            '"' | '\'' => Token::Quoted(quoted(&mut chars, c).map_err(|problem| (line, problem.to_string()))?),
            c if is_word_char(c) => {
                let mut word = c.to_string();
                while let Some(c) = chars.next_if(|&c| is_word_char(c)) {
                    word.push(c);
                }
                Token::Word(word)
            }
            c => return Err((line, format!("unexpected character {c:?}"))),
        };
        tokens.push((line, token));
    }
    Ok(tokens)
}

/// The rest of a string opened by `quote`, with Java's escapes; it must end on its line.
fn quoted(chars: &mut impl Iterator<Item = char>, quote: char) -> Result<String, &'static str> {
    let mut value = String::new();
    loop {
        match chars.next() {
            Some(c) if c == quote => return Ok(value),
            Some('\n') | None => return Err("unterminated quoted string"),
            Some('\\') => match chars.next() {
                Some('n') => value.push('\n'),
                Some('t') => value.push('\t'),
                Some('r') => value.push('\r'),
                Some('\n') | None => return Err("unterminated quoted string"),
                Some(c) => value.push(c),
            },
            Some(c) => value.push(c),
        }
    }
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    next: usize,
    /// The line of the last token, for "unexpected end of file".
    end_line: usize,
}

type Parsed<T> = Result<T, (usize, String)>;

impl Parser {
    fn file(mut self) -> Parsed<JaasConfig> {
        let mut config = JaasConfig::default();
        while self.next < self.tokens.len() {
            let (line, section) = self.section()?;
            if config.section(&section.name).is_some() {
                return Err((line, format!("section {} is given twice", section.name)));
            }
            config.sections.push(section);
        }
        Ok(config)
    }

    fn section(&mut self) -> Parsed<(usize, Section)> {
        let (line, name) = self.name("a section name")?;
        self.expect(&Token::Open, &format!("`{{` after section name {name}"))?;
        let mut modules = Vec::new();
        while !self.eat(&Token::Close) {
            modules.push(self.login_module(&name)?);
        }
        self.expect(&Token::Semicolon, &format!("`;` after the `}}` of section {name}"))?;
        Ok((line, Section { name, modules }))
    }

    fn login_module(&mut self, section: &str) -> Parsed<LoginModule> {
        let (_, class) = self.name(&format!("a login module class or `}}` in section {section}"))?;
        let (line, flag) = self.name(&format!("a control flag after {class}"))?;
        let flag = match flag.to_ascii_lowercase().as_str() {
            "required" => ControlFlag::Required,
            "requisite" => ControlFlag::Requisite,
            "sufficient" => ControlFlag::Sufficient,
            "optional" => ControlFlag::Optional,
            _ => {
                return Err((
                    line,
                    format!("invalid control flag {flag} for {class} (required, requisite, sufficient or optional)"),
                ));
            }
        };
        let mut options = BTreeMap::new();
        while !self.eat(&Token::Semicolon) {
            let (_, key) = self.name(&format!("an option or `;` after {class}"))?;
            self.expect(&Token::Equals, &format!("`=` after option {key}"))?;
            let value = match self.advance(&format!("a value for option {key}"))? {
                (_, Token::Word(v) | Token::Quoted(v)) => v,
                (line, other) => {
                    return Err((line, format!("expected a value for option {key}, found {}", other.describe())));
                }
            };
            options.insert(key, value);
        }
        Ok(LoginModule { class, flag, options })
    }

    /// A word or quoted string used as a name.
    fn name(&mut self, expected: &str) -> Parsed<(usize, String)> {
        match self.advance(expected)? {
            (line, Token::Word(name) | Token::Quoted(name)) => Ok((line, name)),
            (line, other) => Err((line, format!("expected {expected}, found {}", other.describe()))),
        }
    }

    fn expect(&mut self, token: &Token, expected: &str) -> Parsed<()> {
        match self.advance(expected)? {
            (_, found) if found == *token => Ok(()),
            (line, other) => Err((line, format!("expected {expected}, found {}", other.describe()))),
        }
    }

    fn eat(&mut self, token: &Token) -> bool {
        let found = self.tokens.get(self.next).is_some_and(|(_, t)| t == token);
        self.next += usize::from(found);
        found
    }

    fn advance(&mut self, expected: &str) -> Parsed<(usize, Token)> {
        let Some(slot) = self.tokens.get_mut(self.next) else {
            return Err((self.end_line, format!("unexpected end of file: expected {expected}")));
        };
        self.next += 1;
        let line = slot.0;
        Ok((line, std::mem::replace(&mut slot.1, Token::Semicolon)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZOOKEEPER_EXAMPLE: &str = r#"
/* The server side of ZooKeeper's DIGEST-MD5 example. */
Server {
       org.apache.zookeeper.server.auth.DigestLoginModule required
       user_super="adminsecret"   // the super user
       user_bob='bob\'s secret';
};
// A client section too, as one file often holds both.
Client {
       org.apache.zookeeper.server.auth.DigestLoginModule REQUIRED
       username="bob"
       password="bobsecret";
       com.example.Other optional debug=true;
};
"quoted name" { };
"#;

    #[test]
    fn reads_zookeepers_example() {
        let config = JaasConfig::parse(ZOOKEEPER_EXAMPLE).expect("parses");
        let names: Vec<&str> = config.sections.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["Server", "Client", "quoted name"]);
        let server = config.section("Server").expect("Server");
        assert_eq!(server.modules.len(), 1);
        let module = &server.modules[0];
        assert_eq!(module.class, "org.apache.zookeeper.server.auth.DigestLoginModule");
        assert_eq!(module.flag, ControlFlag::Required);
        assert_eq!(module.options["user_super"], "adminsecret");
        assert_eq!(module.options["user_bob"], "bob's secret");
        let client = config.section("Client").expect("Client");
        assert_eq!(client.modules[1].flag, ControlFlag::Optional);
        assert_eq!(client.modules[1].options["debug"], "true");
        assert!(config.section("quoted name").expect("quoted").modules.is_empty());
        assert!(config.section("server").is_none(), "names are case-sensitive");
        let debug = format!("{config:?}");
        assert!(debug.contains("user_bob") && !debug.contains("secret"), "{debug}");
    }

    #[test]
    fn empty_files_and_comment_only_files_have_no_sections() {
        for text in ["", "  \n", "// nothing\n/* at\nall */"] {
            assert!(JaasConfig::parse(text).expect(text).sections.is_empty());
        }
    }

    #[test]
    fn every_error_names_its_line_and_never_a_value() {
        let cases = [
            ("Server {\n  m.Module required\n  user_bob=\"hunter2\n};", 3, "unterminated quoted string"),
            ("Server {\n  m.Module required user_bob=\"hunter2\" ;\n", 2, "unexpected end of file: expected"),
            ("Server {\n  m.Module mandatory;\n};", 2, "invalid control flag mandatory"),
            ("Server {\n  m.Module required\n  user_bob \"hunter2\";\n};", 3, "expected `=` after option user_bob"),
            ("Server {\n m.Module required\n user_bob=;\n};", 3, "expected a value for option user_bob, found `;`"),
            ("Server {\n m.Module required user_bob=\"hunter2\" \"x\"=1;\n};", 2, ""),
            ("Server {\n m.Module required;\n}\n", 3, "unexpected end of file: expected `;` after the `}`"),
            ("Server\n m.Module required;\n};", 2, "expected `{` after section name Server"),
            ("Server {\n m.Module required;\n};\nServer {\n};", 4, "section Server is given twice"),
            ("Server {\n m.Module required;\n};\n/* open", 4, "unterminated /* comment"),
            ("Server {\n m.Module required user_bob=\"x\" # ;\n};", 2, "unexpected character '#'"),
            ("Server {\n ;\n};", 2, "expected a login module class or `}` in section Server, found `;`"),
            ("Server {\n m.Module required\n user_bob=\"hunter2\" = ;\n};", 3, "found `=`"),
        ];
        for (text, line, problem) in cases {
            match JaasConfig::parse(text) {
                Ok(_) if problem.is_empty() => {}
                Ok(config) => panic!("{text:?} parsed: {config:?}"),
                Err((at, message)) => {
                    assert_eq!(at, line, "{text:?}: {message}");
                    assert!(message.contains(problem), "{text:?}: {message}");
                    assert!(!message.contains("hunter2"), "{message}");
                }
            }
        }
    }

    #[test]
    fn load_names_the_file_and_line() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("jaas.conf");
        std::fs::write(&path, "Server {\n m.Module never;\n};\n").expect("written");
        let err = JaasConfig::load(&path).expect_err("bad flag").to_string();
        assert_eq!(
            err,
            format!(
                "JAAS file {}:2: invalid control flag never for m.Module (required, requisite, sufficient or optional)",
                path.display()
            )
        );
        let missing = dir.path().join("missing.conf");
        let err = JaasConfig::load(&missing).expect_err("missing").to_string();
        assert!(err.starts_with(&format!("cannot read JAAS file {}", missing.display())), "{err}");
    }
}
