//! `[[agents.oidc]]`: workload identities. An agent may authenticate with
//! a short-lived JWT from an issuer the operator trusts (a Kubernetes
//! service-account token, a CI system's OIDC token, a SPIFFE JWT-SVID)
//! instead of a static `cs_` token; `server::oidc` verifies it. Everything
//! here is checked as the file is read, so a mistake stops the server
//! before it serves anyone.

use super::OneOrMany;
use crate::domain::scope::Scope;
use jsonwebtoken::Algorithm;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// The algorithms trusted when `algorithms` is not given: every
/// asymmetric one. HS* (a shared secret: the issuer's public key would be
/// the secret) and `none` are never accepted.
pub const DEFAULT_ALGORITHMS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

const DEFAULT_REFRESH: Duration = Duration::from_secs(300);
const REFRESH_BOUNDS: (Duration, Duration) =
    (Duration::from_secs(10), Duration::from_secs(24 * 3600));
const DEFAULT_LEEWAY_SECS: u64 = 60;
/// More clock skew than this would let an expired token live on.
const MAX_LEEWAY_SECS: u64 = 300;

/// `[agents]`: how agents authenticate besides `cs_` tokens.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentsSection {
    #[serde(default)]
    pub oidc: Vec<OidcConfig>,
}

/// One trusted issuer, checked as it is read.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawOidc")]
pub struct OidcConfig {
    /// The `iss` its tokens carry, exactly.
    pub issuer: String,
    /// A token's `aud` must contain one of these.
    pub audience: Vec<String>,
    pub jwks: JwksSource,
    /// How often the key set is read again.
    pub refresh: Duration,
    /// The signature algorithms accepted (asymmetric only).
    pub algorithms: Vec<Algorithm>,
    /// Clock skew allowed on `exp`, `nbf` and `iat`, seconds.
    pub leeway: u64,
    /// Tried in order; the first whose claims all match names the agent.
    pub agents: Vec<AgentMapping>,
}

/// Where the issuer's public keys (a JWKS document) come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    File(PathBuf),
    Url(String),
}

/// `[[agents.oidc.agents]]`: which tokens are which agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentMapping {
    /// Claim paths (split into names) and the exact string each must be.
    pub claims: Vec<(ClaimPath, String)>,
    /// The agent's name, as a token's name.
    pub agent: String,
    pub scope: Scope,
}

/// A claim reached through nested objects: `kubernetes.io/serviceaccount/name`
/// is `claims["kubernetes.io"]["serviceaccount"]["name"]`. Names are
/// separated by `/` (so a claim name may hold dots); `~1` stands for a `/`
/// inside a name and `~0` for `~`, as in a JSON Pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPath {
    pub text: String,
    pub names: Vec<String>,
}

