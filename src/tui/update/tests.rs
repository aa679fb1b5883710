//! Tables of message -> state and effects. No IO, no terminal.

use super::*;
use crate::api::{AlertDetail, ErrorCode, QueuePage, QueueResponse};
use crate::domain::machine::Approval;
use crate::domain::records::{AlertRecord, ProposalRecord, ProposalSummary};
use crate::domain::types::{ActionKind, EntityKind, Role, Severity};
use crate::domain::types::{Label, ProposalStatus, Risk};
use crate::signing::payload::{PayloadVerdict, Target};
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
        p["permission_change"] =
            json!({"format": "json", "before": "{\"a\":1}", "after": "{\"a\":1,\"b\":\"*\"}"});
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
        status,
        digest,
        document,
        proposed_by: "bot".into(),
        rule: "defaults".into(),
        approvals: Vec::<Approval>::new(),
        escalated_by: None,
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

fn key(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

fn code(c: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(c, KeyModifiers::NONE))
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
    // Critical first: the critical proposal is selected and its alert fetched.
    assert_eq!(s.rows, ["p-3", "p-2", "p-1"]);
    assert_eq!(fx, vec![Effect::FetchAlert("a-3".into())]);
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
    assert!(s.detail.as_ref().unwrap().digest_ok["p-3"]);
    assert!(
        s.diffs.contains_key(&s.selected_proposal().unwrap().digest),
        "diff computed once on load"
    );
    // Moving selects and fetches the next alert.
    assert_eq!(
        update(&mut s, key('j'), &keys),
        vec![Effect::FetchAlert("a-2".into())]
    );
    assert_eq!(s.rows[s.selected], "p-2");
    // A delta removes p-3 (decided elsewhere): selection stays on p-2.
    let gone = Msg::Queue {
        view: View::Pending,
        after: 10,
        result: Ok(QueueResponse {
            page: QueuePage {
                items: vec![],
                gone: vec!["p-3".into()],
                cursor: 11,
                more: false,
            },
            counts: Default::default(),
        }),
        now: NOW,
    };
    update(&mut s, gone, &keys);
    assert_eq!(s.rows, ["p-2", "p-1"]);
    assert_eq!(s.rows[s.selected], "p-2");
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
    assert_eq!(s.rows.len(), 2);
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
    assert_eq!(s.rows[0], "p-99");
}

#[test]
fn approve_low_signs_at_once_with_review_depth() {
    let (mut s, keys) = loaded();
    update(&mut s, key('j'), &keys);
    update(&mut s, key('j'), &keys);
    let p1 = record(1, Risk::Low, ProposalStatus::Pending, false);
    update(
        &mut s,
        Msg::Detail {
            alert_id: "a-1".into(),
            result: Ok(detail(1, &p1)),
        },
        &keys,
    );
    update(&mut s, Msg::Tick(NOW + 12_000), &keys);
    let fx = update(&mut s, key('a'), &keys);
    let [Effect::Send(d)] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert_eq!(d.verdict, PayloadVerdict::Approve);
    assert_eq!(d.target, Target::Proposal("p-1".into()));
    assert_eq!(d.digest, p1.digest);
    assert_eq!(d.review.seconds, 12.0);
    assert_eq!(d.review.panes, ["summary"]);
    // Pressing again while it is in flight signs nothing twice.
    assert!(update(&mut s, key('a'), &keys).is_empty());
}

#[test]
fn critical_approval_needs_typed_yes_and_warns_about_unopened_panes() {
    let (mut s, keys) = loaded();
    assert!(update(&mut s, key('a'), &keys).is_empty());
    let Some(Dialog::Confirm { unviewed, .. }) = &s.dialog else {
        panic!("{:?}", s.dialog)
    };
    assert_eq!(unviewed, &[Tab::Diff, Tab::Evidence]);
    // Enter without "yes" signs nothing.
    assert!(update(&mut s, code(KeyCode::Enter), &keys).is_empty());
    assert!(s.dialog.is_some());
    for c in "yes".chars() {
        update(&mut s, key(c), &keys);
    }
    let fx = update(&mut s, code(KeyCode::Enter), &keys);
    assert!(matches!(fx.as_slice(), [Effect::Send(d)] if d.verdict == PayloadVerdict::Approve));
    assert!(s.dialog.is_none());
}

