//! `environment` and `system_properties`: what ZooKeeper reads from its JVM (`Environment.list()` and
//! `System.getProperties()`), answered for a native process.
//!
//! `environment` has exactly ZooKeeper's keys, in its order, so that tools reading them find every one.
//! Values a JVM spells its own way are spelled that way (`os.name` "Linux", `os.arch` "amd64", the user
//! from the password database); what only a JVM has is "<NA>", the placeholder ZooKeeper itself prints
//! for an absent `java.compiler`.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use crate::monitor;

/// ZooKeeper's `Environment.list()` placeholder for a property that is not there.
const NOT_APPLICABLE: &str = "<NA>";

/// `Environment.list()`: every value a string.
pub fn environment() -> Vec<(String, Value)> {
    let native: HashMap<&str, String> = monitor::environment().into_iter().collect();
    let native = |key: &str| native.get(key).cloned().unwrap_or_default();
    let user = user_from_passwd();
    let na = || NOT_APPLICABLE.to_string();
    let entries = [
        ("zookeeper.version", native("zookeeper.version")),
        ("host.name", native("host.name")),
        ("java.version", na()),
        ("java.vendor", na()),
        ("java.home", na()),
        ("java.class.path", na()),
        ("java.library.path", na()),
        ("java.io.tmpdir", std::env::temp_dir().display().to_string()),
        ("java.compiler", na()),
        ("os.name", java_os_name(&native("os.name"))),
        ("os.arch", java_os_arch(&native("os.arch"))),
        ("os.version", native("os.version")),
        ("user.name", user.as_ref().map_or_else(|| native("user.name"), |u| u.name.clone())),
        ("user.home", user.as_ref().map_or_else(|| native("user.home"), |u| u.home.clone())),
        ("user.dir", native("user.dir")),
        ("os.memory.free", na()),
        ("os.memory.max", na()),
        ("os.memory.total", na()),
    ];
    entries.into_iter().map(|(k, v)| (k.to_string(), v.into())).collect()
}

/// `System.getProperties()`, sorted: the environment's operating-system and user entries, the separators
/// Java would report, and Paddock's version.
pub fn system_properties() -> Vec<(String, Value)> {
    let mut props: BTreeMap<String, Value> = environment()
        .into_iter()
        .filter(|(key, _)| ["os.", "user.", "java.io.tmpdir"].iter().any(|p| key.starts_with(p)))
        .filter(|(key, _)| !key.starts_with("os.memory."))
        .collect();
    props.insert("file.separator".into(), std::path::MAIN_SEPARATOR.to_string().into());
    props.insert("line.separator".into(), "\n".into());
    props.insert("path.separator".into(), ":".into());
    props.insert("paddock.version".into(), env!("CARGO_PKG_VERSION").into());
    props.into_iter().collect()
}

/// The JVM's `os.name` for Rust's `std::env::consts::OS`.
fn java_os_name(os: &str) -> String {
    match os {
        "linux" => "Linux",
        "macos" => "Mac OS X",
        "freebsd" => "FreeBSD",
        "openbsd" => "OpenBSD",
        "netbsd" => "NetBSD",
        "solaris" | "illumos" => "SunOS",
        other => other,
    }
    .to_string()
}

/// The JVM's `os.arch` for Rust's `std::env::consts::ARCH`.
fn java_os_arch(arch: &str) -> String {
    match arch {
        "x86_64" => "amd64",
        "x86" => "i386",
        "powerpc64" => "ppc64",
        other => other,
    }
    .to_string()
}

struct User {
    name: String,
    home: String,
}

/// The user's name and home as the JVM finds them (the password entry of the real uid, not `$USER`), or
/// `None` when /proc or /etc/passwd cannot tell.
fn user_from_passwd() -> Option<User> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status.lines().find_map(|l| l.strip_prefix("Uid:"))?.split_whitespace().next()?.to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        match fields.as_slice() {
            [name, _, id, _, _, home, ..] if *id == uid => {
                Some(User { name: name.to_string(), home: home.to_string() })
            }
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_has_zookeepers_keys_in_order() {
        let keys: Vec<String> = environment().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys.first().map(String::as_str), Some("zookeeper.version"));
        assert_eq!(keys.len(), 18);
        assert!(environment().iter().all(|(_, v)| v.is_string()));
    }

    #[test]
    fn names_are_the_jvms() {
        assert_eq!(java_os_name("linux"), "Linux");
        assert_eq!(java_os_arch("x86_64"), "amd64");
        assert_eq!(java_os_arch("aarch64"), "aarch64");
    }
}
