//! An issuer's public keys (a JWKS document), read from a file or fetched
//! from a URL. Only keys that can verify an allowed algorithm are kept;
//! the rest (encryption keys, shared secrets, curves we do not verify)
//! are skipped, so one odd key does not cost the issuer all of them.

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyOperations, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use std::time::Duration;

/// A JWKS larger than this is not a key set.
const MAX_JWKS_BYTES: usize = 1024 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// One usable key: its id and the algorithms it may verify.
pub struct Key {
    pub kid: Option<String>,
    /// From the key's type (and its `alg`, when it names one), within
    /// the issuer's allowed ones; never HS*.
    pub algorithms: Vec<Algorithm>,
    pub key: DecodingKey,
}

#[derive(Default)]
pub struct KeySet {
    pub keys: Vec<Key>,
}

/// Why no key verifies a token.
#[derive(Debug, PartialEq, Eq)]
pub enum NoKey {
    /// No key set could be loaded yet.
    Empty,
    /// No key has this `kid` (another key set may have it: refresh).
    UnknownKid(String),
    /// The key named is not one this algorithm may be verified with.
    WrongType(String, Algorithm),
    /// No `kid`, and not exactly one key fits the algorithm.
    Ambiguous(usize, Algorithm),
}

impl std::fmt::Display for NoKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoKey::Empty => write!(f, "no keys of this issuer could be loaded"),
            NoKey::UnknownKid(kid) => {
                write!(f, "unknown key: no key `{kid}` in the issuer's key set")
            }
            NoKey::WrongType(kid, alg) => write!(
                f,
                "algorithm {alg:?} is not one key `{kid}` may verify (the key's type decides, not the token's header)"
            ),
            NoKey::Ambiguous(n, alg) => write!(
                f,
                "the token names no key (`kid`) and {n} keys of the issuer fit {alg:?}; exactly one must"
            ),
        }
    }
}

impl KeySet {
    /// The usable keys of a JWKS document, and how many were skipped.
    pub fn parse(text: &[u8], allowed: &[Algorithm]) -> Result<(KeySet, usize), String> {
        let doc: serde_json::Value =
            serde_json::from_slice(text).map_err(|e| format!("not JSON: {e}"))?;
        let entries = doc
            .get("keys")
            .and_then(serde_json::Value::as_array)
            .ok_or("not a JWKS: no `keys` list")?;
        let keys: Vec<Key> = entries
            .iter()
            .filter_map(|entry| usable(entry, allowed))
            .collect();
        let skipped = entries.len() - keys.len();
        Ok((KeySet { keys }, skipped))
    }

    /// The one key to verify a token with `kid` (if any) signed with `alg`.
    pub fn pick(&self, kid: Option<&str>, alg: Algorithm) -> Result<&Key, NoKey> {
        if self.keys.is_empty() {
            return Err(NoKey::Empty);
        }
        match kid {
            Some(kid) => {
                let named: Vec<&Key> = self
                    .keys
                    .iter()
                    .filter(|k| k.kid.as_deref() == Some(kid))
                    .collect();
                if named.is_empty() {
                    return Err(NoKey::UnknownKid(kid.to_owned()));
                }
                named
                    .into_iter()
                    .find(|k| k.algorithms.contains(&alg))
                    .ok_or_else(|| NoKey::WrongType(kid.to_owned(), alg))
            }
            None => {
                let fit: Vec<&Key> = self
                    .keys
                    .iter()
                    .filter(|k| k.algorithms.contains(&alg))
                    .collect();
                match fit[..] {
                    [one] => Ok(one),
                    _ => Err(NoKey::Ambiguous(fit.len(), alg)),
                }
            }
        }
    }
}

/// A key we can verify with, or None (skipped).
fn usable(entry: &serde_json::Value, allowed: &[Algorithm]) -> Option<Key> {
    let jwk: Jwk = serde_json::from_value(entry.clone()).ok()?;
    if matches!(
        jwk.common.public_key_use,
        Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
    ) {
        return None;
    }
    if let Some(ops) = &jwk.common.key_operations
        && !ops.contains(&KeyOperations::Verify)
    {
        return None;
    }
    let by_type: &[Algorithm] = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => &[
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512,
        ],
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => &[Algorithm::ES256],
            EllipticCurve::P384 => &[Algorithm::ES384],
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            &[Algorithm::EdDSA]
        }
        // Shared secrets (`oct`) and anything else: never.
        _ => return None,
    };
    let named: Option<Algorithm> = match jwk.common.key_algorithm {
        Some(ka) => Some(ka.to_string().parse().ok()?),
        None => None,
    };
    let algorithms: Vec<Algorithm> = by_type
        .iter()
        .copied()
        .filter(|a| allowed.contains(a) && named.is_none_or(|n| n == *a))
        .collect();
    if algorithms.is_empty() {
        return None;
    }
    let key = DecodingKey::from_jwk(&jwk).ok()?;
    Some(Key {
        kid: jwk.common.key_id,
        algorithms,
        key,
    })
}

