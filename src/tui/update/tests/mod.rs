//! Tables of message -> state and effects. No IO, no terminal.

use super::*;
use crate::api::View;
use crate::api::{AlertDetail, ErrorCode, QueuePage, QueueResponse};
use crate::domain::digest;
use crate::domain::machine::Approval;
use crate::domain::records::QueueItem;
use crate::domain::records::{AlertRecord, ProposalRecord, ProposalSummary};
use crate::domain::types::Verdict;
use crate::domain::types::{ActionKind, EntityKind, Role, Severity};
use crate::domain::types::{Label, ProposalStatus, Risk};
use crate::signing::payload::{PayloadVerdict, Target};
use crate::tui::event::SendFailure;
use crate::tui::state::{Conn, Dialog, SortKey, Tab};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::json;
use std::sync::Arc;

pub(crate) const NOW: i64 = 1_800_000_000_000;

pub(crate) fn alert_doc(i: usize) -> serde_json::Value {
    json!({
        "external_id": format!("e-{i}"), "source": "edr", "severity": "high",
        "title": format!("alert {i}"), "entity": {"kind": "host", "id": format!("ws-{i}")},
        "summary": {"text": "summary", "model": "m", "confidence": 0.5},
        "evidence": [{"kind": "log", "title": "t", "body": "b"}],
    })
}

