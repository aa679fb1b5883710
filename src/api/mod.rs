//! The v1 wire contract: every request and response body of the HTTP API,
//! the queue's `View`, and the one enum of error codes.
//!
//! Server, client, console and demo all import these types from here; the
//! client and the console never import `server/`. Records that are stored
//! and served as they are (alerts, proposals, audit entries) live in
//! `domain::records`, and the signed decision in `signing::payload`.

pub mod alerts;
pub mod audit;
pub mod decisions;
pub mod error;
pub mod events;
pub mod freezes;
pub mod oversight;
pub mod proposals;
pub mod queue;
pub mod schema;
pub mod session;

pub use crate::signing::payload::SignedDecision;
pub use alerts::{AlertDetail, HistoryEntry, SubmitResponse, SubmitStatus, SubmittedProposal};
pub use audit::{AuditPage, AuditParams};
pub use decisions::DecisionAccepted;
pub use error::{ErrorBody, ErrorCode, ErrorObject};
pub use freezes::{Freeze, FreezeAccepted, FreezeList, FreezeMode};
pub use proposals::{
    CLAIM_TTL_MS, ClaimRequest, ClaimView, DecisionView, ExecutionReport, RevertPreview,
    SignedReceipt, WaitQuery,
};
pub use queue::{QueuePage, QueueParams, QueueResponse, View};
pub use session::{ChallengeRequest, ChallengeResponse, LoginRequest, LoginResponse};
