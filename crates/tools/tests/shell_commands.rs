//! `paddock shell` one-shot commands against real Apache ZooKeeper: zkCli's output, errors and exit codes
//! for every command. Each test works under its own top-level node, so tests can share the server.

mod common;

use common::{expect, script, shell, shell_json, stat_block};

#[tokio::test]
async fn create_get_set_and_delete() {
    expect(&["create", "/cgs", "hello"], 0, "", "Created /cgs\n").await;
    expect(&["create", "/cgs", "again"], 1, "", "Node already exists: /cgs\n").await;
    expect(&["get", "/cgs"], 0, "hello\n", "").await;
    expect(&["get", "-s", "/cgs"], 0, &format!("hello\n{}", stat_block(0, 0, 0, false, 5, 0)), "").await;
    expect(&["set", "/cgs", "bye"], 0, "", "").await;
    expect(&["set", "-s", "/cgs", "bye2"], 0, &stat_block(0, 2, 0, false, 4, 0), "").await;
    expect(&["set", "-v", "10", "/cgs", "x"], 1, "", "version No is not valid : /cgs\n").await;
    expect(&["set", "-v", "2", "/cgs", "x"], 0, "", "").await;
    expect(&["stat", "/cgs"], 0, &stat_block(0, 3, 0, false, 1, 0), "").await;
    expect(&["create", "/cgs/child"], 0, "", "Created /cgs/child\n").await;
    expect(&["get", "/cgs/child"], 0, "\n", "").await;
    expect(&["delete", "/cgs"], 1, "", "Node not empty: /cgs\n").await;
    expect(&["delete", "-v", "5", "/cgs/child"], 1, "", "version No is not valid : /cgs/child\n").await;
    expect(&["delete", "-v", "0", "/cgs/child"], 0, "", "").await;
    expect(&["delete", "/cgs"], 0, "", "").await;
    expect(&["get", "/cgs"], 1, "", "Node does not exist: /cgs\n").await;
    expect(&["stat", "/cgs"], 1, "", "Node does not exist: /cgs\n").await;
    expect(&["delete", "/cgs"], 1, "", "Node does not exist: /cgs\n").await;
    expect(&["set", "/cgs", "x"], 1, "", "Node does not exist: /cgs\n").await;
}

#[tokio::test]
async fn create_modes() {
    expect(&["create", "/modes"], 0, "", "Created /modes\n").await;
    expect(&["create", "-s", "/modes/seq-", "x"], 0, "", "Created /modes/seq-0000000000\n").await;
    expect(&["create", "-s", "/modes/seq-", "x"], 0, "", "Created /modes/seq-0000000001\n").await;
    expect(&["create", "-c", "/modes/container"], 0, "", "Created /modes/container\n").await;
    expect(&["create", "-t", "100000", "/modes/ttl", "x"], 0, "", "Created /modes/ttl\n").await;
    expect(&["create", "-t", "100000", "-s", "/modes/ttlseq-"], 0, "", "Created /modes/ttlseq-0000000004\n").await;
    // An ephemeral node goes with the one-shot session that created it.
    expect(&["create", "-e", "/modes/eph", "x"], 0, "", "Created /modes/eph\n").await;
    expect(&["create", "-e", "-s", "/modes/ephseq-"], 0, "", "Created /modes/ephseq-0000000006\n").await;
    expect(&["ls", "/modes"], 0, "[container, seq-0000000000, seq-0000000001, ttl, ttlseq-0000000004]\n", "").await;
    expect(&["create", "/modes/missing/child"], 1, "", "Node does not exist: /modes/missing/child\n").await;
    expect(
        &["create", "-c", "-e", "/modes/x"],
        1,
        "",
        "-c cannot be combined with -s or -e. Containers cannot be ephemeral or sequential.\n",
    )
    .await;
    expect(&["create", "-e", "-t", "10", "/modes/x"], 1, "", "TTLs cannot be used with Ephemeral znodes\n").await;
    expect(
        &["create", "-t", "0", "/modes/x"],
        1,
        "",
        "ttl must be positive and cannot be larger than: 1099511627775\n",
    )
    .await;
    expect(&["create", "-t", "abc", "/modes/x"], 1, "", "-t argument must be a long value\n").await;
    expect(&["create", "modes"], 1, "", "Path must start with / character\n").await;
    expect(&["create", "/modes/"], 1, "", "Path must not end with / character\n").await;
    expect(&["deleteall", "/modes"], 0, "", "").await;
}

