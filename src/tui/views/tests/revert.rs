//! The revert dialog (loading, shown, refused, with a permission diff),
//! and what the detail and its history say of a revert.

use super::{draw, keys};
use crate::api::{HistoryEntry, RevertPreview};
use crate::domain::digest;
use crate::domain::types::{ProposalStatus, Risk, Role, Severity};
use crate::tui::event::{Msg, PreviewFailure};
use crate::tui::keymap::Keymap;
use crate::tui::state::{ARM_MS, State};
use crate::tui::update::tests::revert::{arrives, executed, preview};
use crate::tui::update::tests::{NOW, detail, item, queue_msg, record};
use crate::tui::update::update;
use serde_json::json;
use std::sync::Arc;

/// On screen long enough for Enter to count.
fn armed(s: &mut State, k: &Keymap) {
    update(s, Msg::Drawn(NOW), k);
    update(s, Msg::Tick(NOW + ARM_MS), k);
}

/// The revert of a permission change: `before` and `after` as the
/// compensating proposal has them (swapped from what ran).
fn permission_preview() -> RevertPreview {
    let mut p = preview(1, Role::Analyst);
    p.action = "modify_policy".into();
    p.target = "role/ci-deployer".into();
    let proposal = &mut p.document["proposal"];
    proposal["action"] = json!("modify_policy");
    proposal["target"] = json!("role/ci-deployer");
    proposal["permission_change"] = json!({"format": "json",
        "before": r#"{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#,
        "after": r#"{"Statement":[{"Effect":"Allow","Action":["s3:GetObject","iam:PassRole"],"Resource":"*"}]}"#});
    p.digest = digest::proposal_digest(&p.document["alert"], &p.document["proposal"]).unwrap();
    p
}

#[test]
fn the_revert_dialog_loads_shows_and_refuses() {
    let (mut s, k) = executed();
    keys(&mut s, &k, "Ubackup");
    let loading = draw(&s, 80, 24);
    insta::assert_snapshot!("revert_loading_80x24", loading);
    assert!(loading.contains("nothing can be signed yet"), "{loading}");
    arrives(&mut s, &k, Ok(preview(2, Role::Lead)));
    armed(&mut s, &k);
    keys(&mut s, &k, " server");
    insta::assert_snapshot!("revert_dialog_80x24", draw(&s, 80, 24));
    insta::assert_snapshot!("revert_dialog_200x50", draw(&s, 200, 50));
    let screen = draw(&s, 80, 24);
    assert!(screen.contains("undo     release_host → ws-1"), "{screen}");
    assert!(
        screen.contains("your signature is the first of 2; a lead must approve too"),
        "{screen}"
    );
    assert!(screen.contains("Enter sign & send"), "{screen}");

    let (mut s, k) = executed();
    keys(&mut s, &k, "U");
    let refusal = PreviewFailure {
        code: Some(crate::api::ErrorCode::NotReversible),
        message: "`revoke_token` cannot be undone".into(),
    };
    arrives(&mut s, &k, Err(refusal));
    let screen = draw(&s, 80, 24);
    insta::assert_snapshot!("revert_refused_80x24", screen);
    assert!(screen.contains("It cannot be reverted"), "{screen}");
    assert!(screen.contains("nothing can be signed here"), "{screen}");
}

#[test]
fn the_revert_of_a_permission_change_shows_its_diff() {
    let (mut s, k) = executed();
    keys(&mut s, &k, "U");
    arrives(&mut s, &k, Ok(permission_preview()));
    armed(&mut s, &k);
    insta::assert_snapshot!("revert_diff_80x24", draw(&s, 80, 24));
    insta::assert_snapshot!("revert_diff_200x50", draw(&s, 200, 50));
    let wide = draw(&s, 200, 50);
    assert!(wide.contains("before and after swapped"), "{wide}");
    assert!(wide.contains("iam:PassRole"), "{wide}");
}

fn entry(seq: i64, body: serde_json::Value) -> HistoryEntry {
    HistoryEntry {
        seq,
        hash: "h".into(),
        entry: body,
    }
}

#[test]
fn the_detail_and_its_history_say_what_was_reverted_and_by_what() {
    let k = Keymap::default();
    let mut s = State::new("alice".into(), "f".into(), "u".into(), NOW);
    let r = record(1, Risk::Medium, ProposalStatus::Executed, false);
    update(&mut s, queue_msg(vec![item(&r, Severity::High)], 0), &k);
    let mut d = (*detail(1, &r)).clone();
    d.history = vec![entry(
        9,
        json!({"at": "2027-01-15T08:05:00.000Z", "kind": "reverted", "proposal_id": "p-1",
            "actor": {"kind": "person", "principal": "carol"},
            "data": {"verdict": "revert", "reason": "backup server", "reverted_by": "p-9"}}),
    )];
    let msg = Msg::Detail {
        alert_id: "a-1".into(),
        result: Ok(Arc::new(d)),
    };
    update(&mut s, msg, &k);
    let screen = draw(&s, 200, 50);
    assert!(
        screen.contains("reverted by carol → proposal p-9: backup server"),
        "{screen}"
    );
    keys(&mut s, &k, "5");
    let screen = draw(&s, 200, 50);
    assert!(
        screen.contains("reverted           carol → proposal p-9: backup server"),
        "{screen}"
    );

    // The compensating proposal: what it reverts, and who signed it.
    let mut s = State::new("alice".into(), "f".into(), "u".into(), NOW);
    let undo = record(9, Risk::Medium, ProposalStatus::Approved, false);
    update(&mut s, queue_msg(vec![item(&undo, Severity::High)], 0), &k);
    let mut d = (*detail(9, &undo)).clone();
    d.alert.external_id = "revert:p-1".into();
    d.history = vec![
        entry(
            10,
            json!({"at": "2027-01-15T08:05:00.000Z", "kind": "alert_received",
                "actor": {"kind": "person", "principal": "carol"}, "data": {"reverts": "p-1"}}),
        ),
        entry(
            11,
            json!({"at": "2027-01-15T08:05:00.000Z", "kind": "approved", "proposal_id": "p-9",
                "actor": {"kind": "person", "principal": "carol"},
                "data": {"verdict": "revert", "reverts": "p-1", "reason": "backup server"}}),
        ),
    ];
    let msg = Msg::Detail {
        alert_id: "a-9".into(),
        result: Ok(Arc::new(d)),
    };
    update(&mut s, msg, &k);
    let screen = draw(&s, 200, 50);
    assert!(
        screen.contains("reverts  proposal p-1, which was executed · revert signed by carol"),
        "{screen}"
    );
    keys(&mut s, &k, "5");
    let screen = draw(&s, 200, 50);
    assert!(screen.contains("carol reverts proposal p-1"), "{screen}");
    assert!(
        screen.contains("carol (revert of proposal p-1): backup server"),
        "{screen}"
    );
}
