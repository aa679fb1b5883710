//! `countersign demo` in a pseudo-terminal: the queue appears within 30 s,
//! an approved item shows as executed, quitting restores the terminal and
//! prints the verify commands, and `audit verify` on that log exits 0.

use crate::common;

use common::proc::run;
use common::pty::Pty;

#[test]
fn demo_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let data_s = data.display().to_string();
    let mut d = Pty::spawn(
        &["demo", "--data", &data_s, "--rate", "60"],
        &[(
            "XDG_STATE_HOME",
            dir.path().join("state").display().to_string(),
        )],
        140,
        40,
    );
    d.wait_for("online", 30);
    d.wait_for("ws-0412", 30); // the seeded queue is there
    // A low-risk item that the simulated agent executes successfully.
    d.send("/");
    d.type_text("Q3-forecast");
    d.send("\r");
    d.wait_for("✓ matches what is shown", 15);
    d.approve();
    d.wait_for("approve signed and recorded → approved", 15);
    // In "mine" (the filter still on) the agent's execution shows up on
    // that item's own row.
    for _ in 0..3 {
        d.send("v");
    }
    d.wait_for_line(&["done", "Q3-forecast"], 30);
    d.send("q");
    assert_eq!(d.wait_exit(30), 0);

    let raw = String::from_utf8_lossy(&d.raw()).into_owned();
    let left = raw
        .rfind("\u{1b}[?1049l")
        .expect("left the alternate screen");
    assert!(
        raw[left..].contains("audit verify"),
        "the verify commands are printed after the screen is restored"
    );
    assert!(raw.contains("ssh-keygen -Y verify"), "{raw}");

    let out = run(&[
        "audit",
        "verify",
        &format!("{data_s}/audit.jsonl"),
        "--signers",
        &format!("{data_s}/allowed_signers"),
        "--server-key",
        &format!("{data_s}/server_key.pub"),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("intact"), "{text}");
    // And the last decision with OpenSSH alone.
    let payload = std::fs::File::open(data.join("last-decision.payload")).unwrap();
    let ok = std::process::Command::new("ssh-keygen")
        .args([
            "-Y",
            "verify",
            "-f",
            &format!("{data_s}/allowed_signers"),
            "-I",
            "alice",
            "-n",
            "countersign-decision",
            "-s",
            &format!("{data_s}/last-decision.sig"),
        ])
        .stdin(payload)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
}
