//! ZooKeeper settings given as JVM system properties: `-Dname=value` flags in the `SERVER_JVMFLAGS` and
//! `JVMFLAGS` environment variables, which `zkServer.sh` users already set.
//!
//! ZooKeeper reads many settings only as system properties (`zookeeper.sessionRequireClientSASLAuth`,
//! `java.security.auth.login.config`, ...). Its `QuorumPeerConfig` turns every zoo.cfg key `X` it does not
//! know itself into the system property `zookeeper.X`, overwriting a `-Dzookeeper.X` flag: the file wins.
//! Paddock keeps that rule: a flag `-Dzookeeper.X=v` is the zoo.cfg key `X`, a flag without the `zookeeper.`
//! prefix (`-Djute.maxbuffer=v`) is the key of its own name, and a key the file sets wins over the flag.
//!
//! `zkServer.sh` puts `$SERVER_JVMFLAGS $JVMFLAGS` on the java command line, so on a name given twice the
//! later flag (JVMFLAGS) wins, as the JVM takes the last `-D` of a name. The words are split as a shell
//! splits a command line, quotes and backslashes included (zkServer.sh expands the variables unquoted, so
//! there quotes stay in the value: the one difference, documented in docs/compatibility.md).
//!
//! Flags that are not `-D` (`-Xmx512m`, `-XX:...`) belong to the JVM and are skipped. A `-D` flag that
//! names no property, or a variable with an unterminated quote, gets a warning naming the variable; no
//! warning ever repeats a value, since values may be passwords.

/// The environment variables read, in the order zkServer.sh puts them on the command line.
pub const FLAG_VARIABLES: [&str; 2] = ["SERVER_JVMFLAGS", "JVMFLAGS"];

/// One `-Dname=value` flag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JvmFlag {
    /// The variable it came from, for messages.
    pub source: &'static str,
    /// The system property's name as written (`zookeeper.maxClientCnxns`).
    pub property: String,
    pub value: String,
}

impl JvmFlag {
    /// The zoo.cfg key this property stands for.
    pub fn key(&self) -> &str {
        property_key(&self.property)
    }
}

/// The zoo.cfg key of system property `name`: `zookeeper.X` is `X`; other names are their own key.
pub fn property_key(name: &str) -> &str {
    match name.strip_prefix("zookeeper.") {
        Some(rest) if !rest.is_empty() => rest,
        _ => name,
    }
}

/// Reads the flags from this process's environment. Returns the flags in command-line order and warnings.
pub fn from_env() -> (Vec<JvmFlag>, Vec<String>) {
    let mut flags = Vec::new();
    let mut warnings = Vec::new();
    for source in FLAG_VARIABLES {
        match std::env::var(source) {
            Ok(text) => {
                let (found, warned) = parse_flags(source, &text);
                flags.extend(found);
                warnings.extend(warned);
            }
            Err(std::env::VarError::NotPresent) => {}
            Err(std::env::VarError::NotUnicode(_)) => warnings.push(format!("{source} is not UTF-8; ignored")),
        }
    }
    (flags, warnings)
}

/// Parses the flags of one variable (`source` names it in warnings).
pub fn parse_flags(source: &'static str, text: &str) -> (Vec<JvmFlag>, Vec<String>) {
    let words = match split_words(text) {
        Ok(words) => words,
        Err(problem) => return (Vec::new(), vec![format!("{source}: {problem}; its flags are ignored")]),
    };
    let mut flags = Vec::new();
    let mut warnings = Vec::new();
    for word in words {
        let Some(definition) = word.strip_prefix("-D") else { continue };
        // The JVM takes `-Dname` as `name=""`.
        let (property, value) = definition.split_once('=').unwrap_or((definition, ""));
        if property.is_empty() {
            warnings.push(format!("{source}: a -D flag without a property name is ignored"));
            continue;
        }
        flags.push(JvmFlag { source, property: property.to_string(), value: value.to_string() });
    }
    (flags, warnings)
}

