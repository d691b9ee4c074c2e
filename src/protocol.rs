//! The extension's message protocol, mirrored from `extension/protocol.js`.
//!
//! Clients send `{type:"request", id, kind, payload}` or `{type:"abort", id}`;
//! the runtime answers with `{type:"event", id, event, ...}` where `event` is
//! `progress`, `token`, `done` or `error`. Parsing is two-staged so that a bad
//! payload for a known kind and an unknown kind get different error codes.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{ErrorCode, LocusError};

pub const PROTOCOL_VERSION: u32 = 1;

/// Request ids are chosen by the client; we only require a short non-empty string.
pub type RequestId = String;
const MAX_ID_LEN: usize = 128;

/// Every request kind, with its payload.
#[derive(Debug, Clone, PartialEq)]
pub enum Task {
    Report,
    Summarize(SummarizeRequest),
    Translate(TranslateRequest),
    Detect(DetectRequest),
    Chat(ChatRequest),
}

impl Task {
    /// Wire names of every kind, in the order `extension/protocol.js` lists them.
    pub const KINDS: [&'static str; 5] = ["report", "summarize", "translate", "detect", "chat"];

    pub fn kind(&self) -> &'static str {
        match self {
            Task::Report => "report",
            Task::Summarize(_) => "summarize",
            Task::Translate(_) => "translate",
            Task::Detect(_) => "detect",
            Task::Chat(_) => "chat",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportRequest {}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SummaryType {
    #[default]
    KeyPoints,
    Tldr,
    Teaser,
    Headline,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SummaryLength {
    Short,
    #[default]
    Medium,
    Long,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SummaryFormat {
    #[default]
    Markdown,
    PlainText,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SummarizeRequest {
    pub text: String,
    #[serde(default, rename = "type")]
    pub summary_type: SummaryType,
    #[serde(default)]
    pub length: SummaryLength,
    #[serde(default)]
    pub format: SummaryFormat,
    /// A smaller context window than the model's, in tokens (tests use it to
    /// make long-text handling quick; clamped to the model's own).
    #[serde(default)]
    pub context_tokens: Option<usize>,
    /// Times a phrase may recur before the answer counts as a loop (tests
    /// lower it to provoke the stop; see `tasks::RepetitionGuard`).
    #[serde(default)]
    pub repeat_limit: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TranslateRequest {
    pub text: String,
    pub target_language: String,
    #[serde(default)]
    pub source_language: Option<String>,
    /// As for [`SummarizeRequest::context_tokens`].
    #[serde(default)]
    pub context_tokens: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectRequest {
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ChatRequest {
    pub messages: Vec<ChatMessage>,
    /// Start from an empty KV cache instead of the last turn's (to measure).
    #[serde(default)]
    pub fresh: bool,
    /// Most tokens in the reply.
    #[serde(default)]
    pub max_tokens: Option<usize>,
}

/// A parsed client message.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientMessage {
    Request { id: RequestId, task: Task },
    Abort { id: RequestId },
}

/// A message that failed to parse, with the id when one could be read so the
/// error can be routed back to the request that caused it.
#[derive(Debug)]
pub struct Rejected {
    pub id: Option<RequestId>,
    pub error: LocusError,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    message_type: String,
    id: RequestId,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    payload: Option<Value>,
}

/// Parses one client message from its JSON value.
pub fn parse_client_message(value: Value) -> Result<ClientMessage, Rejected> {
    let id_hint = value.get("id").and_then(Value::as_str).map(str::to_owned);
    let reject = |error| Rejected {
        id: id_hint.clone(),
        error,
    };
    let envelope: Envelope =
        serde_json::from_value(value).map_err(|e| reject(LocusError::BadMessage(e.to_string())))?;
    if envelope.id.is_empty() || envelope.id.len() > MAX_ID_LEN {
        return Err(reject(LocusError::BadMessage(format!(
            "id must be 1..={MAX_ID_LEN} characters"
        ))));
    }
    match envelope.message_type.as_str() {
        "abort" => Ok(ClientMessage::Abort { id: envelope.id }),
        "request" => {
            let kind = envelope
                .kind
                .ok_or_else(|| reject(LocusError::BadMessage("request without kind".into())))?;
            let payload = match envelope.payload {
                None | Some(Value::Null) => Value::Object(Default::default()),
                // serde would read a struct from an array too; the protocol says object.
                Some(object @ Value::Object(_)) => object,
                Some(_) => {
                    return Err(reject(LocusError::BadMessage(
                        "payload must be an object".into(),
                    )));
                }
            };
            let task = parse_task(&kind, payload).map_err(reject)?;
            Ok(ClientMessage::Request {
                id: envelope.id,
                task,
            })
        }
        other => Err(reject(LocusError::BadMessage(format!(
            "unknown message type `{other}`"
        )))),
    }
}

fn parse_task(kind: &str, payload: Value) -> Result<Task, LocusError> {
    fn payload_of<T: for<'de> Deserialize<'de>>(
        kind: &str,
        payload: Value,
    ) -> Result<T, LocusError> {
        serde_json::from_value(payload)
            .map_err(|e| LocusError::BadMessage(format!("bad `{kind}` payload: {e}")))
    }
    Ok(match kind {
        "report" => {
            let ReportRequest {} = payload_of(kind, payload)?;
            Task::Report
        }
        "summarize" => Task::Summarize(payload_of(kind, payload)?),
        "translate" => Task::Translate(payload_of(kind, payload)?),
        "detect" => Task::Detect(payload_of(kind, payload)?),
        "chat" => Task::Chat(payload_of(kind, payload)?),
        other => return Err(LocusError::UnknownKind(other.chars().take(64).collect())),
    })
}

/// One event sent back for a request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    #[serde(rename = "type")]
    message_type: &'static str,
    pub id: RequestId,
    #[serde(flatten)]
    pub body: EventBody,
}

impl Event {
    pub fn new(id: impl Into<RequestId>, body: EventBody) -> Self {
        Event {
            message_type: "event",
            id: id.into(),
            body,
        }
    }

    pub fn error(id: impl Into<RequestId>, error: &LocusError) -> Self {
        Event::new(
            id,
            EventBody::Error {
                code: error.code(),
                message: error.to_string(),
            },
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventBody {
    Progress {
        stage: String,
        message: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        done: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        total: Option<u64>,
    },
    Token {
        text: String,
        /// A summary's unit in progress, shown after all the text so far
        /// until a later token event commits it; replaces the last draft.
        #[serde(skip_serializing_if = "Option::is_none")]
        draft: Option<String>,
    },
    Done {
        result: Value,
    },
    Error {
        code: ErrorCode,
        message: String,
    },
}

impl EventBody {
    pub const NAMES: [&'static str; 4] = ["progress", "token", "done", "error"];

    /// Streamed text shown as written.
    pub fn token(text: impl Into<String>) -> Self {
        EventBody::Token {
            text: text.into(),
            draft: None,
        }
    }

    pub fn progress(stage: &str, message: impl Into<String>) -> Self {
        EventBody::Progress {
            stage: stage.into(),
            message: message.into(),
            done: None,
            total: None,
        }
    }
}

/// What this runtime speaks, for the test that keeps `protocol.js` in step.
#[derive(Debug, Serialize)]
pub struct ProtocolDescription {
    pub version: u32,
    pub kinds: Vec<&'static str>,
    pub events: Vec<&'static str>,
    pub error_codes: Vec<&'static str>,
}

pub fn describe() -> ProtocolDescription {
    ProtocolDescription {
        version: PROTOCOL_VERSION,
        kinds: Task::KINDS.to_vec(),
        events: EventBody::NAMES.to_vec(),
        error_codes: ErrorCode::ALL.iter().map(|c| c.as_str()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn code_of(value: Value) -> ErrorCode {
        parse_client_message(value).unwrap_err().error.code()
    }

    #[test]
    fn parses_every_kind() {
        let payloads = [
            ("report", json!({})),
            (
                "summarize",
                json!({"text": "t", "type": "tldr", "length": "short", "format": "plain-text"}),
            ),
            ("translate", json!({"text": "t", "targetLanguage": "en"})),
            ("detect", json!({"text": "t"})),
            (
                "chat",
                json!({"messages": [{"role": "user", "content": "hi"}]}),
            ),
        ];
        assert_eq!(payloads.len(), Task::KINDS.len());
        for (kind, payload) in payloads {
            let msg = json!({"type": "request", "id": "r1", "kind": kind, "payload": payload});
            match parse_client_message(msg).unwrap() {
                ClientMessage::Request { id, task } => {
                    assert_eq!(id, "r1");
                    assert_eq!(task.kind(), kind);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn rejects_with_codes_and_keeps_the_id() {
        assert_eq!(
            code_of(json!({"type": "request", "id": "a", "kind": "hack"})),
            ErrorCode::UnknownKind
        );
        assert_eq!(
            code_of(json!({"type": "request", "id": "a", "kind": "detect", "payload": {}})),
            ErrorCode::BadMessage
        );
        assert_eq!(
            code_of(
                json!({"type": "request", "id": "a", "kind": "detect", "payload": {"text": "x", "evil": 1}})
            ),
            ErrorCode::BadMessage
        );
        assert_eq!(code_of(json!([1, 2])), ErrorCode::BadMessage);
        assert_eq!(
            code_of(json!({"type": "request", "id": "", "kind": "report"})),
            ErrorCode::BadMessage
        );
        assert_eq!(
            code_of(json!({"type": "launch", "id": "a"})),
            ErrorCode::BadMessage
        );
        assert_eq!(
            code_of(json!({"type": "request", "id": "a", "kind": "report", "payload": []})),
            ErrorCode::BadMessage
        );
        let rejected =
            parse_client_message(json!({"type": "request", "id": "keep", "kind": "nope"}))
                .unwrap_err();
        assert_eq!(rejected.id.as_deref(), Some("keep"));
    }

    #[test]
    fn events_serialise_flat() {
        let event = Event::new("r9", EventBody::token("hi"));
        assert_eq!(
            serde_json::to_value(&event).unwrap(),
            json!({"type": "event", "id": "r9", "event": "token", "text": "hi"})
        );
        let err = Event::error("r9", &LocusError::Aborted);
        assert_eq!(serde_json::to_value(&err).unwrap()["code"], "aborted");
    }
}
