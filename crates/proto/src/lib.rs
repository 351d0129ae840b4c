//! The ZooKeeper client wire protocol: jute encoding, records, requests and replies, framing with size
//! limits. Pure: no I/O, no sessions. Every decoder bounds its allocations and never panics on input.

pub mod display;
pub mod frame;
pub mod jute;
pub mod records;
pub mod request;
pub mod response;
pub mod types;

pub use frame::{
    DEFAULT_MAX_BUFFER, FOUR_LETTER_WORDS, FrameError, decode_connect_request, decode_frame, four_letter_word,
};
pub use jute::{DecodeError, JuteReader, JuteWriter, Record};
pub use records::*;
pub use request::{MultiOp, Request};
pub use response::{MultiResult, Response, encode_connect_response, encode_notification, encode_reply};
pub use types::*;
