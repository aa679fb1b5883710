//! Queue views and cursors, tokens, concurrent writers.

use super::super::{alert, decide, proposal};
use super::*;
use countersign::domain::scope::Scope;
use countersign::domain::types::{ProposalStatus, TokenRole, Verdict};
use countersign::server::store::ops::{
    CreateChallenge, EndSessions, ListTokens, RevokeToken, RotateToken, SessionPrincipal,
    SessionsOpen, StatusCounts, SweepExpired, TakeChallenge, TokenByHash, TouchToken,
};
use countersign::server::store::{NewSession, NewToken, QueueQuery, Store, View};
use std::sync::Arc;

pub async fn queue_views_and_cursor(store: Arc<dyn Store>) {
    let s = &*store;
    let mut ids = Vec::new();
    for i in 0..150 {
        let o = submit(
            s,
            "bot",
            alert(&format!("q-{i}"), vec![proposal("isolate_host", "medium")]),
            T0 + i,
        )
        .await
        .unwrap();
        ids.push((o.proposals[0].id.clone(), o.proposals[0].digest.clone()));
    }
    let q = |view, after, principal: Option<&str>| QueueQuery {
        view,
        after,
        limit: 100,
        principal: principal.map(str::to_owned),
        agent: None,
    };
    // Paging: 150 pending items over two pages, in change order.
    let p1 = s.run(q(View::Pending, 0, None)).await.unwrap();
    assert!(p1.more);
    assert_eq!(p1.items.len(), 100);
    let p2 = s.run(q(View::Pending, p1.cursor, None)).await.unwrap();
    assert!(!p2.more);
    assert_eq!(p2.items.len(), 50);
    let head = p2.cursor;
    // Nothing new since the head.
    let empty = s.run(q(View::Pending, head, None)).await.unwrap();
    assert!(empty.items.is_empty() && empty.gone.is_empty());
    // alice decides one: it is gone from pending, present in mine and history.
    let (id, digest) = &ids[7];
    decide(
        s,
        id,
        digest,
        "alice",
        Verdict::Reject,
        "duplicate of q-6",
        T0 + 500,
    )
    .await
    .unwrap();
    let delta = s.run(q(View::Pending, head, None)).await.unwrap();
    assert!(delta.items.is_empty());
    assert_eq!(delta.gone, vec![id.clone()]);
    let mine = s.run(q(View::Mine, 0, Some("alice"))).await.unwrap();
    assert_eq!(mine.items.len(), 1);
    assert_eq!(
        mine.items[0].proposal.reason.as_deref(),
        Some("duplicate of q-6")
    );
    assert!(
        s.run(q(View::Mine, 0, Some("bob")))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let history = s.run(q(View::History, 0, None)).await.unwrap();
    assert_eq!(history.items.len(), 1);
    // Agent filter.
    let mut theirs = q(View::All, 0, None);
    theirs.agent = Some("someone-else".into());
    assert!(s.run(theirs).await.unwrap().items.is_empty());
    let counts = s.run(StatusCounts).await.unwrap();
    assert!(counts.contains(&(ProposalStatus::Pending, 149)));
    assert!(counts.contains(&(ProposalStatus::Rejected, 1)));
}

pub async fn tokens(store: Arc<dyn Store>) {
    let s = &*store;
    let t = s
        .run(NewToken::unlimited(
            "soar",
            TokenRole::Agent,
            "h1".into(),
            T0,
        ))
        .await
        .unwrap();
    assert_eq!(
        s.run(TokenByHash("h1".to_owned()))
            .await
            .unwrap()
            .unwrap()
            .id,
        t.id
    );
    assert!(s.run(TokenByHash("h2".to_owned())).await.unwrap().is_none());
    // A scoped token with a lifetime, rotated with a grace: the old one's
    // expiry is shortened (never lengthened), the new one keeps the scope.
    let scope = Scope::parse(Some("isolate_host"), Some("ws-*")).unwrap();
    let scoped = s
        .run(NewToken {
            expires_at: Some(T0 + 5_000),
            scope: scope.clone(),
            ..NewToken::unlimited("soar", TokenRole::Agent, "h3".into(), T0)
        })
        .await
        .unwrap();
    let stored = s.run(TokenByHash("h3".to_owned())).await.unwrap().unwrap();
    assert_eq!(stored.scope().unwrap(), scope);
    assert_eq!(stored.expires_at, Some(T0 + 5_000));
    let rotated = s
        .run(RotateToken {
            old: vec![t.id.clone(), scoped.id.clone()],
            old_until: T0 + 10_000,
            new: NewToken {
                scope: scope.clone(),
                ..NewToken::unlimited("soar", TokenRole::Agent, "h4".into(), T0 + 1)
            },
        })
        .await
        .unwrap();
    let by =
        |h: &'static str| async move { s.run(TokenByHash(h.to_owned())).await.unwrap().unwrap() };
    assert_eq!(by("h1").await.expires_at, Some(T0 + 10_000));
    assert_eq!(
        by("h3").await.expires_at,
        Some(T0 + 5_000),
        "never lengthened"
    );
    assert_eq!(by("h4").await.id, rotated.id);
    assert_eq!(by("h4").await.expires_at, None);
    // Last use: recorded, never moved back.
    s.run(TouchToken {
        id: t.id.clone(),
        at: T0 + 60_000,
    })
    .await
    .unwrap();
    s.run(TouchToken {
        id: t.id.clone(),
        at: T0 + 30_000,
    })
    .await
    .unwrap();
    assert_eq!(by("h1").await.last_used_at, Some(T0 + 60_000));
    // Revoked by id: that one only, once.
    assert!(
        s.run(RevokeToken {
            id: t.id.clone(),
            now: T0 + 1
        })
        .await
        .unwrap()
    );
    assert!(
        !s.run(RevokeToken {
            id: t.id.clone(),
            now: T0 + 2
        })
        .await
        .unwrap()
    );
    assert!(s.run(TokenByHash("h1".to_owned())).await.unwrap().is_none());
    assert!(s.run(TokenByHash("h3".to_owned())).await.unwrap().is_some());
    let listed = s.run(ListTokens).await.unwrap();
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[0].revoked_at, Some(T0 + 1));
    // Login challenges and sessions: expired ones are swept, live ones kept.
    s.run(CreateChallenge {
        challenge: "old".into(),
        principal: "alice".into(),
        expires_at: T0 + 10,
    })
    .await
    .unwrap();
    s.run(CreateChallenge {
        challenge: "live".into(),
        principal: "alice".into(),
        expires_at: T0 + 1_000,
    })
    .await
    .unwrap();
    s.run(session("sess-old", "alice", T0 + 10)).await.unwrap();
    s.run(session("sess-live", "alice", T0 + 1_000))
        .await
        .unwrap();
    assert_eq!(s.run(SweepExpired(T0 + 100)).await.unwrap(), 2);
    assert!(
        s.run(TakeChallenge("old".to_owned()))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        s.run(TakeChallenge("live".to_owned())).await.unwrap(),
        Some(("alice".to_owned(), T0 + 1_000))
    );
    assert!(
        s.run(SessionPrincipal {
            hash: "sess-old".to_owned(),
            now: T0
        })
        .await
        .unwrap()
        .is_none()
    );
    assert_eq!(
        s.run(SessionPrincipal {
            hash: "sess-live".to_owned(),
            now: T0 + 100
        })
        .await
        .unwrap()
        .as_deref(),
        Some("alice")
    );
    // Open sessions come back with what logged in (oldest first, then by
    // hash); ended ones are gone.
    s.run(NewSession {
        sk_flags: Some(5),
        ..session("sess-bob", "bob", T0 + 2_000)
    })
    .await
    .unwrap();
    let open = s.run(SessionsOpen(T0 + 100)).await.unwrap();
    let seen: Vec<_> = open
        .iter()
        .map(|o| (o.hash.as_str(), o.principal.as_str(), o.sk_flags))
        .collect();
    assert_eq!(
        seen,
        [("sess-bob", "bob", Some(5)), ("sess-live", "alice", None)]
    );
    assert_eq!(open[0].login_key.as_deref(), Some("ssh-ed25519 sess-bob"));
    assert_eq!(
        s.run(SessionsOpen(T0 + 1_500)).await.unwrap().len(),
        1,
        "only live ones"
    );
    assert_eq!(
        s.run(EndSessions(vec!["sess-live".into(), "nope".into()]))
            .await
            .unwrap(),
        1
    );
    assert!(
        s.run(SessionPrincipal {
            hash: "sess-live".to_owned(),
            now: T0 + 100
        })
        .await
        .unwrap()
        .is_none()
    );
    assert!(
        s.run(SessionPrincipal {
            hash: "sess-bob".to_owned(),
            now: T0 + 100
        })
        .await
        .unwrap()
        .is_some()
    );
}

