//! Everything the console shows, as plain data. Changed only by
//! `update::update`; read by the views.

use super::diff::DiffModel;
use crate::api::AlertDetail;
use crate::api::View;
use crate::domain::records::QueueItem;
use crate::domain::types::{Label, ProposalStatus, Role, Verdict};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use tui_textarea::TextArea;

pub const VIEWS: [View; 5] = [
    View::Pending,
    View::Escalated,
    View::AwaitingSecond,
    View::Mine,
    View::History,
];

pub fn view_name(v: View) -> &'static str {
    match v {
        View::Pending => "pending",
        View::Escalated => "escalated",
        View::AwaitingSecond => "awaiting 2nd",
        View::Mine => "mine",
        View::History => "history",
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
    Offline { error: String },
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
    /// High/critical approval, or approval without having looked: type
    /// `yes` to sign.
    Confirm {
        proposal_id: String,
        typed: String,
        /// Panes with content that were never opened.
        unviewed: Vec<Tab>,
    },
    Help,
}

impl std::fmt::Debug for Dialog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dialog::Reason { verdict, .. } => write!(f, "Reason({verdict})"),
            Dialog::Annotate { labels, .. } => write!(f, "Annotate({labels:?})"),
            Dialog::Confirm { typed, .. } => write!(f, "Confirm({typed:?})"),
            Dialog::Help => f.write_str("Help"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Me {
    pub principal: String,
    pub fingerprint: String,
    pub role: Option<Role>,
}

#[derive(Debug)]
pub struct State {
    pub me: Me,
    pub server: String,
    pub conn: Conn,
    pub now_ms: i64,
    pub last_update_ms: Option<i64>,
    pub view: View,
    pub items: HashMap<String, QueueItem>,
    /// Ids of `items` after filter and sort: what the queue lists.
    pub rows: Vec<String>,
    pub counts: BTreeMap<ProposalStatus, i64>,
    pub selected: usize,
    pub filter: String,
    pub filtering: bool,
    pub sort: SortKey,
    pub detail: Option<Detail>,
    pub tab: Tab,
    pub scroll: u16,
    pub evidence_index: usize,
    pub dialog: Option<Dialog>,
    pub review: ReviewTrack,
    /// Permission diffs by proposal digest: computed once.
    pub diffs: HashMap<String, Arc<DiffModel>>,
    /// Decisions signed and not yet accepted by the server.
    pub outbox: usize,
    /// Proposals decided here, awaiting the server's confirmation.
    pub sent: BTreeSet<String>,
    pub flash: Option<Flash>,
    pub quit: bool,
    pub size: (u16, u16),
}

impl State {
    pub fn new(principal: String, fingerprint: String, server: String, now_ms: i64) -> Self {
        State {
            me: Me {
                principal,
                fingerprint,
                role: None,
            },
            server,
            conn: Conn::Connecting,
            now_ms,
            last_update_ms: None,
            view: View::Pending,
            items: HashMap::new(),
            rows: Vec::new(),
            counts: BTreeMap::new(),
            selected: 0,
            filter: String::new(),
            filtering: false,
            sort: SortKey::Priority,
            detail: None,
            tab: Tab::Summary,
            scroll: 0,
            evidence_index: 0,
            dialog: None,
            review: ReviewTrack::default(),
            diffs: HashMap::new(),
            outbox: 0,
            sent: BTreeSet::new(),
            flash: None,
            quit: false,
            size: (80, 24),
        }
    }

    pub fn selected_item(&self) -> Option<&QueueItem> {
        self.rows
            .get(self.selected)
            .and_then(|id| self.items.get(id))
    }

    /// The selected proposal's full record, once its alert is loaded.
    pub fn selected_proposal(&self) -> Option<&crate::domain::records::ProposalRecord> {
        let id = self.rows.get(self.selected)?;
        let d = self.detail.as_ref()?.data.as_ref()?;
        d.proposals.iter().find(|p| &p.id == id)
    }

    pub fn count(&self, s: ProposalStatus) -> i64 {
        self.counts.get(&s).copied().unwrap_or(0)
    }
}