/// Splits `text` into words as a POSIX shell does: blanks separate words; `'...'` is literal; inside
/// `"..."` a backslash escapes only `"`, `\`, `$` and `` ` ``; outside quotes a backslash escapes any
/// character. No expansion is done.
fn split_words(text: &str) -> Result<Vec<String>, &'static str> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => words.extend(word.take()),
            '\'' => {
                let current = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => current.push(c),
                        None => return Err("unterminated single quote"),
                    }
                }
            }
            '"' => {
                let current = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => current.push(c),
                            Some(c) => {
                                current.push('\\');
                                current.push(c);
                            }
                            None => return Err("unterminated double quote"),
                        },
                        Some(c) => current.push(c),
                        None => return Err("unterminated double quote"),
                    }
                }
            }
            '\\' => {
                let current = word.get_or_insert_with(String::new);
                match chars.next() {
                    Some(c) => current.push(c),
                    None => return Err("a trailing backslash"),
                }
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(text: &str) -> Vec<(String, String)> {
        let (flags, warnings) = parse_flags("JVMFLAGS", text);
        assert!(warnings.is_empty(), "{warnings:?}");
        flags.into_iter().map(|f| (f.property, f.value)).collect()
    }

    fn pair(property: &str, value: &str) -> (String, String) {
        (property.to_string(), value.to_string())
    }

    #[test]
    fn reads_definitions_and_skips_other_jvm_options() {
        assert_eq!(
            flags("-Xmx1g -Dzookeeper.maxClientCnxns=10 -XX:+UseG1GC -Djute.maxbuffer=4096 -cp x.jar -Dflag"),
            vec![pair("zookeeper.maxClientCnxns", "10"), pair("jute.maxbuffer", "4096"), pair("flag", "")]
        );
        assert_eq!(flags(""), vec![]);
        assert_eq!(flags("  \t\n "), vec![]);
        // Only the first `=` separates: values may hold more.
        assert_eq!(flags("-Da=b=c"), vec![pair("a", "b=c")]);
    }

    #[test]
    fn quotes_and_backslashes_as_a_shell_reads_them() {
        assert_eq!(flags(r#"-Da="x y" -Db='p "q" $r'"#), vec![pair("a", "x y"), pair("b", r#"p "q" $r"#)]);
        assert_eq!(flags(r#"-Da=x\ y -Db="\"\\\$\`\n""#), vec![pair("a", "x y"), pair("b", "\"\\$`\\n")]);
        assert_eq!(
            flags(r#"-D"java.security.auth.login.config"=/etc/zk/jaas.conf"#),
            vec![pair("java.security.auth.login.config", "/etc/zk/jaas.conf")]
        );
        assert_eq!(flags("-Da='' -Db=\"\""), vec![pair("a", ""), pair("b", "")]);
    }

    #[test]
    fn malformed_flags_warn_without_repeating_values() {
        for (text, expected) in [
            ("-Dpassword='hunter2", "unterminated single quote"),
            ("-Dpassword=\"hunter2", "unterminated double quote"),
            ("-Dpassword=hunter2\\", "a trailing backslash"),
        ] {
            let (found, warnings) = parse_flags("SERVER_JVMFLAGS", text);
            assert!(found.is_empty(), "{text}");
            assert_eq!(warnings.len(), 1, "{text}");
            assert!(warnings[0].starts_with("SERVER_JVMFLAGS: ") && warnings[0].contains(expected), "{warnings:?}");
            assert!(!warnings[0].contains("hunter2"), "{warnings:?}");
        }
        let (found, warnings) = parse_flags("JVMFLAGS", "-D=secret -Dok=1");
        assert_eq!(found.len(), 1);
        assert!(warnings[0].contains("without a property name") && !warnings[0].contains("secret"), "{warnings:?}");
    }

    #[test]
    fn the_file_wins_over_flags_and_unknown_flags_are_silent() {
        use crate::config::{ConfigError, ServerConfig};
        let (flags, _) = parse_flags(
            "JVMFLAGS",
            "-Dzookeeper.maxClientCnxns=7 -Dzookeeper.sessionRequireClientSASLAuth=true -Djute.maxbuffer=4096 \
             -Dzookeeper.log.dir=/var/log -Djava.net.preferIPv4Stack=true",
        );
        let (config, warnings) =
            ServerConfig::parse_with_flags("maxClientCnxns=5\nzookeeper.minSessionTimeout=3000\n", &flags)
                .expect("parses");
        assert_eq!(config.max_client_cnxns, 5, "zoo.cfg wins, as QuorumPeerConfig's setProperty does");
        assert_eq!(config.jute_max_buffer, 4096);
        assert!(config.auth.session_require_client_sasl_auth);
        assert_eq!(config.min_session_timeout_ms, 3000, "zookeeper.X in zoo.cfg is X");
        assert!(warnings.is_empty(), "flags Paddock does not read are ZooKeeper's business: {warnings:?}");

        let (flags, _) = parse_flags("SERVER_JVMFLAGS", "-Dzookeeper.tickTime=fast");
        let err = ServerConfig::parse_with_flags("", &flags).expect_err("a bad value");
        assert!(matches!(err, ConfigError::Invalid { .. }));
        let err = err.to_string();
        assert!(
            err.starts_with("config key -Dzookeeper.tickTime (from SERVER_JVMFLAGS)") && !err.contains('\n'),
            "{err}"
        );
        // The file's value of the same key wins, so the bad flag is never read.
        assert!(ServerConfig::parse_with_flags("tickTime=1000", &flags).is_ok());
    }

    #[test]
    fn a_broken_jaas_file_fails_the_start_naming_file_and_line() {
        use crate::config::ServerConfig;
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("jaas.conf");
        std::fs::write(&path, "Server {\n  m.Module required\n  user_bob=\"pw;\n};\n").expect("written");
        let (flags, _) = parse_flags("JVMFLAGS", &format!("-Djava.security.auth.login.config={}", path.display()));
        let err = ServerConfig::parse_with_flags("", &flags).expect_err("broken").to_string();
        assert_eq!(err, format!("JAAS file {}:3: unterminated quoted string", path.display()));
        std::fs::write(&path, "Server {\n  m.Module required\n  user_bob=\"pw\";\n};\n").expect("written");
        let (config, warnings) = ServerConfig::parse_with_flags("", &flags).expect("parses");
        assert!(warnings.is_empty(), "{warnings:?}");
        assert!(matches!(&config.auth.sasl, Some(crate::config::SaslLogin::DigestMd5 { users }) if users.len() == 1));
        assert!(!format!("{config:?}").contains("\"pw\""), "the password stays out of Debug");
        let (_, warnings) = ServerConfig::parse_with_flags("sasl.serverconfig=Other", &flags).expect("parses");
        assert!(warnings.iter().any(|w| w.contains("no section Other")), "{warnings:?}");
    }

    #[test]
    fn zookeeper_prefixed_properties_are_zoo_cfg_keys() {
        assert_eq!(property_key("zookeeper.sessionRequireClientSASLAuth"), "sessionRequireClientSASLAuth");
        assert_eq!(property_key("zookeeper.4lw.commands.whitelist"), "4lw.commands.whitelist");
        assert_eq!(property_key("java.security.auth.login.config"), "java.security.auth.login.config");
        assert_eq!(property_key("zookeeper."), "zookeeper.");
    }
}
