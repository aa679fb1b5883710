//! The gate as MCP tools (the Model Context Protocol, with the official
//! SDK `rmcp`): `request_approval`, `wait_for_decision`, `report_execution`,
//! `get_proposal`. Served over stdio by `countersign mcp` (calls go to the
//! server over HTTP) and over streamable HTTP at `/mcp` by `serve` (calls go
//! through the server's own router with the caller's token). Either way the
//! agent is who its token says.
//!
//! Fail closed: a tool answers `"act": true` only for an approved proposal
//! not started yet and inside its execution window ([`Outcome`] decides,
//! as for the hooks); started, executed, failed, pending, rejected,
//! expired, lapsed, an error or a timeout say `"act": false` and tell the
//! model why not, in words and in the structured result.
//! `wait_for_decision` blocks at most 50 s: MCP clients cut tool calls off
//! after about a minute, and a human's whole deadline is far longer.

use crate::api::{DecisionView, ExecutionReport, SubmitResponse};
use crate::client::ClientError;
use crate::client::agent::{self, Gateway, Outcome};
use crate::domain::time::{now_millis, to_rfc3339};
use crate::domain::types::ProposalStatus;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorData,
    Implementation, InitializeResult, ListToolsResult, PaginatedRequestParams, ServerCapabilities,
    Tool,
};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, ServerHandler};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The longest a `wait_for_decision` call blocks.
pub const MAX_WAIT_SECS: u64 = 50;

/// How a tool call reaches the API: one gateway for stdio, one per caller
/// (its token) for `/mcp`.
pub trait Connect: Send + Sync + 'static {
    fn gateway(&self, context: &RequestContext<RoleServer>) -> Result<Arc<dyn Gateway>, String>;
}

/// The stdio server's one connection.
pub struct Fixed(pub Arc<dyn Gateway>);

impl Connect for Fixed {
    fn gateway(&self, _: &RequestContext<RoleServer>) -> Result<Arc<dyn Gateway>, String> {
        Ok(self.0.clone())
    }
}

pub struct Tools<C> {
    connect: Arc<C>,
    tools: Arc<Vec<Tool>>,
}

impl<C> Clone for Tools<C> {
    fn clone(&self) -> Self {
        Tools {
            connect: self.connect.clone(),
            tools: self.tools.clone(),
        }
    }
}

/// The tool list, built once: its schemas (the alert and OCSF schemas
/// among them) took about 240 kB per `/mcp` session when each session
/// built its own.
static TOOLS: std::sync::LazyLock<Arc<Vec<Tool>>> =
    std::sync::LazyLock::new(|| Arc::new(tool_list()));

impl<C: Connect> Tools<C> {
    pub fn new(connect: C) -> Self {
        Tools {
            connect: Arc::new(connect),
            tools: TOOLS.clone(),
        }
    }
}

const ACT_RULE: &str = "Act on a proposal only when wait_for_decision or get_proposal returns \"act\": true (approved, not started yet, before its execute_by deadline), and only once. Anything else, including an error, a timeout, \"pending\", or a proposal already started, executed or failed, means do not act.";

fn object(v: Value) -> Arc<Map<String, Value>> {
    match v {
        Value::Object(m) => Arc::new(m),
        _ => Arc::new(Map::new()),
    }
}

fn proposal_id_schema() -> Value {
    json!({"type": "string", "pattern": "^[A-Za-z0-9-]{1,64}$",
           "description": "A proposal id from request_approval"})
}

