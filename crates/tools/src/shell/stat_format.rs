//! A znode's Stat printed as zkCli prints it (`cZxid = 0x...`, Java `Date.toString()` times) and as JSON
//! with ZooKeeper's field names.

use serde_json::{Value, json};
use zookeeper_client::Stat;

/// zkCli's `StatPrinter` lines.
pub(crate) fn stat_lines(stat: &Stat) -> Vec<String> {
    vec![
        format!("cZxid = 0x{:x}", stat.czxid),
        format!("ctime = {}", java_date(stat.ctime)),
        format!("mZxid = 0x{:x}", stat.mzxid),
        format!("mtime = {}", java_date(stat.mtime)),
        format!("pZxid = 0x{:x}", stat.pzxid),
        format!("cversion = {}", stat.cversion),
        format!("dataVersion = {}", stat.version),
        format!("aclVersion = {}", stat.aversion),
        format!("ephemeralOwner = 0x{:x}", stat.ephemeral_owner),
        format!("dataLength = {}", stat.data_length),
        format!("numChildren = {}", stat.num_children),
    ]
}

/// The Stat as a JSON object with ZooKeeper's (jute) field names.
pub(crate) fn stat_json(stat: &Stat) -> Value {
    json!({
        "czxid": stat.czxid,
        "mzxid": stat.mzxid,
        "ctime": stat.ctime,
        "mtime": stat.mtime,
        "version": stat.version,
        "cversion": stat.cversion,
        "aversion": stat.aversion,
        "ephemeralOwner": stat.ephemeral_owner,
        "dataLength": stat.data_length,
        "numChildren": stat.num_children,
        "pzxid": stat.pzxid,
    })
}

pub(crate) use paddock_proto::display::java_date;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_zxids_print_as_java_hex() {
        let stat = Stat {
            czxid: -1,
            mzxid: 0x1d,
            pzxid: 7,
            ctime: 0,
            mtime: 0,
            version: 2,
            cversion: 1,
            aversion: 0,
            ephemeral_owner: 0,
            data_length: 4,
            num_children: 1,
        };
        let lines = stat_lines(&stat);
        assert_eq!(lines[0], "cZxid = 0xffffffffffffffff");
        assert_eq!(lines[2], "mZxid = 0x1d");
        assert_eq!(lines[6], "dataVersion = 2");
        assert_eq!(stat_json(&stat)["dataLength"], 4);
    }
}
