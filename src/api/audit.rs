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
    pub entries: Vec<AuditEntry>,
    /// Sequence number of the chain's head when this page was read.
    pub head_seq: i64,
}