/// `request_approval`'s input: `{"alert": ...}`, the alert being exactly
/// the body of `POST /v1/alerts` (an alert with proposals, or an OCSF
/// finding with proposals), its schema taken from the OpenAPI components.
pub fn request_approval_schema() -> Value {
    use utoipa::ToSchema;
    let mut components = Vec::new();
    crate::api::schema::AlertOrFinding::schemas(&mut components);
    components.push(("IJsonValue".into(), crate::api::schema::i_json_value()));
    let mut defs = Map::new();
    for (name, schema) in components {
        defs.insert(name, serde_json::to_value(schema).unwrap_or(Value::Null));
    }
    let alert = json!({"oneOf": [
        {"$ref": "#/$defs/AlertSubmission"},
        {"$ref": "#/$defs/OcsfSubmission"}
    ], "description": "The body of POST /v1/alerts: an alert with its proposed actions, or {\"ocsf\": <an OCSF Detection Finding>, \"proposals\": [...]}"});
    let text = json!({
        "type": "object",
        "required": ["alert"],
        "properties": {"alert": alert},
        "$defs": defs
    })
    .to_string()
    .replace("#/components/schemas/", "#/$defs/");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

fn tool_list() -> Vec<Tool> {
    vec![
        Tool::new(
            "request_approval",
            format!(
                "Ask a person to approve proposed security actions before you take them. Submit an alert with its proposals (the same body as POST /v1/alerts); returns each proposal's id, digest, status and deadlines. Resubmitting the same external_id is safe. Then call wait_for_decision for each proposal id. {ACT_RULE}"
            ),
            object(request_approval_schema()),
        ),
        Tool::new(
            "wait_for_decision",
            format!(
                "Wait up to wait_seconds (at most {MAX_WAIT_SECS}) for a person to decide a proposal. Returns status and \"act\". If status is still pending, call again; a person may take minutes or hours. {ACT_RULE}"
            ),
            object(json!({
                "type": "object",
                "required": ["proposal_id"],
                "properties": {
                    "proposal_id": proposal_id_schema(),
                    "wait_seconds": {"type": "integer", "minimum": 0, "maximum": MAX_WAIT_SECS,
                                     "description": "How long to wait for a decision (default 50)"}
                }
            })),
        ),
        Tool::new(
            "report_execution",
            "Report on an approved proposal: \"started\" before its execute_by deadline (or the approval lapses), then \"executed\" or \"failed\" with a detail. Only for proposals wait_for_decision returned with act: true.",
            object(json!({
                "type": "object",
                "required": ["proposal_id", "state"],
                "properties": {
                    "proposal_id": proposal_id_schema(),
                    "state": {"type": "string", "enum": ["started", "executed", "failed"]},
                    "receipt_id": {"type": "string", "maxLength": 64,
                                   "description": "With started: the receipt being used (get_receipt); refused unless it is this proposal's"},
                    "detail": {"type": "string", "maxLength": 65536,
                               "description": "What happened (executed or failed)"}
                }
            })),
        ),
        Tool::new(
            "get_receipt",
            "The signed approval receipt of an approved proposal: {receipt, signature}. The receipt is RFC 8785 JSON naming exactly what was approved (the document and its digest, every person's signed approval, execute_by); the signature is the gate's SSHSIG (namespace countersign-receipt). Hand it to whatever executes the action; report started with its receipt_id.",
            object(json!({
                "type": "object",
                "required": ["proposal_id"],
                "properties": {"proposal_id": proposal_id_schema()}
            })),
        ),
        Tool::new(
            "get_proposal",
            format!("Where a proposal is now, without waiting. {ACT_RULE}"),
            object(json!({
                "type": "object",
                "required": ["proposal_id"],
                "properties": {"proposal_id": proposal_id_schema()}
            })),
        ),
    ]
}

/// A refusal the model reads: `isError`, `act: false`, and why.
fn not_approved(message: String) -> CallToolResult {
    let mut r = CallToolResult::error(vec![ContentBlock::text(format!(
        "NOT APPROVED — do not act. {message}"
    ))]);
    r.structured_content = Some(json!({"act": false, "error": message}));
    r
}

fn client_error(e: &ClientError) -> String {
    match e {
        ClientError::Api { code, message, .. } => format!("the gate refused: {code}: {message}"),
        other => format!("the gate could not be reached: {other}"),
    }
}

fn decision_result(view: &DecisionView) -> CallToolResult {
    decision_result_at(view, now_millis())
}

/// The answer to `wait_for_decision` and `get_proposal`, as of `now`:
/// [`Outcome`] alone decides `act`.
pub fn decision_result_at(view: &DecisionView, now: i64) -> CallToolResult {
    let outcome = Outcome::at(view, now);
    let text = match &outcome {
        Outcome::Approved { execute_by, .. } => format!(
            "APPROVED — you may act on proposal {}: {}.{} Report started{} and then executed or failed with report_execution.",
            view.proposal_id,
            outcome.describe(),
            view.amendment_note()
                .map(|n| format!(" It was {n} (structured amended.document)."))
                .unwrap_or_default(),
            execute_by
                .map(|t| format!(" before {}", to_rfc3339(t)))
                .unwrap_or_default()
        ),
        Outcome::Closed { .. } => format!(
            "DO NOT ACT — proposal {} is {}.",
            view.proposal_id,
            outcome.describe()
        ),
        Outcome::Denied { .. } => format!(
            "NOT APPROVED — do not act. Proposal {} is {}.",
            view.proposal_id,
            outcome.describe()
        ),
        Outcome::Pending { .. } => format!(
            "PENDING — not approved yet; do not act. Proposal {} is {}.{} Call wait_for_decision again.",
            view.proposal_id,
            outcome.describe(),
            view.frozen
                .as_ref()
                .map(|f| format!(" The agent is {}.", f.describe()))
                .unwrap_or_default()
        ),
        Outcome::Held { .. } => format!(
            "HELD — do not act. Proposal {} is {} Call wait_for_decision again.",
            view.proposal_id,
            outcome.describe()
        ),
    };
    with_outcome(view, &outcome, text)
}

fn with_outcome(view: &DecisionView, outcome: &Outcome, text: String) -> CallToolResult {
    let mut structured = serde_json::to_value(view).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut structured {
        m.insert("act".into(), Value::Bool(outcome.act()));
        m.insert("verdict".into(), Value::String(outcome.verdict().into()));
    }
    let mut r = CallToolResult::success(vec![ContentBlock::text(text)]);
    r.structured_content = Some(structured);
    r
}

/// The answer to `report_execution`: what was recorded. `act` is as
/// [`Outcome`] says (false once started: the approval is in use).
fn reported_result(view: &DecisionView, report: &ExecutionReport) -> CallToolResult {
    let outcome = Outcome::of(view);
    let text = match (report, view.status) {
        (ExecutionReport::Started { .. }, ProposalStatus::Executing) => format!(
            "RECORDED — started proposal {}. Carry out the action you were approved for now, once, then report executed or failed with report_execution. From now on it answers act: false (its approval is in use); do not start it again.",
            view.proposal_id
        ),
        (ExecutionReport::Executed { .. }, ProposalStatus::Executed)
        | (ExecutionReport::Failed { .. }, ProposalStatus::Failed) => format!(
            "RECORDED — proposal {} is {}. Nothing more to do for it; do not act on it again.",
            view.proposal_id, view.status
        ),
        _ => return decision_result(view),
    };
    with_outcome(view, &outcome, text)
}

fn submitted_result(s: &SubmitResponse) -> CallToolResult {
    let ids: Vec<String> = s
        .proposals
        .iter()
        .map(|p| format!("{} ({}, {})", p.id, p.status, p.risk))
        .collect();
    let mut structured = serde_json::to_value(s).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut structured {
        m.insert("act".into(), Value::Bool(false));
    }
    let mut r = CallToolResult::success(vec![ContentBlock::text(format!(
        "Submitted alert {} ({:?}). Proposals: {}. Do not act yet: call wait_for_decision with each proposal id.",
        s.alert_id,
        s.status,
        ids.join(", ")
    ))]);
    r.structured_content = Some(structured);
    r
}

fn arg_str<'a>(args: &'a Map<String, Value>, key: &str) -> Result<&'a str, String> {
    args.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("`{key}` is required (a string)"))
}

