//! The jute records of the client protocol (`zookeeper.jute`), field for field in ZooKeeper's order.

use crate::jute::{DecodeError, JuteReader, JuteWriter, Record};
use crate::types::{Acl, Id, Stat};

/// Declares a record struct and its jute encoding from one field list, so the two cannot drift apart.
macro_rules! record {
    ($(#[$meta:meta])* $name:ident { $($field:ident : $kind:tt),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        pub struct $name { $(pub $field: record!(@ty $kind)),* }

        impl Record for $name {
            fn write_to(&self, w: &mut JuteWriter) {
                $(record!(@write w, &self.$field, $kind);)*
            }
            fn read_from(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
                Ok($name { $($field: record!(@read r, $kind)),* })
            }
        }
    };
    (@ty int) => { i32 };
    (@ty long) => { i64 };
    (@ty boolean) => { bool };
    (@ty buffer) => { Vec<u8> };
    (@ty nullable_buffer) => { Option<Vec<u8>> };
    (@ty ustring) => { String };
    (@ty strings) => { Vec<String> };
    (@ty acls) => { Vec<Acl> };
    (@ty stat) => { Stat };
    (@write $w:ident, $v:expr, int) => { $w.write_i32(*$v) };
    (@write $w:ident, $v:expr, long) => { $w.write_i64(*$v) };
    (@write $w:ident, $v:expr, boolean) => { $w.write_bool(*$v) };
    (@write $w:ident, $v:expr, buffer) => { $w.write_buffer($v) };
    (@write $w:ident, $v:expr, nullable_buffer) => { $w.write_nullable_buffer($v.as_deref()) };
    (@write $w:ident, $v:expr, ustring) => { $w.write_string($v) };
    (@write $w:ident, $v:expr, strings) => { $w.write_strings($v) };
    (@write $w:ident, $v:expr, acls) => { $w.write_vec($v, |w, a| a.write_to(w)) };
    (@write $w:ident, $v:expr, stat) => { $v.write_to($w) };
    (@read $r:ident, int) => { $r.read_i32()? };
    (@read $r:ident, long) => { $r.read_i64()? };
    (@read $r:ident, boolean) => { $r.read_bool()? };
    (@read $r:ident, buffer) => { $r.read_buffer()? };
    (@read $r:ident, nullable_buffer) => { $r.read_nullable_buffer()? };
    (@read $r:ident, ustring) => { $r.read_string()? };
    (@read $r:ident, strings) => { $r.read_strings()? };
    (@read $r:ident, acls) => { $r.read_vec(Acl::read_from)? };
    (@read $r:ident, stat) => { Stat::read_from($r)? };
}

impl Record for Stat {
    fn write_to(&self, w: &mut JuteWriter) {
        w.write_i64(self.czxid);
        w.write_i64(self.mzxid);
        w.write_i64(self.ctime);
        w.write_i64(self.mtime);
        w.write_i32(self.version);
        w.write_i32(self.cversion);
        w.write_i32(self.aversion);
        w.write_i64(self.ephemeral_owner);
        w.write_i32(self.data_length);
        w.write_i32(self.num_children);
        w.write_i64(self.pzxid);
    }

    fn read_from(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        Ok(Stat {
            czxid: r.read_i64()?,
            mzxid: r.read_i64()?,
            ctime: r.read_i64()?,
            mtime: r.read_i64()?,
            version: r.read_i32()?,
            cversion: r.read_i32()?,
            aversion: r.read_i32()?,
            ephemeral_owner: r.read_i64()?,
            data_length: r.read_i32()?,
            num_children: r.read_i32()?,
            pzxid: r.read_i64()?,
        })
    }
}

impl Record for Id {
    fn write_to(&self, w: &mut JuteWriter) {
        w.write_string(&self.scheme);
        w.write_string(&self.id);
    }

    fn read_from(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        Ok(Id { scheme: r.read_string()?, id: r.read_string()? })
    }
}

impl Record for Acl {
    fn write_to(&self, w: &mut JuteWriter) {
        w.write_i32(self.perms);
        self.id.write_to(w);
    }

    fn read_from(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        Ok(Acl { perms: r.read_i32()?, id: Id::read_from(r)? })
    }
}

record!(
    /// Precedes every request after the handshake.
    RequestHeader { xid: int, op: int }
);
record!(
    /// Precedes every reply and notification; `err` is a [`crate::ErrorCode`] value.
    ReplyHeader { xid: int, zxid: long, err: int }
);
record!(
    /// create, create2, createContainer. `data` `None` is the null buffer a client sends for "no data";
    /// ZooKeeper stores it as null and getData returns null, unlike an empty buffer.
    CreateRequest { path: ustring, data: nullable_buffer, acl: acls, flags: int }
);
record!(CreateTtlRequest { path: ustring, data: nullable_buffer, acl: acls, flags: int, ttl: long });
record!(DeleteRequest { path: ustring, version: int });
record!(
    /// exists, getData, getChildren, getChildren2 (and the ops of a multiRead).
    PathWatchRequest { path: ustring, watch: boolean }
);
record!(
    /// getACL, sync, deleteContainer, getAllChildrenNumber, getEphemerals (whose field is a prefix).
    PathRequest { path: ustring }
);
record!(
    /// `data` `None` sets the node's data to null, as in [`CreateRequest`].
    SetDataRequest { path: ustring, data: nullable_buffer, version: int }
);
record!(SetAclRequest { path: ustring, acl: acls, version: int });
record!(CheckVersionRequest { path: ustring, version: int });
record!(ReconfigRequest {
    joining_servers: ustring,
    leaving_servers: ustring,
    new_members: ustring,
    cur_config_id: long
});
record!(
    /// checkWatches and removeWatches; `watcher_type` is a [`crate::WatcherType`] value.
    WatchesRequest { path: ustring, watcher_type: int }
);
record!(
    /// `mode` is an [`crate::AddWatchMode`] value.
    AddWatchRequest { path: ustring, mode: int }
);
record!(AuthPacket { auth_type: int, scheme: ustring, auth: buffer });
record!(SaslRequest { token: buffer });
record!(
    /// The body of a notification (xid -1).
    WatcherEvent { event_type: int, state: int, path: ustring }
);
record!(ClientInfo { auth_scheme: ustring, user: ustring });
record!(
    /// Precedes each op of a multi request and each result of its reply; `done` ends the list.
    MultiHeader { op: int, done: boolean, err: int }
);

/// setWatches (three lists) and setWatches2 (five): the watches a reconnecting client re-registers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetWatches {
    pub relative_zxid: i64,
    pub data_watches: Vec<String>,
    pub exist_watches: Vec<String>,
    pub child_watches: Vec<String>,
    pub persistent_watches: Vec<String>,
    pub persistent_recursive_watches: Vec<String>,
}

