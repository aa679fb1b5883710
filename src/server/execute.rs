//! Executors run by the gate: for an approved action that an
//! `[[executors]]` block names, the gate itself records `started`, sends
//! the signed receipt to the executor (Standard Webhooks, `webhook-id` =
//! the receipt id, the same on every retry), and records the executor's
//! answer as `executed` or `failed`. The agent never holds the executor's
//! credentials and may not report execution of these actions itself.
//!
//! Deliveries ride the notification outbox (`server::notify`): written in
//! the approving transaction, leased so one replica sends at a time,
//! retried with backoff until the executor's `timeout_secs` from the
//! approval has passed, then recorded `failed`. Nothing is ever started
//! twice: `started` is recorded once (the proposal leaves `approved` once)
//! and a retry re-sends the same receipt, which the executor deduplicates
//! on its id.
//!
//! Under a lead's `hold` freeze on the proposing agent `started` is
//! refused: the delivery is tried again every 10 s, not counted against
//! the executor's time, until the freeze is lifted or the approval lapses.
//!
//! The executor answers `2xx` with `{"state": "executed"|"failed",
//! "detail": "…"}`; `4xx` (but 408 and 429) means it refused (a receipt it
//! cannot verify, a target it does not own, a stale `before`): recorded
//! `failed` with its reason, never retried. `5xx`, 408, 429 and no answer
//! are retried.

use super::notify::sinks::sign;
use super::receipts::{IssueError, Issuer};
use super::store::{Claimed, Finish, Store};
use crate::api::ExecutionReport;
use crate::api::events::EventType;
use crate::config::ExecutorConfig;
use crate::domain::records::ProposalRecord;
use crate::domain::time::{now_millis, to_rfc3339};
use crate::domain::types::ProposalStatus;
use crate::server::store::ops::ProposalById;
use crate::workflow::{ExecutionCommand, StoreError};
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;

/// The outbox sink name of an executor.
pub fn sink_name(e: &ExecutorConfig) -> String {
    format!("executor:{}", e.name)
}

/// The events an executor is handed: approvals, by people or by policy
/// (a rejection or halt among `decided` is read and left alone).
pub const EVENTS: [EventType; 2] = [EventType::Decided, EventType::AutoApproved];

/// How soon an approval held by a freeze is tried again.
const HELD_RETRY_MS: i64 = 10_000;

/// What an executor answers.
#[derive(Debug, Deserialize)]
struct Answer {
    #[serde(default)]
    state: String,
    #[serde(default)]
    detail: String,
}

/// How one attempt went.
enum Attempt {
    /// The executor's word: executed or failed, with its detail.
    Done { ok: bool, detail: String },
    /// It refused the receipt or the action.
    Refused(String),
    /// No usable answer: try again later.
    Again(String),
}

/// One attempt at running the proposal `c` names on `exec`.
pub async fn deliver(
    store: &dyn Store,
    issuer: &Issuer,
    http: &reqwest::Client,
    exec: &ExecutorConfig,
    c: &Claimed,
    retry_at: impl Fn(i64) -> i64,
) -> Finish {
    let Some(id) = c.data["proposal_id"].as_str() else {
        return Finish::Failed {
            error: "the event names no proposal".into(),
        };
    };
    let p = match store.run(ProposalById(id.to_owned())).await {
        Ok(Some(p)) => p,
        Ok(None) => {
            return Finish::Failed {
                error: format!("proposal {id} not found"),
            };
        }
        Err(e) => return again(c, exec, &retry_at, e.to_string()),
    };
    match p.status {
        // Not ours to run, or already run to an end.
        s if s != ProposalStatus::Approved && s != ProposalStatus::Executing => {
            return Finish::Sent;
        }
        _ => {}
    }
    let receipt = match issuer.issue(store, &p).await {
        Ok(r) => r,
        Err(IssueError::Store(e)) => return again(c, exec, &retry_at, e.to_string()),
        Err(e) => {
            // A receipt that cannot be issued is a record that cannot
            // show the approval: run nothing.
            let error = e.to_string();
            let _ = report(store, issuer, exec, &p, ExecutionReport::started()).await;
            let _ = report(store, issuer, exec, &p, failed(&error)).await;
            return Finish::Failed { error };
        }
    };
    let receipt_id = receipt.receipt_id;
    if p.status == ProposalStatus::Approved {
        let start = ExecutionReport::Started {
            receipt_id: Some(receipt_id.clone()),
        };
        match report(store, issuer, exec, &p, start).await {
            Ok(()) => {}
            // Halted or lapsed meanwhile: nothing runs.
            Err(StoreError::Refused(r)) => {
                tracing::info!(proposal = %p.id, executor = %exec.name, refusal = %r, "not started");
                return Finish::Sent;
            }
            // A lead's `hold`: asked again until it is lifted, or the
            // approval lapses (then the next attempt finds it lapsed).
            Err(StoreError::Frozen(f)) => {
                return Finish::Retry {
                    next_at: now_millis() + HELD_RETRY_MS,
                    error: format!("held: {}", f.describe()),
                };
            }
            Err(e) => return again(c, exec, &retry_at, e.to_string()),
        }
    }
    let body = json!({
        "type": "proposal.execute",
        "timestamp": to_rfc3339(now_millis()),
        "data": {"receipt": receipt.signed.receipt, "signature": receipt.signed.signature},
    })
    .to_string();
    let outcome = match attempt(http, exec, &receipt_id, &body).await {
        Attempt::Done { ok: true, detail } => ExecutionReport::Executed { detail },
        Attempt::Done { ok: false, detail } => failed(&detail),
        Attempt::Refused(why) => failed(&format!("the executor refused: {why}")),
        Attempt::Again(error) => {
            let finish = again(c, exec, &retry_at, error);
            if let Finish::Failed { error } = &finish {
                // Out of time: the record says it failed, and why.
                if let Err(e) = report(store, issuer, exec, &p, failed(error)).await {
                    return Finish::Retry {
                        next_at: retry_at(c.attempts),
                        error: format!("{error}; recording it failed: {e}"),
                    };
                }
            }
            return finish;
        }
    };
    match report(store, issuer, exec, &p, outcome).await {
        Ok(()) => Finish::Sent,
        // Recorded already (a retry after an answer whose record was lost).
        Err(StoreError::Refused(_)) => Finish::Sent,
        Err(e) => Finish::Retry {
            next_at: retry_at(c.attempts),
            error: format!("the executor answered, recording it failed: {e}"),
        },
    }
}

