//! `paddock restore --into HOST:ADMIN_PORT`: arguments checked, progress shown and the server's answer
//! printed. The work is in `paddock_backup::restore::into`.

use std::process::ExitCode;

use paddock_backup::restore::into::{IntoRequest, RestoredInto, restore_into};
use serde_json::Value;

use crate::backup_cli::{RestoreArgs, bytes_bar, restore_point};

pub async fn run(args: RestoreArgs) -> anyhow::Result<ExitCode> {
    let target = args.keys.open(&args.from)?;
    if args.dry_run && args.subtree.is_none() {
        anyhow::bail!("--dry-run with --into needs --subtree: a whole-tree restore has nothing to compare");
    }
    let request = IntoRequest {
        server: args.into.clone().unwrap_or_default(),
        auth: args.auth.clone(),
        cluster: args.cluster.clone(),
        point: restore_point(args.zxid, args.time),
        subtree: args.subtree.clone(),
        on_conflict: args.on_conflict.clone(),
        dry_run: args.dry_run,
    };
    let json = args.json;
    let bar = bytes_bar("downloading", json);
    let resolved = |zxid: i64, time: &str| {
        if !json {
            bar.suspend(|| eprintln!("restore point: zxid {zxid} (0x{zxid:x}), {time}"));
        }
    };
    let restored = restore_into(&target, &request, &|n| bar.set_position(n), &resolved).await;
    bar.finish_and_clear();
    let restored = restored?;
    if json {
        println!("{}", serde_json::to_string_pretty(&restored)?);
    } else {
        print_outcome(&restored);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_outcome(restored: &RestoredInto) {
    let answer = &restored.answer;
    let Some(subtree) = &restored.subtree else {
        println!(
            "restored {} at zxid 0x{:x} ({}) into {}: {} znodes, continuing after zxid 0x{:x}; every session ended ({:.1} s)",
            restored.from_cluster,
            restored.zxid,
            restored.time,
            restored.server,
            answer["node_count"],
            answer["last_zxid"].as_i64().unwrap_or_default(),
            restored.seconds
        );
        return;
    };
    let changes = answer["changes"].as_array().map(Vec::as_slice).unwrap_or_default();
    for change in changes {
        let fields: Vec<&str> =
            change["fields"].as_array().map(|f| f.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
        let fields = if fields.is_empty() { String::new() } else { format!(" ({})", fields.join(", ")) };
        println!("{} {}{fields}", change["kind"].as_str().unwrap_or("?"), change["path"].as_str().unwrap_or("?"));
    }
    let verb = if restored.dry_run { "would restore" } else { "restored" };
    println!(
        "{verb} {subtree} as at zxid 0x{:x} ({}) into {}: {} created, {} updated, {} deleted{}",
        restored.zxid,
        restored.time,
        restored.server,
        answer["created"],
        answer["updated"],
        answer["deleted"],
        if restored.dry_run { "; nothing changed (dry run)" } else { "" }
    );
}
