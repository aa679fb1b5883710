//! Writes made before the chain lock was taken, put on the chain found
//! once it was. A writer whose first flight finds the lock held (another
//! replica is writing) runs its batch's rules anyway, linking the audit
//! entries on a provisional head: sequence numbers from [`PROVISIONAL`] on.
//! Once it has the lock and the real head, only what depends on the head
//! changes: each entry's sequence number (the last member of its RFC 8785
//! text but `v`), its `prev_hash` and `hash`, and the sequence numbers
//! other rows carry (a proposal's `change_seq`, a note's and a nonce's
//! `seq`). The rest of every statement (documents, events, deliveries) is
//! kept as it was bound. The answers waiting for the commit are put on the
//! real chain the same way ([`Relink`]).

use crate::audit::chain::{self, Head};
use crate::domain::records::{AuditEntry, ProposalRecord};
use crate::server::store::sql::{self, Param};
use crate::server::store::{AnnotateOutcome, DecideOutcome, StoreError, SubmitOutcome};
use std::sync::LazyLock;

/// The first provisional sequence number is the one after this: far past
/// any real chain (a billion entries a day for twelve thousand years), and
/// exact as a JSON number (below 2^53), as RFC 8785 writes it.
pub const PROVISIONAL: i64 = 1 << 52;

/// The provisional head.
pub fn provisional() -> Head {
    Head {
        seq: PROVISIONAL,
        hash: chain::GENESIS.to_owned(),
    }
}

/// The real chain in place of the provisional one: the head the lock found
/// and the entries linked on it, one per provisional entry, in order.
pub struct Relinked {
    pub base: Head,
    pub entries: Vec<AuditEntry>,
}

impl Relinked {
    /// The real sequence number of `seq` (itself when not provisional).
    pub fn seq(&self, seq: i64) -> i64 {
        self.real(seq).map_or(seq, |h| h.seq)
    }

    /// The real entry of `e` (itself when not provisional).
    pub fn entry(&self, e: &AuditEntry) -> AuditEntry {
        self.index(e.seq)
            .and_then(|i| self.entries.get(i))
            .unwrap_or(e)
            .clone()
    }

    /// The real head of a provisional sequence number.
    pub fn real(&self, seq: i64) -> Option<Head> {
        if seq == PROVISIONAL {
            return Some(self.base.clone());
        }
        let e = self.entries.get(self.index(seq)?)?;
        Some(Head {
            seq: e.seq,
            hash: e.hash.clone(),
        })
    }

    fn index(&self, seq: i64) -> Option<usize> {
        usize::try_from(seq.checked_sub(PROVISIONAL + 1)?).ok()
    }
}

/// Where a statement's parameters say something about the chain.
struct Place {
    sql: &'static str,
    /// Sequence numbers of entries (or of the last entry of a change).
    seq: usize,
    /// An audit entry: its text, `prev_hash` and `hash`.
    entry: Option<[usize; 3]>,
}

/// The parameter of `column` in an `INSERT INTO t (c1, …) VALUES ($1, …)`.
fn position(sql: &str, column: &str) -> usize {
    let columns = sql
        .split_once('(')
        .and_then(|(_, rest)| rest.split_once(')'))
        .map_or("", |(cols, _)| cols);
    columns
        .split(',')
        .position(|c| c.trim() == column)
        .unwrap_or(usize::MAX)
}

static PLACES: LazyLock<[Place; 4]> = LazyLock::new(|| {
    let at = |sql: &'static str, column: &str| position(sql, column);
    [
        Place {
            sql: sql::APPEND,
            seq: at(sql::APPEND, "seq"),
            entry: Some([
                at(sql::APPEND, "entry"),
                at(sql::APPEND, "prev_hash"),
                at(sql::APPEND, "hash"),
            ]),
        },
        Place {
            sql: sql::UPSERT_PROPOSAL,
            seq: at(sql::UPSERT_PROPOSAL, "change_seq"),
            entry: None,
        },
        Place {
            sql: sql::ADD_ANNOTATION,
            seq: at(sql::ADD_ANNOTATION, "seq"),
            entry: None,
        },
        Place {
            sql: sql::ADD_NONCE,
            seq: at(sql::ADD_NONCE, "seq"),
            entry: None,
        },
    ]
});

