//! Everything the console shows, as plain data. Changed only by
//! `update::update`; read by the views.

use super::diff::DiffModel;
use crate::api::AlertDetail;
use crate::api::View;
use crate::domain::machine::{self, Actor, Outlook, Refusal};
use crate::domain::records::QueueItem;
use crate::domain::types::{ActionKind, EntityKind, Label, ProposalStatus, Risk, Role, Verdict};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use tui_textarea::TextArea;

mod amend;
mod extend;
mod freeze;
mod revert;
pub use amend::{AmendField, AmendForm, Check as AmendCheck, check as amend_check};
pub use extend::{ExtendForm, STEPS_H as EXTEND_STEPS_H, local_time, time_left};
pub use freeze::{FreezeChoice, FreezeForm, Freezes, agent_name, short as freeze_short};
pub use revert::{
    Preview, RevertForm, Reverts, SentRevert, outlook as revert_outlook,
    outlook_text as revert_outlook_text,
};

pub const VIEWS: [View; 6] = [
    View::Pending,
    View::Escalated,
    View::AwaitingSecond,
    View::Mine,
    View::History,
    View::Sampled,
];

pub fn view_name(v: View) -> &'static str {
    match v {
        View::Pending => "pending",
        View::Escalated => "escalated",
        View::AwaitingSecond => "awaiting 2nd",
        View::Mine => "mine",
        View::History => "history",
        View::Sampled => "sampled",
        View::All => "all",
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tab {
    Summary,
    Diff,
    Evidence,
    Context,
    History,
}

pub const TABS: [Tab; 5] = [
    Tab::Summary,
    Tab::Diff,
    Tab::Evidence,
    Tab::Context,
    Tab::History,
];

impl Tab {
    pub fn name(self) -> &'static str {
        match self {
            Tab::Summary => "summary",
            Tab::Diff => "diff",
            Tab::Evidence => "evidence",
            Tab::Context => "context",
            Tab::History => "history",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// Risk, then severity, then deadline: critical first.
    Priority,
    Deadline,
    Oldest,
    Confidence,
}

impl SortKey {
    pub fn next(self) -> Self {
        match self {
            SortKey::Priority => SortKey::Deadline,
            SortKey::Deadline => SortKey::Oldest,
            SortKey::Oldest => SortKey::Confidence,
            SortKey::Confidence => SortKey::Priority,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            SortKey::Priority => "priority",
            SortKey::Deadline => "deadline",
            SortKey::Oldest => "oldest",
            SortKey::Confidence => "confidence",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conn {
    Connecting,
    Online,
    Offline {
        error: String,
    },
    /// The server refused the login: not retried, nothing to show.
    Refused {
        error: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Ok,
    Warn,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    pub text: String,
    pub level: Level,
    pub until_ms: i64,
}

/// The alert behind the selected proposal.
#[derive(Debug, Clone)]
pub struct Detail {
    pub alert_id: String,
    pub data: Option<Arc<AlertDetail>>,
    pub error: Option<String>,
    /// Proposal id -> whether the served digest matches the one recomputed
    /// from the served documents. The console refuses to sign on mismatch.
    pub digest_ok: HashMap<String, bool>,
    pub alert_digest_ok: bool,
}

/// How closely the person has looked at the selected proposal.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReviewTrack {
    pub proposal_id: String,
    pub opened_ms: i64,
    pub panes: BTreeSet<Tab>,
}

pub enum Dialog {
    /// Reject, escalate or halt: a reason is required.
    Reason {
        verdict: Verdict,
        proposal_id: String,
        /// The digest shown when it opened: what the reason is signed over.
        digest: String,
        editor: TextArea<'static>,
        error: Option<String>,
    },
    /// Note plus labels on the alert.
    Annotate {
        alert_id: String,
        editor: TextArea<'static>,
        labels: BTreeSet<Label>,
        error: Option<String>,
    },
    /// A command key pressed while the proposal it needs was still
    /// loading: every key typed now is kept here (never read as a command)
    /// until the dialog it asked for opens, or Esc cancels it.
    Pending {
        command: Command,
        proposal_id: String,
        alert_id: String,
        /// Keys typed while waiting, replayed into the dialog's editor
        /// (never as Enter: a dialog signs only on a key typed while it
        /// was on screen).
        typed: Vec<crossterm::event::KeyEvent>,
    },
    /// Every approval (and a sampled confirmation) asks here: a line that
    /// shows action, target and risk and reads no key until it has been on
    /// screen for [`ARM_MS`]. Then `y` or Enter signs; high and critical
    /// need `yes` typed.
    Confirm {
        verdict: crate::signing::payload::PayloadVerdict,
        proposal_id: String,
        /// "action → target" as the signed document says it.
        what: String,
        /// Risk and digest as shown when it opened: what is signed.
        risk: Risk,
        digest: String,
        typed: String,
        /// Panes with content that were never opened.
        unviewed: Vec<Tab>,
        /// When keys start to count: [`ARM_MS`] after the dialog was first
        /// drawn; `None` until it has been drawn.
        armed_at: Option<i64>,
    },
    /// Approve or reject every member of a group shown in the sheet, one
    /// signature each; reject needs a reason.
    Group {
        verdict: Verdict,
        /// (proposal id, digest) of the members on screen when it opened.
        members: Vec<(String, String)>,
        /// How long the sheet had been open.
        opened_ms: i64,
        editor: TextArea<'static>,
        error: Option<String>,
        /// As for [`Dialog::Confirm`]: Enter counts from here on.
        armed_at: Option<i64>,
    },
    /// After labelling an alert a false positive (or benign): reject its
    /// open proposals too, one signed rejection each, with the note as
    /// the reason? Armed as [`Dialog::Confirm`].
    RejectAlso {
        /// (proposal id, digest, "action → target") as shown.
        members: Vec<(String, String, String)>,
        reason: String,
        armed_at: Option<i64>,
    },
    /// A command that could not start, said where the person is typing:
    /// it keeps taking keys (none is read as a command) until Esc, or
    /// Enter once it has been on screen.
    Notice { title: String, text: String },
    /// A lead's oversight report (or why it could not be had).
    Oversight {
        /// Laid out at the width it is drawn at.
        report: Result<crate::api::oversight::Oversight, String>,
        scroll: u16,
    },
    /// A lead's freeze or unfreeze of an agent, or of every agent: a
    /// reason is required, and it is sent at once or not at all.
    Freeze(FreezeForm),
    /// A person's revert of an executed proposal: the compensating
    /// proposal the server would create (loading until it is here), and a
    /// reason; nothing signs before that proposal has been on screen.
    Revert(RevertForm),
    /// A person's approval as amended: the proposal narrowed (target,
    /// permission document, expiry), what that comes to as it is typed,
    /// and one signed approval once it narrows and has been on screen.
    Amend(Box<AmendForm>),
    /// A person's extension of an executed containment: how much longer
    /// (the resulting time shown) and a reason; armed as
    /// [`Dialog::Confirm`].
    Extend(ExtendForm),
    /// The keys; j/k scroll it where it does not fit.
    Help { scroll: u16 },
}

impl std::fmt::Debug for Dialog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dialog::Reason { verdict, .. } => write!(f, "Reason({verdict})"),
            Dialog::Annotate { labels, .. } => write!(f, "Annotate({labels:?})"),
            Dialog::Pending { command, typed, .. } => {
                write!(f, "Pending({command:?}, {} keys)", typed.len())
            }
            Dialog::Confirm { verdict, typed, .. } => write!(f, "Confirm({verdict:?}, {typed:?})"),
            Dialog::Group {
                verdict, members, ..
            } => write!(f, "Group({verdict}, {})", members.len()),
            Dialog::RejectAlso { members, .. } => write!(f, "RejectAlso({})", members.len()),
            Dialog::Notice { title, .. } => write!(f, "Notice({title})"),
            Dialog::Oversight { .. } => f.write_str("Oversight"),
            Dialog::Freeze(form) => write!(f, "Freeze({}, {:?})", form.agent(), form.choice),
            Dialog::Revert(form) => write!(f, "Revert({}, {:?})", form.proposal_id, form.preview),
            Dialog::Amend(form) => write!(f, "Amend({}, {:?})", form.proposal_id, form.check),
            Dialog::Extend(form) => write!(f, "Extend({}, +{}h)", form.proposal_id, form.hours()),
            Dialog::Help { .. } => f.write_str("Help"),
        }
    }
}

/// How long a dialog that signs an approval ignores keys after it is first
/// drawn, so that keys typed ahead cannot answer it (browsers arm their
/// security dialogs the same way).
pub const ARM_MS: i64 = 600;

/// A signing command that needs the proposal loaded before its dialog can
/// open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Approve,
    /// Reject, escalate, halt or flag: a reason is asked for.
    Reason(Verdict),
    /// Confirm a sampled policy approval.
    ConfirmSample,
    Annotate,
    /// Undo an executed proposal (signed, reason).
    Revert,
    /// Approve as amended (narrowed).
    Amend,
    /// Keep an executed containment longer (signed, reason).
    Extend,
}

impl Command {
    pub fn name(self) -> String {
        match self {
            Command::Approve => "approve".into(),
            Command::Reason(v) => v.to_string(),
            Command::ConfirmSample => "confirm".into(),
            Command::Annotate => "annotate".into(),
            Command::Revert => "revert".into(),
            Command::Amend => "amend".into(),
            Command::Extend => "extend".into(),
        }
    }
}

impl Dialog {
    /// Whether a key pressed at `now` counts: a dialog that signs an
    /// approval reads none until it has been on screen for [`ARM_MS`].
    pub fn armed(&self, now: i64) -> bool {
        match self {
            Dialog::Confirm { armed_at, .. } | Dialog::RejectAlso { armed_at, .. } => {
                armed_at.is_some_and(|a| now >= a)
            }
            Dialog::Group {
                verdict: Verdict::Approve,
                armed_at,
                ..
            } => armed_at.is_some_and(|a| now >= a),
            _ => true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Me {
    pub principal: String,
    pub fingerprint: String,
    pub role: Option<Role>,
    /// Signing with a FIDO security key (what `hardware_key` rules want).
    pub hardware: bool,
}

/// Who is signed in, where, and how the connection is.
#[derive(Debug)]
pub struct Session {
    pub me: Me,
    pub server: String,
    pub conn: Conn,
    pub now_ms: i64,
    pub last_update_ms: Option<i64>,
    /// Decisions signed and not yet accepted by the server.
    pub outbox: usize,
    pub flash: Option<Flash>,
    pub quit: bool,
    pub size: (u16, u16),
    /// The leads the server's policy names (from the login).
    pub leads: Vec<String>,
    /// The person's clock, seconds east of UTC: times they read as
    /// "23:40" are shown in it (0, UTC, until the console sets it).
    pub utc_offset_s: i32,
}

/// Like proposals collapsed into one queue row: same action, rule, risk
/// and agent, each one the server called groupable.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub action: ActionKind,
    pub agent: String,
    pub risk: Risk,
    pub rule: String,
    /// Member ids in queue order.
    pub members: Vec<String>,
}

/// Row ids of groups start with this (proposal ids are UUIDs).
pub const GROUP_ROW: &str = "group:";

/// More than `count` proposals from one agent within `secs` is a burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BurstRule {
    pub count: usize,
    pub secs: u64,
}

impl Default for BurstRule {
    fn default() -> Self {
        BurstRule {
            count: 20,
            secs: 60,
        }
    }
}

/// A burst seen in the queue: the agent and how many in the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Burst {
    pub agent: String,
    pub count: usize,
}

/// The queue on the left: what the server listed, filtered and sorted.
#[derive(Debug)]
pub struct Queue {
    pub view: View,
    /// The server answered a poll for this view in this session: only then
    /// can an empty queue be called clear.
    pub answered: bool,
    pub items: HashMap<String, QueueItem>,
    /// Ids of `items` after filter and sort: what the queue lists.
    pub rows: Vec<String>,
    pub counts: BTreeMap<ProposalStatus, i64>,
    pub selected: usize,
    pub filter: String,
    pub filtering: bool,
    pub sort: SortKey,
    /// Proposals decided here, awaiting the server's confirmation.
    pub sent: BTreeSet<String>,
    /// Collapse like proposals into group rows.
    pub grouped: bool,
    /// Group rows of `rows`, by row id.
    pub groups: HashMap<String, Group>,
    /// The first `pinned` rows: open high and critical proposals, most
    /// urgent first, whatever the sort.
    pub pinned: usize,
    pub burst_rule: BurstRule,
    pub burst: Option<Burst>,
    /// The last group signed here, while its members' answers come back.
    pub group_send: Option<GroupSend>,
}

/// A group's decisions on their way: one summary instead of a message per
/// member, each answer counted into it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GroupSend {
    /// What was signed ("approve: 20 signed, one per proposal").
    pub summary: String,
    pub size: usize,
    /// Members not answered yet.
    pub waiting: BTreeSet<String>,
    pub recorded: usize,
    pub queued: usize,
    pub refused: usize,
    /// The last refusal's message.
    pub last_refusal: Option<String>,
}