#[tokio::test]
async fn ls_forms() {
    for path in ["/lsf", "/lsf/b", "/lsf/a", "/lsf/a/x", "/lsf/c"] {
        expect(&["create", path], 0, "", &format!("Created {path}\n")).await;
    }
    expect(&["ls", "/lsf"], 0, "[a, b, c]\n", "").await;
    expect(&["ls", "-s", "/lsf"], 0, &format!("[a, b, c]\n{}", stat_block(3, 0, 0, false, 0, 3)), "").await;
    expect(&["ls", "-R", "/lsf"], 0, "/lsf\n/lsf/a\n/lsf/b\n/lsf/c\n/lsf/a/x\n", "").await;
    expect(&["ls", "-w", "/lsf/a"], 0, "[x]\n", "").await;
    expect(&["ls", "/lsf/nope"], 1, "", "Node does not exist: /lsf/nope\n").await;
    expect(&["ls", "-R", "/lsf/nope"], 1, "", "Node does not exist: /lsf/nope\n").await;
    expect(
        &["ls", "/lsf", "watch"],
        0,
        "[a, b, c]\n",
        "'ls path [watch]' has been deprecated. Please use 'ls [-w] path' instead.\n",
    )
    .await;
    expect(&["getAllChildrenNumber", "/lsf"], 0, "4\n", "").await;
    expect(&["getAllChildrenNumber", "/lsf/nope"], 1, "", "Node does not exist: /lsf/nope\n").await;
    expect(&["deleteall", "/lsf"], 0, "", "").await;
    expect(&["ls", "/lsf"], 1, "", "Node does not exist: /lsf\n").await;
    expect(&["deleteall", "/lsf"], 1, "", "Node does not exist: /lsf\n").await;
}

#[tokio::test]
async fn acls() {
    expect(&["create", "/acls", "d"], 0, "", "Created /acls\n").await;
    expect(&["getAcl", "/acls"], 0, "'world,'anyone\n: cdrwa\n", "").await;
    expect(
        &["getAcl", "-s", "/acls"],
        0,
        &format!("'world,'anyone\n: cdrwa\n{}", stat_block(0, 0, 0, false, 1, 0)),
        "",
    )
    .await;
    expect(&["create", "/acls/multi", "x", "world:anyone:rw,ip:127.0.0.1:cdrwa"], 0, "", "Created /acls/multi\n").await;
    expect(&["getAcl", "/acls/multi"], 0, "'world,'anyone\n: rw\n'ip,'127.0.0.1\n: cdrwa\n", "").await;
    expect(&["create", "/acls/ro", "x", "world:anyone:rq"], 0, "", "Unknown perm type: q\nCreated /acls/ro\n").await;
    expect(&["set", "/acls/ro", "y"], 1, "", "Insufficient permission : /acls/ro\n").await;
    expect(&["setAcl", "/acls/ro", "world:anyone:cd"], 1, "", "Insufficient permission : /acls/ro\n").await;
    expect(&["setAcl", "/acls", "world:anyone:cdrwa"], 0, "", "").await;
    expect(&["setAcl", "-s", "/acls", "world:anyone:cdrwa"], 0, &stat_block(2, 0, 2, false, 1, 2), "").await;
    expect(&["setAcl", "-v", "7", "/acls", "world:anyone:cdrwa"], 1, "", "version No is not valid : /acls\n").await;
    expect(&["create", "/acls/tree"], 0, "", "Created /acls/tree\n").await;
    expect(&["create", "/acls/tree/leaf"], 0, "", "Created /acls/tree/leaf\n").await;
    expect(&["setAcl", "-R", "/acls/tree", "world:anyone:rca"], 0, "", "").await;
    expect(&["getAcl", "/acls/tree/leaf"], 0, "'world,'anyone\n: cra\n", "").await;
    expect(
        &["setAcl", "/acls", "bogus"],
        1,
        "",
        "bogus does not have the form scheme:id:perm\nAcl is not valid : /acls\n",
    )
    .await;
    expect(&["getAcl", "/acls/nope"], 1, "", "Node does not exist: /acls/nope\n").await;
    expect(&["setAcl", "-R", "/acls", "world:anyone:cdrwa"], 1, "", "Insufficient permission : /acls/ro\n").await;
}

#[tokio::test]
async fn session_commands() {
    expect(&["sync", "/"], 0, "Sync is OK\n", "").await;
    expect(&["whoami"], 0, "Auth scheme: User\nip: 127.0.0.1\n", "").await;
    expect(&["getEphemerals"], 0, "[]\n", "").await;
    expect(&["addauth", "digest", "user:secret"], 0, "", "").await;
    expect(&["addWatch", "/"], 0, "", "").await;
    expect(&["addWatch", "-m", "PERSISTENT", "/"], 0, "", "").await;
    expect(&["removewatches", "/"], 1, "", "KeeperErrorCode = No such watcher for /\n").await;
    expect(&["config"], 0, "\n", "").await;
    expect(&["config", "-s"], 0, &format!("\n{}", stat_block(0, 0, -1, false, 0, 0)), "").await;
    expect(&["config", "-c"], 0, " \n", "").await;
    expect(&["reconfig", "-add", "2=127.0.0.1:2888:3888;2181"], 1, "", "KeeperErrorCode = Reconfig is disabled\n")
        .await;
    expect(&["quit"], 0, "", "").await;
}

