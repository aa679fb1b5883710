//! Approving as amended: the dialog a person narrows a proposal in before
//! approving it (a smaller network, fewer hosts, fewer grants, a shorter
//! expiry), and what the amendment comes to as it is typed — judged by the
//! same pure functions the server judges it with (`domain::amend`), so
//! what the dialog says narrows is what the gate accepts.

use crate::domain::amend;
use crate::domain::records::ProposalRecord;
use crate::domain::types::Risk;
use crate::tui::diff::DiffModel;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use tui_textarea::{CursorMove, TextArea};

/// What may be amended: one field at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmendField {
    Target,
    /// A permission change's `after` document (its format and `before` stay).
    After,
    /// Seconds until it expires, counted from when it was proposed.
    Expiry,
}

impl AmendField {
    pub fn name(self) -> &'static str {
        match self {
            AmendField::Target => "target",
            AmendField::After => "after",
            AmendField::Expiry => "expiry",
        }
    }

    /// One line: Enter signs, and a newline is never part of the value.
    pub fn one_line(self) -> bool {
        self != AmendField::After
    }
}

/// What the amendment typed so far comes to.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// The same as proposed: nothing to amend (approve it with `a`).
    Unchanged,
    /// It narrows: the `amend` object signed, the amended document's
    /// digest, and each replaced field as `{"from", "to"}`.
    Narrows {
        amend: Value,
        amended_digest: String,
        changed: Map<String, Value>,
    },
    /// Why it cannot be signed, naming the field.
    Refused(String),
}

/// An amendment being written over the proposal as shown when it opened.
pub struct AmendForm {
    pub proposal_id: String,
    /// The proposal as loaded when the dialog opened: what is amended.
    pub record: ProposalRecord,
    /// Its alert's document: the amended proposal is digested with it.
    pub alert_document: Value,
    /// The fields this proposal offers (the permission document only
    /// where it changes one).
    pub fields: Vec<AmendField>,
    pub field: AmendField,
    pub editor: TextArea<'static>,
    pub check: Check,
    /// The permission change as amended, against the one proposed.
    pub diff: Option<Arc<DiffModel>>,
    /// Rows the diff is scrolled down.
    pub scroll: u16,
    /// High and critical: after Enter, `yes` is typed here, as the
    /// approve confirmation asks; `None` while editing.
    pub confirming: Option<String>,
    pub error: Option<String>,
    /// When Enter starts to count: [`ARM_MS`](super::ARM_MS) after this
    /// stage of the dialog was first drawn; `None` until it has been.
    pub armed_at: Option<i64>,
}

impl AmendForm {
    /// The form over `record`, its target in the editor.
    pub fn new(record: ProposalRecord, alert_document: Value) -> Self {
        let mut fields = vec![AmendField::Target];
        if record.document.get("permission_change").is_some() {
            fields.push(AmendField::After);
        }
        fields.push(AmendField::Expiry);
        let mut form = AmendForm {
            proposal_id: record.id.clone(),
            record,
            alert_document,
            fields,
            field: AmendField::Target,
            editor: TextArea::default(),
            check: Check::Unchanged,
            diff: None,
            scroll: 0,
            confirming: None,
            error: None,
            armed_at: None,
        };
        form.choose(AmendField::Target);
        form
    }

    /// The digest shown when it opened: the approval is signed over it.
    pub fn digest(&self) -> &str {
        &self.record.digest
    }

    pub fn risk(&self) -> Risk {
        self.record.risk
    }

    /// High and critical need `yes` typed, as the approve confirmation.
    pub fn needs_yes(&self) -> bool {
        self.record.risk >= Risk::High
    }

    /// Amends `field` instead: the editor holds its current value.
    pub fn choose(&mut self, field: AmendField) {
        self.field = field;
        let lines: Vec<String> = current(&self.record, field)
            .lines()
            .map(str::to_owned)
            .collect();
        self.editor = TextArea::new(if lines.is_empty() {
            vec![String::new()]
        } else {
            lines
        });
        // Typing goes on from the end of what is there.
        self.editor.move_cursor(CursorMove::Bottom);
        self.editor.move_cursor(CursorMove::End);
        self.editor.set_placeholder_text(match field {
            AmendField::Target => "the narrower target",
            AmendField::After => "the permission document, granting less",
            AmendField::Expiry => "seconds, fewer than now",
        });
        self.scroll = 0;
        self.recheck();
    }

