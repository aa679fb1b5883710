//! HTTPS where it crosses a network: `serve --tls-cert/--tls-key` with
//! certificates made here (rcgen), clients that verify the server with
//! `--ca`, a wrong CA refused with a clear message, and a certificate
//! replaced on SIGHUP without a restart.

use crate::common;

use common::proc::{create_token, run};
use common::{alert, binary, free_port, proposal};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, SanType};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A CA, and a server certificate it signed for 127.0.0.1 and localhost.
struct Pki {
    ca_pem: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn make_pki(dir: &Path, name: &str) -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("{name} test CA"));
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params
        .subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    let pki = Pki {
        ca_pem: dir.join(format!("{name}-ca.pem")),
        cert: dir.join(format!("{name}-cert.pem")),
        key: dir.join(format!("{name}-key.pem")),
    };
    std::fs::write(&pki.ca_pem, ca.pem()).unwrap();
    std::fs::write(&pki.cert, cert.pem()).unwrap();
    std::fs::write(&pki.key, key.serialize_pem()).unwrap();
    pki
}

struct Https {
    child: Child,
    url: String,
}

impl Drop for Https {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve_https(db: &Path, cert: &Path, key: &Path) -> Https {
    let port = free_port();
    let child = Command::new(binary())
        .args(["serve", "--db", &format!("sqlite:{}", db.display())])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .arg("--tls-cert")
        .arg(cert)
        .arg("--tls-key")
        .arg(key)
        .env_remove("COUNTERSIGN_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    // Wait until it accepts TCP (TLS is checked by the tests themselves).
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "server did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
    Https {
        child,
        url: format!("https://127.0.0.1:{port}"),
    }
}

fn submit(h: &Https, token: &str, doc: &Path, ca: Option<&Path>) -> (i32, String) {
    let mut args = vec![
        "submit",
        doc.to_str().unwrap(),
        "--server",
        &h.url,
        "--token",
        token,
    ];
    if let Some(ca) = ca {
        args.extend(["--ca", ca.to_str().unwrap()]);
    }
    let out = run(&args);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn clients_verify_the_server_and_certificates_reload_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let good = make_pki(dir.path(), "good");
    let other = make_pki(dir.path(), "other");
    let db = dir.path().join("tls.db");
    let token = create_token(&db, "soar-bot", "agent");
    // The server's files live where it reads them; the test swaps them.
    let (cert, key) = (dir.path().join("server.pem"), dir.path().join("server.key"));
    std::fs::copy(&good.cert, &cert).unwrap();
    std::fs::copy(&good.key, &key).unwrap();
    let h = serve_https(&db, &cert, &key);
    let doc = dir.path().join("alert.json");
    let write_doc = |ext: &str| {
        std::fs::write(
            &doc,
            alert(ext, vec![proposal("isolate_host", "medium")]).to_string(),
        )
        .unwrap()
    };

    write_doc("tls-1");
    let (code, out) = submit(&h, &token, &doc, Some(&good.ca_pem));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("pending"), "{out}");
    // No --ca: the system's roots do not know our CA.
    write_doc("tls-2");
    let (code, out) = submit(&h, &token, &doc, None);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.to_lowercase().contains("certificate"),
        "a clear message: {out}"
    );
    // The wrong CA: refused, and nothing was sent.
    let (code, out) = submit(&h, &token, &doc, Some(&other.ca_pem));
    assert_eq!(code, 1, "{out}");
    assert!(out.to_lowercase().contains("certificate"), "{out}");
    // A CA file that is not a certificate is an error naming it.
    let (code, out) = submit(&h, &token, &doc, Some(&doc));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("alert.json"), "{out}");

    // The certificate is replaced and the server told with SIGHUP: new
    // connections get the new one, no restart.
    std::fs::copy(&other.cert, &cert).unwrap();
    std::fs::copy(&other.key, &key).unwrap();
    let pid = h.child.id().to_string();
    // The shell's own kill: no procps needed.
    assert!(
        Command::new("sh")
            .args(["-c", &format!("kill -HUP {pid}")])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        write_doc("tls-3");
        let (code, out) = submit(&h, &token, &doc, Some(&other.ca_pem));
        if code == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never served the new certificate: {out}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    write_doc("tls-4");
    let (code, out) = submit(&h, &token, &doc, Some(&good.ca_pem));
    assert_eq!(code, 1, "the old CA no longer matches: {out}");
}

#[test]
fn half_a_tls_configuration_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let good = make_pki(dir.path(), "good");
    let out = run(&[
        "serve",
        "--db",
        &format!("sqlite:{}", dir.path().join("x.db").display()),
        "--tls-cert",
        good.cert.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tls-key") || err.contains("tls_key"), "{err}");
    // A key that is not the certificate's: the server refuses to start,
    // naming both files.
    let other = make_pki(dir.path(), "other");
    let out = run(&[
        "serve",
        "--db",
        &format!("sqlite:{}", dir.path().join("y.db").display()),
        "--listen",
        &format!("127.0.0.1:{}", free_port()),
        "--tls-cert",
        good.cert.to_str().unwrap(),
        "--tls-key",
        dir.path().join("missing.pem").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing.pem"), "{err}");
    let _ = other;
}

/// The hook against a server whose certificate it does not trust: denied,
/// and the reason the model reads is one plain sentence (no log line, no
/// colour), on stderr and in the runtime's JSON alike.
#[test]
fn a_hook_that_cannot_trust_the_server_denies_in_one_plain_sentence() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path(), "untrusted");
    let db = dir.path().join("tls.db");
    let token = create_token(&db, "soar-bot", "agent");
    let h = serve_https(&db, &pki.cert, &pki.key);
    let input = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/hooks/claude-code.json"
    ))
    .unwrap();
    let mut child = Command::new(binary())
        .args(["hook", "--runtime", "claude-code", "--timeout", "10"])
        .args(["--server", &h.url, "--token", &token])
        .env_remove("COUNTERSIGN_CONFIG")
        .env_remove("COUNTERSIGN_CA")
        // Even with every log line turned on, none reaches the reason.
        .env("COUNTERSIGN_LOG", "trace")
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let reason = json["hookSpecificOutput"]["permissionDecisionReason"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(stderr, format!("{reason}\n"), "stderr is the reason alone");
    assert!(
        !reason.contains('\u{1b}') && !reason.contains('\n'),
        "{reason:?}"
    );
    assert!(
        reason.starts_with(
            "countersign: denied (fail closed): the server's TLS certificate is not trusted"
        ),
        "{reason}"
    );
    assert_eq!(reason.matches(". ").count(), 0, "one sentence: {reason}");
}
