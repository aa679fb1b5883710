//! Risk is judged, not declared: a floor the agent cannot talk down. The
//! effective risk of a proposal is the higher of the agent's label and the
//! floor computed here; the policy runs on the effective risk.
//!
//! Floors today: indicator blocks that are too broad (short CIDR prefixes;
//! private, loopback, link-local or the organisation's own ranges;
//! wildcards and bare public suffixes), crown-jewel targets named in the
//! policy's `[assets]`, and permission changes (held for people at high
//! until their effective access is analysed: never read as "no new access").

use super::policy::Assets;
use super::submission::ProposalSubmission;
use super::types::{ActionKind, Risk};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Why the floor is what it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// `broad_indicator`, `internal_indicator`, `crown_jewel`,
    /// `permission_change`, …
    pub class: String,
    pub detail: String,
    /// The floor this finding alone sets.
    pub floor: Risk,
}

/// The gate's own judgement of a proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assessment {
    /// Does the permission change grant access the old document did not?
    /// `null` when there is no change or it was not analysed.
    pub expands_access: Option<bool>,
    pub floor: Risk,
    pub findings: Vec<Finding>,
}

impl Assessment {
    /// The risk the policy runs on: the higher of the label and the floor.
    pub fn effective(&self, declared: Risk) -> Risk {
        declared.max(self.floor)
    }

