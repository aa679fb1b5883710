//! `countersign gateway`: the gate in front of the tools. The agent is
//! given only this MCP server; it holds the connections (and the
//! credentials) to the real tool servers, the upstreams, and forwards a
//! call only as the configuration and a person allow:
//!
//! - `allow` tools are forwarded at once; `deny` tools are never listed;
//! - a `gate` tool call (the default) becomes a proposal — action
//!   `mcp:<upstream>.<tool>`, the arguments as its `parameters`, so the
//!   digest a person signs binds them — and is held. The call waits up to
//!   `hold_secs` for a decision, then answers HELD with the proposal id;
//!   the same call again (same tool, same arguments) picks the decision
//!   up. Once approved, the gateway reports `started`, forwards **the
//!   approved arguments, read from the signed receipt**, once, and reports
//!   `executed` or `failed` with a digest of the upstream's answer.
//!   Forwarding is the execution; changed arguments are a new proposal.
//!
//! Fail closed: an upstream that is down, a gate that cannot be reached, a
//! refused `started`, a receipt that does not match — nothing is
//! forwarded, and the answer says why.

pub mod config;
mod proposal;
mod server;
mod upstream;

pub use proposal::Via;
use proposal::{alert_for, call_key};
pub use server::serve_stdio;

use crate::api::ExecutionReport;
use crate::client::ClientError;
use crate::client::agent::{self, Gateway, Outcome};
use crate::domain::digest;
use crate::mcp::Connect;
use config::{GatewaySection, Mode, UpstreamConfig};
use rmcp::model::{CallToolResult, ContentBlock, Tool};
use rmcp::task_manager::TaskManager;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use upstream::Upstream;

/// One tool as the agent sees it.
struct Exposed {
    /// Its name here: the upstream's, or `upstream.tool` when two clash.
    name: String,
    upstream: usize,
    /// The upstream's own name for it.
    tool: String,
    mode: Mode,
    listed: Tool,
    /// The upstream's own description (what `listed` adds is ours).
    about: String,
}

/// Gated calls one gateway remembers at once (each is a proposal in the
/// queue).
const MAX_HELD: usize = 10_000;

/// A gated call waiting for its decision: the proposal it became.
#[derive(Clone)]
struct Held {
    proposal_id: String,
    digest: String,
    /// Which time this same call is asked for (its alert's external id
    /// ends in it).
    generation: u32,
    since: Instant,
}

/// What is remembered of one call (tool, arguments, caller): the
/// proposal it waits on, or the generation its next asking takes.
#[derive(Clone)]
enum Slot {
    Waiting(Held),
    Next(u32, Instant),
}

impl Slot {
    fn since(&self) -> Instant {
        match self {
            Slot::Waiting(h) => h.since,
            Slot::Next(_, at) => *at,
        }
    }
}

/// The same call decided this many times is not proposed again.
const MAX_GENERATIONS: u32 = 1_000;

/// The upstreams, connected once (at `gateway` or `serve` start) and
/// shared by every MCP session.
pub struct Upstreams {
    list: Vec<Upstream>,
    /// Upstreams that could not be reached at start, and why.
    down: Vec<String>,
    hold: Duration,
    call_timeout: Duration,
}

impl Upstreams {
    /// How many are connected, and how many could not be.
    pub fn counts(&self) -> (usize, usize) {
        (self.list.len(), self.down.len())
    }

    /// Connects every upstream; one that fails is left out, said on
    /// stderr and in the server's instructions.
    pub async fn connect(settings: &GatewaySection, configs: Vec<UpstreamConfig>) -> Upstreams {
        let mut list = Vec::new();
        let mut down = Vec::new();
        for config in configs {
            let name = config.name.clone();
            match Upstream::connect(config).await {
                Ok(u) => list.push(u),
                Err(e) => {
                    eprintln!("countersign gateway: {e:#}; its tools are not offered");
                    down.push(format!("{name}: {e:#}"));
                }
            }
        }
        Upstreams {
            list,
            down,
            hold: Duration::from_secs(settings.hold_secs),
            call_timeout: Duration::from_secs(settings.call_timeout_secs),
        }
    }
}