fn broken(what: &str) -> StoreError {
    StoreError::Internal(format!("linking a batch on the audit head: {what}"))
}

/// Puts the held statements, made on the provisional head, on `base`:
/// entries in the order they were appended. Any provisional value left
/// where it is not expected is an error (the batch is then replayed under
/// the lock), never written.
pub fn relink(held: &mut [(String, Vec<Param>)], base: Head) -> Result<Relinked, StoreError> {
    let mut r = Relinked {
        base,
        entries: Vec::new(),
    };
    for (statement, params) in held.iter_mut() {
        let place = PLACES.iter().find(|p| p.sql == statement.as_str());
        if let Some(place) = place {
            match place.entry {
                Some(at) => link_entry(&mut r, params, place.seq, at)?,
                None => {
                    if let Some(Param::Int(seq)) = params.get_mut(place.seq) {
                        *seq = r.seq(*seq);
                    }
                }
            }
        }
    }
    none_left(held)?;
    Ok(r)
}

/// Refuses statements that still hold a provisional sequence number:
/// checked again before every commit, so that one is never written.
pub fn none_left(held: &[(String, Vec<Param>)]) -> Result<(), StoreError> {
    let left = held.iter().flat_map(|(_, p)| p).any(|p| match p {
        Param::Int(v) | Param::OptInt(Some(v)) => *v >= PROVISIONAL,
        _ => false,
    });
    match left {
        true => Err(broken("a provisional sequence number where none belongs")),
        false => Ok(()),
    }
}

/// The next entry of the real chain, from a provisional one.
fn link_entry(
    r: &mut Relinked,
    params: &mut [Param],
    seq_at: usize,
    [entry_at, prev_at, hash_at]: [usize; 3],
) -> Result<(), StoreError> {
    let head = match r.entries.last() {
        Some(e) => Head {
            seq: e.seq,
            hash: e.hash.clone(),
        },
        None => r.base.clone(),
    };
    let seq = head.seq + 1;
    let old = match params.get(seq_at) {
        Some(Param::Int(old)) if *old == PROVISIONAL + 1 + r.entries.len() as i64 => *old,
        _ => return Err(broken("entries out of order")),
    };
    let text = match params.get(entry_at) {
        Some(Param::Text(text)) => text,
        _ => return Err(broken("an entry without its text")),
    };
    // RFC 8785 orders members by name: `seq`, then `v`, last.
    let body = text
        .strip_suffix(&format!(",\"seq\":{old},\"v\":1}}"))
        .ok_or_else(|| broken("an entry whose text does not end as linked"))?;
    let entry = format!("{body},\"seq\":{seq},\"v\":1}}");
    let hash = chain::link_hash(&head.hash, entry.as_bytes());
    params[seq_at] = Param::Int(seq);
    params[entry_at] = Param::Text(entry.clone());
    params[prev_at] = Param::Text(head.hash.clone());
    params[hash_at] = Param::Text(hash.clone());
    r.entries.push(AuditEntry {
        seq,
        entry,
        prev_hash: head.hash,
        hash,
    });
    Ok(())
}

/// An answer made on the provisional head, put on the real one: every
/// sequence number and entry it holds.
pub(super) trait Relink {
    fn relink(&mut self, r: &Relinked);
}

impl Relink for ProposalRecord {
    fn relink(&mut self, r: &Relinked) {
        self.change_seq = r.seq(self.change_seq);
    }
}

impl Relink for AuditEntry {
    fn relink(&mut self, r: &Relinked) {
        *self = r.entry(self);
    }
}

