//! Narrowing before approving, in the real console, in a pseudo-terminal
//! against a real server: a block of 185.220.101.0/24 is opened, `m`
//! amends its target to 185.220.101.4/32 and Enter signs one approval as
//! amended. The server then has the proposal approved with the narrowed
//! target and alice as its amender; the `approved` entry's payload carries
//! `amend` and `amended_digest` and verifies with `ssh-keygen -Y verify`
//! against allowed_signers; `countersign audit verify` passes.

use super::console::{Soc, select, verify_all};
use super::console_freeze::{entries, export_and_verify};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_narrows_a_block_to_one_address_from_the_console() {
    let soc = Soc::start().await;
    let network = "185.220.101.0/24";
    let id = soc
        .submit_action("block_indicator", network, "medium")
        .await;
    let shown = soc.agent.decision(&id, 0).await.unwrap().digest;

    let mut alice = soc.console("alice");
    alice.wait_for("alice (analyst)", 20);
    alice.wait_for("online", 20);
    select(&mut alice, network);
    alice.send("m");
    alice.wait_for("approve as amended (signed with your key)", 10);
    alice.wait_for("[target]", 5);
    // From the end of the target: "0/24" off, "4/32" on.
    for _ in 0..4 {
        alice.send("\x7f");
    }
    alice.type_text("4/32");
    alice.wait_for("change    185.220.101.0/24 → 185.220.101.4/32", 5);
    alice.wait_for("✓ narrows what was proposed", 5);
    alice.wait_for("Enter approve as amended", 5);
    alice.send("\r");
    alice.wait_for("approve signed and recorded → approved", 15);
    alice.send("q");
    assert_eq!(alice.wait_exit(10), 0);

    // The server: approved as amended, by alice, the target narrowed.
    let view = soc.agent.decision(&id, 0).await.unwrap();
    assert_eq!(view.status.to_string(), "approved");
    let amended = view.amended.clone().expect("amended");
    assert_eq!(amended.amended.by, "alice");
    assert_eq!(amended.amended.original_digest, shown);
    assert_eq!(amended.document["target"], "185.220.101.4/32");
    assert_eq!(amended.amended.changed["target"]["from"], network);

    // The signed approval: over what was shown and the amended document,
    // verified by ssh-keygen (verify_all).
    let payloads = verify_all(&soc).await;
    let all = entries(&soc).await;
    let approved: Vec<&Value> = all
        .iter()
        .filter(|e| e["kind"] == "approved" && e["proposal_id"] == id.as_str())
        .collect();
    assert_eq!(approved.len(), 1, "{all:?}");
    assert_eq!(approved[0]["actor"]["principal"], "alice");
    let signed: Value =
        serde_json::from_str(approved[0]["data"]["payload"].as_str().unwrap()).unwrap();
    assert_eq!(signed["verdict"], "approve");
    assert_eq!(signed["digest"], shown.as_str());
    assert_eq!(signed["amend"], json!({"target": "185.220.101.4/32"}));
    assert_eq!(signed["amended_digest"], view.digest.as_str());
    assert!(payloads.contains(&signed), "verified by ssh-keygen");
    let (ok, said) = export_and_verify(&soc);
    assert!(ok, "audit verify: {said}");
    assert!(said.contains("intact"), "{said}");
}