impl SetWatches {
    pub fn write_to(&self, w: &mut JuteWriter, v2: bool) {
        w.write_i64(self.relative_zxid);
        w.write_strings(&self.data_watches);
        w.write_strings(&self.exist_watches);
        w.write_strings(&self.child_watches);
        if v2 {
            w.write_strings(&self.persistent_watches);
            w.write_strings(&self.persistent_recursive_watches);
        }
    }

    pub fn read_from(r: &mut JuteReader<'_>, v2: bool) -> Result<Self, DecodeError> {
        let mut watches = SetWatches {
            relative_zxid: r.read_i64()?,
            data_watches: r.read_strings()?,
            exist_watches: r.read_strings()?,
            child_watches: r.read_strings()?,
            ..SetWatches::default()
        };
        if v2 {
            watches.persistent_watches = r.read_strings()?;
            watches.persistent_recursive_watches = r.read_strings()?;
        }
        Ok(watches)
    }
}

/// The handshake a client sends first. `read_only` is `None` for old clients that omit the byte.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectRequest {
    pub protocol_version: i32,
    pub last_zxid_seen: i64,
    pub timeout: i32,
    pub session_id: i64,
    pub passwd: Vec<u8>,
    pub read_only: Option<bool>,
}

impl Record for ConnectRequest {
    fn write_to(&self, w: &mut JuteWriter) {
        w.write_i32(self.protocol_version);
        w.write_i64(self.last_zxid_seen);
        w.write_i32(self.timeout);
        w.write_i64(self.session_id);
        w.write_buffer(&self.passwd);
        if let Some(ro) = self.read_only {
            w.write_bool(ro);
        }
    }

    fn read_from(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        Ok(ConnectRequest {
            protocol_version: r.read_i32()?,
            last_zxid_seen: r.read_i64()?,
            timeout: r.read_i32()?,
            session_id: r.read_i64()?,
            passwd: r.read_buffer()?,
            read_only: optional_bool(r)?,
        })
    }
}

/// The server's answer to the handshake; `read_only` is written only if the client sent it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectResponse {
    pub protocol_version: i32,
    pub timeout: i32,
    pub session_id: i64,
    pub passwd: Vec<u8>,
    pub read_only: Option<bool>,
}

impl Record for ConnectResponse {
    fn write_to(&self, w: &mut JuteWriter) {
        w.write_i32(self.protocol_version);
        w.write_i32(self.timeout);
        w.write_i64(self.session_id);
        w.write_buffer(&self.passwd);
        if let Some(ro) = self.read_only {
            w.write_bool(ro);
        }
    }

    fn read_from(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        Ok(ConnectResponse {
            protocol_version: r.read_i32()?,
            timeout: r.read_i32()?,
            session_id: r.read_i64()?,
            passwd: r.read_buffer()?,
            read_only: optional_bool(r)?,
        })
    }
}

fn optional_bool(r: &mut JuteReader<'_>) -> Result<Option<bool>, DecodeError> {
    if r.remaining() == 0 { Ok(None) } else { r.read_bool().map(Some) }
}