/// setquota, listquota and delquota, each line as Debian's zkCli.sh (3.8) prints it for the same command
/// against Apache ZooKeeper, exit codes included: zkCli exits 0 after the complaints it prints from inside a
/// command (a bad value, a quota under /zookeeper/quota, a missing quota), 1 for a bad path or bad flags.
#[tokio::test]
async fn quota_commands() {
    for path in ["/quota", "/quota/a", "/quota/a/b"] {
        expect(&["create", path, "xy"], 0, "", &format!("Created {path}\n")).await;
    }
    expect(&["setquota", "-n", "5", "/quota/a"], 0, "", "").await;
    let listed =
        |quota: &str, stat: &str| format!("Output quota for /quota/a {quota}\nOutput stat for /quota/a {stat}\n");
    let notice = "absolute path is /zookeeper/quota/quota/a/zookeeper_limits\n";
    let soft_count = "count=5,bytes=-1=;byteHardLimit=-1;countHardLimit=-1";
    expect(&["listquota", "/quota/a"], 0, &listed(soft_count, "count=2,bytes=4"), notice).await;
    expect(&["get", "/zookeeper/quota/quota/a/zookeeper_limits"], 0, &format!("{soft_count}\n"), "").await;
    expect(&["get", "/zookeeper/quota/quota/a/zookeeper_stats"], 0, "count=2,bytes=4\n", "").await;
    // A second limit joins the first; one below what the subtree holds is set, with a warning.
    expect(&["setquota", "-B", "100", "/quota/a"], 0, "", "").await;
    expect(
        &["setquota", "-b", "3", "/quota/a"],
        0,
        "[Warning]: the bytes quota you create is less than the existing bytes:4\n",
        "",
    )
    .await;
    let both = "count=5,bytes=3=;byteHardLimit=100;countHardLimit=-1";
    expect(&["listquota", "/quota/a"], 0, &listed(both, "count=2,bytes=4"), notice).await;
    expect(&["create", "/quota/a/c", "z"], 0, "", "Created /quota/a/c\n").await;
    expect(&["listquota", "/quota/a"], 0, &listed(both, "count=3,bytes=5"), notice).await;

    expect(&["setquota", "-n", "5", "/quota/a/b"], 1, "", "/quota/a/b has a parent /quota/a which has a quota\n").await;
    expect(&["setquota", "-N", "5", "/quota"], 1, "", "/quota has a child /quota/a which has a quota\n").await;
    expect(&["setquota", "-n", "5", "/quota/nope"], 1, "", "/quota/nope does not exist.\n").await;
    expect(&["setquota", "-n", "5", "quota"], 1, "", "Path must start with / character\n").await;
    expect(&["setquota", "-n", "5", "/"], 1, "", "Path must not end with / character\n").await;
    expect(&["setquota", "-n", "0", "/quota/a"], 0, "", "the num quota must be greater than zero\n").await;
    expect(&["setquota", "-B", "-1", "/quota/a"], 0, "", "the bytes quota must be greater than or equal to zero\n")
        .await;
    expect(
        &["setquota", "-N", "x", "/quota/a"],
        0,
        "",
        "NumberFormatException happens when parsing the option value\n",
    )
    .await;
    expect(
        &["setquota", "-n", "5", "/zookeeper/quota/x"],
        0,
        "",
        "cannot set a quota under the path: /zookeeper/quota\n",
    )
    .await;
    expect(
        &["listquota", "/quota"],
        0,
        "",
        "absolute path is /zookeeper/quota/quota/zookeeper_limits\nquota for /quota does not exist.\n",
    )
    .await;
    expect(
        &["listquota", "/"],
        1,
        "",
        "absolute path is /zookeeper/quota//zookeeper_limits\n\
         Invalid path string \"/zookeeper/quota//zookeeper_limits\" caused by empty node name specified @17\n",
    )
    .await;
    expect(&["delquota", "/quota"], 0, "Quota does not exist for /quota\n", "").await;

    // One limit back to -1, then the whole quota, and the quota tree's nodes it no longer needs.
    expect(&["delquota", "-b", "/quota/a"], 0, "", "").await;
    let hard_bytes = "count=5,bytes=-1=;byteHardLimit=100;countHardLimit=-1";
    expect(&["listquota", "/quota/a"], 0, &listed(hard_bytes, "count=3,bytes=5"), notice).await;
    expect(&["setquota", "-n", "9", "/quota/a/b"], 1, "", "/quota/a/b has a parent /quota/a which has a quota\n").await;
    expect(&["delquota", "/quota/a"], 0, "", "").await;
    expect(&["ls", "/zookeeper/quota/quota"], 1, "", "Node does not exist: /zookeeper/quota/quota\n").await;
    expect(&["setquota", "-n", "9", "/quota/a/b"], 0, "", "").await;
    expect(&["ls", "/zookeeper/quota/quota/a/b"], 0, "[zookeeper_limits, zookeeper_stats]\n", "").await;
    expect(&["delquota", "/quota/a/b"], 0, "", "").await;
    expect(&["ls", "/zookeeper/quota/quota"], 1, "", "Node does not exist: /zookeeper/quota/quota\n").await;
    expect(&["deleteall", "/quota"], 0, "", "").await;
}