fn proposal_id(args: &Map<String, Value>) -> Result<&str, String> {
    let id = arg_str(args, "proposal_id")?;
    let ok =
        (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ok {
        Ok(id)
    } else {
        Err("`proposal_id` is not a proposal id".into())
    }
}

impl<C: Connect> Tools<C> {
    async fn call(
        &self,
        gateway: &dyn Gateway,
        name: &str,
        args: Map<String, Value>,
    ) -> CallToolResult {
        match name {
            "request_approval" => {
                let Some(alert) = args.get("alert") else {
                    return not_approved("`alert` is required: the body of POST /v1/alerts".into());
                };
                // A restarting server is waited out, within one tool call.
                let deadline = Instant::now() + Duration::from_secs(20);
                match agent::submit(gateway, alert, deadline).await {
                    Ok(s) => submitted_result(&s),
                    Err(e) => not_approved(client_error(&e)),
                }
            }
            "wait_for_decision" | "get_proposal" => {
                let id = match proposal_id(&args) {
                    Ok(id) => id,
                    Err(m) => return not_approved(m),
                };
                let wait = if name == "get_proposal" {
                    0
                } else {
                    args.get("wait_seconds")
                        .and_then(Value::as_u64)
                        .unwrap_or(MAX_WAIT_SECS)
                        .min(MAX_WAIT_SECS)
                };
                let answer = if wait == 0 {
                    gateway.decision(id, 0).await
                } else {
                    let deadline = Instant::now() + Duration::from_secs(wait);
                    agent::wait_for_decision(gateway, id, deadline).await
                };
                match answer {
                    Ok(view) => decision_result(&view),
                    Err(e) => not_approved(client_error(&e)),
                }
            }
            "report_execution" => {
                let id = match proposal_id(&args) {
                    Ok(id) => id,
                    Err(m) => return not_approved(m),
                };
                let detail = args
                    .get("detail")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                let report = match args.get("state").and_then(Value::as_str) {
                    Some("started") => ExecutionReport::Started {
                        receipt_id: args
                            .get("receipt_id")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                    },
                    Some("executed") => ExecutionReport::Executed { detail },
                    Some("failed") => ExecutionReport::Failed { detail },
                    _ => return not_approved("`state` is started, executed or failed".into()),
                };
                match gateway.report(id, &report).await {
                    Ok(view) => reported_result(&view, &report),
                    Err(e) => not_approved(client_error(&e)),
                }
            }
            "get_receipt" => {
                let id = match proposal_id(&args) {
                    Ok(id) => id,
                    Err(m) => return not_approved(m),
                };
                match gateway.receipt(id).await {
                    Ok(r) => CallToolResult::structured(json!({
                        "receipt": r.receipt, "signature": r.signature,
                    })),
                    Err(e) => not_approved(client_error(&e)),
                }
            }
            other => not_approved(format!("no tool named `{other}`")),
        }
    }
}

impl<C: Connect> ServerHandler for Tools<C> {
    fn get_info(&self) -> InitializeResult {
        let mut info = InitializeResult::new(ServerCapabilities::builder().enable_tools().build())
            .with_instructions(format!(
                "countersign is a human approval gate for security actions. Submit what you want to do with request_approval, then wait_for_decision. {ACT_RULE}"
            ));
        info.server_info = Implementation::new("countersign", env!("CARGO_PKG_VERSION"));
        info
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools.as_ref().clone()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let gateway = match self.connect.gateway(&context) {
            Ok(g) => g,
            Err(m) => return Ok(not_approved(m).into()),
        };
        let args = request.arguments.unwrap_or_default();
        Ok(self
            .call(gateway.as_ref(), &request.name, args)
            .await
            .into())
    }
}

/// `countersign mcp`: the tools on stdin/stdout until the client leaves.
pub async fn serve_stdio(gateway: Arc<dyn Gateway>) -> anyhow::Result<()> {
    use rmcp::ServiceExt;
    let service = Tools::new(Fixed(gateway))
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| anyhow::anyhow!("MCP initialisation failed: {e}"))?;
    service
        .waiting()
        .await
        .map_err(|e| anyhow::anyhow!("MCP session ended with an error: {e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_approval_takes_the_alerts_body_and_resolves_every_ref() {
        let s = request_approval_schema();
        assert_eq!(s["type"], "object");
        let text = s.to_string();
        assert!(!text.contains("#/components/"));
        for name in [
            "AlertSubmission",
            "OcsfSubmission",
            "ProposalSubmission",
            "ActionKind",
            "IJsonValue",
            "Summary",
        ] {
            assert!(s["$defs"][name].is_object(), "{name} is defined");
        }
        let refs: std::collections::BTreeSet<&str> = text
            .split("\"#/$defs/")
            .skip(1)
            .filter_map(|t| t.split('"').next())
            .collect();
        for r in refs {
            assert!(s["$defs"][r].is_object(), "{r} is defined");
        }
    }

    /// Every status, and approved with its window passed: what the MCP
    /// tools and the hook answer, side by side, from the one `Outcome`.
    #[test]
    fn act_only_when_approved_not_started_inside_the_window() {
        use crate::cli::hook::{Answer, answer_for};
        use crate::domain::records::DecidedBy;
        use ProposalStatus as S;
        let now = 1_800_000_000_000;
        let view = |status: S, execute_by: i64| DecisionView {
            proposal_id: "p1".into(),
            alert_id: "a1".into(),
            status,
            decided: !status.is_open(),
            is_final: status.is_final(),
            decided_by: Some(DecidedBy::Person {
                principal: "alice".into(),
            }),
            reason: None,
            decided_at: Some(now - 60_000),
            execute_by: Some(execute_by),
            approvals: vec![],
            digest: "sha256:x".into(),
            frozen: None,
            reverted_by: None,
            amended: None,
            contain_until: None,
        };
        let open = now + 60_000;
        // (status, execute_by, act, MCP text starts with, both say)
        let table: &[(S, i64, bool, &str, &str)] = &[
            (
                S::Approved,
                open,
                true,
                "APPROVED — you may act",
                "approved by alice",
            ),
            (
                S::Approved,
                now,
                false,
                "DO NOT ACT",
                "execution window closed at",
            ),
            (S::Executing, open, false, "DO NOT ACT", "already started"),
            (S::Executed, open, false, "DO NOT ACT", "already executed"),
            (
                S::Failed,
                open,
                false,
                "DO NOT ACT",
                "already tried, and it failed",
            ),
            (
                S::Rejected,
                open,
                false,
                "NOT APPROVED — do not act",
                "rejected by alice",
            ),
            (
                S::Halted,
                open,
                false,
                "NOT APPROVED — do not act",
                "halted by alice",
            ),
            (
                S::Expired,
                open,
                false,
                "NOT APPROVED — do not act",
                "no decision was made before its deadline",
            ),
            (
                S::Lapsed,
                open,
                false,
                "NOT APPROVED — do not act",
                "not started before its execution deadline",
            ),
            (
                S::Pending,
                open,
                false,
                "PENDING — not approved yet; do not act",
                "pending",
            ),
            (
                S::AwaitingSecond,
                open,
                false,
                "PENDING — not approved yet; do not act",
                "awaiting_second",
            ),
            (
                S::Escalated,
                open,
                false,
                "PENDING — not approved yet; do not act",
                "escalated",
            ),
        ];
        for s in S::ALL {
            assert!(table.iter().any(|row| row.0 == *s), "{s} is in the table");
        }
        for (status, execute_by, act, mcp_text, says) in table {
            let v = view(*status, *execute_by);
            let r = decision_result_at(&v, now);
            let structured = r.structured_content.clone().unwrap_or_default();
            assert_eq!(structured["act"], *act, "{status} at {execute_by}");
            let text = serde_json::to_value(&r.content).unwrap_or_default()[0]["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            assert!(text.starts_with(mcp_text), "{status}: {text}");
            let hook = answer_for(&v, now, 50);
            match (&hook, act) {
                (Answer::Allow(reason), true) => assert!(reason.contains(says), "{reason}"),
                (Answer::Deny(reason), false) => {
                    assert!(reason.starts_with("countersign: "), "{reason}");
                    if !matches!(status, S::Pending | S::AwaitingSecond | S::Escalated) {
                        assert!(reason.contains(says), "{status}: {reason}");
                        assert!(text.contains(says), "{status}: {text}");
                    }
                }
                _ => panic!("{status} at {execute_by}: the hook says {hook:?}, MCP act {act}"),
            }
        }
        // Approved, but a lead's `hold` freeze: no tool and no hook says go.
        use crate::domain::freeze::{Freeze, FreezeMode};
        let mut held = view(S::Approved, open);
        held.frozen = Some(Freeze {
            agent: "soar-bot".into(),
            mode: FreezeMode::Hold,
            by: "carol".into(),
            reason: "runaway loop".into(),
            since: now,
            seq: 7,
        });
        let r = decision_result_at(&held, now);
        let structured = r.structured_content.clone().unwrap_or_default();
        assert_eq!(structured["act"], false);
        assert_eq!(structured["verdict"], "held");
        let text = serde_json::to_value(&r.content).unwrap_or_default()[0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(text.starts_with("HELD — do not act"), "{text}");
        assert!(text.contains("frozen by carol (hold"), "{text}");
        match answer_for(&held, now, 50) {
            Answer::Deny(reason) => assert!(reason.contains("frozen by carol"), "{reason}"),
            other => panic!("held: the hook says {other:?}"),
        }
        // `no_auto` stops policy, not an approval people gave.
        if let Some(f) = held.frozen.as_mut() {
            f.mode = FreezeMode::NoAuto;
        }
        assert!(matches!(answer_for(&held, now, 50), Answer::Allow(_)));
    }
}
