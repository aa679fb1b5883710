//! Signed decisions waiting for the server, on disk (XDG state dir), so a
//! lost connection or a crash loses nothing. Delivery is idempotent by
//! nonce: a replayed delivery is refused as `replay`, which means the server
//! already has it.

use crate::signing::payload::SignedDecision;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub decision: SignedDecision,
    pub proposal_id: Option<String>,
    pub verdict: String,
    pub nonce: String,
    /// Delivery attempts so far.
    #[serde(default)]
    pub attempts: u32,
}

#[derive(Debug)]
pub struct Outbox {
    path: PathBuf,
    items: Vec<Pending>,
}

impl Outbox {
    /// Loads the outbox at `path` (empty if absent). A corrupt line is an
    /// error: signed decisions are never dropped silently.
    pub fn load(path: &Path) -> Result<Self, String> {
        let items = match std::fs::read_to_string(path) {
            Ok(text) => text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .enumerate()
                .map(|(i, l)| {
                    serde_json::from_str(l)
                        .map_err(|e| format!("outbox {} line {}: {e}", path.display(), i + 1))
                })
                .collect::<Result<Vec<_>, _>>()?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(format!("cannot read outbox {}: {e}", path.display())),
        };
        Ok(Outbox {
            path: path.to_owned(),
            items,
        })
    }

    pub fn items(&self) -> &[Pending] {
        &self.items
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Saves the decision, then makes it visible to delivery: one that
    /// could not be saved is never sent.
    pub fn push(&mut self, p: Pending) -> std::io::Result<()> {
        let mut next = self.items.clone();
        next.push(p);
        write(&self.path, &next)?;
        self.items = next;
        Ok(())
    }

    /// Drops a delivered decision, on disk first. If that fails it stays
    /// (a later delivery is answered `replay`: already delivered).
    pub fn remove(&mut self, nonce: &str) -> std::io::Result<()> {
        let next: Vec<Pending> = self
            .items
            .iter()
            .filter(|p| p.nonce != nonce)
            .cloned()
            .collect();
        write(&self.path, &next)?;
        self.items = next;
        Ok(())
    }

    pub fn bump(&mut self, nonce: &str) {
        if let Some(p) = self.items.iter_mut().find(|p| p.nonce == nonce) {
            p.attempts += 1;
        }
    }
}

/// Write-then-rename with fsync: the file is always whole. Blocking: the
/// console calls it off the async runtime.
fn write(path: &Path, items: &[Pending]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        for p in items {
            serde_json::to_writer(&mut f, p)?;
            f.write_all(b"\n")?;
        }
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_reload_and_refuses_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox.jsonl");
        let mut o = Outbox::load(&path).unwrap();
        let p = |n: &str| Pending {
            decision: SignedDecision {
                payload: "{}".into(),
                signature: "sig".into(),
            },
            proposal_id: Some("p".into()),
            verdict: "approve".into(),
            nonce: n.into(),
            attempts: 0,
        };
        o.push(p("a")).unwrap();
        o.push(p("b")).unwrap();
        o.remove("a").unwrap();
        let again = Outbox::load(&path).unwrap();
        assert_eq!(again.items(), &[p("b")]);
        std::fs::write(&path, "{not json\n").unwrap();
        assert!(Outbox::load(&path).unwrap_err().contains("line 1"));
    }

    #[test]
    fn a_decision_that_cannot_be_saved_is_never_visible_to_delivery() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let mut o = Outbox::load(&state.join("outbox.jsonl")).unwrap();
        // Then the outbox's directory turns out to be a file: saves fail.
        std::fs::write(&state, "not a directory").unwrap();
        let p = Pending {
            decision: SignedDecision {
                payload: "{}".into(),
                signature: "sig".into(),
            },
            proposal_id: None,
            verdict: "approve".into(),
            nonce: "n".into(),
            attempts: 0,
        };
        assert!(o.push(p).is_err());
        assert!(o.is_empty(), "nothing to deliver that was not saved");
    }
}