pub(crate) fn proposal_doc(risk: Risk, with_diff: bool) -> serde_json::Value {
    let mut p = json!({"action": "isolate_host", "target": "ws-1", "risk": risk, "rationale": "r"});
    if with_diff {
        p["permission_change"] = json!({"format": "json",
                "before": r#"{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::builds/*"}]}"#,
                "after": r#"{"Statement":[{"Effect":"Allow","Action":["s3:GetObject","iam:PassRole"],"Resource":"arn:aws:s3:::builds/*"}]}"#});
    }
    p
}

pub(crate) fn record(
    i: usize,
    risk: Risk,
    status: ProposalStatus,
    with_diff: bool,
) -> ProposalRecord {
    let document = proposal_doc(risk, with_diff);
    let digest = digest::proposal_digest(&alert_doc(i), &document).unwrap();
    ProposalRecord {
        id: format!("p-{i}"),
        alert_id: format!("a-{i}"),
        index: 0,
        action: ActionKind::IsolateHost,
        target: format!("ws-{i}"),
        risk,
        declared_risk: risk,
        assessment: None,
        status,
        digest,
        document,
        proposed_by: "bot".into(),
        rule: "defaults".into(),
        approvals: Vec::<Approval>::new(),
        escalated_by: None,
        escalated_by_key: None,
        decided_by: None,
        reason: None,
        created_at: NOW - 60_000,
        updated_at: NOW - 60_000,
        expires_at: NOW + 3_600_000,
        escalate_at: None,
        execute_by: None,
        decided_at: None,
        claimed_by: None,
        claim_until: None,
        change_seq: i as i64 + 1,
        sample: None,
        amended: None,
        contain_until: None,
    }
}

pub(crate) fn item(p: &ProposalRecord, severity: Severity) -> QueueItem {
    QueueItem {
        proposal: ProposalSummary::from(p),
        alert_title: format!("alert {}", &p.id[2..]),
        severity,
        source: "edr".into(),
        entity_kind: EntityKind::Host,
        entity_id: p.target.clone(),
        confidence: 0.5,
        noted: false,
    }
}

pub(crate) fn detail(i: usize, p: &ProposalRecord) -> Arc<AlertDetail> {
    let doc = alert_doc(i);
    Arc::new(AlertDetail {
        alert: AlertRecord {
            id: p.alert_id.clone(),
            external_id: format!("e-{i}"),
            agent: "bot".into(),
            source: "edr".into(),
            severity: Severity::High,
            title: format!("alert {i}"),
            entity_kind: EntityKind::Host,
            entity_id: format!("ws-{i}"),
            confidence: 0.5,
            revision: 1,
            created_at: NOW - 60_000,
            updated_at: NOW - 60_000,
            document: doc.clone(),
        },
        digest: digest::alert_digest(&doc).unwrap(),
        notes: vec![],
        proposals: vec![p.clone()],
        history: vec![],
    })
}

pub(crate) fn queue_msg(items: Vec<QueueItem>, after: i64) -> Msg {
    Msg::Queue {
        view: View::Pending,
        after,
        result: Ok(QueueResponse {
            page: QueuePage {
                items,
                gone: vec![],
                cursor: 10,
                more: false,
            },
            counts: Default::default(),
        }),
        now: NOW,
    }
}

/// A queue delta in which `id` left the view (decided elsewhere).
pub(crate) fn gone_msg(id: &str) -> Msg {
    Msg::Queue {
        view: View::Pending,
        after: 10,
        result: Ok(QueueResponse {
            page: QueuePage {
                items: vec![],
                gone: vec![id.into()],
                cursor: 11,
                more: false,
            },
            counts: Default::default(),
        }),
        now: NOW,
    }
}

pub(crate) fn key(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

pub(crate) fn code(c: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

/// The open dialog is drawn now: Enter in it counts from here.
pub(crate) fn shown(s: &mut State, keys: &Keymap) {
    let now = s.session.now_ms;
    update(s, Msg::Drawn(now), keys);
}

/// The dialog is drawn now and stays on screen until it is armed: keys
/// sent after this count.
pub(crate) fn arm(s: &mut State, keys: &Keymap) {
    let now = s.session.now_ms;
    update(s, Msg::Drawn(now), keys);
    update(s, Msg::Tick(now + crate::tui::state::ARM_MS), keys);
}

/// A state with three proposals: one low, one medium with a diff, one
/// critical; each alert loaded once selected.
pub(crate) fn loaded() -> (State, Keymap) {
    let keys = Keymap::default();
    let mut s = State::new("alice".into(), "SHA256:x".into(), "http://srv".into(), NOW);
    let recs = [
        record(1, Risk::Low, ProposalStatus::Pending, false),
        record(2, Risk::Medium, ProposalStatus::Pending, true),
        record(3, Risk::Critical, ProposalStatus::Pending, true),
    ];
    let fx = update(
        &mut s,
        queue_msg(recs.iter().map(|r| item(r, Severity::High)).collect(), 0),
        &keys,
    );
    // Critical first: the critical proposal is selected and its alert
    // fetched; the others are loaded ahead of the selection; what is
    // frozen is loaded with the queue.
    assert_eq!(s.queue.rows, ["p-3", "p-2", "p-1"]);
    assert_eq!(
        fx,
        vec![
            Effect::FetchAlert("a-3".into()),
            Effect::Prefetch(vec!["a-2".into(), "a-1".into()]),
            Effect::FetchFreezes,
        ]
    );
    update(
        &mut s,
        Msg::Detail {
            alert_id: "a-3".into(),
            result: Ok(detail(3, &recs[2])),
        },
        &keys,
    );
    (s, keys)
}

#[test]
fn queue_merge_gone_and_selection() {
    let (mut s, keys) = loaded();
    assert!(s.detail.current.as_ref().unwrap().digest_ok["p-3"]);
    assert!(
        s.detail
            .diffs
            .contains_key(&s.selected_proposal().unwrap().digest),
        "diff computed once on load"
    );
    // Moving selects and fetches the next alert.
    assert_eq!(
        update(&mut s, key('j'), &keys).first(),
        Some(&Effect::FetchAlert("a-2".into()))
    );
    assert_eq!(s.queue.rows[s.queue.selected], "p-2");
    // A delta removes p-3 (decided elsewhere): selection stays on p-2.
    update(&mut s, gone_msg("p-3"), &keys);
    assert_eq!(s.queue.rows, ["p-2", "p-1"]);
    assert_eq!(s.queue.rows[s.queue.selected], "p-2");
    // A poll for another view is ignored (latest wins).
    let stale = Msg::Queue {
        view: View::History,
        after: 0,
        result: Ok(QueueResponse {
            page: QueuePage {
                items: vec![],
                gone: vec![],
                cursor: 0,
                more: false,
            },
            counts: Default::default(),
        }),
        now: NOW,
    };
    update(&mut s, stale, &keys);
    assert_eq!(s.queue.rows.len(), 2);
}

#[test]
fn critical_first_even_in_a_burst_of_low_risk() {
    let keys = Keymap::default();
    let mut s = State::new("alice".into(), "f".into(), "u".into(), NOW);
    let mut items: Vec<QueueItem> = (10..60)
        .map(|i| {
            item(
                &record(i, Risk::Low, ProposalStatus::Pending, false),
                Severity::Low,
            )
        })
        .collect();
    items.push(item(
        &record(99, Risk::Critical, ProposalStatus::Pending, false),
        Severity::Critical,
    ));
    update(&mut s, queue_msg(items, 0), &keys);
    assert_eq!(s.queue.rows[0], "p-99");
}

#[test]
fn views_filter_sort_and_offline() {
    let (mut s, keys) = loaded();
    assert_eq!(
        update(&mut s, key('v'), &keys),
        vec![Effect::Poll {
            view: View::Escalated,
            after: 0
        }]
    );
    assert!(s.queue.rows.is_empty());
    let (mut s, keys) = loaded();
    update(&mut s, key('/'), &keys);
    for c in "ws-2".chars() {
        update(&mut s, key(c), &keys);
    }
    update(&mut s, code(KeyCode::Enter), &keys);
    assert_eq!(s.queue.rows, ["p-2"]);
    update(&mut s, key('s'), &keys);
    assert_eq!(s.queue.sort, SortKey::Deadline);
    update(&mut s, Msg::Offline("connection refused".into()), &keys);
    assert!(matches!(s.session.conn, Conn::Offline { .. }));
    assert_eq!(s.queue.rows, ["p-2"], "the last data stays on screen");
    let _ = Role::Lead;
}

#[test]
fn quit_and_terminate() {
    let (mut s, keys) = loaded();
    update(&mut s, key('q'), &keys);
    assert!(s.session.quit);
    let (mut s, keys) = loaded();
    update(&mut s, Msg::Terminate, &keys);
    assert!(s.session.quit);
}

pub(crate) mod amend;
mod dialogs;
pub(crate) mod extend;
mod freeze;
pub(crate) mod groups;
mod keys;
mod pending;
pub(crate) mod revert;

#[test]
fn a_hardware_key_rule_is_said_before_a_software_key_signs() {
    let mut s = State::new("alice".into(), "SHA256:x".into(), "http://srv".into(), NOW);
    s.session.me.role = Some(crate::domain::types::Role::Analyst);
    let mut it = item(
        &record(1, Risk::Critical, ProposalStatus::Pending, false),
        Severity::High,
    );
    it.proposal.needs = Some(crate::domain::records::Needs {
        approvals: 1,
        role: crate::domain::types::Role::Analyst,
        hardware_key: true,
    });
    let said = s.outlook_text(&it).expect("an outlook");
    assert!(said.contains("security key"), "{said}");
    s.session.me.hardware = true;
    assert_eq!(s.outlook_text(&it), None, "a touched key completes it");
}