/// The detail on the right: the selected proposal's alert and how the
/// person is looking at it.
#[derive(Debug)]
pub struct DetailPane {
    pub current: Option<Detail>,
    pub tab: Tab,
    pub scroll: u16,
    /// Columns scrolled sideways (the diff's long lines).
    pub hscroll: u16,
    pub evidence_index: usize,
    pub review: ReviewTrack,
    /// Permission diffs by proposal digest: computed once.
    pub diffs: HashMap<String, Arc<DiffModel>>,
    /// Alerts loaded this session, by id, each with its digests checked:
    /// what lets a queued item be shown and signed at once, and while the
    /// server is away. Kept for alerts the queue still lists.
    pub cache: HashMap<String, Detail>,
    /// The alerts last asked for ahead of the selection.
    pub prefetching: Vec<String>,
}

#[derive(Debug)]
pub struct State {
    pub session: Session,
    pub queue: Queue,
    pub detail: DetailPane,
    /// What is frozen, loaded with the queue.
    pub freezes: Freezes,
    /// Reverts signed here, their answers on the way.
    pub reverts: Reverts,
    pub dialog: Option<Dialog>,
    /// When the open dialog was first drawn; `None` until it has been.
    /// Enter in a dialog counts only for keys read after this.
    pub dialog_shown: Option<i64>,
}

