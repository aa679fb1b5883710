//! Workload identities: an agent's bearer may be a short-lived JWT from an
//! issuer in `[[agents.oidc]]` (`config::oidc`). Everything fails closed:
//! the issuer is picked by the token's `iss` and only its keys are tried;
//! the key is picked by `kid`, and the key's type (never the header's
//! `alg`) says which algorithms may verify it, so neither `alg: none` nor
//! an HS256 token "signed" with the public key gets through; `exp` is
//! required, `nbf` and `iat` are honoured with the leeway; `aud` must name
//! the audience. A valid token then needs a mapping whose claims all match
//! to become an agent. Token contents are never logged.

mod jwks;

use super::caller::{Caller, CallerKind};
use super::error::ApiError;
use super::swap::Swap;
use crate::config::oidc::{JwksSource, OidcConfig};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use jwks::{KeySet, NoKey};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, watch};

/// A token naming a key we do not have makes us fetch the key set again
/// at once (the issuer rotated), but at most this often per issuer, so
/// junk tokens cannot make the gate hammer the issuer.
const FORCED_REFRESH_EVERY: Duration = Duration::from_secs(30);

/// The trusted issuers and their keys.
pub struct Verifier {
    issuers: Vec<Issuer>,
}

struct Issuer {
    config: OidcConfig,
    keys: Swap<KeySet>,
    /// When a token last made us refresh out of turn.
    forced: Mutex<Option<Instant>>,
    http: reqwest::Client,
}

