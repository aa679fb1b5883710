//! Reverting what ran, in the real console, in a pseudo-terminal against a
//! real server: `U` on a pending proposal signs nothing; on an executed
//! isolation it shows the release that would undo it, and a reason and
//! Enter sign the revert. The server then has the release (the original's
//! decision names it in `reverted_by`), the `reverted` entry's payload
//! verifies with `ssh-keygen -Y verify` against allowed_signers, and
//! `countersign audit verify` passes over the whole log.

use super::console::{Soc, select, verify_all};
use super::console_freeze::{entries, export_and_verify};
use crate::common::person::Person;
use countersign::api::ExecutionReport;
use countersign::signing::signer::Signer;
use serde_json::Value;

/// `who`, logged in over the API with the key the console uses.
async fn person(soc: &Soc, who: &str) -> Person {
    let key = ssh_key::PrivateKey::read_openssh_file(&soc.dir.path().join(who)).unwrap();
    Person::login(&soc.url(), who, Signer::from_key(key)).await
}

/// An isolation of `target`, approved by alice and run by the agent, all
/// over the API: its id and digest.
async fn executed(soc: &Soc, target: &str) -> (String, String) {
    let id = soc.submit(target, "medium").await;
    let digest = soc.agent.decision(&id, 0).await.unwrap().digest;
    person(soc, "alice")
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
async fn a_person_reverts_an_executed_isolation_from_the_console() {
    let soc = Soc::start().await;
    let pending = soc.submit("host-pending", "medium").await;
    let (id, digest) = executed(&soc, "host-revert").await;

    let mut alice = soc.console("alice");
    alice.wait_for("alice (analyst)", 20);
    alice.wait_for("online", 20);

    // A pending proposal: told why, and a reason typed on is not read as
    // commands (`a` approve, `r` reject).
    select(&mut alice, "host-pending");
    alice.send("U");
    alice.wait_for("revert not started", 5);
    alice.wait_for("Only an executed proposal can be reverted", 5);
    alice.type_text("ra");
    alice.esc();

    // The history view lists what ran.
    for _ in 0..4 {
        alice.send("v");
    }
    alice.wait_for(" history ", 5);
    select(&mut alice, "host-revert");
    alice.wait_for("U revert", 5);
    alice.send("U");
    alice.wait_for("revert: undo what ran", 5);
    alice.wait_for("undo     release_host → host-revert", 15);
    alice.wait_for("your signature approves it: it goes to soar-bot at once", 5);
    alice.wait_for("Enter sign & send", 5);
    let reason = "false positive: the backup server";
    alice.type_text(reason);
    alice.send("\r");
    alice.wait_for(
        "reverted: release_host → host-revert approved — proposal",
        15,
    );
    alice.wait_for("reverted by alice → proposal", 15);
    // The history tab: the chain, the revert last.
    alice.send("5");
    alice.wait_for_line(&["executed ", "agent soar-bot: isolated"], 5);
    alice.wait_for("reverted           alice → proposal", 5);
    alice.send("q");
    assert_eq!(alice.wait_exit(10), 0);

    // The server: the original names its undo, approved by alice's revert.
    let original = soc.agent.decision(&id, 0).await.unwrap();
    let undo = original.reverted_by.expect("reverted_by");
    let created = soc.agent.decision(&undo, 0).await.unwrap();
    assert_eq!(created.status.to_string(), "approved");
    assert_eq!(created.approvals[0].principal, "alice");
    assert_eq!(
        soc.agent
            .decision(&pending, 0)
            .await
            .unwrap()
            .status
            .to_string(),
        "pending"
    );

    // Every signed payload verifies with ssh-keygen (verify_all); the
    // revert is over the executed digest and the undo's.
    let payloads = verify_all(&soc).await;
    assert!(
        payloads
            .iter()
            .all(|p| p["proposal_id"] != pending.as_str()),
        "nothing signed on the pending proposal: {payloads:?}"
    );
    let all = entries(&soc).await;
    let reverted: Vec<&Value> = all.iter().filter(|e| e["kind"] == "reverted").collect();
    assert_eq!(reverted.len(), 1, "{all:?}");
    assert_eq!(reverted[0]["actor"]["principal"], "alice");
    assert_eq!(reverted[0]["data"]["reverted_by"], undo.as_str());
    let signed: Value =
        serde_json::from_str(reverted[0]["data"]["payload"].as_str().unwrap()).unwrap();
    assert_eq!(signed["verdict"], "revert");
    assert_eq!(signed["proposal_id"], id.as_str());
    assert_eq!(signed["digest"], digest.as_str());
    assert_eq!(signed["revert_digest"], created.digest.as_str());
    assert_eq!(signed["reason"], reason);
    assert!(payloads.contains(&signed), "verified by ssh-keygen");
    let (ok, said) = export_and_verify(&soc);
    assert!(ok, "audit verify: {said}");
    assert!(said.contains("intact"), "{said}");
}
