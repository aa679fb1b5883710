//! The amend dialog (narrowing, and a wider target refused), and what the
//! detail and its history say of an amended proposal.

use super::draw;
use crate::api::HistoryEntry;
use crate::domain::amend::Amended;
use crate::domain::types::{ProposalStatus, Risk, Severity};
use crate::tui::event::Msg;
use crate::tui::keymap::Keymap;
use crate::tui::state::{ARM_MS, State};
use crate::tui::update::tests::amend::block;
use crate::tui::update::tests::{NOW, code, detail, item, key, queue_msg, record};
use crate::tui::update::update;
use crossterm::event::KeyCode;
use serde_json::json;
use std::sync::Arc;

/// `m`, four characters off the target, then `tail`; on screen long
/// enough for Enter to count.
fn amending(s: &mut State, k: &Keymap, tail: &str) {
    update(s, key('m'), k);
    for _ in 0..4 {
        update(s, code(KeyCode::Backspace), k);
    }
    for c in tail.chars() {
        update(s, key(c), k);
    }
    update(s, Msg::Drawn(NOW), k);
    update(s, Msg::Tick(NOW + ARM_MS), k);
}

#[test]
fn the_amend_dialog_shows_the_change_whether_it_narrows_and_the_digest() {
    let (mut s, k) = block(Risk::Medium);
    amending(&mut s, &k, "4/32");
    insta::assert_snapshot!("amend_dialog_80x24", draw(&s, 80, 24));
    insta::assert_snapshot!("amend_dialog_200x50", draw(&s, 200, 50));
    let screen = draw(&s, 80, 24);
    assert!(
        screen.contains("change    185.220.101.0/24 → 185.220.101.4/32"),
        "{screen}"
    );
    assert!(screen.contains("✓ narrows what was proposed"), "{screen}");
    assert!(screen.contains("digest    sha256:"), "{screen}");
    assert!(screen.contains("Enter approve as amended"), "{screen}");

    let (mut s, k) = block(Risk::Medium);
    amending(&mut s, &k, "0/16");
    let screen = draw(&s, 80, 24);
    insta::assert_snapshot!("amend_wider_80x24", screen);
    assert!(screen.contains("✗ does not narrow: target"), "{screen}");
    assert!(!screen.contains("Enter approve as amended"), "{screen}");
}

#[test]
fn an_amended_proposal_says_what_was_replaced_and_by_whom() {
    let k = Keymap::default();
    let mut s = State::new("carol".into(), "f".into(), "u".into(), NOW);
    let mut r = record(1, Risk::High, ProposalStatus::AwaitingSecond, false);
    r.target = "185.220.101.4/32".into();
    let changed = json!({"target": {"from": "185.220.101.0/24", "to": "185.220.101.4/32"}});
    r.amended = Some(Amended {
        by: "alice".into(),
        at: NOW - 1_000,
        original_digest: "sha256:00".into(),
        changed: changed.as_object().cloned().unwrap_or_default(),
    });
    update(&mut s, queue_msg(vec![item(&r, Severity::High)], 0), &k);
    let mut d = (*detail(1, &r)).clone();
    d.history = vec![HistoryEntry {
        seq: 7,
        hash: "h".into(),
        entry: json!({"at": "2027-01-15T08:05:00.000Z", "kind": "amended", "proposal_id": "p-1",
            "actor": {"kind": "person", "principal": "alice"},
            "data": {"verdict": "approve", "reason": "", "changed": changed}}),
    }];
    let msg = Msg::Detail {
        alert_id: "a-1".into(),
        result: Ok(Arc::new(d)),
    };
    update(&mut s, msg, &k);
    let screen = draw(&s, 200, 50);
    assert!(
        screen.contains("amended  by alice: target 185.220.101.0/24 → 185.220.101.4/32"),
        "{screen}"
    );
    update(&mut s, key('5'), &k);
    let screen = draw(&s, 200, 50);
    assert!(
        screen.contains("amended            alice target 185.220.101.0/24 → 185.220.101.4/32"),
        "{screen}"
    );
}
