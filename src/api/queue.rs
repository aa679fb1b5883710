//! `GET /v1/queue?view=…&after=CURSOR&wait=SECS&limit=N`.

use crate::domain::records::QueueItem;
use crate::domain::types::ProposalStatus;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Which proposals a queue page lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum View {
    /// Waiting for a first or second approval.
    Pending,
    Escalated,
    AwaitingSecond,
    /// Proposals the principal approved, escalated, claimed or decided.
    Mine,
    /// Decided: approved and everything after.
    History,
    /// Policy approvals drawn for a person's review, not reviewed yet.
    Sampled,
    All,
}

impl View {
    /// The statuses a view lists; `None` for every status.
    pub fn statuses(self) -> Option<&'static [ProposalStatus]> {
        use ProposalStatus::*;
        match self {
            View::Pending => Some(&[Pending, AwaitingSecond]),
            View::Escalated => Some(&[Escalated]),
            View::AwaitingSecond => Some(&[AwaitingSecond]),
            View::History => Some(&[
                Approved, Rejected, Expired, Halted, Lapsed, Executing, Executed, Failed,
            ]),
            View::Mine | View::Sampled | View::All => None,
        }
    }

    /// The wire name (`pending`, `awaiting_second`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            View::Pending => "pending",
            View::Escalated => "escalated",
            View::AwaitingSecond => "awaiting_second",
            View::Mine => "mine",
            View::History => "history",
            View::Sampled => "sampled",
            View::All => "all",
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QueueParams {
    /// Default `pending`.
    pub view: Option<View>,
    /// The cursor from the last page; 0 for everything.
    #[serde(default)]
    pub after: i64,
    /// Seconds to long-poll when nothing changed, capped by the server's
    /// `max_wait` (300 s by default). Behind a load balancer keep it below
    /// the balancer's idle timeout (60 s on an AWS ALB by default).
    #[param(minimum = 0, maximum = 300)]
    pub wait: Option<f64>,
    /// Page size, at most 5,000 (default 1,000; fewer than 100 reads as 100).
    #[param(minimum = 1, maximum = 5000)]
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QueuePage {
    pub items: Vec<QueueItem>,
    /// Ids changed since `after` that are not (or no longer) in the view.
    pub gone: Vec<String>,
    /// Pass as `after` next time.
    pub cursor: i64,
    /// More items wait past this page.
    pub more: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QueueResponse {
    #[serde(flatten)]
    pub page: QueuePage,
    /// Proposals by status, across the whole queue.
    pub counts: BTreeMap<ProposalStatus, i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_names_are_the_serde_names() {
        for v in [
            View::Pending,
            View::Escalated,
            View::AwaitingSecond,
            View::Mine,
            View::History,
            View::Sampled,
            View::All,
        ] {
            assert_eq!(serde_json::to_value(v).unwrap(), v.as_str());
        }
    }
}