    /// The next field this proposal offers, round.
    pub fn next_field(&mut self) {
        let i = self.fields.iter().position(|f| *f == self.field);
        let next = i.map_or(0, |i| (i + 1) % self.fields.len());
        self.choose(self.fields[next]);
    }

    /// The field's value as proposed.
    pub fn proposed_value(&self) -> String {
        current(&self.record, self.field)
    }

    /// The editor's text as the field's value.
    pub fn value(&self) -> String {
        self.editor.lines().join("\n")
    }

    /// The check and the diff again, after an edit.
    pub fn recheck(&mut self) {
        self.check = check(
            &self.record,
            &self.alert_document,
            self.field,
            &self.value(),
        );
        self.diff = (self.field == AmendField::After).then(|| {
            let pc = &self.record.document["permission_change"];
            let text = |k: &str| pc.get(k).and_then(Value::as_str).unwrap_or_default();
            Arc::new(DiffModel::compute(
                text("format"),
                text("after"),
                &self.value(),
            ))
        });
    }

    /// Whether Enter, read at `now`, counts: this stage on screen for
    /// [`ARM_MS`](super::ARM_MS).
    pub fn armed(&self, now: i64) -> bool {
        self.armed_at.is_some_and(|a| now >= a)
    }
}

/// The field's value in the proposal: its target, its `after` document,
/// its lifetime in seconds (as proposed, or from its expiry).
pub fn current(record: &ProposalRecord, field: AmendField) -> String {
    match field {
        AmendField::Target => record.target.clone(),
        AmendField::After => record.document["permission_change"]["after"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        AmendField::Expiry => lifetime_secs(record).to_string(),
    }
}

/// The lifetime the proposal has, in seconds: what a shorter expiry is
/// judged against (as `domain::amend::narrows` does).
fn lifetime_secs(record: &ProposalRecord) -> u64 {
    (record.expires_at - record.created_at).max(0) as u64 / 1000
}

/// What amending `field` of `record` to `value` comes to, judged as the
/// server judges it: applied, validated and digested as a submission of
/// its own, and checked to narrow what was proposed.
pub fn check(
    record: &ProposalRecord,
    alert_document: &Value,
    field: AmendField,
    value: &str,
) -> Check {
    let proposed = current(record, field);
    if value == proposed {
        return Check::Unchanged;
    }
    if field.one_line() && value.contains('\n') {
        return Check::Refused(format!("{}: one line", field.name()));
    }
    let amend = match field {
        AmendField::Target => json!({"target": value}),
        AmendField::After => json!({"permission_change": {"after": value}}),
        AmendField::Expiry => match value.trim().parse::<u64>() {
            Ok(secs) if secs == lifetime_secs(record) => return Check::Unchanged,
            Ok(secs) => json!({"expires_in_secs": secs}),
            Err(_) => return Check::Refused("expiry: a whole number of seconds".into()),
        },
    };
    match judged(record, alert_document, &amend) {
        Ok((amended_digest, changed)) => Check::Narrows {
            amend,
            amended_digest,
            changed,
        },
        Err(e) => Check::Refused(e.to_string()),
    }
}

/// The amended document's digest and what it changed, or why it does not
/// narrow.
fn judged(
    record: &ProposalRecord,
    alert_document: &Value,
    amend: &Value,
) -> Result<(String, Map<String, Value>), amend::NotNarrower> {
    let (document, changed) = amend::apply(&record.document, amend)?;
    let proposed = amend::submission(alert_document, &record.document)?;
    let amended = amend::submission(alert_document, &document)?;
    let (Some(proposed), Some(amended)) = (proposed.proposals.first(), amended.proposals.first())
    else {
        return Err(amend::NotNarrower {
            field: "amend".into(),
            why: "the amended proposal could not be read".into(),
        });
    };
    amend::narrows(record, &proposed.fields, &amended.fields)?;
    Ok((amended.digest.clone(), changed))
}