/// The JWKS document at `url` (size-capped).
pub async fn fetch(http: &reqwest::Client, url: &str) -> Result<Vec<u8>, String> {
    let mut resp = http
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .timeout(FETCH_TIMEOUT)
        .send()
        .await
        .map_err(|e| format!("fetching {url}: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("fetching {url}: HTTP {}", resp.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| format!("reading {url}: {e}"))?
    {
        if body.len() + chunk.len() > MAX_JWKS_BYTES {
            return Err(format!("{url}: more than {MAX_JWKS_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::oidc::DEFAULT_ALGORITHMS;

    // A P-256 public key (RFC 7515 appendix A.3) and an RSA one (A.2).
    const EC: &str = r#"{"kty":"EC","crv":"P-256","kid":"ec","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
    const RSA: &str = r#"{"kty":"RSA","kid":"rsa","alg":"RS256","e":"AQAB","n":"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"}"#;

    fn set(entries: &[&str]) -> (KeySet, usize) {
        KeySet::parse(
            format!("{{\"keys\":[{}]}}", entries.join(",")).as_bytes(),
            &DEFAULT_ALGORITHMS,
        )
        .unwrap()
    }

    #[test]
    fn the_key_type_decides_the_algorithm_not_the_header() {
        let (keys, skipped) = set(&[EC, RSA]);
        assert_eq!(skipped, 0);
        assert!(keys.pick(Some("ec"), Algorithm::ES256).is_ok());
        assert_eq!(
            keys.pick(Some("ec"), Algorithm::RS256).err(),
            Some(NoKey::WrongType("ec".into(), Algorithm::RS256))
        );
        // The key's own `alg` narrows its type's algorithms.
        assert!(keys.pick(Some("rsa"), Algorithm::RS256).is_ok());
        assert!(keys.pick(Some("rsa"), Algorithm::PS256).is_err());
        assert!(keys.pick(Some("rsa"), Algorithm::HS256).is_err());
        assert_eq!(
            keys.pick(Some("nope"), Algorithm::RS256).err(),
            Some(NoKey::UnknownKid("nope".into()))
        );
        // No kid: only when exactly one key fits.
        assert!(keys.pick(None, Algorithm::ES256).is_ok());
        let (two, _) = set(&[EC, &EC.replace("\"ec\"", "\"ec2\"")]);
        assert_eq!(
            two.pick(None, Algorithm::ES256).err(),
            Some(NoKey::Ambiguous(2, Algorithm::ES256))
        );
        assert_eq!(
            KeySet::default().pick(None, Algorithm::ES256).err(),
            Some(NoKey::Empty)
        );
    }

    #[test]
    fn odd_keys_are_skipped_not_fatal() {
        let (keys, skipped) = set(&[
            r#"{"kty":"oct","kid":"hmac","k":"c2VjcmV0"}"#,
            &EC.replace("\"kid\":\"ec\"", "\"kid\":\"enc\",\"use\":\"enc\""),
            r#"{"kty":"EC","crv":"P-521","kid":"p521","x":"AA","y":"AA"}"#,
            r#"{"kty":"RSA","kid":"oaep","alg":"RSA-OAEP","e":"AQAB","n":"AA"}"#,
            &EC.replace(
                "\"kid\":\"ec\"",
                "\"kid\":\"wrap\",\"key_ops\":[\"wrapKey\"]",
            ),
            r#"{"kty":"weird"}"#,
            "42",
            EC,
        ]);
        assert_eq!((keys.keys.len(), skipped), (1, 7));
        assert!(KeySet::parse(b"[]", &DEFAULT_ALGORITHMS).is_err());
        assert!(KeySet::parse(b"not json", &DEFAULT_ALGORITHMS).is_err());
    }
}