fn failed(detail: &str) -> ExecutionReport {
    ExecutionReport::Failed {
        detail: detail.to_owned(),
    }
}

/// Again later, unless the executor's time from the approval is up.
fn again(
    c: &Claimed,
    exec: &ExecutorConfig,
    retry_at: &impl Fn(i64) -> i64,
    error: String,
) -> Finish {
    let next_at = retry_at(c.attempts);
    if next_at - c.created_at > exec.timeout_secs as i64 * 1000 {
        Finish::Failed {
            error: format!(
                "executor {} gave no usable answer within {} s ({} attempts): {error}",
                exec.name,
                exec.timeout_secs,
                c.attempts + 1
            ),
        }
    } else {
        Finish::Retry { next_at, error }
    }
}

async fn report(
    store: &dyn Store,
    issuer: &Issuer,
    exec: &ExecutorConfig,
    p: &ProposalRecord,
    report: ExecutionReport,
) -> Result<(), StoreError> {
    store
        .run(ExecutionCommand {
            proposal_id: p.id.clone(),
            agent: p.proposed_by.clone(),
            executor: Some(exec.name.clone()),
            report,
            now: now_millis(),
            contain_for_secs: issuer.contain_for_secs(p),
        })
        .await
        .map(|_| ())
}

/// One POST of the receipt, signed with Standard Webhooks.
async fn attempt(
    http: &reqwest::Client,
    exec: &ExecutorConfig,
    receipt_id: &str,
    body: &str,
) -> Attempt {
    let now = now_millis() / 1000;
    let signature = sign(&exec.secret, receipt_id, now, body);
    let sent = http
        .post(&exec.url)
        .timeout(Duration::from_secs(exec.attempt_secs))
        .header("content-type", "application/json")
        .header("webhook-id", receipt_id)
        .header("webhook-timestamp", now.to_string())
        .header("webhook-signature", signature)
        .body(body.to_owned())
        .send()
        .await;
    let resp = match sent {
        Ok(r) => r,
        Err(e) if e.is_timeout() => {
            return Attempt::Again(format!("no answer within {} s", exec.attempt_secs));
        }
        Err(e) => return Attempt::Again(format!("cannot reach the executor: {e}")),
    };
    let status = resp.status().as_u16();
    // An answer is small; more is not read.
    let text = match resp.bytes().await {
        Ok(b) => String::from_utf8_lossy(&b[..b.len().min(64 * 1024)]).into_owned(),
        Err(e) => return Attempt::Again(format!("HTTP {status}, body unreadable: {e}")),
    };
    let answer = serde_json::from_str::<Answer>(&text);
    match status {
        200..=299 => match answer {
            Ok(a) if a.state == "executed" => Attempt::Done {
                ok: true,
                detail: a.detail,
            },
            Ok(a) if a.state == "failed" => Attempt::Done {
                ok: false,
                detail: a.detail,
            },
            // It may have run: never run it again, record what is known.
            _ => Attempt::Done {
                ok: false,
                detail: format!(
                    "outcome unknown: HTTP {status} without {{\"state\": \"executed\"|\"failed\"}}"
                ),
            },
        },
        408 | 429 => Attempt::Again(format!("HTTP {status}")),
        400..=499 => Attempt::Refused(match answer {
            Ok(a) if !a.detail.is_empty() => format!("HTTP {status}: {}", a.detail),
            _ => format!("HTTP {status}"),
        }),
        _ => Attempt::Again(format!("HTTP {status}")),
    }
}