/// The quota commands' flags, read as zkCli reads them (commons-cli's `DefaultParser`, whose exceptions
/// zkCli prints whole, without the usage line).
#[tokio::test]
async fn quota_flag_errors() {
    let cli = "org.apache.commons.cli.";
    expect(&["setquota"], 1, "", &format!("{cli}MissingOptionException: Missing required option: [-n num soft quota, -b bytes soft quota, -N num hard quota, -B bytes hard quota]\n")).await;
    expect(&["setquota", "-n", "5"], 1, "", "setquota -n|-b|-N|-B val path\n").await;
    expect(
        &["setquota", "-x", "5", "/a"],
        1,
        "",
        &format!("{cli}UnrecognizedOptionException: Unrecognized option: -x\n"),
    )
    .await;
    expect(&["setquota", "-n"], 1, "", &format!("{cli}MissingArgumentException: Missing argument for option: n\n"))
        .await;
    expect(
        &["setquota", "-N", "7", "-B", "100", "/a"],
        1,
        "",
        &format!("{cli}AlreadySelectedException: The option 'B' was specified but an option from this group has already been selected: 'N'\n"),
    )
    .await;
    // A negative number is a value, not a flag.
    expect(&["setquota", "-n", "-5", "/a"], 0, "", "the num quota must be greater than zero\n").await;
    expect(&["listquota"], 1, "", "listquota path\n").await;
    expect(&["listquota", "-n", "/a"], 1, "", &format!("{cli}UnrecognizedOptionException: Unrecognized option: -n\n"))
        .await;
    expect(&["delquota"], 1, "", "delquota [-n|-b|-N|-B] path\n").await;
    expect(
        &["delquota", "-n", "-b", "/a"],
        1,
        "",
        &format!("{cli}AlreadySelectedException: The option 'b' was specified but an option from this group has already been selected: 'n'\n"),
    )
    .await;
    // delquota's flags take no value: the word after one is the path.
    expect(&["delquota", "-n", "5", "/a"], 0, "Quota does not exist for 5\n", "").await;
}

#[tokio::test]
async fn quota_commands_as_json() {
    expect(&["create", "/jquota", "abc"], 0, "", "Created /jquota\n").await;
    let limits = |count: i64, bytes: i64| serde_json::json!({ "count": count, "bytes": bytes, "countHardLimit": -1, "byteHardLimit": -1 });
    let stats = serde_json::json!({ "count": 1, "bytes": 3 });
    assert_eq!(
        shell_json(&["setquota", "-n", "4", "/jquota"]).await,
        serde_json::json!({ "command": "setquota", "path": "/jquota", "limits": limits(4, -1), "stats": stats })
    );
    assert_eq!(
        shell_json(&["setquota", "-b", "2", "/jquota"]).await,
        serde_json::json!({
            "command": "setquota", "path": "/jquota", "limits": limits(4, 2), "stats": stats,
            "warnings": ["[Warning]: the bytes quota you create is less than the existing bytes:3"]
        })
    );
    assert_eq!(
        shell_json(&["listquota", "/jquota"]).await,
        serde_json::json!({ "command": "listquota", "path": "/jquota", "limits": limits(4, 2), "stats": stats })
    );
    assert_eq!(
        shell_json(&["delquota", "-n", "/jquota"]).await,
        serde_json::json!({ "command": "delquota", "path": "/jquota", "deleted": true, "limits": limits(-1, 2) })
    );
    assert_eq!(
        shell_json(&["delquota", "/jquota"]).await,
        serde_json::json!({ "command": "delquota", "path": "/jquota", "deleted": true })
    );
    assert_eq!(
        shell_json(&["delquota", "/jquota"]).await,
        serde_json::json!({ "command": "delquota", "path": "/jquota", "deleted": false })
    );
    assert_eq!(
        shell_json(&["listquota", "/jquota"]).await,
        serde_json::json!({
            "command": "listquota", "path": "/jquota", "code": "refused", "error": "quota for /jquota does not exist."
        })
    );
    assert_eq!(
        shell_json(&["setquota", "-n", "5"]).await,
        serde_json::json!({ "command": "setquota", "code": "usage", "error": "setquota -n|-b|-N|-B val path" })
    );
    expect(&["delete", "/jquota"], 0, "", "").await;
}