impl Relink for SubmitOutcome {
    fn relink(&mut self, r: &Relinked) {
        self.proposals.iter_mut().for_each(|p| p.relink(r));
    }
}

impl Relink for DecideOutcome {
    fn relink(&mut self, r: &Relinked) {
        self.proposal.relink(r);
        self.audit.relink(r);
    }
}

impl Relink for AnnotateOutcome {
    fn relink(&mut self, r: &Relinked) {
        self.annotation.seq = r.seq(self.annotation.seq);
        self.audit.relink(r);
    }
}

/// A count holds none.
impl Relink for usize {
    fn relink(&mut self, _: &Relinked) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::chain::{NewEntry, append, verify_links};
    use serde_json::json;

    fn new_entry(i: i64) -> NewEntry {
        NewEntry {
            at: 1_800_000_000_000 + i,
            kind: "decided",
            alert_id: Some(format!("a-{i}")),
            proposal_id: None,
            actor: chain::actor_person("alice"),
            // Text that looks like what is replaced stays as it is.
            data: json!({"note": format!(",\"seq\":{},\"v\":1}}", PROVISIONAL + 1)}),
        }
    }

    fn append_row(e: &AuditEntry) -> (String, Vec<Param>) {
        let p = vec![
            Param::Int(e.seq),
            Param::Int(0),
            Param::Text("decided".into()),
            Param::OptText(None),
            Param::OptText(None),
            Param::Text(e.entry.clone()),
            Param::Text(e.prev_hash.clone()),
            Param::Text(e.hash.clone()),
        ];
        (sql::APPEND.to_owned(), p)
    }

    /// Linked on the provisional head then relinked, entries are exactly
    /// what linking on the real head gives, and the other rows follow.
    #[test]
    fn relinked_entries_are_those_linked_on_the_real_head() {
        let real = Head {
            seq: 41,
            hash: "ab".repeat(32),
        };
        let (mut at, mut direct_at) = (provisional(), real.clone());
        let (mut held, mut direct) = (Vec::new(), Vec::new());
        for i in 0..3 {
            let e = append(&at, &new_entry(i)).unwrap();
            at = Head {
                seq: e.seq,
                hash: e.hash.clone(),
            };
            held.push(append_row(&e));
            held.push((
                sql::ADD_NONCE.to_owned(),
                vec![Param::Text(format!("n{i}")), Param::Int(e.seq)],
            ));
            let d = append(&direct_at, &new_entry(i)).unwrap();
            direct_at = Head {
                seq: d.seq,
                hash: d.hash.clone(),
            };
            direct.push(d);
        }
        let r = relink(&mut held, real.clone()).unwrap();
        assert_eq!(r.entries, direct);
        assert_eq!(verify_links(&real, &r.entries).unwrap(), direct_at);
        assert_eq!(held[0].1[0], Param::Int(42));
        assert_eq!(held[5].1[1], Param::Int(44), "the nonce's entry");
        assert_eq!(r.seq(PROVISIONAL + 2), 43);
        assert_eq!(r.seq(7), 7, "a real number stays");
        assert_eq!(r.real(PROVISIONAL), Some(real));
    }

    #[test]
    fn a_provisional_number_left_anywhere_else_is_refused() {
        let mut held = vec![(
            sql::ADD_PARTICIPANT.to_owned(),
            vec![
                Param::Text("alice".into()),
                Param::OptInt(Some(PROVISIONAL + 1)),
            ],
        )];
        assert!(relink(&mut held, Head::genesis()).is_err());
        // Entries out of order (a refused write's not dropped) too.
        let e = append(&provisional(), &new_entry(0)).unwrap();
        let later = append(
            &Head {
                seq: e.seq,
                hash: e.hash.clone(),
            },
            &new_entry(1),
        )
        .unwrap();
        assert!(relink(&mut [append_row(&later)], Head::genesis()).is_err());
    }
}