impl State {
    pub fn new(principal: String, fingerprint: String, server: String, now_ms: i64) -> Self {
        State {
            session: Session {
                me: Me {
                    principal,
                    fingerprint,
                    role: None,
                    hardware: false,
                },
                server,
                conn: Conn::Connecting,
                now_ms,
                last_update_ms: None,
                outbox: 0,
                flash: None,
                quit: false,
                size: (80, 24),
                leads: Vec::new(),
                utc_offset_s: 0,
            },
            queue: Queue {
                view: View::Pending,
                answered: false,
                items: HashMap::new(),
                rows: Vec::new(),
                counts: BTreeMap::new(),
                selected: 0,
                filter: String::new(),
                filtering: false,
                sort: SortKey::Priority,
                sent: BTreeSet::new(),
                grouped: true,
                groups: HashMap::new(),
                pinned: 0,
                burst_rule: BurstRule::default(),
                burst: None,
                group_send: None,
            },
            detail: DetailPane {
                current: None,
                tab: Tab::Summary,
                scroll: 0,
                hscroll: 0,
                evidence_index: 0,
                review: ReviewTrack::default(),
                diffs: HashMap::new(),
                cache: HashMap::new(),
                prefetching: Vec::new(),
            },
            freezes: Freezes::default(),
            reverts: Reverts::default(),
            dialog: None,
            dialog_shown: None,
        }
    }

