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
//! when. `cert-authority` lines are refused (certificates are not supported).

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
                    ("cert-authority", None) => {
                        return Err(err("cert-authority keys are not supported".into()));
                    }
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
                .map(|e| SignerLine {
                    principals: e.principals.clone(),
                    key: super::fingerprint(&e.key),
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
            .filter(|e| e.key.key_data() == key)
            .collect();
        if with_key.is_empty() {
            return Err(KeyProblem::UnknownKey);
        }
        let mut problem = KeyProblem::WrongPrincipal(principal.to_owned());
        for e in with_key {
            if !e.matches_principal(principal) {
                continue;
            }
            if let Some(ns) = &e.namespaces
                && !ns.iter().any(|n| glob(n, namespace))
            {
                problem = KeyProblem::NamespaceNotAllowed(namespace.to_owned());
                continue;
            }
            if e.valid_after.is_some_and(|t| at < t) {
                problem = KeyProblem::NotYetValid;
                continue;
            }
            if e.valid_before.is_some_and(|t| at > t) {
                problem = KeyProblem::Expired;
                continue;
            }
            return Ok(e);
        }
        Err(problem)
    }
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
            (&format!("alice cert-authority {K1}\n"), "cert-authority"),
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