/// A session for tests: `principal`'s, opened at T0, its key a stand-in.
fn session(hash: &str, principal: &str, expires_at: i64) -> NewSession {
    NewSession {
        hash: hash.into(),
        principal: principal.into(),
        created_at: T0,
        expires_at,
        login_key: format!("ssh-ed25519 {hash}"),
        sk_flags: None,
    }
}

/// Many concurrent writers: every submission lands once, the chain stays
/// one line, decisions on one proposal race to exactly one outcome.
pub async fn concurrent_writers(store: Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for i in 0..64 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            submit(
                &*s,
                "bot",
                alert(&format!("c-{i}"), vec![proposal("isolate_host", "medium")]),
                T0 + i,
            )
            .await
        }));
    }
    let mut proposals = Vec::new();
    for t in tasks {
        proposals.push(t.await.unwrap().unwrap().proposals[0].clone());
    }
    // Racing reject vs approve on the same proposal: exactly one wins.
    let p = proposals[0].clone();
    let mut racers = Vec::new();
    for (who, v) in [
        ("alice", Verdict::Approve),
        ("bob", Verdict::Reject),
        ("carol", Verdict::Reject),
    ] {
        let s = store.clone();
        let (id, digest) = (p.id.clone(), p.digest.clone());
        racers.push(tokio::spawn(async move {
            decide(&*s, &id, &digest, who, v, "racing", T0 + 100).await
        }));
    }
    let mut wins = 0;
    for r in racers {
        if r.await.unwrap().is_ok() {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
    let seq = chain_ok(&*store).await;
    assert_eq!(seq, 64 + 1);
}

/// Writes about the same things arriving together: on PostgreSQL they
/// land in one batch whose reads are taken ahead, and a write that names
/// what an earlier one in the batch names must read again after it. The
/// outcome is what one-at-a-time would give.
pub async fn same_names_in_one_batch(store: Arc<dyn Store>) {
    // Eight copies of one new alert at once: one creates it.
    let copies: Vec<_> = (0..8)
        .map(|_| {
            let s = store.clone();
            tokio::spawn(async move {
                let doc = alert("dup", vec![proposal("isolate_host", "medium")]);
                submit(&*s, "bot", doc, T0).await
            })
        })
        .collect();
    let mut created = 0;
    let mut ids = std::collections::BTreeSet::new();
    for c in copies {
        let o = c.await.unwrap().unwrap();
        created += usize::from(o.status == SubmitStatus::Created);
        ids.insert(o.proposals[0].id.clone());
    }
    assert_eq!((created, ids.len()), (1, 1), "one alert, one proposal");

    // A revision racing a decision on the proposal it revises, ten times
    // over, with decisions on other proposals of the same alerts: exactly
    // one of each pair wins (approved, then never revised; or revised,
    // then the old digest is stale), and every other decision lands.
    let mut pairs = Vec::new();
    for i in 0..10 {
        let doc = alert(
            &format!("race-{i}"),
            vec![
                proposal("isolate_host", "medium"),
                proposal("block_ip", "medium"),
            ],
        );
        let o = submit(&*store, "bot", doc, T0 + 1).await.unwrap();
        pairs.push((i, o.proposals[0].clone(), o.proposals[1].clone()));
    }
    let mut tasks = Vec::new();
    for (i, first, second) in pairs {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut revised = alert(
                &format!("race-{i}"),
                vec![
                    proposal("isolate_host", "medium"),
                    proposal("block_ip", "medium"),
                ],
            );
            revised["proposals"][0]["target"] = "ws-9999".into();
            let (revision, decision, other) = tokio::join!(
                submit(&*s, "bot", revised, T0 + 2),
                decide(
                    &*s,
                    &first.id,
                    &first.digest,
                    "alice",
                    Verdict::Approve,
                    "go",
                    T0 + 2
                ),
                decide(
                    &*s,
                    &second.id,
                    &second.digest,
                    "bob",
                    Verdict::Approve,
                    "go",
                    T0 + 2
                ),
            );
            (revision.is_ok(), decision.is_ok(), other.is_ok())
        }));
    }
    for t in tasks {
        let (revision, decision, other) = t.await.unwrap();
        assert!(revision != decision, "exactly one of the pair wins");
        assert!(other, "a decision on another proposal is not in the way");
    }
    chain_ok(&*store).await;
}