    /// The selected group row, if a group is selected.
    pub fn selected_group(&self) -> Option<&Group> {
        self.queue
            .rows
            .get(self.queue.selected)
            .and_then(|id| self.queue.groups.get(id))
    }

    pub fn selected_item(&self) -> Option<&QueueItem> {
        self.queue
            .rows
            .get(self.queue.selected)
            .and_then(|id| self.queue.items.get(id))
    }

    /// The selected proposal's full record, once its alert is loaded.
    pub fn selected_proposal(&self) -> Option<&crate::domain::records::ProposalRecord> {
        let id = self.queue.rows.get(self.queue.selected)?;
        let d = self.detail.current.as_ref()?.data.as_ref()?;
        d.proposals.iter().find(|p| &p.id == id)
    }

    /// Evidence items of the loaded alert.
    pub fn evidence_count(&self) -> usize {
        self.detail
            .current
            .as_ref()
            .and_then(|d| d.data.as_ref())
            .and_then(|d| d.alert.document.get("evidence"))
            .and_then(|e| e.as_array())
            .map_or(0, Vec::len)
    }

    /// What this person's approval of `item` would do, by the rules
    /// themselves; `None` before the login said who they are, or where the
    /// server did not say what the rule needs.
    pub fn outlook(&self, item: &QueueItem) -> Option<Outlook> {
        let needs = item.proposal.needs?;
        let role = self.session.me.role?;
        if !item.proposal.status.is_open() {
            return None;
        }
        let me = Actor::Person {
            principal: self.session.me.principal.clone(),
            role,
            key: Some(self.session.me.fingerprint.clone()).filter(|f| !f.is_empty()),
            hardware: self.session.me.hardware,
        };
        Some(machine::outlook(
            &item.proposal.state(),
            needs.approvals,
            needs.role,
            needs.hardware_key,
            &me,
        ))
    }

