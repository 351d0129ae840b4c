//! The SASL GSSAPI mechanism (RFC 4752) as Java's GSSAPI `SaslServer` runs it for ZooKeeper's server:
//!
//! 1. The client's Kerberos tokens go to `gss_accept_sec_context` until the context is established; the
//!    server answers each with the library's token (the AP-REP when the client asked for mutual
//!    authentication).
//! 2. The client then sends an empty token; the server answers with its security-layer offer, wrapped
//!    with integrity only: one byte of offered layers (`1`, no security layer: quality of protection
//!    `auth`, the only one ZooKeeper's server offers by default) and three bytes of the largest message it
//!    accepts (65536, Java's default).
//! 3. The client answers with its choice, wrapped: the chosen layer, its own size, then its authorization
//!    id. The exchange completes with no token. As in ZooKeeper's `SaslServerCallbackHandler`, the id the
//!    connection gets comes from the authenticated principal, whatever authorization id the client asked
//!    for.

use std::sync::Arc;

use super::gss::{Accepted, Acceptor, Context};

/// Security layer "none" (`auth`): the only layer offered.
const NO_SECURITY_LAYER: u8 = 1;
/// The largest wrapped message the server accepts, as Java's GSSAPI server announces by default.
const MAX_RECEIVE_SIZE: u32 = 65536;

/// What one client token leads to.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Send this token; the exchange goes on.
    Continue(Vec<u8>),
    /// Authenticated as `principal` (`name[/host]@REALM`); send no token.
    Complete { principal: String },
    /// The exchange failed; the reason is for the log.
    Failed(String),
}

/// One connection's GSSAPI exchange.
#[derive(Debug)]
pub struct Gssapi {
    context: Context,
    stage: Stage,
}

#[derive(Debug)]
enum Stage {
    Accepting,
    /// The context is established; the client's empty token comes next.
    Established {
        client: String,
    },
    /// The security-layer offer was sent; the client's choice comes next.
    Offered {
        client: String,
    },
    Done,
}

impl Gssapi {
    pub fn new(acceptor: Arc<Acceptor>) -> Gssapi {
        Gssapi { context: Context::new(acceptor), stage: Stage::Accepting }
    }

    /// Evaluates the client's token. Any failure ends the exchange: later tokens fail too.
    pub fn evaluate(&mut self, token: &[u8]) -> Step {
        let step = match std::mem::replace(&mut self.stage, Stage::Done) {
            Stage::Accepting => self.accept(token),
            Stage::Established { client } => self.offer(token, client),
            Stage::Offered { client } => self.answer(token, client),
            Stage::Done => Err("the GSSAPI exchange is already over".to_string()),
        };
        step.unwrap_or_else(Step::Failed)
    }

    fn accept(&mut self, token: &[u8]) -> Result<Step, String> {
        match self.context.accept(token).map_err(|e| format!("Kerberos token refused: {e}"))? {
            Accepted::Continue(reply) => {
                self.stage = Stage::Accepting;
                Ok(Step::Continue(reply))
            }
            Accepted::Established { token, client } => {
                self.stage = Stage::Established { client };
                Ok(Step::Continue(token))
            }
        }
    }

    fn offer(&mut self, token: &[u8], client: String) -> Result<Step, String> {
        if !token.is_empty() {
            return Err(format!("{client} sent data where an empty token ends the context establishment"));
        }
        let wrapped = self.context.wrap(&offer()).map_err(|e| format!("cannot wrap the security-layer offer: {e}"))?;
        self.stage = Stage::Offered { client };
        Ok(Step::Continue(wrapped))
    }

    fn answer(&mut self, token: &[u8], client: String) -> Result<Step, String> {
        let plain = self.context.unwrap(token).map_err(|e| format!("{client}'s security-layer answer: {e}"))?;
        check_answer(&plain).map_err(|e| format!("{client}'s security-layer answer: {e}"))?;
        Ok(Step::Complete { principal: client })
    }
}

/// The server's security-layer offer: the layers it supports, then its maximum message size.
fn offer() -> [u8; 4] {
    let size = MAX_RECEIVE_SIZE.to_be_bytes();
    [NO_SECURITY_LAYER, size[1], size[2], size[3]]
}

/// Checks the client's unwrapped answer: at least the layer byte and a size, and a layer the server
/// offered. What follows (the authorization id) does not change the identity, as in ZooKeeper.
fn check_answer(plain: &[u8]) -> Result<(), String> {
    let Some(&layer) = plain.first().filter(|_| plain.len() >= 4) else {
        return Err(format!("{} bytes, fewer than 4", plain.len()));
    };
    if layer & NO_SECURITY_LAYER == 0 {
        return Err(format!("unsupported security layer {layer:#04x} (only auth, no security layer, is offered)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offer_is_auth_only_with_javas_buffer_size() {
        assert_eq!(offer(), [1, 1, 0, 0]);
    }

    #[test]
    fn answers_must_choose_no_security_layer() {
        assert_eq!(check_answer(&[1, 0, 0, 0]), Ok(()));
        assert_eq!(check_answer(b"\x01\x01\x00\x00client@EXAMPLE.COM"), Ok(()));
        // A client may set more bits than it picks; Java accepts the answer if an offered bit is set.
        assert_eq!(check_answer(&[7, 0, 0, 0]), Ok(()));
        for bad in [&b""[..], &[1][..], &[1, 0, 0][..], &[2, 0, 0, 0][..], &[4, 0, 0, 0][..]] {
            assert!(check_answer(bad).is_err(), "{bad:?}");
        }
    }
}
