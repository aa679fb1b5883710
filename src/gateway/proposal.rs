//! What a gated call becomes: its identity (caller, tool, canonical
//! arguments), the alert and proposal the gate is asked to hold, and the
//! target a person reads first.

use crate::domain::digest;
use crate::domain::text::visible;
use serde_json::{Map, Value, json};

/// Where the gateway runs, recorded in each proposal's alert
/// (`context.mcp.via`): the server refuses execution reports on proposals
/// made through `/mcp/gateway` from anyone but that gateway, since there
/// the agent holds a token of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// `countersign gateway`, over stdio: the agent has no token.
    Stdio,
    /// `serve`'s `/mcp/gateway`.
    Serve,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Stdio => "stdio",
            Via::Serve => "serve",
        }
    }
}

/// A call's identity: who calls, the tool and its RFC 8785 arguments.
pub(super) fn call_key(
    caller: &str,
    tool: &str,
    args: &Map<String, Value>,
) -> Result<String, digest::DigestError> {
    let canonical = digest::canonical(&json!({"caller": caller, "tool": tool, "arguments": args}))?;
    Ok(digest::sha256_tagged(&canonical))
}

/// The argument a person reads first: a named target if there is one,
/// else the first text argument, else the arguments in one line.
pub(super) fn target_of(tool: &str, args: &Map<String, Value>) -> String {
    const NAMED: &[&str] = &[
        "target", "host", "hostname", "user", "username", "account", "path", "file", "url", "id",
        "name", "command",
    ];
    let text = NAMED
        .iter()
        .find_map(|k| args.get(*k).and_then(Value::as_str))
        .or_else(|| args.values().find_map(Value::as_str))
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{tool} {}", Value::Object(args.clone())));
    let line = visible(text.trim());
    let line = if line.is_empty() {
        tool.to_owned()
    } else {
        line
    };
    line.chars().take(512).collect()
}

/// The alert a gated call becomes. The arguments are the proposal's
/// `parameters`: what a person sees in full and signs the digest of.
pub(super) fn alert_for(
    upstream: &str,
    tool: &str,
    description: Option<&str>,
    args: &Map<String, Value>,
    key: &str,
    client: &str,
    via: Via,
) -> Value {
    // The call's key and generation: the same call asked again is the same
    // alert (idempotent on the gate), wherever and whenever it is asked.
    let id = key.trim_start_matches(digest::PREFIX);
    let about: String = description.unwrap_or("").chars().take(2_000).collect();
    json!({
        "external_id": format!("mcp-{id}"),
        "source": "mcp-gateway",
        "severity": "medium",
        "title": format!("MCP tool call: {upstream}.{tool}"),
        "entity": {"kind": "service", "id": upstream},
        "summary": {
            "text": format!("An agent{client} called the tool `{tool}` of the MCP server `{upstream}` through the countersign gateway. If approved, exactly the arguments below are forwarded, once.\n\nThe tool's own description: {about}"),
            "model": "countersign-gateway",
            "confidence": 1.0,
        },
        "context": {"mcp": {"upstream": upstream, "tool": tool, "via": via.as_str()}},
        "proposals": [{
            "action": format!("mcp:{upstream}.{tool}"),
            "target": target_of(tool, args),
            "risk": "medium",
            "rationale": format!("The agent asked to call {upstream}.{tool} with these arguments."),
            "parameters": args,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_is_its_tool_and_canonical_arguments() {
        let a: Map<String, Value> = serde_json::from_str(r#"{"host":"ws-1","why":"c2"}"#).unwrap();
        let b: Map<String, Value> = serde_json::from_str(r#"{"why":"c2","host":"ws-1"}"#).unwrap();
        let c: Map<String, Value> = serde_json::from_str(r#"{"host":"ws-2","why":"c2"}"#).unwrap();
        assert_eq!(
            call_key("c", "t", &a).unwrap(),
            call_key("c", "t", &b).unwrap()
        );
        assert_ne!(
            call_key("c", "t", &a).unwrap(),
            call_key("c", "t", &c).unwrap()
        );
        assert_ne!(
            call_key("c", "t", &a).unwrap(),
            call_key("c", "u", &a).unwrap()
        );
        assert_ne!(
            call_key("c", "t", &a).unwrap(),
            call_key("d", "t", &a).unwrap()
        );
    }

    #[test]
    fn the_target_is_what_a_person_reads_first() {
        let args: Map<String, Value> =
            serde_json::from_str(r#"{"reason":"c2","host":"ws-1\u202e"}"#).unwrap();
        assert_eq!(target_of("isolate", &args), "ws-1\\u{202e}");
        let none: Map<String, Value> = serde_json::from_str(r#"{"n":3}"#).unwrap();
        assert_eq!(target_of("count", &none), r#"count {"n":3}"#);
    }

    #[test]
    fn the_alert_is_one_the_gate_accepts() {
        let args: Map<String, Value> = serde_json::from_str(r#"{"host":"ws-1"}"#).unwrap();
        let a = alert_for(
            "edr",
            "isolate_host",
            Some("Isolate"),
            &args,
            "sha256:00112233445566778899",
            "",
            Via::Stdio,
        );
        crate::domain::submission::parse(a).unwrap();
    }
}