    /// Other open work on an alert's entity, from the queue in hand:
    /// (other alerts about the same entity, proposals of other alerts whose
    /// target is it). Ids compare as the risk judge reads names (case,
    /// width, confusable hyphens, surrounding space).
    pub fn related(&self, alert_id: &str, kind: EntityKind, entity_id: &str) -> (usize, usize) {
        use crate::domain::risk::names::canonical;
        let id = canonical(entity_id);
        let mut alerts = BTreeSet::new();
        let mut proposals = 0;
        for i in self.queue.items.values() {
            if i.proposal.alert_id == alert_id || !i.proposal.status.is_open() {
                continue;
            }
            if i.entity_kind == kind && canonical(&i.entity_id) == id {
                alerts.insert(i.proposal.alert_id.as_str());
            }
            if canonical(&i.proposal.target) == id {
                proposals += 1;
            }
        }
        (alerts.len(), proposals)
    }

    /// The outlook in words, when it is anything but "approving completes
    /// it": "needs a lead: carol, dave", "your approval is 1 of 2; then a
    /// lead's: carol, dave".
    pub fn outlook_text(&self, item: &QueueItem) -> Option<String> {
        let o = self.outlook(item)?;
        let p = &item.proposal;
        let taken: Vec<&str> = p
            .approvals
            .iter()
            .map(|a| a.principal.as_str())
            .chain(p.escalated_by.as_deref())
            .collect();
        let leads: Vec<&str> = self
            .session
            .leads
            .iter()
            .map(String::as_str)
            .filter(|l| !taken.contains(l) && *l != self.session.me.principal)
            .collect();
        let who = if leads.is_empty() {
            String::new()
        } else {
            format!(": {}", leads.join(", "))
        };
        Some(match o {
            Outlook::Completes => return None,
            Outlook::Counts {
                after,
                of,
                lead_missing: true,
            } => format!("your approval is {after} of {of}; then it needs a lead{who}"),
            Outlook::Counts { after, of, .. } => {
                format!("your approval is {after} of {of}; then it needs another person")
            }
            Outlook::Refused(Refusal::LeadRequired) => {
                format!("escalated: a lead decides it{who}")
            }
            Outlook::Refused(Refusal::RoleRequired { .. }) => format!("needs a lead{who}"),
            Outlook::Refused(Refusal::SamePrincipal(_) | Refusal::SameKey(_)) => {
                "you approved it already; it needs someone else".to_owned()
            }
            Outlook::Refused(Refusal::HardwareKeyRequired(_)) => {
                "needs a touched security key (hardware_key); yours is not one".to_owned()
            }
            Outlook::Refused(r) => r.to_string(),
        })
    }

    pub fn count(&self, s: ProposalStatus) -> i64 {
        self.queue.counts.get(&s).copied().unwrap_or(0)
    }
}
