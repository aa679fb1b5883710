//! Exports: the JSON Lines format that `audit verify` reads (entries, then
//! a signed checkpoint).

use super::checkpoint::Checkpoint;
use super::verify::ExportLine;
use crate::domain::records::AuditEntry;
use std::io::Write;

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