/// The gateway: its tools and, for clients that speak the MCP tasks
/// extension, the tasks that wait for a person.
pub struct ToolGateway {
    inner: Arc<Inner>,
    /// A gated call from a client that declared tasks runs as a task: the
    /// call answers at once with the task, which waits for the person as
    /// long as the proposal lives and then forwards.
    tasks: TaskManager,
}

struct Inner {
    upstreams: Arc<Upstreams>,
    exposed: Vec<Exposed>,
    /// How a call reaches the gate: one client over stdio, the caller's
    /// own token in `serve`.
    connect: Box<dyn Connect>,
    via: Via,
    /// Gated calls by their key (the caller, the tool and its canonical
    /// arguments).
    held: Mutex<HashMap<String, Slot>>,
}

impl ToolGateway {
    /// The tools of `upstreams` as the agent sees them, calls reaching
    /// the gate through `connect`.
    pub fn new(upstreams: Arc<Upstreams>, connect: Box<dyn Connect>, via: Via) -> ToolGateway {
        ToolGateway {
            inner: Arc::new(Inner::new(upstreams, connect, via)),
            tasks: TaskManager::new(),
        }
    }
}

impl Inner {
    fn new(upstreams: Arc<Upstreams>, connect: Box<dyn Connect>, via: Via) -> Inner {
        let mut seen: HashMap<String, usize> = HashMap::new();
        for u in &upstreams.list {
            for t in &u.tools {
                if u.config.mode_of(&t.name) != Mode::Deny {
                    *seen.entry(t.name.to_string()).or_default() += 1;
                }
            }
        }
        let mut exposed = Vec::new();
        for (i, u) in upstreams.list.iter().enumerate() {
            for t in &u.tools {
                let mode = u.config.mode_of(&t.name);
                if mode == Mode::Deny {
                    continue;
                }
                let name = if seen.get(t.name.as_ref()).copied().unwrap_or(0) > 1 {
                    format!("{}.{}", u.config.name, t.name)
                } else {
                    t.name.to_string()
                };
                let about = t.description.as_deref().unwrap_or("").to_owned();
                let mut listed = t.clone();
                listed.name = name.clone().into();
                if mode == Mode::Gate {
                    let said = listed.description.as_deref().unwrap_or("").to_owned();
                    listed.description = Some(
                        format!("{said}\n\n(countersign: a person approves each call first; a held call answers HELD — call again with the same arguments to continue.)")
                            .trim_start()
                            .to_owned()
                            .into(),
                    );
                }
                exposed.push(Exposed {
                    name,
                    upstream: i,
                    tool: t.name.to_string(),
                    mode,
                    listed,
                    about,
                });
            }
        }
        Inner {
            upstreams,
            exposed,
            connect,
            via,
            held: Mutex::new(HashMap::new()),
        }
    }

    async fn call(
        &self,
        gate: &dyn Gateway,
        name: &str,
        args: Map<String, Value>,
        client: &str,
    ) -> CallToolResult {
        let Some(x) = self.exposed.iter().find(|e| e.name == name) else {
            return refused(format!(
                "no tool named `{name}` here (denied, unknown, or its server is down)"
            ));
        };
        let upstream = &self.upstreams.list[x.upstream];
        match x.mode {
            Mode::Allow => {
                // A lead's `hold` stops every call, allowed ones too; when
                // the gate cannot say, nothing is forwarded.
                match gate.freezes().await {
                    Ok(list) => {
                        if let Some(f) = list
                            .freezes
                            .iter()
                            .filter(|f| f.holds())
                            .max_by_key(|f| f.since)
                        {
                            return refused(format!(
                                "HELD — nothing was run: this agent is {}",
                                f.describe()
                            ));
                        }
                    }
                    Err(e) => {
                        return refused(format!(
                            "cannot tell whether this agent is frozen: {}",
                            gate_error(&e)
                        ));
                    }
                }
                // Recorded where the gateway's operator reads it: the
                // tool, and the digest of its arguments.
                let said = call_key("", &x.name, &args).unwrap_or_default();
                eprintln!(
                    "countersign gateway: allowed call {} forwarded (arguments {said})",
                    x.name
                );
                match upstream
                    .call(&x.tool, args, self.upstreams.call_timeout)
                    .await
                {
                    Ok(r) => r,
                    Err(e) => refused(e),
                }
            }
            Mode::Deny => refused(format!("`{name}` is denied")),
            Mode::Gate => self.gated(gate, x, upstream, args, client).await,
        }
    }