#[tokio::test]
async fn usage_errors() {
    let usages: &[(&[&str], &str)] = &[
        (&["create"], "create [-s] [-e] [-c] [-t ttl] path [data] [acl]"),
        (&["get"], "get [-s] [-w] path"),
        (&["set", "/a"], "set [-s] [-v version] path data"),
        (&["ls"], "ls [-s] [-w] [-R] path"),
        (&["delete"], "delete [-v version] path"),
        (&["deleteall"], "deleteall path [-b batch size]"),
        (&["stat"], "stat [-w] path"),
        (&["getAcl"], "getAcl [-s] path"),
        (&["setAcl", "/a"], "setAcl [-s] [-v version] [-R] path acl"),
        (&["addauth"], "addauth scheme auth"),
        (&["sync"], "sync path"),
        (&["getAllChildrenNumber"], "getAllChildrenNumber path"),
        (
            &["addWatch", "-m", "BAD", "/a"],
            "addWatch [-m mode] path # optional mode is one of [PERSISTENT, PERSISTENT_RECURSIVE] - default is PERSISTENT_RECURSIVE",
        ),
        (&["removewatches"], "removewatches path [-c|-d|-a] [-l]"),
        (
            &["reconfig"],
            "reconfig [-s] [-v version] [[-file path] | [-members serverID=host:port1:port2;port3[,...]*]] | [-add serverId=host:port1:port2;port3[,...]]* [-remove serverId[,...]*]",
        ),
    ];
    for (command, usage) in usages {
        expect(command, 1, "", &format!("{usage}\n")).await;
    }
    expect(&["get", "-x", "/a"], 1, "", "Unrecognized option: -x\nget [-s] [-w] path\n").await;
    expect(&["set", "-v", "/a"], 1, "", "set [-s] [-v version] path data\n").await;
    expect(
        &["set", "-v", "abc", "/a", "x"],
        1,
        "",
        "version must be an integer: abc\nset [-s] [-v version] path data\n",
    )
    .await;
    expect(
        &["create", "-z", "/a"],
        1,
        "",
        "Unrecognized option: -z\ncreate [-s] [-e] [-c] [-t ttl] path [data] [acl]\n",
    )
    .await;

    let unknown = shell(&["frobnicate", "/a"]).await;
    assert_eq!(unknown.code, std::process::ExitCode::from(127));
    assert_eq!(unknown.out, "");
    let lines: Vec<&str> = unknown.err.lines().collect();
    assert_eq!(lines.first(), Some(&"paddock shell --server host:port [--json] cmd args"));
    assert!(lines.contains(&"\tcreate [-s] [-e] [-c] [-t ttl] path [data] [acl]"));
    assert_eq!(lines.last(), Some(&"Command not found: frobnicate"));
}

#[tokio::test]
async fn help_and_version_need_no_server() {
    let args = common::args("127.0.0.1:1", false, &["help"]);
    let help = common::run(args, "").await;
    assert_eq!(help.code, std::process::ExitCode::SUCCESS);
    let lines: Vec<&str> = help.out.lines().collect();
    assert_eq!(lines.first(), Some(&"paddock shell --server host:port [--json] cmd args"));
    for command in [
        "addWatch",
        "addauth",
        "config",
        "create",
        "delete",
        "deleteall",
        "get",
        "getAcl",
        "getAllChildrenNumber",
        "getEphemerals",
        "ls",
        "quit",
        "reconfig",
        "removewatches",
        "set",
        "setAcl",
        "stat",
        "sync",
        "whoami",
    ] {
        assert!(lines.iter().any(|l| l.starts_with(&format!("\t{command} "))), "help lists {command}");
    }
    let version = common::run(common::args("127.0.0.1:1", false, &["version"]), "").await;
    assert_eq!(version.out, format!("Paddock CLI version: {}\n", env!("CARGO_PKG_VERSION")));
    // A usage error is reported without trying to connect.
    let usage = common::run(common::args("127.0.0.1:1", false, &["get"]), "").await;
    assert_eq!((usage.code, usage.err.as_str()), (std::process::ExitCode::FAILURE, "get [-s] [-w] path\n"));
}

#[tokio::test]
async fn unreachable_server_fails() {
    let mut args = common::args("127.0.0.1:1", false, &["ls", "/"]);
    args.timeout = 2_000;
    let run = common::run(args, "").await;
    assert_eq!(run.code, std::process::ExitCode::FAILURE);
    assert!(run.err.starts_with("Unable to connect to 127.0.0.1:1"), "{}", run.err);
}

#[tokio::test]
async fn json_output() {
    let created = shell_json(&["create", "/json", "hello"]).await;
    assert_eq!(created, serde_json::json!({ "command": "create", "path": "/json", "created": "/json" }));
    let got = shell_json(&["get", "-s", "/json"]).await;
    assert_eq!(got["command"], "get");
    assert_eq!(got["data"], "hello");
    let stat = got["stat"].as_object().expect("stat object");
    let mut names: Vec<&str> = stat.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "aversion",
            "ctime",
            "cversion",
            "czxid",
            "dataLength",
            "ephemeralOwner",
            "mtime",
            "mzxid",
            "numChildren",
            "pzxid",
            "version"
        ]
    );
    assert_eq!(stat["dataLength"], 5);
    assert_eq!(stat["version"], 0);
    assert!(stat["czxid"].as_i64().is_some_and(|z| z > 0));
    let set = shell_json(&["set", "/json", "bye"]).await;
    assert_eq!(set["stat"]["version"], 1);
    let listed = shell_json(&["ls", "/"]).await;
    assert!(listed["children"].as_array().expect("children").contains(&serde_json::json!("json")));
    let acl = shell_json(&["getAcl", "/json"]).await;
    assert_eq!(acl["acl"], serde_json::json!([{ "scheme": "world", "id": "anyone", "perms": "cdrwa" }]));
    let missing = shell_json(&["get", "/json/nope"]).await;
    assert_eq!(missing["error"], "Node does not exist: /json/nope");
    assert_eq!(missing["code"], "NoNode");
    let usage = shell_json(&["get"]).await;
    assert_eq!((usage["code"].as_str(), usage["error"].as_str()), (Some("usage"), Some("get [-s] [-w] path")));
    assert_eq!(shell_json(&["delete", "/json"]).await, serde_json::json!({ "command": "delete", "path": "/json" }));
}

