//! OpenSSH `allowed_signers` (the format `git` and `ssh-keygen -Y verify`
//! use; ssh-keygen(1), "ALLOWED SIGNERS"): principals, options, key.
//!
//! ```text
//! alice@example.org,alice ssh-ed25519 AAAA… laptop
//! carol namespaces="countersign-decision,countersign-login",valid-before="20270101Z" ssh-ed25519 AAAA…
//! ```
//!
//! Principals are comma-separated patterns (`*`, `?`, `!negation`). Options:
//! `namespaces="a,b"` limits what the key may sign; `valid-after` and
//! `valid-before` (`YYYYMMDD[HHMM[SS]]`, `Z` for UTC, else local time) bound
//! when. A `cert-authority` line trusts the user certificates its key (a
//! CA) signed, as `ssh-keygen -Y verify` does: see
//! [`AllowedSigners::check_signer`].

use chrono::{Local, NaiveDate, NaiveDateTime, TimeZone, Utc};
use ssh_key::PublicKey;
use ssh_key::public::KeyData;
use std::path::Path;

use crate::domain::machine::Millis;
use crate::domain::policy::{SignerLine, SignerSet};

#[derive(Debug, Clone)]
pub struct Entry {
    pub line: usize,
    pub principals: Vec<String>,
    pub namespaces: Option<Vec<String>>,
    pub valid_after: Option<Millis>,
    pub valid_before: Option<Millis>,
    /// The key is a certificate authority's: the line trusts certificates
    /// it signed, not the key itself.
    pub cert_authority: bool,
    pub key: PublicKey,
}

#[derive(Debug, Clone, Default)]
pub struct AllowedSigners {
    entries: Vec<Entry>,
}

#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("cannot read allowed signers file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("allowed signers {origin}, line {line}: {message}")]
    Line {
        origin: String,
        line: usize,
        message: String,
    },
}

/// Why a key may not sign for a principal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyProblem {
    #[error("the key is not in allowed_signers")]
    UnknownKey,
    #[error("the key is not allowed for principal `{0}`")]
    WrongPrincipal(String),
    #[error("the key may not sign in namespace `{0}` (namespaces= option)")]
    NamespaceNotAllowed(String),
    #[error("the key is not valid yet (valid-after)")]
    NotYetValid,
    #[error("the key has expired (valid-before)")]
    Expired,
    #[error("the certificate's authority {0} is not a cert-authority in allowed_signers")]
    UnknownAuthority(String),
    #[error("the certificate is not for principal `{0}` (its principals: {1})")]
    CertificateNotForPrincipal(String, String),
    #[error("the certificate is not valid yet (valid after {0})")]
    CertificateNotYetValid(String),
    #[error("the certificate has expired (valid before {0})")]
    CertificateExpired(String),
    #[error("the certificate is refused: {0}")]
    CertificateRefused(String),
}

/// Splits on whitespace, keeping double-quoted runs together.
fn fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Splits on commas outside quotes.
fn comma_list(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn unquote(s: &str) -> &str {
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s)
}

fn is_key_type(s: &str) -> bool {
    s.starts_with("ssh-") || s.starts_with("ecdsa-sha2-") || s.starts_with("sk-")
}

/// `YYYYMMDD[HHMM[SS]][Z]`, as ssh-keygen reads it.
pub fn parse_time(s: &str) -> Option<Millis> {
    let (digits, utc) = match s.strip_suffix('Z').or_else(|| s.strip_suffix('z')) {
        Some(d) => (d, true),
        None => (s, false),
    };
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let num = |r: std::ops::Range<usize>| digits.get(r).and_then(|t| t.parse::<u32>().ok());
    let date = NaiveDate::from_ymd_opt(num(0..4)? as i32, num(4..6)?, num(6..8)?)?;
    let (h, m, sec) = match digits.len() {
        8 => (0, 0, 0),
        12 => (num(8..10)?, num(10..12)?, 0),
        14 => (num(8..10)?, num(10..12)?, num(12..14)?),
        _ => return None,
    };
    let naive: NaiveDateTime = date.and_hms_opt(h, m, sec)?;
    let ms = if utc {
        Utc.from_utc_datetime(&naive).timestamp_millis()
    } else {
        Local
            .from_local_datetime(&naive)
            .earliest()?
            .timestamp_millis()
    };
    Some(ms)
}