    async fn gated(
        &self,
        gate: &dyn Gateway,
        x: &Exposed,
        upstream: &Upstream,
        args: Map<String, Value>,
        client: &str,
    ) -> CallToolResult {
        let key = match call_key(&gate.caller(), &x.name, &args) {
            Ok(k) => k,
            Err(e) => return refused(format!("the arguments cannot be canonicalised: {e}")),
        };
        let known = self.held.lock().ok().and_then(|h| h.get(&key).cloned());
        let held = match known {
            Some(Slot::Waiting(h)) => h,
            other => {
                let from = match other {
                    Some(Slot::Next(n, _)) => n,
                    _ => 0,
                };
                match self
                    .propose(gate, x, upstream, &args, &key, client, from)
                    .await
                {
                    Ok(h) => {
                        self.remember(&key, Slot::Waiting(h.clone()));
                        h
                    }
                    Err(e) => return refused(gate_error(&e)),
                }
            }
        };
        let deadline = Instant::now() + self.upstreams.hold;
        let view = match agent::wait_for_decision(gate, &held.proposal_id, deadline).await {
            Ok(v) => v,
            Err(e) => return refused(gate_error(&e)),
        };
        // Decided: the same call asked again is a new proposal.
        let forget = || self.remember(&key, Slot::Next(held.generation + 1, Instant::now()));
        match Outcome::of(&view) {
            Outcome::Pending { status } => {
                let frozen = view
                    .frozen
                    .as_ref()
                    .map(|f| format!(" The agent is {}.", f.describe()))
                    .unwrap_or_default();
                let mut r = CallToolResult::error(vec![ContentBlock::text(format!(
                    "HELD for approval — nothing was run. Proposal {} is {status}: a person must approve this exact call.{frozen} Call again with the same arguments to continue (a person may take minutes); changed arguments are a new proposal.",
                    held.proposal_id
                ))]);
                r.structured_content = Some(json!({
                    "held": true, "proposal_id": held.proposal_id,
                    "status": status, "digest": held.digest, "frozen": view.frozen,
                }));
                r
            }
            o @ Outcome::Held { .. } => {
                let mut r = CallToolResult::error(vec![ContentBlock::text(format!(
                    "HELD — nothing was run. Proposal {} is {} Call again with the same arguments once the freeze is lifted.",
                    held.proposal_id,
                    o.describe()
                ))]);
                r.structured_content = Some(json!({
                    "held": true, "proposal_id": held.proposal_id,
                    "status": view.status, "digest": held.digest, "frozen": view.frozen,
                }));
                r
            }
            Outcome::Approved { .. } => {
                forget();
                self.forward(gate, x, upstream, &held).await
            }
            o @ Outcome::Denied { .. } => {
                forget();
                let mut r = CallToolResult::error(vec![ContentBlock::text(format!(
                    "REJECTED — nothing was run. Proposal {} is {}.",
                    held.proposal_id,
                    o.describe()
                ))]);
                r.structured_content = Some(json!({
                    "held": false, "proposal_id": held.proposal_id,
                    "status": view.status, "reason": view.reason,
                }));
                r
            }
            o @ Outcome::Closed { .. } => {
                forget();
                refused(format!(
                    "proposal {} is {}; nothing was run. Call again to ask anew.",
                    held.proposal_id,
                    o.describe()
                ))
            }
        }
    }

    fn remember(&self, key: &str, slot: Slot) {
        if let Ok(mut m) = self.held.lock() {
            // Full: the oldest is forgotten (the gate still has it: the
            // same call again finds it by its external id).
            if m.len() >= MAX_HELD
                && !m.contains_key(key)
                && let Some(oldest) = m
                    .iter()
                    .min_by_key(|(_, s)| s.since())
                    .map(|(k, _)| k.clone())
            {
                m.remove(&oldest);
            }
            m.insert(key.to_owned(), slot);
        }
    }

