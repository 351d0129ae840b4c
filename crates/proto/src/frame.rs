//! Framing: every message is a 4-byte big-endian length and that many bytes. Before the handshake the
//! first four bytes may instead be a four-letter word (`ruok`, `mntr`, ...), exactly as ZooKeeper reads
//! them.

use bytes::{Buf, Bytes, BytesMut};
use thiserror::Error;

use crate::jute::{DecodeError, JuteReader, Record};
use crate::records::ConnectRequest;

/// ZooKeeper's default `jute.maxbuffer`: 0xfffff bytes (1 MiB - 1).
pub const DEFAULT_MAX_BUFFER: usize = 0xfffff;

/// A frame that cannot be accepted; ZooKeeper closes the connection for each of these.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum FrameError {
    #[error("negative frame length {0}")]
    NegativeLength(i32),
    #[error("frame length {len} exceeds jute.maxbuffer {max}")]
    TooLong { len: usize, max: usize },
}

/// Splits one frame off the front of `buf`. `Ok(None)` means more bytes are needed.
pub fn decode_frame(buf: &mut BytesMut, max_len: usize) -> Result<Option<Bytes>, FrameError> {
    let Some(prefix) = buf.get(0..4) else {
        return Ok(None);
    };
    let len = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
    let len = usize::try_from(len).map_err(|_| FrameError::NegativeLength(len))?;
    if len > max_len {
        return Err(FrameError::TooLong { len, max: max_len });
    }
    if buf.len() < 4 + len {
        // Nothing is reserved for the announced length: a client that announces 1 MiB and sends three bytes
        // must not make the server hold 1 MiB for it. The buffer grows as the bytes arrive.
        return Ok(None);
    }
    buf.advance(4);
    Ok(Some(buf.split_to(len).freeze()))
}

/// The four-letter words ZooKeeper knows, recognised from the first four bytes of a connection.
pub const FOUR_LETTER_WORDS: [&str; 19] = [
    "ruok", "conf", "cons", "crst", "dump", "envi", "reqs", "srvr", "srst", "stat", "wchs", "wchc", "wchp", "dirs",
    "isro", "hash", "mntr", "gtmk", "stmk",
];

pub fn four_letter_word(first4: [u8; 4]) -> Option<&'static str> {
    FOUR_LETTER_WORDS.iter().copied().find(|w| w.as_bytes() == first4)
}

/// Decodes the handshake frame, with or without the trailing readOnly byte.
pub fn decode_connect_request(frame: &[u8]) -> Result<ConnectRequest, DecodeError> {
    ConnectRequest::read_from(&mut JuteReader::new(frame, DEFAULT_MAX_BUFFER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_and_wait_for_more() {
        let mut buf = BytesMut::from(&[0, 0, 0, 2, 7, 8, 0, 0, 0, 3, 1][..]);
        assert_eq!(decode_frame(&mut buf, 10), Ok(Some(Bytes::from_static(&[7, 8]))));
        assert_eq!(decode_frame(&mut buf, 10), Ok(None));
        buf.extend_from_slice(&[2, 3]);
        assert_eq!(decode_frame(&mut buf, 10), Ok(Some(Bytes::from_static(&[1, 2, 3]))));
        assert!(buf.is_empty());
    }

    #[test]
    fn oversized_and_negative_frames_are_refused_before_buffering() {
        let mut buf = BytesMut::from(&[0, 0, 0, 11][..]);
        assert_eq!(decode_frame(&mut buf, 10), Err(FrameError::TooLong { len: 11, max: 10 }));
        let mut buf = BytesMut::from(&[0xff, 0, 0, 0][..]);
        assert!(matches!(decode_frame(&mut buf, 10), Err(FrameError::NegativeLength(_))));
    }

    #[test]
    fn a_lying_length_prefix_reserves_nothing_for_bytes_not_sent() {
        let mut buf = BytesMut::with_capacity(16);
        buf.extend_from_slice(&[0, 0x0f, 0, 0, 1, 2, 3]);
        assert_eq!(decode_frame(&mut buf, DEFAULT_MAX_BUFFER), Ok(None));
        assert!(buf.capacity() < 1024, "capacity {} for 7 bytes received", buf.capacity());
    }

    #[test]
    fn four_letter_words_are_recognised() {
        assert_eq!(four_letter_word(*b"ruok"), Some("ruok"));
        assert_eq!(four_letter_word(*b"mntr"), Some("mntr"));
        assert_eq!(four_letter_word([0, 0, 0, 44]), None);
    }
}
