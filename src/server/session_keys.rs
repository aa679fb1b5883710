//! What a console session logged in with, kept so that allowed_signers can
//! be asked again: a reload that removes or changes a person's line ends
//! their open sessions instead of letting them read and claim until the
//! session runs out.

use super::state::AppState;
use super::store::{OpenSession, StoreError};
use crate::domain::machine::Millis;
use crate::server::store::ops::{EndSessions, SessionsOpen};
use crate::signing::allowed_signers::AllowedSigners;
use crate::signing::sshsig::CERT_SUFFIX;
use crate::signing::{NS_LOGIN, Verified};

/// The key, or the certificate when one was presented, in OpenSSH text
/// form, as a session stores it.
pub fn login_key_text(v: &Verified) -> Result<String, ssh_key::Error> {
    match &v.certificate {
        Some(cert) => cert.to_openssh(),
        None => v.key.to_openssh(),
    }
}

/// The login rebuilt from what a session stored ([`login_key_text`] and
/// the security key's flags).
pub fn login_of(text: &str, sk_flags: Option<i64>) -> Result<Verified, String> {
    let sk_flags = sk_flags
        .map(|f| u8::try_from(f).map_err(|_| format!("security key flags {f} out of range")))
        .transpose()?;
    let algorithm = text.split_whitespace().next().unwrap_or_default();
    if algorithm.ends_with(CERT_SUFFIX) {
        let cert = ssh_key::Certificate::from_openssh(text).map_err(|e| e.to_string())?;
        Ok(Verified {
            key: ssh_key::PublicKey::from(cert.public_key().clone()),
            certificate: Some(cert),
            sk_flags,
        })
    } else {
        let key = ssh_key::PublicKey::from_openssh(text).map_err(|e| e.to_string())?;
        Ok(Verified {
            key,
            certificate: None,
            sk_flags,
        })
    }
}

/// Would `signers` let this session's key log in as its principal at
/// `now`? A session stored without its key cannot be asked: no (its
/// person logs in again).
pub fn admitted(signers: &AllowedSigners, s: &OpenSession, now: Millis) -> bool {
    let Some(text) = &s.login_key else {
        return false;
    };
    login_of(text, s.sk_flags).is_ok_and(|v| {
        signers
            .check_signer(&s.principal, &v, NS_LOGIN, now)
            .is_ok()
    })
}

/// Ends every open session the allowed_signers in force no longer admit;
/// returns whose they were (one name per session ended). Sessions live in
/// the database, so on PostgreSQL this ends them for every replica.
pub async fn end_unadmitted(state: &AppState, now: Millis) -> Result<Vec<String>, StoreError> {
    let signers = state.signers();
    let (hashes, principals): (Vec<String>, Vec<String>) = state
        .store
        .run(SessionsOpen(now))
        .await?
        .into_iter()
        .filter(|s| !admitted(&signers, s, now))
        .map(|s| (s.hash, s.principal))
        .unzip();
    if hashes.is_empty() {
        return Ok(principals);
    }
    state.store.run(EndSessions(hashes)).await?;
    Ok(principals)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ssh_key::PrivateKey {
        ssh_key::PrivateKey::random(&mut ssh_key::rand_core::OsRng, ssh_key::Algorithm::Ed25519)
            .unwrap()
    }

    fn signers(text: &str) -> AllowedSigners {
        AllowedSigners::parse(text, "test").unwrap()
    }

    fn session(principal: &str, login_key: Option<String>) -> OpenSession {
        OpenSession {
            hash: "h".into(),
            principal: principal.into(),
            login_key,
            sk_flags: None,
        }
    }

    #[test]
    fn a_key_is_admitted_while_its_line_lets_it_log_in() {
        let k = key();
        let public = k.public_key().to_openssh().unwrap();
        let text = login_key_text(&Verified {
            key: k.public_key().clone(),
            certificate: None,
            sk_flags: None,
        })
        .unwrap();
        assert_eq!(text, public);
        let alice = session("alice", Some(text));
        assert!(admitted(&signers(&format!("alice {public}\n")), &alice, 0));
        // Removed, listed for someone else, or for decisions only: ended.
        assert!(!admitted(&signers(""), &alice, 0));
        assert!(!admitted(&signers(&format!("bob {public}\n")), &alice, 0));
        let decisions_only = format!("alice namespaces=\"countersign-decision\" {public}\n");
        assert!(!admitted(&signers(&decisions_only), &alice, 0));
        // Another key on alice's line: ended.
        let other = key().public_key().to_openssh().unwrap();
        assert!(!admitted(&signers(&format!("alice {other}\n")), &alice, 0));
    }

    #[test]
    fn a_session_without_a_readable_key_is_never_admitted() {
        let public = key().public_key().to_openssh().unwrap();
        let s = signers(&format!("alice {public}\n"));
        assert!(!admitted(&s, &session("alice", None), 0));
        assert!(!admitted(
            &s,
            &session("alice", Some("ssh-ed25519 AAAA".into())),
            0
        ));
        let mut flags = session("alice", Some(public));
        flags.sk_flags = Some(4096);
        assert!(!admitted(&s, &flags, 0));
    }
}