impl ClaimPath {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut names = Vec::new();
        for raw in text.split('/') {
            if raw.is_empty() {
                return Err(format!(
                    "claim path `{text}` has an empty name; separate nested names with one `/`"
                ));
            }
            let mut name = String::new();
            let mut chars = raw.chars();
            while let Some(c) = chars.next() {
                if c != '~' {
                    name.push(c);
                    continue;
                }
                match chars.next() {
                    Some('0') => name.push('~'),
                    Some('1') => name.push('/'),
                    _ => {
                        return Err(format!(
                            "claim path `{text}`: `~` must be `~0` (a ~) or `~1` (a /)"
                        ));
                    }
                }
            }
            names.push(name);
        }
        Ok(ClaimPath {
            text: text.to_owned(),
            names,
        })
    }

    /// The string at this path in `claims`, if there is one.
    pub fn lookup<'a>(&self, claims: &'a serde_json::Value) -> Option<&'a str> {
        self.names
            .iter()
            .try_fold(claims, |v, name| v.get(name))
            .and_then(serde_json::Value::as_str)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOidc {
    issuer: String,
    audience: OneOrMany,
    jwks_file: Option<PathBuf>,
    jwks_url: Option<String>,
    refresh: Option<String>,
    algorithms: Option<Vec<String>>,
    leeway: Option<u64>,
    #[serde(default)]
    agents: Vec<RawMapping>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMapping {
    claims: BTreeMap<String, String>,
    agent: String,
    actions: Option<Vec<String>>,
    targets: Option<Vec<String>>,
}

impl TryFrom<RawOidc> for OidcConfig {
    type Error = String;

    fn try_from(raw: RawOidc) -> Result<Self, String> {
        let issuer = raw.issuer.trim().to_owned();
        if issuer.is_empty() {
            return Err("issuer: give the `iss` its tokens carry".into());
        }
        let at = |message: String| format!("[[agents.oidc]] issuer `{issuer}`: {message}");
        let audience = raw.audience.to_vec();
        if audience.is_empty() || audience.iter().any(|a| a.trim().is_empty()) {
            return Err(at(
                "audience: name the audience its tokens are made for".into()
            ));
        }
        let jwks = match (raw.jwks_file, raw.jwks_url) {
            (Some(path), None) => JwksSource::File(path),
            (None, Some(url)) => {
                JwksSource::Url(super::notify::checked_url("jwks_url", &url).map_err(at)?)
            }
            (Some(_), Some(_)) => {
                return Err(at("give jwks_file or jwks_url, not both".into()));
            }
            (None, None) => return Err(at("give jwks_file or jwks_url".into())),
        };
        let refresh = match raw.refresh {
            None => DEFAULT_REFRESH,
            Some(text) => crate::domain::time::parse_span_ms(&text)
                .and_then(|ms| u64::try_from(ms).ok())
                .map(Duration::from_millis)
                .filter(|d| (REFRESH_BOUNDS.0..=REFRESH_BOUNDS.1).contains(d))
                .ok_or_else(|| {
                    at(format!(
                        "refresh = \"{text}\": a time from 10s to 24h, like \"5m\""
                    ))
                })?,
        };
        let algorithms = match raw.algorithms {
            None => DEFAULT_ALGORITHMS.to_vec(),
            Some(names) if names.is_empty() => {
                return Err(at("algorithms: name at least one (or leave it out)".into()));
            }
            Some(names) => names
                .iter()
                .map(|n| algorithm(n).map_err(|e| at(format!("algorithms: {e}"))))
                .collect::<Result<_, _>>()?,
        };
        let leeway = raw.leeway.unwrap_or(DEFAULT_LEEWAY_SECS);
        if leeway > MAX_LEEWAY_SECS {
            return Err(at(format!(
                "leeway = {leeway}: at most {MAX_LEEWAY_SECS} seconds"
            )));
        }
        if raw.agents.is_empty() {
            return Err(at(
                "no [[agents.oidc.agents]]: map its tokens' claims to agent names".into(),
            ));
        }
        let agents = raw
            .agents
            .into_iter()
            .map(|m| mapping(m).map_err(&at))
            .collect::<Result<_, _>>()?;
        Ok(OidcConfig {
            issuer,
            audience,
            jwks,
            refresh,
            algorithms,
            leeway,
            agents,
        })
    }
}

fn mapping(raw: RawMapping) -> Result<AgentMapping, String> {
    let agent = raw.agent;
    if !crate::domain::limits::valid_agent_name(&agent) {
        return Err(format!(
            "[[agents.oidc.agents]] agent = \"{agent}\": 1 to 64 letters, digits, - _ . @"
        ));
    }
    let at = |message: String| format!("[[agents.oidc.agents]] agent `{agent}`: {message}");
    if raw.claims.is_empty() {
        return Err(at(
            "claims is empty; name the claims that pick this agent (e.g. { sub = \"...\" })".into(),
        ));
    }
    let claims = raw
        .claims
        .into_iter()
        .map(|(path, value)| Ok((ClaimPath::parse(&path).map_err(&at)?, value)))
        .collect::<Result<_, String>>()?;
    let list = |field: &str, v: Option<Vec<String>>| match v {
        Some(items) if items.iter().all(|i| i.trim().is_empty()) => Err(at(format!(
            "{field} = [] allows nothing; leave it out to allow any"
        ))),
        Some(items) => Ok(Some(items.join(","))),
        None => Ok(None),
    };
    let actions = list("actions", raw.actions)?;
    let targets = list("targets", raw.targets)?;
    let scope = Scope::parse(actions.as_deref(), targets.as_deref())
        .map_err(|e| at(format!("actions/targets: {e}")))?;
    Ok(AgentMapping {
        claims,
        agent,
        scope,
    })
}

/// An algorithm a config may name: asymmetric ones only.
fn algorithm(name: &str) -> Result<Algorithm, String> {
    let alg: Algorithm = name
        .parse()
        .map_err(|_| format!("`{name}` is not a JWT signature algorithm"))?;
    if DEFAULT_ALGORITHMS.contains(&alg) {
        Ok(alg)
    } else {
        Err(format!(
            "`{name}` is never allowed: HS* uses a shared secret, and the issuer's keys are public"
        ))
    }
}

/// Two entries for one issuer would leave which keys and mappings apply
/// to its tokens to chance.
pub(super) fn check_all(all: &[OidcConfig]) -> Result<(), String> {
    let mut seen = std::collections::HashSet::new();
    for c in all {
        if !seen.insert(c.issuer.as_str()) {
            return Err(format!(
                "two [[agents.oidc]] entries have issuer `{}`; put its mappings in one",
                c.issuer
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FileConfig;

    fn parse(text: &str) -> Result<FileConfig, String> {
        FileConfig::parse(text, "t.toml").map_err(|e| e.to_string())
    }

    const OK: &str = "[[agents.oidc]]\nissuer = \"https://kubernetes.default.svc\"\n\
        audience = \"countersign\"\njwks_file = \"/etc/countersign/k8s-jwks.json\"\n\
        [[agents.oidc.agents]]\nclaims = { \"kubernetes.io/serviceaccount/name\" = \"triage\", sub = \"system:serviceaccount:soar:triage\" }\n\
        agent = \"soar-triage\"\nactions = [\"isolate_host\"]\ntargets = [\"ws-*\"]\n";

    #[test]
    fn reads_an_issuer_with_defaults_and_a_nested_claim_path() {
        let c = parse(OK).unwrap();
        let o = &c.agents.oidc[0];
        assert_eq!(o.audience, ["countersign"]);
        assert_eq!(o.refresh, Duration::from_secs(300));
        let hourly = OK.replace(
            "audience = \"countersign\"",
            "audience = \"countersign\"\nrefresh = \"1h\"",
        );
        assert_eq!(
            parse(&hourly).unwrap().agents.oidc[0].refresh,
            Duration::from_secs(3600)
        );
        assert_eq!(o.leeway, 60);
        assert!(!o.algorithms.contains(&Algorithm::HS256));
        let m = &o.agents[0];
        assert_eq!(m.agent, "soar-triage");
        let claims = serde_json::json!({"kubernetes.io": {"serviceaccount": {"name": "triage"}}});
        let path = &m.claims[0].0;
        assert_eq!(path.names, ["kubernetes.io", "serviceaccount", "name"]);
        assert_eq!(path.lookup(&claims), Some("triage"));
        assert_eq!(m.scope.targets.as_deref(), Some(&["ws-*".to_owned()][..]));
        assert_eq!(ClaimPath::parse("a~1b/c~0").unwrap().names, ["a/b", "c~"]);
    }

    #[test]
    fn a_bad_issuer_block_stops_with_the_field_named() {
        for (from, to, says) in [
            (
                "jwks_file = \"/etc/countersign/k8s-jwks.json\"",
                "jwks_file = \"/x\"\njwks_url = \"https://i.example/jwks\"",
                "not both",
            ),
            (
                "jwks_file = \"/etc/countersign/k8s-jwks.json\"",
                "",
                "jwks_file or jwks_url",
            ),
            (
                "jwks_file = \"/etc/countersign/k8s-jwks.json\"",
                "jwks_url = \"http://idp.example/jwks\"",
                "jwks_url",
            ),
            (
                "audience = \"countersign\"",
                "audience = \"countersign\"\nalgorithms = [\"HS256\"]",
                "HS256",
            ),
            (
                "audience = \"countersign\"",
                "audience = \"countersign\"\nalgorithms = [\"none\"]",
                "none",
            ),
            (
                "audience = \"countersign\"",
                "audience = \"countersign\"\nleeway = 3600",
                "leeway",
            ),
            (
                "audience = \"countersign\"",
                "audience = \"countersign\"\nrefresh = \"soon\"",
                "refresh",
            ),
            (
                "audience = \"countersign\"",
                "audience = \"countersign\"\nrefresh = \"5s\"",
                "10s to 24h",
            ),
            (
                "agent = \"soar-triage\"",
                "agent = \"soar triage\"",
                "agent = \"soar triage\"",
            ),
            ("[\"ws-*\"]", "[\"10.0.0.1/99\"]", "not a network"),
            ("[\"isolate_host\"]", "[]", "actions = []"),
            (
                "\"kubernetes.io/serviceaccount/name\"",
                "\"kubernetes.io//name\"",
                "empty name",
            ),
            (
                "audience = \"countersign\"",
                "audience = \"countersign\"\ncolour = 1",
                "colour",
            ),
        ] {
            let bad = OK.replace(from, to);
            assert_ne!(bad, OK, "{from}");
            let e = parse(&bad).unwrap_err();
            assert!(e.contains(says), "{to}: {e}");
        }
        let twice = format!("{OK}\n{}", OK.replace("actions = [\"isolate_host\"]\n", ""));
        assert!(parse(&twice).unwrap_err().contains("two [[agents.oidc]]"));
    }

    /// The examples operators copy are configs this reads.
    #[test]
    fn the_operators_guide_examples_are_valid() {
        let guide = include_str!("../../docs/operators.md");
        let examples: Vec<&str> = guide
            .split("```toml\n")
            .skip(1)
            .filter_map(|b| b.split("```").next())
            .filter(|b| b.contains("[[agents.oidc]]"))
            .collect();
        assert!(examples.len() >= 2);
        for e in examples {
            let c = parse(e).unwrap();
            assert!(!c.agents.oidc[0].agents.is_empty());
        }
    }
}
