//! gRPC over the host's `http2` import (WIT 0.2.0): a unary call is a POST of one
//! length-prefixed protobuf message to `https://<service host>/<package.Service>/<Method>`
//! with `content-type: application/grpc`; the answer is one such message, and
//! the call's outcome is the `grpc-status` (and `grpc-message`) trailer, or the
//! header of a trailers-only answer.

use aloft_provider_sdk::errors;
use aloft_provider_sdk::types::ProviderError;

#[allow(missing_docs, clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/since_v0.2.0",
        world: "provider-imports",
    });
}

use bindings::aloft::provider::http2;

/// gRPC status codes this provider tells apart.
pub mod code {
    pub const OK: i32 = 0;
    pub const CANCELLED: i32 = 1;
    pub const UNKNOWN: i32 = 2;
    pub const INVALID_ARGUMENT: i32 = 3;
    pub const DEADLINE_EXCEEDED: i32 = 4;
    pub const NOT_FOUND: i32 = 5;
    pub const ALREADY_EXISTS: i32 = 6;
    pub const PERMISSION_DENIED: i32 = 7;
    pub const RESOURCE_EXHAUSTED: i32 = 8;
    pub const FAILED_PRECONDITION: i32 = 9;
    pub const ABORTED: i32 = 10;
    pub const OUT_OF_RANGE: i32 = 11;
    pub const UNIMPLEMENTED: i32 = 12;
    pub const INTERNAL: i32 = 13;
    pub const UNAVAILABLE: i32 = 14;
    pub const UNAUTHENTICATED: i32 = 16;
}

/// The name of a gRPC status code, as the cloud's error code.
pub fn code_name(code: i32) -> &'static str {
    match code {
        0 => "OK",
        1 => "CANCELLED",
        2 => "UNKNOWN",
        3 => "INVALID_ARGUMENT",
        4 => "DEADLINE_EXCEEDED",
        5 => "NOT_FOUND",
        6 => "ALREADY_EXISTS",
        7 => "PERMISSION_DENIED",
        8 => "RESOURCE_EXHAUSTED",
        9 => "FAILED_PRECONDITION",
        10 => "ABORTED",
        11 => "OUT_OF_RANGE",
        12 => "UNIMPLEMENTED",
        13 => "INTERNAL",
        14 => "UNAVAILABLE",
        15 => "DATA_LOSS",
        16 => "UNAUTHENTICATED",
        _ => "UNKNOWN",
    }
}

/// A failed call: the gRPC status and its message.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    /// The gRPC code.
    pub code: i32,
    /// `grpc-message`, percent-decoded.
    pub message: String,
}

/// The typed error of a gRPC status: `RESOURCE_EXHAUSTED` is capacity (a quota
/// when the message says so), `UNAUTHENTICATED` and `PERMISSION_DENIED` auth,
/// `UNAVAILABLE`, `DEADLINE_EXCEEDED`, `ABORTED`, `INTERNAL` and `UNKNOWN`
/// transient, `UNIMPLEMENTED` unsupported, the rest an invalid request.
pub fn to_error(status: &Status, what: &str) -> ProviderError {
    let name = code_name(status.code);
    let message = format!("{what}: {}", status.message);
    match status.code {
        code::RESOURCE_EXHAUSTED => {
            let m = status.message.to_ascii_lowercase();
            if m.contains("quota") || m.contains("limit") {
                errors::quota(name, &message)
            } else {
                errors::capacity(name, &message)
            }
        }
        code::UNAUTHENTICATED | code::PERMISSION_DENIED => errors::auth(name, &message),
        code::UNAVAILABLE
        | code::DEADLINE_EXCEEDED
        | code::ABORTED
        | code::INTERNAL
        | code::UNKNOWN
        | code::CANCELLED => errors::transient(name, &message),
        code::UNIMPLEMENTED => errors::unsupported(name, &message),
        _ => errors::invalid(name, &message),
    }
}

/// Why a call failed: the transport, or the server's status.
#[derive(Debug)]
pub enum CallError {
    /// The host refused or could not complete the request.
    Transport(ProviderError),
    /// The server answered a non-OK status.
    Status(Status),
}

impl CallError {
    /// As a typed provider error, for the call `what`.
    pub fn into_error(self, what: &str) -> ProviderError {
        match self {
            CallError::Transport(e) => e,
            CallError::Status(s) => to_error(&s, what),
        }
    }
}

/// `message` in gRPC's framing: uncompressed, 4-byte big-endian length.
pub fn frame(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 5);
    out.push(0);
    out.extend_from_slice(&(message.len() as u32).to_be_bytes());
    out.extend_from_slice(message);
    out
}