/// OpenSSH-style pattern: `*` any run, `?` one character.
fn glob(pattern: &str, text: &str) -> bool {
    crate::domain::permissions::pattern::matches(pattern, text)
}

impl Entry {
    /// Does this line admit `principal` signing in `namespace` at `at`?
    fn admits(&self, principal: &str, namespace: &str, at: Millis) -> Result<(), KeyProblem> {
        if !self.matches_principal(principal) {
            return Err(KeyProblem::WrongPrincipal(principal.to_owned()));
        }
        if let Some(ns) = &self.namespaces
            && !ns.iter().any(|n| glob(n, namespace))
        {
            return Err(KeyProblem::NamespaceNotAllowed(namespace.to_owned()));
        }
        if self.valid_after.is_some_and(|t| at < t) {
            return Err(KeyProblem::NotYetValid);
        }
        if self.valid_before.is_some_and(|t| at > t) {
            return Err(KeyProblem::Expired);
        }
        Ok(())
    }

    /// Matches a principal against the pattern list; a matching `!pattern`
    /// rules it out.
    pub fn matches_principal(&self, principal: &str) -> bool {
        crate::domain::permissions::pattern::matches_list(
            self.principals.iter().map(String::as_str),
            principal,
        )
    }
}

impl AllowedSigners {
    pub fn load(path: &Path) -> Result<Self, ParseError> {
        let text = std::fs::read_to_string(path).map_err(|source| ParseError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, origin: &str) -> Result<Self, ParseError> {
        let mut entries = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |message: String| ParseError::Line {
                origin: origin.to_owned(),
                line: i + 1,
                message,
            };
            let f = fields(line);
            let principals: Vec<String> = comma_list(unquote(&f[0]))
                .into_iter()
                .map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty())
                .collect();
            if principals.is_empty() {
                return Err(err("no principals".into()));
            }
            let (options, key_at) = match f.get(1) {
                Some(t) if is_key_type(t) => (None, 1),
                Some(opts) => (Some(opts.as_str()), 2),
                None => return Err(err("missing key".into())),
            };
            let (Some(kind), Some(b64)) = (f.get(key_at), f.get(key_at + 1)) else {
                return Err(err("missing key type or key data".into()));
            };
            let key = PublicKey::from_openssh(&format!("{kind} {b64}"))
                .map_err(|e| err(format!("unreadable {kind} key: {e}")))?;
            let mut entry = Entry {
                line: i + 1,
                principals,
                namespaces: None,
                valid_after: None,
                valid_before: None,
                cert_authority: false,
                key,
            };
            for opt in options.map(comma_list).unwrap_or_default() {
                let (name, value) = match opt.split_once('=') {
                    Some((n, v)) => (
                        n.trim().to_ascii_lowercase(),
                        Some(unquote(v.trim()).to_owned()),
                    ),
                    None => (opt.trim().to_ascii_lowercase(), None),
                };
                match (name.as_str(), value) {
                    ("namespaces", Some(v)) => {
                        entry.namespaces = Some(v.split(',').map(|s| s.trim().to_owned()).collect())
                    }
                    ("valid-after", Some(v)) => {
                        entry.valid_after = Some(
                            parse_time(&v)
                                .ok_or_else(|| err(format!("bad valid-after time `{v}`")))?,
                        )
                    }
                    ("valid-before", Some(v)) => {
                        entry.valid_before = Some(
                            parse_time(&v)
                                .ok_or_else(|| err(format!("bad valid-before time `{v}`")))?,
                        )
                    }
                    ("cert-authority", None) => entry.cert_authority = true,
                    (other, _) => return Err(err(format!("unknown option `{other}`"))),
                }
            }
            entries.push(entry);
        }
        Ok(AllowedSigners { entries })
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every principal named literally (no wildcards), for listings.
    pub fn principals(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .entries
            .iter()
            .flat_map(|e| e.principals.iter())
            .filter(|p| !p.contains(['*', '?', '!']))
            .cloned()
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The lines whose key may sign decisions (the namespace allows it and
    /// `valid-before` has not passed at `at`), for policy checks. A key not
    /// valid yet counts: it will be.
    pub fn decision_signers(&self, at: Millis) -> SignerSet {
        SignerSet::new(
            self.entries
                .iter()
                .filter(|e| {
                    e.namespaces
                        .as_ref()
                        .is_none_or(|ns| ns.iter().any(|n| glob(n, super::NS_DECISION)))
                        && e.valid_before.is_none_or(|t| at <= t)
                })
                .flat_map(|e| {
                    let fp = super::fingerprint(&e.key);
                    if !e.cert_authority {
                        return vec![SignerLine {
                            principals: e.principals.clone(),
                            key: fp,
                        }];
                    }
                    // A CA certifies a key per person: each name it may
                    // certify is someone else's key, and a pattern stands
                    // for as many people as a rule could ask for.
                    e.principals
                        .iter()
                        .filter(|p| !p.starts_with('!'))
                        .flat_map(|p| {
                            let people = if p.contains(['*', '?']) {
                                CA_PATTERN_PEOPLE
                            } else {
                                1
                            };
                            (0..people).map(move |i| (p.clone(), i))
                        })
                        .map(|(p, i)| SignerLine {
                            principals: vec![p.clone()],
                            key: format!("{fp}/{p}/{i}"),
                        })
                        .collect()
                })
                .collect(),
        )
    }

    /// Could anyone sign in `namespace` as `principal` at time `at`: is some
    /// key listed for that name, namespace and time?
    pub fn may_sign(&self, principal: &str, namespace: &str, at: Millis) -> bool {
        self.entries.iter().any(|e| {
            e.matches_principal(principal)
                && e.namespaces
                    .as_ref()
                    .is_none_or(|ns| ns.iter().any(|n| glob(n, namespace)))
                && e.valid_after.is_none_or(|t| at >= t)
                && e.valid_before.is_none_or(|t| at <= t)
        })
    }

    /// May the signer of `v` sign in `namespace` for `principal` at time
    /// `at`? A plain key is checked against the lines that list it
    /// ([`Self::check`]). A certificate, as `ssh-keygen -Y verify` checks
    /// one: a `cert-authority` line with its CA's key admits the principal,
    /// namespace and time; the CA's signature over it verifies; it is a
    /// user certificate; it lists the principal (exactly, and a certificate
    /// listing none is refused); `at` is within its validity; and it has
    /// no critical option that would restrict a signature (`verify-required`
    /// is honoured; `force-command` and `source-address` bound SSH logins
    /// and are ignored, as OpenSSH does for signatures).
    pub fn check_signer(
        &self,
        principal: &str,
        v: &super::Verified,
        namespace: &str,
        at: Millis,
    ) -> Result<&Entry, KeyProblem> {
        let Some(cert) = &v.certificate else {
            return self.check(principal, v.key.key_data(), namespace, at);
        };
        let ca = PublicKey::from(cert.signature_key().clone());
        let lines: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| e.cert_authority && e.key.key_data() == cert.signature_key())
            .collect();
        if lines.is_empty() {
            return Err(KeyProblem::UnknownAuthority(super::fingerprint(&ca)));
        }
        certificate_problem(cert, principal, v, at)?;
        let mut problem = KeyProblem::WrongPrincipal(principal.to_owned());
        for e in lines {
            match e.admits(principal, namespace, at) {
                Ok(()) => return Ok(e),
                // A line for someone else says least.
                Err(KeyProblem::WrongPrincipal(_)) => {}
                Err(p) => problem = p,
            }
        }
        Err(problem)
    }

    /// May `key` sign in `namespace` for `principal` at time `at`? The most
    /// telling problem is returned when no line allows it.
    pub fn check(
        &self,
        principal: &str,
        key: &KeyData,
        namespace: &str,
        at: Millis,
    ) -> Result<&Entry, KeyProblem> {
        let with_key: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| !e.cert_authority && e.key.key_data() == key)
            .collect();
        if with_key.is_empty() {
            return Err(KeyProblem::UnknownKey);
        }
        let mut problem = KeyProblem::WrongPrincipal(principal.to_owned());
        for e in with_key {
            match e.admits(principal, namespace, at) {
                Ok(()) => return Ok(e),
                // A line for someone else says least.
                Err(KeyProblem::WrongPrincipal(_)) => {}
                Err(p) => problem = p,
            }
        }
        Err(problem)
    }
}

