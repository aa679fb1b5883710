//! kill -9 the server while agents submit; after a restart every
//! acknowledged proposal is present, none is duplicated, and the audit chain
//! is intact.

use crate::common;

use common::proc::{ServeProcess, create_token};
use common::{alert, proposal};
use countersign::audit::chain::{Head, verify_links};
use countersign::client::ApiClient;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// external_id -> (alert id, proposal ids)
type Acked = BTreeMap<String, (String, Vec<String>)>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_proposals_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let agent_token = create_token(&db, "soar-bot", "agent");
    let reviewer_token = create_token(&db, "auditor", "reviewer");
    let mut server = ServeProcess::start(&db, &[]).await;

    // external_id -> (alert id, proposal ids) for every 2xx answer.
    let acked: Arc<Mutex<Acked>> = Default::default();
    let mut agents = Vec::new();
    for a in 0..16 {
        let client = ApiClient::new(&server.url, Some(agent_token.clone())).unwrap();
        let acked = acked.clone();
        agents.push(tokio::spawn(async move {
            for i in 0.. {
                let ext = format!("crash-{a}-{i}");
                let doc = alert(
                    &ext,
                    vec![
                        proposal("isolate_host", "high"),
                        proposal("disable_account", "medium"),
                    ],
                );
                match client.submit_alert(&doc).await {
                    Ok(r) => {
                        let ids = r.proposals.iter().map(|p| p.id.clone()).collect();
                        acked.lock().unwrap().insert(ext, (r.alert_id, ids));
                    }
                    Err(_) => return,
                }
            }
        }));
    }
    // Kill once enough is acknowledged, however fast this machine is.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while acked.lock().unwrap().len() <= 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "only {} acknowledged in 60 s",
            acked.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill();
    for a in agents {
        let _ = tokio::time::timeout(Duration::from_secs(30), a).await;
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 50,
        "only {} acknowledged before the kill",
        acked.len()
    );

    let server = ServeProcess::start(&db, &[]).await;
    let reviewer = ApiClient::new(&server.url, Some(reviewer_token)).unwrap();
    let agent = ApiClient::new(&server.url, Some(agent_token)).unwrap();
    for (ext, (alert_id, ids)) in &acked {
        let detail = reviewer
            .alert(alert_id)
            .await
            .unwrap_or_else(|e| panic!("{ext} lost: {e}"));
        let stored: Vec<String> = detail.proposals.iter().map(|p| p.id.clone()).collect();
        assert_eq!(&stored, ids, "{ext}");
    }
    // A retry of an acknowledged submission is recognised, not duplicated.
    let (ext, (alert_id, ids)) = acked.iter().next().unwrap();
    let retry = agent
        .submit_alert(&alert(
            ext,
            vec![
                proposal("isolate_host", "high"),
                proposal("disable_account", "medium"),
            ],
        ))
        .await
        .unwrap();
    assert_eq!(
        (
            &retry.alert_id,
            retry
                .proposals
                .iter()
                .map(|p| p.id.clone())
                .collect::<Vec<_>>()
        ),
        (alert_id, ids.clone())
    );

    // No duplicates anywhere, and the chain verifies end to end.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let (alerts, distinct, proposals): (i64, i64, i64) = conn
        .query_row(
            "SELECT (SELECT COUNT(*) FROM alerts), \
                    (SELECT COUNT(DISTINCT agent || '/' || external_id) FROM alerts), \
                    (SELECT COUNT(*) FROM proposals)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(alerts, distinct);
    assert_eq!(proposals, alerts * 2);
    assert!(alerts as usize >= acked.len());
    let entries = reviewer.audit_all(0).await.unwrap();
    let head = verify_links(&Head::genesis(), &entries).expect("chain intact after kill -9");
    assert!(head.seq >= acked.len() as i64);
}