#[test]
fn reject_needs_a_reason_typed_in_the_editor() {
    let (mut s, keys) = loaded();
    update(&mut s, key('r'), &keys);
    assert!(matches!(
        s.dialog,
        Some(Dialog::Reason {
            verdict: Verdict::Reject,
            ..
        })
    ));
    update(&mut s, key('x'), &keys);
    assert!(
        update(&mut s, code(KeyCode::Enter), &keys).is_empty(),
        "one character is not a reason"
    );
    assert!(matches!(
        &s.dialog,
        Some(Dialog::Reason { error: Some(_), .. })
    ));
    for c in "-ray of a backup job".chars() {
        update(&mut s, key(c), &keys);
    }
    let fx = update(&mut s, code(KeyCode::Enter), &keys);
    let [Effect::Send(d)] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert_eq!(
        (d.verdict, d.reason.as_str()),
        (PayloadVerdict::Reject, "x-ray of a backup job")
    );
    // Esc cancels a dialog without signing.
    let (mut s, keys) = loaded();
    update(&mut s, key('e'), &keys);
    assert!(update(&mut s, code(KeyCode::Esc), &keys).is_empty());
    assert!(s.dialog.is_none());
}

#[test]
fn annotate_with_labels() {
    let (mut s, keys) = loaded();
    update(&mut s, key('n'), &keys);
    update(
        &mut s,
        Msg::Key(KeyEvent::new(KeyCode::Char('f'), KeyModifiers::CONTROL)),
        &keys,
    );
    let fx = update(&mut s, code(KeyCode::Enter), &keys);
    let [Effect::Send(d)] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert_eq!(d.verdict, PayloadVerdict::Annotate);
    assert_eq!(d.labels, vec![Label::FalsePositive]);
    assert_eq!(d.target, Target::Alert("a-3".into()));
}

#[test]
fn refuses_to_sign_on_digest_mismatch_or_wrong_state() {
    let (mut s, keys) = loaded();
    // The server served a digest that does not match the document.
    let mut p3 = record(3, Risk::Critical, ProposalStatus::Pending, true);
    p3.digest = "sha256:00".into();
    update(
        &mut s,
        Msg::Detail {
            alert_id: "a-3".into(),
            result: Ok(detail(3, &p3)),
        },
        &keys,
    );
    assert!(update(&mut s, key('a'), &keys).is_empty());
    assert!(s.dialog.is_none());
    assert!(s.flash.as_ref().unwrap().text.contains("does not match"));
    // Halt needs an approved proposal.
    let (mut s, keys) = loaded();
    assert!(update(&mut s, key('h'), &keys).is_empty());
    assert!(s.flash.as_ref().unwrap().text.contains("cannot halt"));
}

#[test]
fn decision_results() {
    let (mut s, keys) = loaded();
    s.sent.insert("p-3".into());
    let refused = Msg::Decision {
        proposal_id: Some("p-3".into()),
        verdict: "approve".into(),
        result: Err(SendFailure::Refused {
            code: ErrorCode::StaleDigest,
            message: "changed".into(),
        }),
    };
    let fx = update(&mut s, refused, &keys);
    assert_eq!(
        fx,
        vec![Effect::FetchAlert("a-3".into())],
        "reloads what is shown"
    );
    assert!(
        s.flash
            .as_ref()
            .unwrap()
            .text
            .contains("changed since you saw it")
    );
    assert!(!s.sent.contains("p-3"), "can be decided again after review");
    let queued = Msg::Decision {
        proposal_id: Some("p-3".into()),
        verdict: "approve".into(),
        result: Err(SendFailure::Queued("down".into())),
    };
    update(&mut s, queued, &keys);
    assert!(s.flash.as_ref().unwrap().text.contains("outbox"));
    let forbidden = Msg::Decision {
        proposal_id: Some("p-3".into()),
        verdict: "approve".into(),
        result: Err(SendFailure::Refused {
            code: ErrorCode::RoleRequired,
            message: "rule \"x\" needs a lead".into(),
        }),
    };
    update(&mut s, forbidden, &keys);
    assert!(s.flash.as_ref().unwrap().text.contains("needs a lead"));
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
    assert!(s.rows.is_empty());
    let (mut s, keys) = loaded();
    update(&mut s, key('/'), &keys);
    for c in "ws-2".chars() {
        update(&mut s, key(c), &keys);
    }
    update(&mut s, code(KeyCode::Enter), &keys);
    assert_eq!(s.rows, ["p-2"]);
    update(&mut s, key('s'), &keys);
    assert_eq!(s.sort, SortKey::Deadline);
    update(&mut s, Msg::Offline("connection refused".into()), &keys);
    assert!(matches!(s.conn, Conn::Offline { .. }));
    assert_eq!(s.rows, ["p-2"], "the last data stays on screen");
    let _ = Role::Lead;
}

#[test]
fn quit_and_terminate() {
    let (mut s, keys) = loaded();
    update(&mut s, key('q'), &keys);
    assert!(s.quit);
    let (mut s, keys) = loaded();
    update(&mut s, Msg::Terminate, &keys);
    assert!(s.quit);
}
