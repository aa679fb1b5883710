//! `GET /v1/audit?after=SEQ&limit=N`.

use crate::domain::records::AuditEntry;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Entries after this sequence number.
    #[serde(default)]
    pub after: i64,
    /// Page size, 1 to 10,000 (default 1,000).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditPage {
    /// Sequence number of the chain's head when this page was read.
    pub head_seq: i64,
    /// In order. A page holds at most `limit` entries and ends before the
    /// entry that would take it past the server's byte cap
    /// (`--audit-page-bytes`, 4 MiB by default), but always holds one.
    pub entries: Vec<AuditEntry>,
    /// Where to continue (`after` for the next page): the last entry's
    /// sequence number, present when the page was cut before the head.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_after: Option<i64>,
}