/// A rule can ask for at most this many people; a CA line's pattern
/// (`*@soc.example`) may certify that many and more.
const CA_PATTERN_PEOPLE: usize = 64;

/// Critical options that bound an SSH login, not a signature: OpenSSH
/// ignores them when it verifies one.
const LOGIN_ONLY_OPTIONS: &[&str] = &["force-command", "source-address"];

/// FIDO flag: the user verified themselves to the key (PIN, biometrics).
const SK_USER_VERIFIED: u8 = 0x04;

fn utc(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map_or_else(
            || "forever".to_owned(),
            |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        )
}

/// What makes `cert` unfit to sign for `principal` at `at`, its CA aside.
fn certificate_problem(
    cert: &ssh_key::Certificate,
    principal: &str,
    v: &super::Verified,
    at: Millis,
) -> Result<(), KeyProblem> {
    let refused = |why: &str| Err(KeyProblem::CertificateRefused(why.to_owned()));
    if cert.cert_type() != ssh_key::certificate::CertType::User {
        return refused("a host certificate does not sign for a person");
    }
    let secs = u64::try_from(at.div_euclid(1000)).unwrap_or(0);
    if secs < cert.valid_after() {
        return Err(KeyProblem::CertificateNotYetValid(utc(cert.valid_after())));
    }
    if secs >= cert.valid_before() {
        return Err(KeyProblem::CertificateExpired(utc(cert.valid_before())));
    }
    let ca_fingerprint = cert.signature_key().fingerprint(ssh_key::HashAlg::Sha256);
    if cert.validate_at(secs, [&ca_fingerprint]).is_err() {
        return refused("its authority's signature does not verify");
    }
    if !cert.valid_principals().iter().any(|p| p == principal) {
        let listed = if cert.valid_principals().is_empty() {
            "none".to_owned()
        } else {
            cert.valid_principals().join(", ")
        };
        return Err(KeyProblem::CertificateNotForPrincipal(
            principal.to_owned(),
            listed,
        ));
    }
    for name in cert.critical_options().keys() {
        match name.as_str() {
            n if LOGIN_ONLY_OPTIONS.contains(&n) => {}
            "verify-required" => {
                if v.sk_flags.is_none_or(|f| f & SK_USER_VERIFIED == 0) {
                    return refused(
                        "it has verify-required and the signature was made without user verification (PIN)",
                    );
                }
            }
            other => {
                return Err(KeyProblem::CertificateRefused(format!(
                    "unknown critical option `{}`",
                    other.escape_debug()
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGIOGI1y/u+gCs8F+kAvN1lmuv5EnGDKcg7oLt0gR5FK";
    const K2: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE8A0HC4sxTW7ACFXeglJEZqvrV4uJLxpKlA8CFa6huD";

    fn key(k: &str) -> KeyData {
        PublicKey::from_openssh(k).unwrap().key_data().clone()
    }

    #[test]
    fn parses_options_and_checks() {
        let text = format!(
            "# team\nalice,alice@example.org {K1} laptop\n\
             carol namespaces=\"countersign-decision\",valid-after=\"20200101Z\",valid-before=\"20300101Z\" {K2}\n"
        );
        let s = AllowedSigners::parse(&text, "t").unwrap();
        assert_eq!(s.entries().len(), 2);
        let now = parse_time("20260601Z").unwrap();
        assert!(s.check("alice", &key(K1), "countersign-login", now).is_ok());
        assert!(s.check("alice@example.org", &key(K1), "x", now).is_ok());
        assert_eq!(
            s.check("carol", &key(K1), "x", now).unwrap_err(),
            KeyProblem::WrongPrincipal("carol".into())
        );
        assert!(
            s.check("carol", &key(K2), "countersign-decision", now)
                .is_ok()
        );
        assert_eq!(
            s.check("carol", &key(K2), "countersign-login", now)
                .unwrap_err(),
            KeyProblem::NamespaceNotAllowed("countersign-login".into())
        );
        let later = parse_time("20300102Z").unwrap();
        assert_eq!(
            s.check("carol", &key(K2), "countersign-decision", later)
                .unwrap_err(),
            KeyProblem::Expired
        );
        let earlier = parse_time("20190101").unwrap();
        assert_eq!(
            s.check("carol", &key(K2), "countersign-decision", earlier)
                .unwrap_err(),
            KeyProblem::NotYetValid
        );
        let other =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOq15eCKQYm3WEz30PFfKVdTeoje7HQzbK7ytijiUmz6";
        assert_eq!(
            s.check("alice", &key(other), "x", now).unwrap_err(),
            KeyProblem::UnknownKey
        );
    }

    #[test]
    fn patterns_and_errors() {
        let s = AllowedSigners::parse(&format!("*@soc.example,!mallory@soc.example {K1}\n"), "t")
            .unwrap();
        assert!(s.check("bob@soc.example", &key(K1), "x", 0).is_ok());
        assert!(s.check("mallory@soc.example", &key(K1), "x", 0).is_err());
        assert!(s.check("bob@elsewhere", &key(K1), "x", 0).is_err());
        for (bad, needle) in [
            ("alice\n", "missing key"),
            (&format!("alice bogus=1 {K1}\n") as &str, "unknown option"),
            (
                &format!("alice valid-before=\"2027\" {K1}\n"),
                "valid-before",
            ),
            ("alice ssh-ed25519 AAAAnotbase64\n", "unreadable"),
        ] {
            let e = AllowedSigners::parse(bad, "f").unwrap_err().to_string();
            assert!(e.contains("line 1") && e.contains(needle), "{e}");
        }
    }

    #[test]
    fn who_may_sign_decisions() {
        let text = format!(
            "alice {K1}\n\
             bob namespaces=\"countersign-login\" {K2}\n\
             carol valid-before=\"20200101Z\" {K2}\n\
             dave,erin namespaces=\"countersign-*\" {K2}\n"
        );
        let s = AllowedSigners::parse(&text, "t").unwrap();
        let set = s.decision_signers(parse_time("20260601Z").unwrap());
        // bob may only log in; carol's line has expired; dave and erin
        // share K2.
        assert_eq!((set.keys(), set.people()), (2, 2));
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("20260101Z"), Some(1_767_225_600_000));
        assert_eq!(
            parse_time("202601011230Z"),
            Some(1_767_225_600_000 + 45_000_000)
        );
        assert_eq!(
            parse_time("20260101123001Z"),
            Some(1_767_225_600_000 + 45_001_000)
        );
        assert_eq!(parse_time("2026010"), None);
        assert_eq!(parse_time("20261301Z"), None);
    }
}