#[tokio::test]
async fn script_session_keeps_auth_and_ephemerals() {
    let run = script(
        "create /scripted x\n\
         create -e /scripted/eph y\n\
         getEphemerals /scripted\n\
         addauth digest user:secret\n\
         whoami\n\
         create /scripted/mine x digest:user:5w9W4eL3797Y4Wq8AcKUPPk8ha4=:cdrwa\n\
         get /scripted/mine\n\
         history\n\
         quit\n\
         ls /\n",
    )
    .await;
    assert_eq!(run.code, std::process::ExitCode::SUCCESS, "{run:?}");
    let expected = "Connecting to ADDR\n\
        \nWATCHER::\n\nWatchedEvent state:SyncConnected type:None path:null\n\
        [/scripted/eph]\n\
        Auth scheme: User\nip: 127.0.0.1\ndigest: user\n\
        x\n\
        0 - create /scripted x\n1 - create -e /scripted/eph y\n2 - getEphemerals /scripted\n3 - addauth digest user:secret\n\
        4 - whoami\n5 - create /scripted/mine x digest:user:5w9W4eL3797Y4Wq8AcKUPPk8ha4=:cdrwa\n6 - get /scripted/mine\n7 - history\n\
        \nWATCHER::\n\nWatchedEvent state:Closed type:None path:null\n";
    assert_eq!(run.out.replace(&common::zookeeper(), "ADDR"), expected);
    assert_eq!(run.err, "Created /scripted\nCreated /scripted/eph\nCreated /scripted/mine\n");
    // The session is closed: its ephemeral node is gone; without the digest the node is unreadable.
    expect(&["ls", "/scripted"], 0, "[mine]\n", "").await;
    expect(&["get", "/scripted/mine"], 1, "", "Insufficient permission : /scripted/mine\n").await;
    let cleanup = script("addauth digest user:secret\ndeleteall /scripted\n").await;
    assert_eq!(cleanup.code, std::process::ExitCode::SUCCESS, "{cleanup:?}");
}

#[tokio::test]
async fn script_watches_print_notifications() {
    let run = script(
        "create /watched v\n\
         get -w /watched\n\
         set /watched w\n\
         ls -w /watched\n\
         create /watched/k\n\
         stat -w /watched\n\
         removewatches /watched\n\
         removewatches /watched -d\n\
         ls -w /watched\n\
         get -w /watched\n\
         removewatches /watched -c\n\
         removewatches /watched -d\n\
         addWatch /watched\n\
         set /watched/k z\n\
         removewatches /watched -a\n\
         set /watched/k zz\n\
         deleteall /watched\n",
    )
    .await;
    let event = |kind: &str| format!("\nWATCHER::\n\nWatchedEvent state:SyncConnected type:{kind} path:/watched\n");
    let expected = [
        "Connecting to ADDR\n".to_owned(),
        "\nWATCHER::\n\nWatchedEvent state:SyncConnected type:None path:null\n".to_owned(),
        "v\n".to_owned(),
        event("NodeDataChanged"),
        "[]\n".to_owned(),
        event("NodeChildrenChanged"),
        common::stat_block(1, 1, 0, false, 1, 1),
        event("DataWatchRemoved"),
        "[k]\n".to_owned(),
        "w\n".to_owned(),
        event("ChildWatchRemoved"),
        event("DataWatchRemoved"),
        "\nWATCHER::\n\nWatchedEvent state:SyncConnected type:NodeDataChanged path:/watched/k\n".to_owned(),
        event("PersistentWatchRemoved"),
        "\nWATCHER::\n\nWatchedEvent state:Closed type:None path:null\n".to_owned(),
    ]
    .concat();
    assert_eq!(common::normalize(&run.out.replace(&common::zookeeper(), "ADDR")), expected);
    assert_eq!(run.err, "Created /watched\nCreated /watched/k\nKeeperErrorCode = No such watcher for /watched\n");
    assert_eq!(run.code, std::process::ExitCode::FAILURE);
}

