//! Requests served from the local tree without a transaction: reads, watch registration, `sync`,
//! `whoAmI`. Mirrors `FinalRequestProcessor`: the order of the existence check, the ACL check and the
//! watch registration matters, because it decides which error a client sees and whether a watch was left
//! behind.

use paddock_proto::{
    AddWatchMode, ClientInfo, ErrorCode, Id, MultiOp, MultiResult, PathWatchRequest, Request, Response, SetWatches,
    Stat, WatcherType, perms,
};
use paddock_tree::{DataTree, Node, acl};

use crate::watch::{ConnId, WatchManager};

/// What a local request needs to know about the connection that sent it.
pub struct Caller<'a> {
    pub conn: ConnId,
    pub session_id: i64,
    pub auth: &'a [Id],
}

/// A watch event produced while serving a request (`setWatches` catching a client up).
pub struct Catchup {
    pub path: String,
    pub event: paddock_proto::EventType,
}

pub fn serve(
    tree: &DataTree,
    watches: &mut WatchManager,
    caller: &Caller<'_>,
    req: &Request,
    catchup: &mut Vec<Catchup>,
) -> Result<Response, ErrorCode> {
    match req {
        Request::Exists(r) => exists(tree, watches, caller, r),
        Request::GetData(r) => get_data(tree, watches, caller, &r.path, r.watch),
        Request::GetChildren(r) => {
            get_children(tree, watches, caller, r).map(|(children, _)| Response::GetChildren(children))
        }
        Request::GetChildren2(r) => {
            get_children(tree, watches, caller, r).map(|(children, stat)| Response::GetChildren2 { children, stat })
        }
        Request::GetAcl(r) => get_acl(tree, caller, &r.path),
        Request::GetAllChildrenNumber(r) => {
            let node = readable(tree, caller, &r.path)?;
            let _ = node;
            tree.all_children_number(&r.path).map(Response::AllChildrenNumber).ok_or(ErrorCode::NoNode)
        }
        Request::GetEphemerals(r) => Ok(Response::GetEphemerals(ephemerals(tree, caller.session_id, &r.path))),
        Request::MultiRead(ops) => {
            if ops.iter().any(|op| !matches!(op, MultiOp::GetChildren(_) | MultiOp::GetData(_))) {
                return Err(ErrorCode::MarshallingError);
            }
            Ok(Response::Multi(ops.iter().map(|op| multi_read(tree, watches, caller, op)).collect()))
        }
        Request::Sync(r) => Ok(Response::Sync(r.path.clone())),
        Request::WhoAmI => Ok(Response::WhoAmI(who_am_i(caller.auth))),
        Request::SetWatches(w) | Request::SetWatches2(w) => {
            set_watches(tree, watches, caller.conn, w, catchup);
            Ok(Response::Empty)
        }
        Request::AddWatch(r) => {
            match AddWatchMode::from_i32(r.mode) {
                Some(AddWatchMode::Persistent) => watches.add_persistent(&r.path, caller.conn),
                Some(AddWatchMode::PersistentRecursive) => watches.add_persistent_recursive(&r.path, caller.conn),
                // ZooKeeper fails to map the mode while reading the request: a marshalling error.
                None => return Err(ErrorCode::MarshallingError),
            }
            Ok(Response::ErrorBody(0))
        }
        Request::CheckWatches(r) | Request::RemoveWatches(r) => {
            let remove = matches!(req, Request::RemoveWatches(_));
            let kind = WatcherType::from_i32(r.watcher_type).ok_or(ErrorCode::BadArguments)?;
            if watches.check_or_remove(&r.path, caller.conn, kind, remove) {
                Ok(Response::Empty)
            } else {
                Err(ErrorCode::NoWatcher)
            }
        }
        _ => Err(ErrorCode::Unimplemented),
    }
}

/// How many watch registrations `req` may add (`paddock.maxWatchesPerSession`): one for a read that asks
/// for a watch or an `addWatch`, every path of a `setWatches`, none otherwise.
pub fn watches_requested(req: &Request) -> usize {
    match req {
        Request::Exists(r) | Request::GetData(r) | Request::GetChildren(r) | Request::GetChildren2(r) => {
            usize::from(r.watch)
        }
        Request::AddWatch(_) => 1,
        Request::SetWatches(w) | Request::SetWatches2(w) => {
            let lists = [&w.data_watches, &w.exist_watches, &w.child_watches, &w.persistent_watches];
            lists.iter().map(|l| l.len()).sum::<usize>() + w.persistent_recursive_watches.len()
        }
        _ => 0,
    }
}

/// Looks a node up and checks READ, in ZooKeeper's order: NoNode first, then NoAuth.
fn readable<'t>(tree: &'t DataTree, caller: &Caller<'_>, path: &str) -> Result<&'t Node, ErrorCode> {
    let node = tree.get(path).ok_or(ErrorCode::NoNode)?;
    if acl::check(node.acl(), perms::READ, caller.auth) { Ok(node) } else { Err(ErrorCode::NoAuth) }
}

/// `exists` has no ACL check in ZooKeeper, and registers its watch whether or not the node exists.
fn exists(
    tree: &DataTree,
    watches: &mut WatchManager,
    caller: &Caller<'_>,
    r: &PathWatchRequest,
) -> Result<Response, ErrorCode> {
    if r.path.contains('\0') {
        return Err(ErrorCode::BadArguments);
    }
    if r.watch {
        watches.add_data_watch(&r.path, caller.conn);
    }
    tree.stat(&r.path).map(Response::Stat).ok_or(ErrorCode::NoNode)
}

