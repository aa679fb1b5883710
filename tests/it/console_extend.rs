//! Keeping a containment longer, in the real console, in a pseudo-terminal
//! against a real server whose policy times isolations (`contain_for =
//! "1h"`): the detail says until when it holds, `X` on it with Tab (+4h),
//! a reason and Enter signs an extension. The server's proposal then holds
//! four hours longer, and the `containment_extended` entry's payload
//! verifies with `ssh-keygen -Y verify -n countersign-decision`.

use super::console::{Soc, select, verify_all};
use super::console_freeze::entries;
use crate::common::TEST_POLICY;
use crate::common::person::Person;
use countersign::api::ExecutionReport;
use countersign::domain::time::parse_rfc3339;
use countersign::signing::signer::Signer;
use serde_json::Value;

/// An isolation of `target`, approved by alice and run by the agent, all
/// over the API: its id and digest.
async fn executed(soc: &Soc, target: &str) -> (String, String) {
    let id = soc.submit(target, "medium").await;
    let digest = soc.agent.decision(&id, 0).await.unwrap().digest;
    let key = ssh_key::PrivateKey::read_openssh_file(&soc.dir.path().join("alice")).unwrap();
    Person::login(&soc.url(), "alice", Signer::from_key(key))
        .await
        .approve(&id, &digest)
        .await
        .unwrap();
    for report in [
        ExecutionReport::started(),
        ExecutionReport::Executed {
            detail: "isolated".into(),
        },
    ] {
        soc.agent.report_execution(&id, &report).await.unwrap();
    }
    (id, digest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_keeps_a_timed_isolation_longer_from_the_console() {
    let policy = format!(
        "{TEST_POLICY}\n[[rules]]\naction = \"isolate_host\"\nrisk = \"medium\"\ncontain_for = \"1h\"\n"
    );
    let soc = Soc::start_with_policy(&policy).await;
    let pending = soc.submit("host-pending", "medium").await;
    let (id, digest) = executed(&soc, "host-timed").await;
    let was = soc.agent.decision(&id, 0).await.unwrap().contain_until;
    let was = was.expect("contain_for times the isolation");

    let mut alice = soc.console("alice");
    alice.wait_for("alice (analyst)", 20);
    alice.wait_for("online", 20);

    // A pending proposal: told why, and a reason typed on is not read as
    // commands (`a` approve, `r` reject).
    select(&mut alice, "host-pending");
    alice.send("X");
    alice.wait_for("extend not started", 5);
    alice.type_text("ra");
    alice.esc();

    // The history view lists what ran; the detail says until when.
    for _ in 0..4 {
        alice.send("v");
    }
    alice.wait_for(" history ", 5);
    select(&mut alice, "host-timed");
    alice.wait_for("then the gate proposes its release", 5);
    alice.wait_for("X extend", 5);
    alice.send("X");
    alice.wait_for("extend: keep the containment longer", 5);
    alice.wait_for("Enter sign & send", 5);
    alice.send("\t");
    alice.wait_for("[+4h]", 5);
    let reason = "the incident is still open";
    alice.type_text(reason);
    alice.send("\r");
    alice.wait_for("containment extended until", 15);
    // The history tab says who kept it and why.
    alice.send("5");
    alice.wait_for_line(&["containment_extended", "alice extended until"], 10);
    alice.wait_for(reason, 5);
    alice.send("q");
    assert_eq!(alice.wait_exit(10), 0);

    // The server: four hours longer than it held, nothing on the pending.
    let now = soc.agent.decision(&id, 0).await.unwrap();
    assert_eq!(now.contain_until, Some(was + 4 * 3_600_000));
    assert_eq!(
        soc.agent
            .decision(&pending, 0)
            .await
            .unwrap()
            .status
            .to_string(),
        "pending"
    );

    // The extension's signed payload, verified by ssh-keygen (verify_all).
    let payloads = verify_all(&soc).await;
    let all = entries(&soc).await;
    let extended: Vec<&Value> = all
        .iter()
        .filter(|e| e["kind"] == "containment_extended")
        .collect();
    assert_eq!(extended.len(), 1, "{all:?}");
    assert_eq!(extended[0]["actor"]["principal"], "alice");
    let signed: Value =
        serde_json::from_str(extended[0]["data"]["payload"].as_str().unwrap()).unwrap();
    assert_eq!(signed["verdict"], "extend");
    assert_eq!(signed["proposal_id"], id.as_str());
    assert_eq!(signed["digest"], digest.as_str());
    assert_eq!(signed["reason"], reason);
    assert_eq!(
        signed["contain_until"].as_str().and_then(parse_rfc3339),
        Some(was + 4 * 3_600_000)
    );
    assert!(payloads.contains(&signed), "verified by ssh-keygen");
}