/// The one message of a unary answer's body.
pub fn unframe(body: &[u8]) -> Result<&[u8], String> {
    if body.len() < 5 {
        return Err(format!(
            "an answer of {} bytes is no gRPC message",
            body.len()
        ));
    }
    if body[0] != 0 {
        return Err("the answer is compressed, which was not asked for".into());
    }
    let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
    body.get(5..5 + len)
        .ok_or_else(|| "the answer's message is cut short".to_string())
}

/// `grpc-message`'s percent-encoding undone (lossily).
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The status of an answer: from its trailers, else (trailers-only) its headers;
/// none when neither has `grpc-status`.
pub fn status_of(headers: &[(String, String)], trailers: &[(String, String)]) -> Option<Status> {
    let find = |fields: &[(String, String)], name: &str| {
        fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let (fields, code) = match find(trailers, "grpc-status") {
        Some(code) => (trailers, code),
        None => (headers, find(headers, "grpc-status")?),
    };
    Some(Status {
        code: code.trim().parse().unwrap_or(code::UNKNOWN),
        message: find(fields, "grpc-message")
            .map(|m| percent_decode(&m))
            .unwrap_or_default(),
    })
}

/// Calls `method` (`nebius.compute.v1.InstanceService/Get`) on `host` with
/// `request`, authorized by `token` when given; the answer decoded as `R`.
pub fn call<Q: prost::Message, R: prost::Message + Default>(
    host: &str,
    method: &str,
    token: Option<&str>,
    request: &Q,
) -> Result<R, CallError> {
    let mut headers = vec![
        ("content-type".to_string(), "application/grpc".to_string()),
        ("user-agent".to_string(), "aloft-nebius".to_string()),
    ];
    if let Some(token) = token {
        headers.push(("authorization".into(), format!("Bearer {token}")));
    }
    let req = http2::Request {
        method: "POST".into(),
        url: format!("https://{host}/{method}"),
        headers,
        body: frame(&request.encode_to_vec()),
    };
    let transport = |code: &str, message: String| {
        CallError::Transport(errors::transient(code, &format!("{method}: {message}")))
    };
    let response = http2::send(&req).map_err(|e| match e {
        http2::HttpError::Denied(h) => CallError::Transport(errors::invalid(
            "HostDenied",
            &format!("{method}: the host {h} is not allowed"),
        )),
        http2::HttpError::Timeout => transport("Timeout", "no answer in time".into()),
        http2::HttpError::Connect(m) => transport("Connect", m),
        http2::HttpError::TooLarge => transport("TooLarge", "the answer is too large".into()),
        http2::HttpError::Invalid(m) => {
            CallError::Transport(errors::invalid("InvalidRequest", &format!("{method}: {m}")))
        }
    })?;
    let status = status_of(&response.headers, &response.trailers);
    match status {
        Some(s) if s.code != code::OK => return Err(CallError::Status(s)),
        Some(_) => {}
        None if response.status != 200 => {
            return Err(transport(
                "HttpStatus",
                format!("HTTP {} without a gRPC status", response.status),
            ));
        }
        None => {
            return Err(transport(
                "NoStatus",
                "the answer has no grpc-status".into(),
            ));
        }
    }
    let message = unframe(&response.body).map_err(|m| transport("BadAnswer", m))?;
    R::decode(message).map_err(|e| transport("BadAnswer", format!("undecodable answer: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_round_trips_and_refuses_short_answers() {
        let framed = frame(b"\x08\x01");
        assert_eq!(framed, vec![0, 0, 0, 0, 2, 8, 1]);
        assert_eq!(unframe(&framed).unwrap(), b"\x08\x01");
        assert!(unframe(&framed[..6]).is_err());
        assert!(unframe(&[1, 0, 0, 0, 0]).is_err());
    }

    #[test]
    fn the_status_comes_from_trailers_else_headers_and_types_the_error() {
        let t = |k: &str, v: &str| (k.to_string(), v.to_string());
        let s = status_of(
            &[],
            &[t("grpc-status", "8"), t("grpc-message", "no%20H100%20left")],
        )
        .unwrap();
        assert_eq!(s.code, 8);
        assert_eq!(s.message, "no H100 left");
        let e = to_error(&s, "create");
        assert_eq!(e.code, "RESOURCE_EXHAUSTED");
        assert_eq!(e.kind, aloft_provider_sdk::types::ErrorKind::Capacity);
        let s = status_of(&[t("grpc-status", "16")], &[]).unwrap();
        assert_eq!(
            to_error(&s, "list").kind,
            aloft_provider_sdk::types::ErrorKind::Auth
        );
        let q = Status {
            code: 8,
            message: "quota exceeded for gpu-h100".into(),
        };
        assert_eq!(
            to_error(&q, "create").kind,
            aloft_provider_sdk::types::ErrorKind::Quota
        );
        assert!(status_of(&[], &[]).is_none());
    }
}