fn get_data(
    tree: &DataTree,
    watches: &mut WatchManager,
    caller: &Caller<'_>,
    path: &str,
    watch: bool,
) -> Result<Response, ErrorCode> {
    let node = readable(tree, caller, path)?;
    if watch {
        watches.add_data_watch(path, caller.conn);
    }
    Ok(Response::GetData { data: node.data().map(<[u8]>::to_vec), stat: node.stat() })
}

fn get_children(
    tree: &DataTree,
    watches: &mut WatchManager,
    caller: &Caller<'_>,
    r: &PathWatchRequest,
) -> Result<(Vec<String>, Stat), ErrorCode> {
    let node = readable(tree, caller, &r.path)?;
    if r.watch {
        watches.add_child_watch(&r.path, caller.conn);
    }
    let children = node.children().map(str::to_string).collect();
    Ok((children, node.stat()))
}

/// getACL needs READ or ADMIN (CVE-2019-0201); without ADMIN, digest ids are masked to `user:x`.
fn get_acl(tree: &DataTree, caller: &Caller<'_>, path: &str) -> Result<Response, ErrorCode> {
    let node = tree.get(path).ok_or(ErrorCode::NoNode)?;
    // CVE-2019-0201's vulnerable variant (no check, nothing masked), for its regression test.
    fail::fail_point!("cve::2019_0201", |_| Ok(Response::GetAcl {
        acl: node.acl().as_ref().clone(),
        stat: node.stat()
    }));
    if !acl::check(node.acl(), perms::READ | perms::ADMIN, caller.auth) {
        return Err(ErrorCode::NoAuth);
    }
    let mut list = node.acl().as_ref().clone();
    if !acl::check(node.acl(), perms::ADMIN, caller.auth) {
        for entry in list.iter_mut().filter(|a| a.id.scheme == "digest") {
            let user = entry.id.id.split(':').next().unwrap_or_default().to_string();
            entry.id.id = format!("{user}:x");
        }
    }
    Ok(Response::GetAcl { acl: list, stat: node.stat() })
}

/// The caller's own ephemerals under a plain string prefix ("" and "/" mean all), as ZooKeeper does.
fn ephemerals(tree: &DataTree, session_id: i64, prefix: &str) -> Vec<String> {
    let all = tree.ephemerals(session_id);
    let prefix = prefix.trim();
    if prefix.is_empty() || prefix == "/" {
        return all;
    }
    all.into_iter().filter(|p| p.starts_with(prefix)).collect()
}

fn multi_read(tree: &DataTree, watches: &mut WatchManager, caller: &Caller<'_>, op: &MultiOp) -> MultiResult {
    let result = match op {
        MultiOp::GetChildren(r) => {
            let req = PathWatchRequest { path: r.path.clone(), watch: false };
            get_children(tree, watches, caller, &req).map(|(children, _)| MultiResult::GetChildren(children))
        }
        MultiOp::GetData(r) => get_data(tree, watches, caller, &r.path, false).and_then(|resp| match resp {
            Response::GetData { data, stat } => Ok(MultiResult::GetData { data, stat }),
            _ => Err(ErrorCode::SystemError),
        }),
        _ => Err(ErrorCode::MarshallingError),
    };
    result.unwrap_or_else(MultiResult::Error)
}

/// `whoAmI` names users as the auth providers' `getUserName` does: a digest id without its hash.
fn who_am_i(auth: &[Id]) -> Vec<ClientInfo> {
    auth.iter()
        .map(|id| {
            let user = match id.scheme.as_str() {
                "digest" => id.id.split(':').next().unwrap_or_default(),
                _ => id.id.as_str(),
            };
            ClientInfo { auth_scheme: id.scheme.clone(), user: user.to_string() }
        })
        .collect()
}

/// `DataTree.setWatches`: re-registers a reconnecting client's watches, or fires at once the events it
/// missed since `relative_zxid`.
fn set_watches(tree: &DataTree, watches: &mut WatchManager, conn: ConnId, w: &SetWatches, catchup: &mut Vec<Catchup>) {
    use paddock_proto::EventType::{NodeChildrenChanged, NodeCreated, NodeDataChanged, NodeDeleted};
    for path in &w.data_watches {
        match tree.stat(path) {
            None => catchup.push(Catchup { path: path.clone(), event: NodeDeleted }),
            Some(stat) if stat.mzxid > w.relative_zxid => {
                catchup.push(Catchup { path: path.clone(), event: NodeDataChanged })
            }
            Some(_) => watches.add_data_watch(path, conn),
        }
    }
    for path in &w.exist_watches {
        match tree.stat(path) {
            Some(_) => catchup.push(Catchup { path: path.clone(), event: NodeCreated }),
            None => watches.add_data_watch(path, conn),
        }
    }
    for path in &w.child_watches {
        match tree.stat(path) {
            None => catchup.push(Catchup { path: path.clone(), event: NodeDeleted }),
            Some(stat) if stat.pzxid > w.relative_zxid => {
                catchup.push(Catchup { path: path.clone(), event: NodeChildrenChanged })
            }
            Some(_) => watches.add_child_watch(path, conn),
        }
    }
    for path in &w.persistent_watches {
        watches.add_persistent(path, conn);
    }
    for path in &w.persistent_recursive_watches {
        watches.add_persistent_recursive(path, conn);
    }
}
