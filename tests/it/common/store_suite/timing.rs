//! Deadlines, expiry, lapse, auto-escalation and execution reports.

use super::super::{alert, decide, proposal};
use super::*;
use countersign::domain::types::{ProposalStatus, Verdict};
use countersign::server::store::ops::{ClaimDeliveries, FanOut, ProposalById, Remind};
use countersign::server::store::{ExecutionCommand, ExecutionReport, Store, StoreError};
use std::sync::Arc;

pub async fn deadlines_and_execution(store: Arc<dyn Store>) {
    let s = &*store;
    let mut short = proposal("isolate_host", "medium");
    short["expires_in_secs"] = 60.into();
    let o = submit(
        s,
        "bot",
        alert(
            "edr-3",
            vec![
                short,
                proposal("disable_account", "medium"),
                proposal("revoke_token", "medium"),
            ],
        ),
        T0,
    )
    .await
    .unwrap();
    let [a, b, c] = [&o.proposals[0], &o.proposals[1], &o.proposals[2]];
    assert_eq!(a.expires_at, T0 + 60_000);
    // b: approved, then run to completion.
    decide(s, &b.id, &b.digest, "alice", Verdict::Approve, "", T0 + 1)
        .await
        .unwrap();
    // c: approved but never started: lapses after the 600 s window.
    decide(s, &c.id, &c.digest, "alice", Verdict::Approve, "", T0 + 1)
        .await
        .unwrap();
    let exec = |id: &str, report: ExecutionReport, agent: &str, now: i64| {
        s.run(ExecutionCommand {
            proposal_id: id.into(),
            agent: agent.into(),
            executor: None,
            report,
            now,
            contain_for_secs: None,
        })
    };
    assert!(matches!(
        exec(&b.id, ExecutionReport::started(), "other", T0 + 2).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        exec(&b.id, ExecutionReport::started(), "bot", T0 + 2)
            .await
            .unwrap()
            .status,
        ProposalStatus::Executing
    );
    let done = exec(
        &b.id,
        ExecutionReport::Failed {
            detail: "EDR API 500".into(),
        },
        "bot",
        T0 + 3,
    )
    .await
    .unwrap();
    assert_eq!(done.status, ProposalStatus::Failed);
    // Expiry: a is never executable, and a late approval is refused.
    assert_eq!(s.run_deadlines(T0 + 59_999).await.unwrap(), 0);
    assert_eq!(s.run_deadlines(T0 + 60_000).await.unwrap(), 1);
    let a_now = s.run(ProposalById(a.id.clone())).await.unwrap().unwrap();
    assert_eq!(a_now.status, ProposalStatus::Expired);
    assert!(matches!(
        decide(
            s,
            &a.id,
            &a.digest,
            "alice",
            Verdict::Approve,
            "",
            T0 + 61_000
        )
        .await,
        Err(StoreError::Refused(_))
    ));
    assert!(
        exec(&a.id, ExecutionReport::started(), "bot", T0 + 61_000)
            .await
            .is_err()
    );
    // Lapse, even before the sweep runs: start is refused past the window.
    assert!(
        exec(&c.id, ExecutionReport::started(), "bot", T0 + 1 + 600_000)
            .await
            .is_err()
    );
    assert_eq!(s.run_deadlines(T0 + 1 + 600_000).await.unwrap(), 1);
    assert_eq!(
        s.run(ProposalById(c.id.clone()))
            .await
            .unwrap()
            .unwrap()
            .status,
        ProposalStatus::Lapsed
    );
    chain_ok(s).await;
}

pub async fn auto_escalation(store: Arc<dyn Store>) {
    let s = &*store;
    let o = submit(
        s,
        "bot",
        alert("edr-4", vec![proposal("isolate_host", "medium")]),
        T0,
    )
    .await
    .unwrap();
    let p = &o.proposals[0];
    assert_eq!(s.run_deadlines(T0 + 1_800_000).await.unwrap(), 1);
    let now = s.run(ProposalById(p.id.clone())).await.unwrap().unwrap();
    assert_eq!(now.status, ProposalStatus::Escalated);
    // An analyst cannot decide an escalated proposal; a lead can.
    assert!(
        decide(
            s,
            &p.id,
            &p.digest,
            "alice",
            Verdict::Approve,
            "",
            T0 + 1_800_001
        )
        .await
        .is_err()
    );
    let ok = decide(
        s,
        &p.id,
        &p.digest,
        "carol",
        Verdict::Approve,
        "",
        T0 + 1_800_002,
    )
    .await
    .unwrap();
    assert_eq!(ok.proposal.status, ProposalStatus::Approved);
}

/// A reminder is due once `share` of a proposal's own lifetime has passed,
/// whatever the lifetimes of the others: the search looks ahead by the
/// longest open lifetime, so a long-lived proposal is found as surely as a
/// short-lived one.
pub async fn reminders_for_short_and_long_lifetimes(store: Arc<dyn Store>) {
    let s = &*store;
    let mut short = proposal("isolate_host", "medium");
    short["expires_in_secs"] = 100.into();
    let mut long = proposal("disable_account", "medium");
    long["expires_in_secs"] = 1000.into();
    submit(s, "bot", alert("edr-remind", vec![short, long]), T0)
        .await
        .unwrap();
    let at = |secs: i64| T0 + secs * 1000;
    assert_eq!(
        s.run(Remind {
            now: at(40),
            share: 0.5
        })
        .await
        .unwrap(),
        0
    );
    assert_eq!(
        s.run(Remind {
            now: at(60),
            share: 0.5
        })
        .await
        .unwrap(),
        1,
        "the short one"
    );
    assert_eq!(
        s.run(Remind {
            now: at(61),
            share: 0.5
        })
        .await
        .unwrap(),
        0,
        "once"
    );
    assert_eq!(
        s.run(Remind {
            now: at(499),
            share: 0.5
        })
        .await
        .unwrap(),
        0
    );
    assert_eq!(
        s.run(Remind {
            now: at(510),
            share: 0.5
        })
        .await
        .unwrap(),
        1,
        "the long one"
    );
    assert_eq!(
        s.run(Remind {
            now: at(999),
            share: 0.5
        })
        .await
        .unwrap(),
        0
    );
}

/// Events reach the sinks that route them. Written before the store has
/// the routes, an event waits for the dispatcher's fan-out; written after,
/// its deliveries are written in its own transaction (nothing is left to
/// fan out), only for the sinks whose routes take it, reminders too.
pub async fn events_handed_over_as_written(store: Arc<dyn Store>) {
    use countersign::api::events::EventType;
    use countersign::domain::types::Risk;
    use countersign::server::store::SinkRoute;
    let s = &*store;
    let route = |name: &str, events: Vec<EventType>| SinkRoute {
        name: name.into(),
        events,
        min_risk: Risk::Low,
        actions: vec![],
    };
    let routes = Arc::new(vec![
        route("pending", vec![EventType::Pending]),
        route("decided", vec![EventType::Decided]),
        route("expiring", vec![EventType::Expiring]),
    ]);
    // Sinks and event kinds of the deliveries leased at `now`.
    let leased = |now: i64| async move {
        let mut got: Vec<(String, EventType, String)> = s
            .run(ClaimDeliveries {
                now,
                lease_ms: 3_600_000,
                limit: 100,
            })
            .await
            .expect("claim")
            .into_iter()
            .map(|c| {
                (
                    c.sink,
                    c.kind,
                    c.data["proposal_id"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        got.sort_by(|a, b| (&a.0, &a.2).cmp(&(&b.0, &b.2)));
        got
    };
    let mut early = proposal("isolate_host", "medium");
    early["expires_in_secs"] = 100.into();
    let before = submit(s, "bot", alert("edr-early", vec![early]), T0)
        .await
        .unwrap();
    let early_id = before.proposals[0].id.clone();
    assert!(leased(T0).await.is_empty(), "nothing handed over yet");
    assert_eq!(
        s.run(FanOut {
            routes: routes.clone(),
            now: T0
        })
        .await
        .unwrap(),
        1
    );
    assert_eq!(
        leased(T0).await,
        vec![("pending".into(), EventType::Pending, early_id.clone())]
    );

    s.route_events(routes.clone());
    let after = submit(
        s,
        "bot",
        alert("edr-late", vec![proposal("disable_account", "medium")]),
        T0 + 1,
    )
    .await
    .unwrap();
    let late = &after.proposals[0];
    assert_eq!(
        leased(T0 + 1).await,
        vec![("pending".into(), EventType::Pending, late.id.clone())],
        "handed over with the write, to the pending sink only"
    );
    decide(
        s,
        &late.id,
        &late.digest,
        "alice",
        Verdict::Reject,
        "no",
        T0 + 2,
    )
    .await
    .unwrap();
    assert_eq!(
        leased(T0 + 2).await,
        vec![("decided".into(), EventType::Decided, late.id.clone())]
    );
    assert_eq!(
        s.run(Remind {
            now: T0 + 60_000,
            share: 0.5
        })
        .await
        .unwrap(),
        1
    );
    assert_eq!(
        leased(T0 + 60_000).await,
        vec![("expiring".into(), EventType::Expiring, early_id)]
    );
    assert_eq!(
        s.run(FanOut {
            routes,
            now: T0 + 60_000
        })
        .await
        .unwrap(),
        0,
        "nothing was left to fan out"
    );
}
