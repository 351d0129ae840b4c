//! `environment` and `system_properties`: what ZooKeeper reads from its JVM (`Environment.list()` and
//! `System.getProperties()`), answered for a native process.
//!
//! `environment` is [`monitor::environment`], the list `envi` prints too.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::monitor;

/// `Environment.list()`: every value a string.
pub fn environment() -> Vec<(String, Value)> {
    monitor::environment().into_iter().map(|(k, v)| (k.to_string(), v.into())).collect()
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
}