    /// One line for people: "raised: grants … (privilege escalation)".
    pub fn reason(&self) -> String {
        self.findings
            .iter()
            .filter(|f| f.floor == self.floor)
            .map(|f| f.detail.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Judges a proposal against the policy's assets.
pub fn assess(p: &ProposalSubmission, assets: &Assets) -> Assessment {
    let mut findings = Vec::new();
    if p.action == ActionKind::BlockIndicator {
        findings.extend(indicator(&p.target, assets));
    }
    if let Some(pattern) = assets.critical.iter().find(|pat| glob(pat, &p.target)) {
        findings.push(Finding {
            class: "crown_jewel".into(),
            detail: format!("target matches the critical asset pattern `{pattern}`"),
            floor: Risk::Critical,
        });
    }
    if p.permission_change.is_some() {
        findings.push(Finding {
            class: "permission_change".into(),
            detail: "a permission change the gate has not analysed: held for people as if it may grant new access".into(),
            floor: Risk::High,
        });
    }
    let floor = findings.iter().map(|f| f.floor).max().unwrap_or(Risk::Low);
    Assessment {
        expands_access: None,
        floor,
        findings,
    }
}

fn broad(detail: String) -> Finding {
    Finding {
        class: "broad_indicator".into(),
        detail,
        floor: Risk::High,
    }
}

fn internal(detail: String) -> Finding {
    Finding {
        class: "internal_indicator".into(),
        detail,
        floor: Risk::High,
    }
}

/// What blocking this indicator would take down with it.
fn indicator(target: &str, assets: &Assets) -> Vec<Finding> {
    let t = target.trim();
    let net = t
        .parse::<IpNet>()
        .ok()
        .or_else(|| t.parse::<IpAddr>().ok().map(IpNet::from));
    if let Some(net) = net {
        return network(net, assets);
    }
    domain(t)
}

fn network(net: IpNet, assets: &Assets) -> Vec<Finding> {
    let mut out = Vec::new();
    let (min, family) = match net {
        IpNet::V4(_) => (assets.min_prefix_v4, "IPv4"),
        IpNet::V6(_) => (assets.min_prefix_v6, "IPv6"),
    };
    if net.prefix_len() < min {
        let hosts = match net {
            IpNet::V4(n) => format!("{} addresses", 1u64 << (32 - u32::from(n.prefix_len()))),
            IpNet::V6(n) => format!("a /{} of IPv6", n.prefix_len()),
        };
        out.push(broad(format!(
            "blocks {net} ({hosts}): wider than the /{min} the policy allows for {family}"
        )));
    }
    let addr = net.network();
    let special = match addr {
        IpAddr::V4(a) if a.is_private() => Some("private"),
        IpAddr::V4(a) if a.is_loopback() => Some("loopback"),
        IpAddr::V4(a) if a.is_link_local() => Some("link-local"),
        IpAddr::V6(a) if a.is_loopback() => Some("loopback"),
        IpAddr::V6(a) if (a.segments()[0] & 0xfe00) == 0xfc00 => Some("unique-local"),
        IpAddr::V6(a) if (a.segments()[0] & 0xffc0) == 0xfe80 => Some("link-local"),
        _ => None,
    };
    if let Some(kind) = special {
        out.push(internal(format!(
            "blocks {net}: a {kind} range, likely our own"
        )));
    }
    if let Some(own) = assets
        .own_ranges
        .iter()
        .find(|r| r.contains(&addr) || net.contains(&r.network()))
    {
        out.push(internal(format!(
            "blocks {net}: overlaps the organisation's range {own}"
        )));
    }
    out
}

fn domain(t: &str) -> Vec<Finding> {
    let name = t.trim_end_matches('.').to_ascii_lowercase();
    if name.contains('*') {
        return vec![broad(format!("blocks the wildcard `{name}`"))];
    }
    if !name.contains('.')
        || psl::domain_str(&name).is_none() && psl::suffix_str(&name) == Some(name.as_str())
    {
        return vec![broad(format!(
            "blocks `{name}`, a top-level or public suffix: every domain under it"
        ))];
    }
    Vec::new()
}

/// `*` and `?` glob (case-sensitive), for asset patterns.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(target: &str, risk: &str) -> ProposalSubmission {
        serde_json::from_value(serde_json::json!({
            "action": "block_indicator", "target": target, "risk": risk, "rationale": "r"
        }))
        .unwrap()
    }

    fn assets() -> Assets {
        Assets {
            critical: vec!["srv-pay-*".into(), "dc-??".into()],
            own_ranges: vec!["198.51.100.0/24".parse().unwrap()],
            ..Assets::default()
        }
    }

    #[test]
    fn indicator_floors() {
        let a = assets();
        for (target, floor) in [
            ("0.0.0.0/0", Risk::High),
            ("203.0.113.7", Risk::Low),
            ("203.0.113.0/24", Risk::Low),
            ("203.0.112.0/23", Risk::High),
            ("10.20.0.0/16", Risk::High),
            ("192.168.1.5", Risk::High),
            ("127.0.0.1", Risk::High),
            ("198.51.100.77", Risk::High),
            ("198.51.0.0/16", Risk::High),
            ("2001:db8::/32", Risk::High),
            ("2001:db8:1:2::/64", Risk::Low),
            ("fd00::1", Risk::High),
            ("evil-c2.example", Risk::Low),
            ("login.evil.co.uk", Risk::Low),
            ("com", Risk::High),
            ("co.uk", Risk::High),
            ("*.example.com", Risk::High),
            ("localhost", Risk::High),
        ] {
            let got = assess(&block(target, "low"), &a);
            assert_eq!(got.floor, floor, "{target}: {:?}", got.findings);
        }
        let whole = assess(&block("0.0.0.0/0", "low"), &a);
        assert_eq!(whole.effective(Risk::Low), Risk::High);
        assert!(whole.reason().contains("0.0.0.0/0"), "{}", whole.reason());
    }

    #[test]
    fn crown_jewels_and_permission_changes() {
        let a = assets();
        let mut p = block("x", "low");
        p.action = ActionKind::IsolateHost;
        for (target, floor) in [
            ("srv-pay-07", Risk::Critical),
            ("dc-01", Risk::Critical),
            ("dc-001", Risk::Low),
            ("ws-0412", Risk::Low),
        ] {
            p.target = target.into();
            assert_eq!(assess(&p, &a).floor, floor, "{target}");
        }
        p.target = "ws-1".into();
        p.permission_change = Some(crate::domain::submission::PermissionChange {
            format: "json".into(),
            before: "{}".into(),
            after: "{}".into(),
        });
        let got = assess(&p, &a);
        assert_eq!((got.floor, got.expands_access), (Risk::High, None));
        // The label can only raise, never lower.
        assert_eq!(got.effective(Risk::Critical), Risk::Critical);
    }
}
