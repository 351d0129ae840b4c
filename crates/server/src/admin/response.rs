//! ZooKeeper's `CommandResponse` and `JsonOutputter`: every answer is a JSON object holding the command's
//! own entries plus `"command"` (the primary name) and `"error"` (a message or `null`), with an HTTP status
//! and optional headers. Entries keep the order the command put them in, as ZooKeeper's `LinkedHashMap` does.

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

pub const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests";

#[derive(Debug)]
pub struct CommandResponse {
    pub command: String,
    pub error: Option<String>,
    pub status: StatusCode,
    data: Vec<(String, Value)>,
    headers: Vec<(HeaderName, String)>,
}

impl CommandResponse {
    /// A successful, still empty answer (`CommandBase.initializeResponse`).
    pub fn new(command: &str) -> Self {
        CommandResponse {
            command: command.to_string(),
            error: None,
            status: StatusCode::OK,
            data: Vec::new(),
            headers: Vec::new(),
        }
    }

    pub fn failed(command: &str, error: impl Into<String>, status: StatusCode) -> Self {
        CommandResponse { error: Some(error.into()), status, ..CommandResponse::new(command) }
    }

    /// ZooKeeper answers "not serving" with 200 and the message in `error`.
    pub fn not_serving(command: &str) -> Self {
        CommandResponse::failed(command, NOT_SERVING, StatusCode::OK)
    }

    /// Adds an entry, replacing one with the same key in place.
    pub fn put(&mut self, key: impl Into<String>, value: impl Into<Value>) {
        let key = key.into();
        let value = value.into();
        match self.data.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => self.data.push((key, value)),
        }
    }

    pub fn put_all(&mut self, entries: impl IntoIterator<Item = (String, Value)>) {
        for (key, value) in entries {
            self.put(key, value);
        }
    }

    pub fn add_header(&mut self, name: HeaderName, value: impl Into<String>) {
        self.headers.push((name, value.into()));
    }

    /// The headers set so far, to send along a streamed body.
    pub fn header_pairs(&self) -> impl Iterator<Item = (&HeaderName, &str)> {
        self.headers.iter().map(|(name, value)| (name, value.as_str()))
    }

    /// `JsonOutputter`: indented JSON.
    pub fn to_json_text(&self) -> String {
        serde_json::to_string_pretty(self)
            .unwrap_or_else(|_| r#"{"error": "Exception writing command response to JSON"}"#.to_string())
    }
}

impl Serialize for CommandResponse {
    /// `CommandResponse.toMap`: the command's entries, then `command` and `error` (an `error` entry the
    /// command put itself wins, keeping its place).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let own_error = self.data.iter().any(|(k, _)| k == "error");
        let mut map = serializer.serialize_map(None)?;
        for (key, value) in &self.data {
            if key != "command" {
                map.serialize_entry(key, value)?;
            }
        }
        map.serialize_entry("command", &self.command)?;
        if !own_error {
            map.serialize_entry("error", &self.error)?;
        }
        map.end()
    }
}

impl IntoResponse for CommandResponse {
    fn into_response(self) -> Response {
        let body = self.to_json_text();
        let mut response = (self.status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
        add_headers(&mut response, self.header_pairs());
        response
    }
}

/// Copies command headers onto an HTTP response; a value that is not a valid header is left out.
pub fn add_headers<'a>(response: &mut Response, headers: impl Iterator<Item = (&'a HeaderName, &'a str)>) {
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_str(value) {
            response.headers_mut().append(name.clone(), value);
        }
    }
}

/// A mntr/monitor value as JSON: integers and finite decimals become numbers, like the `Long` and
/// `Double` values ZooKeeper's metrics provider hands to Jackson; anything else stays a string.
pub fn number_or_string(text: &str) -> Value {
    if let Ok(n) = text.parse::<i64>() {
        return Value::from(n);
    }
    if let Ok(f) = text.parse::<f64>()
        && let Some(n) = serde_json::Number::from_f64(f)
    {
        return Value::Number(n);
    }
    Value::String(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_and_error_follow_the_entries() {
        let mut r = CommandResponse::new("dirs");
        r.put("datadir_size", 1);
        r.put("logdir_size", 2);
        let text = serde_json::to_string(&r).expect("serializes");
        assert_eq!(text, r#"{"datadir_size":1,"logdir_size":2,"command":"dirs","error":null}"#);
    }

    #[test]
    fn an_error_put_by_the_command_wins() {
        let mut r = CommandResponse::new("leader");
        r.put("error", "server is not initialized");
        let text = serde_json::to_string(&r).expect("serializes");
        assert_eq!(text, r#"{"error":"server is not initialized","command":"leader"}"#);
    }

    #[test]
    fn numbers_become_json_numbers() {
        assert_eq!(number_or_string("42"), Value::from(42));
        assert_eq!(number_or_string("-1"), Value::from(-1));
        assert_eq!(number_or_string("0.5"), Value::from(0.5));
        assert_eq!(number_or_string("standalone"), Value::from("standalone"));
        assert_eq!(number_or_string("NaN"), Value::from("NaN"));
        assert_eq!(number_or_string("inf"), Value::from("inf"));
    }
}