/// zkCli 3.8's `help` (Debian's zkCli.sh prints it for `help`, after its header), tab-indented.
const ZKCLI_HELP: &[&str] = &[
    "\taddWatch [-m mode] path # optional mode is one of [PERSISTENT, PERSISTENT_RECURSIVE] - default is PERSISTENT_RECURSIVE",
    "\taddauth scheme auth",
    "\tclose ",
    "\tconfig [-c] [-w] [-s]",
    "\tconnect host:port",
    "\tcreate [-s] [-e] [-c] [-t ttl] path [data] [acl]",
    "\tdelete [-v version] path",
    "\tdeleteall path [-b batch size]",
    "\tdelquota [-n|-b|-N|-B] path",
    "\tget [-s] [-w] path",
    "\tgetAcl [-s] path",
    "\tgetAllChildrenNumber path",
    "\tgetEphemerals path",
    "\thistory ",
    "\tlistquota path",
    "\tls [-s] [-w] [-R] path",
    "\tprintwatches on|off",
    "\tquit ",
    "\treconfig [-s] [-v version] [[-file path] | [-members serverID=host:port1:port2;port3[,...]*]] | [-add serverId=host:port1:port2;port3[,...]]* [-remove serverId[,...]*]",
    "\tredo cmdno",
    "\tremovewatches path [-c|-d|-a] [-l]",
    "\tset [-s] [-v version] path data",
    "\tsetAcl [-s] [-v version] [-R] path acl",
    "\tsetquota -n|-b|-N|-B val path",
    "\tstat [-w] path",
    "\tsync path",
    "\tversion ",
    "\twhoami ",
];

#[tokio::test]
async fn help_lists_commands_as_zkcli_does() {
    let help = common::run(common::args("127.0.0.1:1", false, &["help"]), "").await;
    // Every line is zkCli's, in zkCli's order.
    let expected: Vec<&str> = std::iter::once("paddock shell --server host:port [--json] cmd args")
        .chain(ZKCLI_HELP.iter().copied())
        .collect();
    assert_eq!(help.out.lines().collect::<Vec<_>>(), expected);
}

/// A script (zkCli with its input not a terminal) that closes its session, runs commands while closed,
/// reconnects (with and without a chroot, to an unreachable server, with a malformed connect string) and
/// re-runs history entries. The output is what Debian's zkCli.sh prints for the same script, line for line,
/// but for the lines zkCli cannot run (there `redo` without a number prints nothing, and `redo x` and a
/// malformed connect string end zkCli with a stack trace) and the `Closed` notification of the session
/// still open at the end.
#[tokio::test]
async fn script_connect_close_and_redo() {
    let zk = common::zookeeper();
    let lines = [
        "create /relink x".to_owned(),
        "create -e /relink/eph e".to_owned(),
        "close".to_owned(),
        "ls /relink".to_owned(),
        "close".to_owned(),
        "history".to_owned(),
        "printwatches".to_owned(),
        "version".to_owned(),
        "redo 3".to_owned(),
        format!("connect {zk}"),
        "ls /relink".to_owned(),
        "get /relink".to_owned(),
        format!("connect {zk}/relink"),
        "create /in y".to_owned(),
        "ls /".to_owned(),
        "redo 14".to_owned(),
        "redo 15".to_owned(),
        "history".to_owned(),
        "redo 18".to_owned(),
        "redo 18".to_owned(),
        "redo -1".to_owned(),
        "redo".to_owned(),
        "redo x".to_owned(),
        "connect 127.0.0.1:abc".to_owned(),
        "ls /".to_owned(),
        "connect 127.0.0.1:1".to_owned(),
        "ls /".to_owned(),
        "connect".to_owned(),
        format!("connect {zk}"),
        "ls /relink".to_owned(),
        "deleteall /relink".to_owned(),
    ];
    let run = script(&(lines.join("\n") + "\n")).await;
    let connected = "\nWATCHER::\n\nWatchedEvent state:SyncConnected type:None path:null\n";
    let closed = "\nWATCHER::\n\nWatchedEvent state:Closed type:None path:null\n";
    let expected = [
        "Connecting to ADDR\n",
        connected,
        closed,
        "Not connected\n",
        "Not connected\n",
        "0 - create /relink x\n1 - create -e /relink/eph e\n2 - close\n3 - ls /relink\n4 - close\n5 - history\n",
        "Not connected\n",
        "printwatches is on\nNot connected\n",
        "Not connected\n",
        // The redone `ls` is refused, then the redo itself.
        "Not connected\nNot connected\n",
        connected,
        // The node outlived the session that created it; its ephemeral child did not.
        "[]\n",
        "x\n",
        closed,
        connected,
        "[in]\n",
        "[in]\n",
        "[in]\n",
        // A redo's own line becomes the line it ran.
        "7 - version\n8 - ls /relink\n9 - connect ADDR\n10 - ls /relink\n11 - get /relink\n12 - connect ADDR/relink\n\
         13 - create /in y\n14 - ls /\n15 - ls /\n16 - ls /\n17 - history\n",
        // The malformed connect string left the session to the chroot open.
        "[in]\n",
        closed,
        // `connect` alone connects to the current servers again, closing the attempt still going on.
        closed,
        closed,
        connected,
        "[in]\n",
        closed,
    ]
    .concat();
    assert_eq!(run.out.replace(&zk, "ADDR"), expected);
    assert_eq!(
        run.err,
        "Created /relink\nCreated /relink/eph\nCreated /in\nCommand index out of range\nNo redoing redos\n\
         Command index out of range\nredo cmdno\nredo cmdno\nInvalid connect string 127.0.0.1:abc: invalid address\n\
         connect host:port\nKeeperErrorCode = ConnectionLoss for /\n"
    );
    assert_eq!(run.code, std::process::ExitCode::FAILURE);
    expect(&["ls", "/relink"], 1, "", "Node does not exist: /relink\n").await;
}

