//! Exports: every entry of a store, and the JSON Lines format that
//! `audit verify` reads (entries, then a signed checkpoint).

use super::checkpoint::Checkpoint;
use super::verify::ExportLine;
use crate::domain::records::AuditEntry;
use crate::server::store::{Store, StoreError};
use std::io::Write;

/// Every entry, page by page, oldest first.
pub async fn all_entries(store: &dyn Store) -> Result<Vec<AuditEntry>, StoreError> {
    let mut entries: Vec<AuditEntry> = Vec::new();
    loop {
        let after = entries.last().map_or(0, |e| e.seq);
        let page = store.audit_after(after, 10_000, None).await?;
        if page.is_empty() {
            return Ok(entries);
        }
        entries.extend(page);
    }
}

/// One line per entry, then the checkpoint if any.
pub fn write_jsonl(
    out: &mut impl Write,
    entries: &[AuditEntry],
    checkpoint: Option<Checkpoint>,
) -> std::io::Result<()> {
    for e in entries {
        serde_json::to_writer(&mut *out, &ExportLine::Entry(e.clone()))?;
        out.write_all(b"\n")?;
    }
    if let Some(checkpoint) = checkpoint {
        serde_json::to_writer(&mut *out, &ExportLine::Checkpoint { checkpoint })?;
        out.write_all(b"\n")?;
    }
    out.flush()
}
