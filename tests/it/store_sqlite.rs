//! The store suite against a real SQLite file.

use crate::common;
use countersign::server::store::ops::ProposalById;

use common::store_suite as suite;

macro_rules! sqlite_tests {
    ($($name:ident),+ $(,)?) => {$(
        #[tokio::test]
        async fn $name() {
            let dir = tempfile::tempdir().unwrap();
            suite::$name(common::sqlite_store(&dir)).await;
        }
    )+};
}

sqlite_tests!(
    idempotent_and_revisions,
    decisions_follow_the_rules,
    deadlines_and_execution,
    auto_escalation,
    reminders_for_short_and_long_lifetimes,
    events_handed_over_as_written,
    queue_views_and_cursor,
    tokens,
    operations_written_outside_the_store,
    concurrent_writers,
    same_names_in_one_batch,
);

#[tokio::test]
async fn reopening_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let s = common::sqlite_store(&dir);
        let doc = common::alert("keep-1", vec![common::proposal("isolate_host", "medium")]);
        suite::submit(&*s, "bot", doc, suite::T0)
            .await
            .unwrap()
            .proposals[0]
            .id
            .clone()
    };
    let s = common::sqlite_store(&dir);
    assert!(s.run(ProposalById(id.clone())).await.unwrap().is_some());
}

mod model {
    //! Random decision sequences from several principals through the real
    //! store agree, step by step, with the pure model of the rules.
    use super::common::{self, store_suite};
    use countersign::domain::machine;
    use countersign::domain::types::{ActionKind, Risk, Verdict};
    use countersign::server::store::ops::ProposalById;
    use proptest::prelude::*;

    const WHO: [&str; 5] = ["alice", "bob", "carol", "dave", "edgar-bot"];

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        #[test]
        fn store_agrees_with_model(
            risk in prop::sample::select(vec!["medium", "high"]),
            steps in prop::collection::vec((0..5usize, prop::sample::select(Verdict::ALL.to_vec()), any::<bool>()), 1..12),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let dir = tempfile::tempdir().unwrap();
                let store = common::sqlite_store(&dir);
                let doc = common::alert("m-1", vec![common::proposal("isolate_host", risk)]);
                let p = store_suite::submit(&*store, "edgar-bot", doc, store_suite::T0).await.unwrap().proposals[0].clone();
                let policy = common::policy();
                let rule = policy.rule_for(&ActionKind::IsolateHost, risk.parse::<Risk>().unwrap()).clone();
                let mut model = p.state();
                for (i, (who, verdict, with_reason)) in steps.into_iter().enumerate() {
                    let now = store_suite::T0 + 1 + i as i64;
                    let reason = if with_reason { "because" } else { "" };
                    let name = WHO[who];
                    let actor = common::person(name);
                    // The proposer (an agent's name) never decides its own proposal.
                    let expected = if name == "edgar-bot" {
                        Err(machine::Refusal::SelfApproval(name.into()))
                    } else {
                        machine::decide(&model, &rule, &actor, verdict, reason, now)
                    };
                    let got = common::decide(&*store, &p.id, &p.digest, name, verdict, reason, now).await;
                    match (&expected, &got) {
                        (Ok(t), Ok(out)) => {
                            prop_assert_eq!(out.proposal.status, t.state.status);
                            prop_assert_eq!(&out.proposal.approvals, &t.state.approvals);
                            model = t.state.clone();
                        }
                        (Err(_), Err(_)) => {
                            let stored = store.run(ProposalById(p.id.clone())).await.unwrap().unwrap();
                            prop_assert_eq!(stored.state(), model.clone());
                        }
                        _ => prop_assert!(false, "model {:?} but store {:?}", expected, got.map(|o| o.proposal.status)),
                    }
                }
                Ok(())
            })?;
        }
    }
}