#[tokio::test]
async fn one_shot_connect_close_and_redo() {
    let zk = common::zookeeper();
    expect(&["create", "/oneshot-link", "x"], 0, "", "Created /oneshot-link\n").await;
    expect(&["close"], 0, "", "").await;
    expect(&["connect", &format!("{zk}/oneshot-link")], 0, "", "").await;
    // As zkCli's `connect`, an unreachable server is no failure: the session is still connecting.
    expect(&["connect", "127.0.0.1:1"], 0, "", "").await;
    expect(&["connect", "h:x"], 1, "", "Invalid connect string h:x: invalid address\nconnect host:port\n").await;
    expect(&["redo", "0"], 1, "", "Command index out of range\n").await;
    expect(&["redo"], 1, "", "redo cmdno\n").await;
    expect(&["redo", "one"], 1, "", "redo cmdno\n").await;

    assert_eq!(shell_json(&["close"]).await, serde_json::json!({ "command": "close", "state": "CLOSED" }));
    let chroot = format!("{zk}/oneshot-link");
    assert_eq!(
        shell_json(&["connect", &chroot]).await,
        serde_json::json!({ "command": "connect", "server": chroot, "state": "CONNECTED" })
    );
    assert_eq!(
        shell_json(&["connect", "127.0.0.1:1"]).await,
        serde_json::json!({ "command": "connect", "server": "127.0.0.1:1", "state": "CONNECTING" })
    );
    assert_eq!(
        shell_json(&["redo", "0"]).await,
        serde_json::json!({ "command": "redo", "code": "malformed", "error": "Command index out of range" })
    );
    assert_eq!(
        shell_json(&["redo"]).await,
        serde_json::json!({ "command": "redo", "code": "usage", "error": "redo cmdno" })
    );
    expect(&["delete", "/oneshot-link"], 0, "", "").await;
}

/// `--json` script: `connect`, `close` and `redo` results, `Not connected` as an error, and the session
/// notifications they cause.
#[tokio::test]
async fn script_connect_close_and_redo_as_json() {
    let zk = common::zookeeper();
    let script_text = format!(
        "create /jrelink x\nclose\nls /jrelink\nredo 2\nconnect {zk}/jrelink\ngetAllChildrenNumber /\nredo 5\n\
         redo 9\nredo\nconnect 127.0.0.1:1\nconnect {zk}\ndeleteall /jrelink\n"
    );
    let run = common::run(common::args(&zk, true, &[]), &script_text).await;
    let event = |state: &str| serde_json::json!({ "event": { "state": state, "type": "None", "path": null } });
    let chroot = format!("{zk}/jrelink");
    let expected = [
        event("SyncConnected"),
        serde_json::json!({ "command": "create", "path": "/jrelink", "created": "/jrelink" }),
        serde_json::json!({ "command": "close", "state": "CLOSED" }),
        event("Closed"),
        serde_json::json!({ "command": "ls", "path": "/jrelink", "code": "not_connected", "error": "Not connected" }),
        serde_json::json!({
            "command": "ls", "path": "/jrelink", "redo": 2, "code": "not_connected", "error": "Not connected"
        }),
        serde_json::json!({ "command": "connect", "server": chroot, "state": "CONNECTED" }),
        event("SyncConnected"),
        serde_json::json!({ "command": "getAllChildrenNumber", "path": "/", "count": 0 }),
        serde_json::json!({ "command": "getAllChildrenNumber", "path": "/", "redo": 5, "count": 0 }),
        serde_json::json!({ "command": "redo", "code": "malformed", "error": "Command index out of range" }),
        serde_json::json!({ "command": "redo", "code": "usage", "error": "redo cmdno" }),
        serde_json::json!({ "command": "connect", "server": "127.0.0.1:1", "state": "CONNECTING" }),
        event("Closed"),
        serde_json::json!({ "command": "connect", "server": zk, "state": "CONNECTED" }),
        event("Closed"),
        event("SyncConnected"),
        serde_json::json!({ "command": "deleteall", "path": "/jrelink" }),
        event("Closed"),
    ];
    let printed: Vec<serde_json::Value> = run
        .out
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}")))
        .collect();
    assert_eq!(printed, expected, "{}", run.out);
    assert_eq!(run.code, std::process::ExitCode::FAILURE);
}
