//! `GET /v1/audit?after=SEQ`: the raw chain, for auditors and `audit export`.
//! A page is streamed as it is read from the store, a few entries at a
//! time, and ends at `limit` entries or before the entry that would take it
//! past `--audit-page-bytes`: ten readers of a large log hold ten small
//! buffers, not ten copies of a page.

use crate::api::AuditParams;
use crate::api::ErrorCode;
use crate::domain::records::AuditEntry;
use crate::server::auth::Caller;
use crate::server::body::ApiQuery;
use crate::server::error::ApiError;
use crate::server::state::AppState;
use crate::server::store::Store;
use crate::server::store::ops::{AuditAfter, AuditHead};
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use std::collections::VecDeque;
use std::sync::Arc;

/// Entries read from the store at a time while a page streams.
const CHUNK: u32 = 32;
/// The most the page's closing bytes take.
const CLOSE_ROOM: usize = 40;

#[utoipa::path(
    get,
    operation_id = "audit_entries",
    path = "/v1/audit",
    tag = "audit",
    summary = "Audit entries after a sequence number: the hash chain, as stored",
    params(crate::api::AuditParams),
    responses(
        (status = 200, description = "Entries in order and the chain's head; a page ends at `limit` entries or before the server's byte cap, and `next_after` says where to continue", body = crate::api::AuditPage),
        (status = "default", description = "An error. `error.code` names it and always comes with the same HTTP status (see ErrorCode).", body = crate::api::ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn entries(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<AuditParams>,
) -> Result<Response, ApiError> {
    caller.require_reviewer()?;
    let head_seq = state.store.run(AuditHead).await?.seq;
    let limit = crate::server::body::page_limit(p.limit, 10_000, 1000)?;
    let after = p.after.max(0);
    // The first entries before answering: a store that fails now is a
    // JSON error, not a cut stream.
    let first = state
        .store
        .run(AuditAfter {
            after,
            limit: limit.min(CHUNK),
            alert_id: None,
        })
        .await?;
    let page = Page {
        store: state.store.clone(),
        exhausted: (first.len() as u32) < limit.min(CHUNK),
        pending: first.into(),
        last_seq: after,
        sent: 0,
        limit,
        bytes: 0,
        max_bytes: state.limits.audit_page_bytes,
        head_seq,
        phase: Phase::Start,
    };
    let stream = futures_util::stream::unfold(page, |mut page| async move {
        page.next().await.map(|chunk| (chunk, page))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(stream),
    )
        .into_response())
}

enum Phase {
    Start,
    Entries,
    End,
    Done,
}

/// One page being written: `{"head_seq":N,"entries":[...],"next_after":S}`,
/// the same document `Json(AuditPage)` would be.
struct Page {
    store: Arc<dyn Store>,
    pending: VecDeque<AuditEntry>,
    /// The store had no more entries when last asked.
    exhausted: bool,
    last_seq: i64,
    sent: u32,
    limit: u32,
    bytes: usize,
    max_bytes: usize,
    head_seq: i64,
    phase: Phase,
}

impl Page {
    async fn next(&mut self) -> Option<Result<Bytes, std::io::Error>> {
        loop {
            match self.phase {
                Phase::Start => {
                    self.phase = Phase::Entries;
                    let open = format!("{{\"head_seq\":{},\"entries\":[", self.head_seq);
                    // Room for the close, `],"next_after":N}`, from the start.
                    self.bytes = open.len() + CLOSE_ROOM;
                    return Some(Ok(open.into()));
                }
                Phase::Entries => {
                    if self.sent >= self.limit {
                        self.phase = Phase::End;
                        continue;
                    }
                    if self.pending.is_empty()
                        && !self.exhausted
                        && let Err(e) = self.refill().await
                    {
                        self.phase = Phase::Done;
                        tracing::warn!(error = %e, "audit page cut: the store failed mid-page");
                        return Some(Err(std::io::Error::other(e.to_string())));
                    }
                    let Some(entry) = self.pending.pop_front() else {
                        self.phase = Phase::End;
                        continue;
                    };
                    let json = match serde_json::to_vec(&entry) {
                        Ok(j) => j,
                        Err(e) => {
                            self.phase = Phase::Done;
                            return Some(Err(std::io::Error::other(e)));
                        }
                    };
                    let cost = json.len() + 1;
                    // Always one entry, however large; then only what fits.
                    if self.sent > 0 && self.bytes + cost > self.max_bytes {
                        self.pending.clear();
                        self.phase = Phase::End;
                        continue;
                    }
                    let mut out = Vec::with_capacity(cost);
                    if self.sent > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(&json);
                    self.sent += 1;
                    self.bytes += cost;
                    self.last_seq = entry.seq;
                    return Some(Ok(out.into()));
                }
                Phase::End => {
                    self.phase = Phase::Done;
                    let close = if self.sent > 0 && self.last_seq < self.head_seq {
                        format!("],\"next_after\":{}}}", self.last_seq)
                    } else {
                        "]}".to_owned()
                    };
                    return Some(Ok(close.into()));
                }
                Phase::Done => return None,
            }
        }
    }

    async fn refill(&mut self) -> Result<(), crate::server::store::StoreError> {
        let want = (self.limit - self.sent).min(CHUNK);
        let got = self
            .store
            .run(AuditAfter {
                after: self.last_seq,
                limit: want,
                alert_id: None,
            })
            .await?;
        self.exhausted = (got.len() as u32) < want;
        self.pending = got.into();
        Ok(())
    }
}

/// `GET /v1/audit/checkpoint`: the head, signed by the server's key.
#[utoipa::path(
    get,
    operation_id = "audit_checkpoint",
    path = "/v1/audit/checkpoint",
    tag = "audit",
    summary = "The chain's head signed by the server's key",
    responses(
        (status = 200, description = "A signed checkpoint", body = crate::audit::checkpoint::Checkpoint),
        (status = "default", description = "An error. `error.code` names it and always comes with the same HTTP status (see ErrorCode).", body = crate::api::ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn checkpoint(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<crate::audit::checkpoint::Checkpoint>, ApiError> {
    caller.require_reviewer()?;
    let head = state.store.run(AuditHead).await?;
    let cp = crate::audit::checkpoint::sign(
        &state.server_key,
        &state.server_name,
        head.seq,
        &head.hash,
        crate::domain::time::now_millis(),
    )
    .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
    Ok(Json(cp))
}