/// A bearer shaped like a JWT (three base64url parts; the last, the
/// signature, may be empty, as in `alg: none`). `cs_`/`css_` tokens never
/// are.
pub fn looks_like_jwt(token: &str) -> bool {
    let parts: Vec<&str> = token.split('.').collect();
    parts.len() == 3
        && !parts[0].is_empty()
        && !parts[1].is_empty()
        && parts.iter().all(|p| {
            p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

impl Verifier {
    /// The issuers of `configs` with their keys loaded: `None` when there
    /// are none. A JWKS file that cannot be read or holds no usable key is
    /// an error (the server does not start); a URL that cannot be fetched
    /// yet is a warning (its tokens are refused until it can be).
    pub async fn load(configs: &[OidcConfig]) -> Result<Option<Arc<Self>>, String> {
        if configs.is_empty() {
            return Ok(None);
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("[[agents.oidc]]: HTTP client: {e}"))?;
        let mut issuers = Vec::new();
        for config in configs {
            let issuer = Issuer {
                config: config.clone(),
                keys: Swap::new(KeySet::default()),
                forced: Mutex::new(None),
                http: http.clone(),
            };
            match (issuer.refresh().await, &config.jwks) {
                (Ok((n, skipped)), _) => eprintln!(
                    "countersign: [[agents.oidc]] issuer {}: {n} key(s){}, {} mapping(s)",
                    config.issuer,
                    if skipped > 0 {
                        format!(" ({skipped} unusable skipped)")
                    } else {
                        String::new()
                    },
                    config.agents.len()
                ),
                (Err(e), JwksSource::File(_)) => return Err(e),
                (Err(e), JwksSource::Url(_)) => eprintln!(
                    "countersign: warning: {e}; its tokens are refused until the keys can be fetched"
                ),
            }
            issuers.push(issuer);
        }
        Ok(Some(Arc::new(Verifier { issuers })))
    }

    /// Re-reads every issuer's keys each `refresh`, until `stop`.
    pub fn spawn_refresh(self: &Arc<Self>, stop: watch::Receiver<bool>) {
        for i in 0..self.issuers.len() {
            let verifier = self.clone();
            let mut stop = stop.clone();
            tokio::spawn(async move {
                let Some(issuer) = verifier.issuers.get(i) else {
                    return;
                };
                let mut tick = tokio::time::interval(issuer.config.refresh);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                tick.tick().await;
                loop {
                    tokio::select! {
                        _ = tick.tick() => {}
                        _ = stop.changed() => break,
                    }
                    if let Err(e) = issuer.refresh().await {
                        tracing::warn!(error = %e, "JWKS refresh failed; keeping the last keys");
                    }
                }
            });
        }
    }

    /// The agent a JWT bearer is, or why it is refused (401).
    pub async fn caller(&self, token: &str) -> Result<Caller, ApiError> {
        let refuse =
            |why: String| ApiError::unauthorized(format!("workload identity token: {why}"));
        let mut parts = token.split('.');
        let (Some(head), Some(body)) = (parts.next(), parts.next()) else {
            return Err(refuse("not a JWT".into()));
        };
        let header = decode_part(head).map_err(|e| refuse(format!("header {e}")))?;
        let unverified = decode_part(body).map_err(|e| refuse(format!("payload {e}")))?;
        let iss = unverified
            .get("iss")
            .and_then(Value::as_str)
            .ok_or_else(|| refuse("no `iss` claim".into()))?;
        let issuer = self
            .issuers
            .iter()
            .find(|i| i.config.issuer == iss)
            .ok_or_else(|| refuse(format!("wrong issuer: `{iss}` is not a trusted issuer")))?;
        // Keys named by the token itself (`jwk`, `jku`, `x5u`, `x5c`) are
        // never used: only the issuer's configured key set is.
        if header.get("crit").is_some() {
            return Err(refuse(
                "the header marks extensions critical (`crit`) that are not understood here".into(),
            ));
        }
        let alg = issuer.algorithm(&header).map_err(refuse)?;
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.as_str()),
            Some(_) => return Err(refuse("the header's `kid` is not a string".into())),
        };
        let claims = issuer.verify(token, kid, alg).await.map_err(refuse)?;
        issuer.agent(&claims).map_err(refuse)
    }
}

impl Issuer {
    /// Reads the key set again; on failure the last one stays. Answers
    /// how many keys were kept and how many skipped.
    async fn refresh(&self) -> Result<(usize, usize), String> {
        let c = &self.config;
        let text = match &c.jwks {
            JwksSource::File(path) => tokio::fs::read(path)
                .await
                .map_err(|e| format!("jwks_file {}: {e}", path.display()))?,
            JwksSource::Url(url) => jwks::fetch(&self.http, url)
                .await
                .map_err(|e| format!("jwks_url: {e}"))?,
        };
        let at = || match &c.jwks {
            JwksSource::File(path) => format!("jwks_file {}", path.display()),
            JwksSource::Url(url) => format!("jwks_url {url}"),
        };
        let (keys, skipped) =
            KeySet::parse(&text, &c.algorithms).map_err(|e| format!("{}: {e}", at()))?;
        if keys.keys.is_empty() {
            return Err(format!(
                "{}: no usable signing key ({skipped} skipped: HS*, encryption, or algorithms not allowed)",
                at()
            ));
        }
        let n = keys.keys.len();
        self.keys.set(keys);
        Ok((n, skipped))
    }

    /// The header's algorithm, if this issuer accepts it at all.
    fn algorithm(&self, header: &Value) -> Result<Algorithm, String> {
        let name = header
            .get("alg")
            .and_then(Value::as_str)
            .ok_or("the header names no `alg`")?;
        if name.eq_ignore_ascii_case("none") {
            return Err("disallowed algorithm: `none` (unsigned) is never accepted".into());
        }
        let alg: Algorithm = name
            .parse()
            .map_err(|_| format!("disallowed algorithm: `{name}` is not one we verify"))?;
        if !self.config.algorithms.contains(&alg) {
            return Err(format!(
                "disallowed algorithm: {name} is not accepted from this issuer{}",
                if name.starts_with("HS") {
                    " (HS* is never: the issuer's keys are public)"
                } else {
                    ""
                }
            ));
        }
        Ok(alg)
    }

    /// The verified claims: signature by this issuer's key, and time,
    /// issuer and audience.
    async fn verify(
        &self,
        token: &str,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Value, String> {
        let keys = self.keys_for(kid, alg).await;
        let key = keys.pick(kid, alg).map_err(|e| e.to_string())?;
        let c = &self.config;
        let mut v = Validation::new(alg);
        v.leeway = c.leeway;
        v.validate_nbf = true;
        v.set_issuer(&[&c.issuer]);
        v.set_audience(&c.audience);
        v.set_required_spec_claims(&["exp", "iss", "aud"]);
        let data =
            jsonwebtoken::decode::<Value>(token, &key.key, &v).map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => "bad signature".to_owned(),
                ErrorKind::ExpiredSignature => "expired (`exp` is past)".to_owned(),
                ErrorKind::ImmatureSignature => "not valid yet (`nbf` is ahead)".to_owned(),
                ErrorKind::InvalidAudience => format!(
                    "wrong audience: `aud` does not name {}",
                    c.audience.join(" or ")
                ),
                ErrorKind::InvalidIssuer => "wrong issuer".to_owned(),
                ErrorKind::MissingRequiredClaim(claim) => format!("no `{claim}` claim"),
                ErrorKind::InvalidClaimFormat(claim) => format!("`{claim}` is malformed"),
                ErrorKind::InvalidAlgorithm => "disallowed algorithm for this key".to_owned(),
                _ => "malformed or unverifiable token".to_owned(),
            })?;
        let now = jsonwebtoken::get_current_timestamp();
        match data.claims.get("iat") {
            None => {}
            Some(iat) => match iat.as_u64() {
                Some(iat) if iat <= now.saturating_add(c.leeway) => {}
                Some(_) => return Err("issued in the future (`iat` is ahead)".into()),
                None => return Err("`iat` is malformed".into()),
            },
        }
        Ok(data.claims)
    }

    /// The key set to verify with; refreshed out of turn (at most every
    /// FORCED_REFRESH_EVERY) when it lacks the token's key.
    async fn keys_for(&self, kid: Option<&str>, alg: Algorithm) -> Arc<KeySet> {
        let keys = self.keys.get();
        if !matches!(
            keys.pick(kid, alg).err(),
            Some(NoKey::UnknownKid(_) | NoKey::Empty)
        ) {
            return keys;
        }
        let mut last = self.forced.lock().await;
        if last.is_some_and(|t| t.elapsed() < FORCED_REFRESH_EVERY) {
            return self.keys.get();
        }
        *last = Some(Instant::now());
        if let Err(e) = self.refresh().await {
            tracing::warn!(error = %e, "JWKS refresh for an unknown key failed; keeping the last keys");
        }
        self.keys.get()
    }

    /// The first mapping whose claims all match names the agent.
    fn agent(&self, claims: &Value) -> Result<Caller, String> {
        self.config
            .agents
            .iter()
            .find(|m| {
                m.claims
                    .iter()
                    .all(|(path, want)| path.lookup(claims) == Some(want.as_str()))
            })
            .map(|m| Caller {
                name: m.agent.clone(),
                kind: CallerKind::Agent,
                scope: m.scope.clone(),
            })
            .ok_or_else(|| {
                format!(
                    "valid, but no [[agents.oidc.agents]] mapping of issuer `{}` matches it (sub `{}`)",
                    self.config.issuer,
                    claims.get("sub").and_then(Value::as_str).unwrap_or("(none)")
                )
            })
    }
}

/// A JWT part: base64url JSON object.
fn decode_part(part: &str) -> Result<Value, String> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| "is not base64url".to_owned())?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err("is not a JSON object".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_shapes() {
        assert!(looks_like_jwt("eyJh.eyJz.c2ln"));
        assert!(looks_like_jwt("eyJh.eyJz."));
        assert!(!looks_like_jwt("cs_0123abcd"));
        assert!(!looks_like_jwt("css_0123abcd"));
        assert!(!looks_like_jwt("a.b"));
        assert!(!looks_like_jwt("a.b.c.d"));
        assert!(!looks_like_jwt(".b.c"));
        assert!(!looks_like_jwt("a=.b.c"));
    }
}
