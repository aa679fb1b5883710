//! The extend dialog, the detail's line on a timed containment, and what
//! the history says when it ended or was extended. Times read in UTC here
//! (the session's offset is 0): NOW is 2027-01-15 08:00.

use super::{draw, keys};
use crate::api::HistoryEntry;
use crate::domain::types::{ProposalStatus, Risk, Severity};
use crate::tui::event::Msg;
use crate::tui::keymap::Keymap;
use crate::tui::state::{ARM_MS, State};
use crate::tui::update::tests::extend::contained;
use crate::tui::update::tests::{NOW, detail, item, queue_msg, record};
use crate::tui::update::update;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::json;
use std::sync::Arc;

/// 15:12, seven hours and twelve minutes from NOW.
const UNTIL: i64 = NOW + (7 * 60 + 12) * 60_000;

#[test]
fn the_extend_dialog_shows_the_time_it_comes_to() {
    let (mut s, k) = contained(Some(UNTIL));
    keys(&mut s, &k, "Xincident still open");
    update(&mut s, Msg::Drawn(NOW), &k);
    update(&mut s, Msg::Tick(NOW + ARM_MS), &k);
    let tab = Msg::Key(KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE));
    update(&mut s, tab, &k);
    let screen = draw(&s, 80, 24);
    insta::assert_snapshot!("extend_dialog_80x24", screen);
    assert!(
        screen.contains("15:12 (in 7h 12m), then the gate proposes its release"),
        "{screen}"
    );
    assert!(screen.contains("new end  19:12 (in 11h 12m)"), "{screen}");
    assert!(screen.contains("[+4h]"), "{screen}");
    assert!(screen.contains("Enter sign & send"), "{screen}");
}

#[test]
fn the_detail_says_until_when_it_holds() {
    let (s, _) = contained(Some(UNTIL));
    let screen = draw(&s, 200, 50);
    insta::assert_snapshot!("extend_detail_200x50", screen);
    assert!(
        screen.contains("contain  until 15:12 (in 7h 12m), then the gate proposes its release"),
        "{screen}"
    );
    assert!(screen.contains("U revert · X extend"), "{screen}");
    let (s, _) = contained(None);
    assert!(!draw(&s, 200, 50).contains("contain  until"));
}

fn entry(seq: i64, body: serde_json::Value) -> HistoryEntry {
    HistoryEntry {
        seq,
        hash: "h".into(),
        entry: body,
    }
}

#[test]
fn the_history_says_it_was_extended_and_ended() {
    let k = Keymap::default();
    let mut s = State::new("alice".into(), "f".into(), "u".into(), NOW);
    let r = record(1, Risk::Medium, ProposalStatus::Executed, false);
    update(&mut s, queue_msg(vec![item(&r, Severity::High)], 0), &k);
    let mut d = (*detail(1, &r)).clone();
    d.history = vec![
        entry(
            7,
            json!({"at": "2027-01-15T07:00:00.000Z", "kind": "containment_extended",
                "proposal_id": "p-1", "actor": {"kind": "person", "principal": "bob"},
                "data": {"verdict": "extend", "reason": "incident still open",
                    "from": "2027-01-15T08:00:00.000Z", "contain_until": "2027-01-15T23:40:00.000Z"}}),
        ),
        entry(
            8,
            json!({"at": "2027-01-15T23:40:00.000Z", "kind": "containment_ended",
                "proposal_id": "p-1", "actor": {"kind": "deadline"},
                "data": {"reverted_by": "p-9", "alert": "a-9"}}),
        ),
    ];
    let msg = Msg::Detail {
        alert_id: "a-1".into(),
        result: Ok(Arc::new(d)),
    };
    update(&mut s, msg, &k);
    keys(&mut s, &k, "5");
    let screen = draw(&s, 200, 50);
    assert!(
        screen.contains("bob extended until 23:40: incident still open"),
        "{screen}"
    );
    assert!(
        screen.contains("deadline: release proposed → proposal p-9"),
        "{screen}"
    );
}