    /// The proposal a gated call becomes. Its alert's external id is the
    /// call's key and generation, so asking again finds the same proposal
    /// on the gate itself (a submission is idempotent on its external id),
    /// after a restart of the gateway and on any replica; generations
    /// whose proposal is decided and done are passed over.
    #[allow(
        clippy::too_many_arguments,
        reason = "one call's parts, passed through"
    )]
    async fn propose(
        &self,
        gate: &dyn Gateway,
        x: &Exposed,
        upstream: &Upstream,
        args: &Map<String, Value>,
        key: &str,
        client: &str,
        from: u32,
    ) -> Result<Held, ClientError> {
        let deadline = Instant::now() + Duration::from_secs(20);
        for generation in from..MAX_GENERATIONS {
            let alert = alert_for(
                &upstream.config.name,
                &x.tool,
                Some(x.about.as_str()),
                args,
                &format!("{key}-{generation}"),
                client,
                self.via,
            );
            let r = agent::submit(gate, &alert, deadline).await?;
            let p = r.proposals.first().ok_or_else(|| {
                ClientError::Decode("the gate answered without a proposal".into())
            })?;
            if p.status.is_final() {
                continue;
            }
            return Ok(Held {
                proposal_id: p.id.clone(),
                digest: p.digest.clone(),
                generation,
                since: Instant::now(),
            });
        }
        Err(ClientError::Decode(format!(
            "this exact call was already decided {MAX_GENERATIONS} times"
        )))
    }

    /// Starts, forwards exactly the approved arguments, reports.
    async fn forward(
        &self,
        gate: &dyn Gateway,
        x: &Exposed,
        upstream: &Upstream,
        held: &Held,
    ) -> CallToolResult {
        let id = &held.proposal_id;
        let signed = match gate.receipt(id).await {
            Ok(r) => r,
            Err(e) => {
                return refused(format!(
                    "no receipt for {id}: {}; nothing was run",
                    gate_error(&e)
                ));
            }
        };
        let receipt: crate::receipt::Receipt = match serde_json::from_str(&signed.receipt) {
            Ok(r) => r,
            Err(e) => {
                return refused(format!(
                    "the receipt of {id} is unreadable: {e}; nothing was run"
                ));
            }
        };
        let approved = receipt.document["proposal"]["parameters"]
            .as_object()
            .cloned();
        let Some(args) =
            approved.filter(|_| receipt.digest == held.digest && receipt.proposal_id == *id)
        else {
            return refused(format!(
                "the receipt of {id} is not for what was proposed here; nothing was run"
            ));
        };
        let start = ExecutionReport::Started {
            receipt_id: Some(receipt.receipt_id.clone()),
        };
        if let Err(e) = gate.report(id, &start).await {
            return refused(format!("not started ({}); nothing was run", gate_error(&e)));
        }
        let outcome = upstream
            .call(&x.tool, args, self.upstreams.call_timeout)
            .await;
        let report = match &outcome {
            Ok(r) => {
                let content = serde_json::to_vec(&r.content).unwrap_or_default();
                let detail = format!(
                    "upstream {}: isError {}; content {} ({} bytes)",
                    upstream.config.name,
                    r.is_error.unwrap_or(false),
                    digest::sha256_tagged(&content),
                    content.len()
                );
                if r.is_error == Some(true) {
                    ExecutionReport::Failed { detail }
                } else {
                    ExecutionReport::Executed { detail }
                }
            }
            Err(e) => ExecutionReport::Failed { detail: e.clone() },
        };
        if let Err(e) = gate.report(id, &report).await {
            tracing::warn!(proposal = %id, error = %e, "the outcome could not be recorded");
            eprintln!(
                "countersign gateway: proposal {id} ran, but its outcome could not be recorded: {e}"
            );
        }
        match outcome {
            Ok(r) => r,
            Err(e) => refused(format!("{e}; proposal {id} is recorded failed")),
        }
    }
}

/// An error result: nothing was run, and why.
fn refused(message: String) -> CallToolResult {
    let mut r = CallToolResult::error(vec![ContentBlock::text(format!("NOT RUN — {message}"))]);
    r.structured_content = Some(json!({"held": false, "error": message}));
    r
}

fn gate_error(e: &ClientError) -> String {
    match e {
        ClientError::Api { code, message, .. } => format!("the gate refused: {code}: {message}"),
        other => format!("the gate cannot be reached ({other}); nothing was forwarded"),
    }
}
