//! Set-ups that cannot work stop with one clear line: the console without
//! a terminal, a public key given as the signing key, a port in use.

use crate::common;

use common::keygen;
use common::proc::run;
use std::process::{Command, Stdio};

#[test]
fn the_console_without_a_terminal_says_so() {
    let dir = tempfile::tempdir().unwrap();
    keygen(&dir.path().join("alice"), "alice");
    let key = dir.path().join("alice").display().to_string();
    let out = run(&[
        "tui",
        "--server",
        "http://127.0.0.1:9",
        "--principal",
        "alice",
        "--key",
        &key,
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("the console needs a terminal"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_public_key_as_the_signing_key_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    keygen(&dir.path().join("alice"), "alice");
    let public = dir.path().join("alice.pub");
    let err = countersign::signing::signer::Signer::from_file(&public, || None)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("that is a public key; pass the private key"),
        "{err}"
    );
}

#[test]
fn a_port_in_use_prints_the_os_error_once() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("c.db").display());
    let out = Command::new(common::binary())
        .args(["serve", "--db", &db, "--listen", &addr])
        .env_remove("COUNTERSIGN_CONFIG")
        .env("XDG_CONFIG_HOME", dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
    assert_eq!(err.matches("Address already in use").count(), 1, "{err}");
}
