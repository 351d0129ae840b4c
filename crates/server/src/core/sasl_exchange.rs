//! `sasl` packets and enforced authentication, as `ZooKeeperServer.processSasl` and
//! `AuthenticationHelper.enforceAuthentication` handle them. The mechanisms live in [`crate::sasl`].

use std::time::Instant;

use paddock_proto::{ErrorCode, Id, OpCode, Response};
use tracing::{info, warn};

use super::{Core, LocalWork};
use crate::sasl::{Outcome, SaslServer};
use crate::watch::ConnId;

impl Core {
    /// Evaluates a client's SASL token. On success the connection gains `sasl:<id>` at once (and `super`
    /// for a `zookeeper.superUser`), so that requests sent after it carry the id; the answer keeps its
    /// place in the reply order. A failure answers AuthFailed (SessionClosedRequireSaslAuth when SASL is
    /// required) and closes the connection, unless `allowSaslFailedClients` keeps it.
    pub(super) fn sasl(&mut self, conn: ConnId, xid: i32, received: Instant, token: &[u8]) {
        let settings = &self.config.auth;
        let Some(c) = self.conns.get_mut(&conn) else { return };
        let server = c.sasl.get_or_insert_with(|| SaslServer::new(settings));
        let work = match server.evaluate(token, settings) {
            Outcome::Continue(token) => LocalWork::Answer(OpCode::Sasl, Ok(Response::Sasl(Some(token)))),
            Outcome::Complete { token, id } => {
                info!(session = format_args!("0x{:x}", c.session_id), id, "SASL authentication succeeded");
                let mut ids = vec![Id::new("sasl", id.as_str())];
                if settings.is_sasl_super_user(&id) {
                    info!(session = format_args!("0x{:x}", c.session_id), id, "SASL id is a super user");
                    ids.push(Id::new("super", ""));
                }
                for id in ids {
                    if !c.auth.contains(&id) {
                        c.auth.push(id);
                    }
                }
                // No final token (GSSAPI) is Java's null token.
                let token = (!token.is_empty()).then_some(token);
                LocalWork::Answer(OpCode::Sasl, Ok(Response::Sasl(token)))
            }
            Outcome::Failed(reason) => {
                warn!(peer = %c.peer, reason, "SASL authentication failed");
                self.stats.auth_failed += 1;
                if settings.allow_sasl_failed_clients && !settings.sasl_required() {
                    LocalWork::Answer(OpCode::Sasl, Ok(Response::Sasl(None)))
                } else if settings.sasl_required() {
                    LocalWork::Refuse(OpCode::Sasl, ErrorCode::SessionClosedRequireSaslAuth)
                } else {
                    LocalWork::Refuse(OpCode::Sasl, ErrorCode::AuthFailed)
                }
            }
            Outcome::Unconfigured => {
                warn!(peer = %c.peer, "SASL token received but no JAAS Server section is configured");
                LocalWork::Answer(OpCode::Sasl, Ok(Response::Sasl(None)))
            }
        };
        self.local(conn, xid, received, work);
    }

    /// `enforce.auth.enabled` / `sessionRequireClientSASLAuth`: a request other than `auth` and `sasl`
    /// from a connection holding none of the required schemes is answered SessionClosedRequireSaslAuth
    /// and the connection closed. Returns whether it was refused.
    pub(super) fn refuses_unauthenticated(&mut self, conn: ConnId, xid: i32, op: OpCode, received: Instant) -> bool {
        if matches!(op, OpCode::Auth | OpCode::Sasl) {
            return false;
        }
        let Some(schemes) = self.config.auth.enforced_schemes() else { return false };
        let Some(c) = self.conns.get(&conn) else { return false };
        if c.auth.iter().any(|id| schemes.contains(&id.scheme.as_str())) {
            return false;
        }
        let held: Vec<&str> = c.auth.iter().map(|id| id.scheme.as_str()).collect();
        warn!(
            peer = %c.peer,
            held = ?held,
            expected = ?schemes,
            "client authentication scheme(s) do not match any expected scheme; closing the session"
        );
        self.local(conn, xid, received, LocalWork::Refuse(op, ErrorCode::SessionClosedRequireSaslAuth));
        true
    }
}
