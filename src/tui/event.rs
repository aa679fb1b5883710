//! One event channel: keys, resizes, timer ticks and every network result
//! arrive as a [`Msg`]. Input is read on its own thread so nothing can block
//! it.

use crate::api::{
    AlertDetail, ClaimView, DecisionAccepted, ErrorCode, FreezeAccepted, FreezeList, LoginResponse,
    QueueResponse, RevertPreview, View,
};
use crate::client::ClientError;
use crate::domain::time::now_millis;
use crossterm::event::{Event as CtEvent, KeyEvent, KeyEventKind};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// Why a decision was not (yet) accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendFailure {
    /// Unreachable or 5xx: it waits in the outbox.
    Queued(String),
    /// The server refused it: code and message.
    Refused { code: ErrorCode, message: String },
    /// Could not be signed (key, agent).
    Unsigned(String),
}

/// Why a freeze or unfreeze was not recorded. Nothing is kept to send
/// later: a stop button works now or says that it did not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FreezeFailure {
    /// Could not be signed (key, agent).
    Unsigned(String),
    /// No answer from the server: it may or may not have recorded it.
    NoAnswer(String),
    /// The server refused it: code and message.
    Refused { code: ErrorCode, message: String },
}

impl FreezeFailure {
    pub fn of(e: &ClientError) -> FreezeFailure {
        match e {
            ClientError::Api { code, message, .. } if !e.is_transient() => FreezeFailure::Refused {
                code: *code,
                message: message.clone(),
            },
            other => FreezeFailure::NoAnswer(client_error_text(other)),
        }
    }
}

/// Why the server showed no revert preview: its code where it answered
/// (`not_reversible`, `wrong_state`…), `None` where it could not be asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewFailure {
    pub code: Option<ErrorCode>,
    pub message: String,
}

impl PreviewFailure {
    pub fn of(e: &ClientError) -> PreviewFailure {
        PreviewFailure {
            code: e.code(),
            message: client_error_text(e),
        }
    }
}

#[derive(Debug)]
pub enum Msg {
    /// A key, always just after a [`Msg::Tick`] with the time it was read.
    Key(KeyEvent),
    /// A frame was drawn at this time: what it showed is on screen.
    Drawn(i64),
    Resize(u16, u16),
    Tick(i64),
    LoggedIn(Result<LoginResponse, String>),
    Queue {
        view: View,
        after: i64,
        result: Result<QueueResponse, String>,
        now: i64,
    },
    Detail {
        alert_id: String,
        result: Result<Arc<AlertDetail>, String>,
    },
    Decision {
        proposal_id: Option<String>,
        verdict: String,
        result: Result<Box<DecisionAccepted>, SendFailure>,
    },
    Claimed(Result<ClaimView, String>),
    /// What is frozen, loaded with the queue.
    Freezes(Result<FreezeList, String>),
    /// The answer to a lead's signed freeze (or unfreeze) of `agent`.
    FreezeSent {
        agent: String,
        result: Result<Box<FreezeAccepted>, FreezeFailure>,
    },
    /// What a revert of the executed `proposal_id` would create.
    RevertPreview {
        proposal_id: String,
        result: Result<Box<RevertPreview>, PreviewFailure>,
    },
    /// The oversight figures a lead asked for.
    Oversight(Result<crate::api::oversight::Oversight, String>),
    /// The server could not be reached (login or poll).
    Offline(String),
    /// SIGTERM / SIGHUP: leave cleanly.
    Terminate,
    Outbox(usize),
    /// A delivery from the outbox after an outage.
    Delivered {
        proposal_id: Option<String>,
        verdict: String,
        /// The audit entry, or `None` when the server answered `replay`:
        /// an earlier try was accepted and its answer lost.
        seq: Option<i64>,
    },
}

pub fn client_error_text(e: &ClientError) -> String {
    match e {
        ClientError::Api { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// Reads terminal input on a dedicated thread and forwards it.
pub fn spawn_input(tx: UnboundedSender<Msg>) {
    std::thread::Builder::new()
        .name("tui-input".into())
        .spawn(move || {
            loop {
                match crossterm::event::poll(Duration::from_millis(250)) {
                    Ok(true) => {}
                    Ok(false) => {
                        if tx.is_closed() {
                            return;
                        }
                        continue;
                    }
                    Err(_) => return,
                }
                let msg = match crossterm::event::read() {
                    Ok(CtEvent::Key(k)) if k.kind != KeyEventKind::Release => {
                        // The key's time: a dialog armed after it was read
                        // does not take it.
                        if tx.send(Msg::Tick(now_millis())).is_err() {
                            return;
                        }
                        Msg::Key(k)
                    }
                    Ok(CtEvent::Resize(w, h)) => Msg::Resize(w, h),
                    Ok(_) => continue,
                    Err(_) => return,
                };
                if tx.send(msg).is_err() {
                    return;
                }
            }
        })
        .ok();
}
