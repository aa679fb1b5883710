//! Floors a proposal's target sets: what the action would take down with
//! it, read as the systems that act on the target read it (`indicator`,
//! `names`), against the organisation's assets and the built-in list of
//! targets every SOC knows are dangerous (`sensitive`).

use super::finding::Finding;
use super::indicator::{self, Item, Parsed};
use super::names;
use super::sensitive::{self, Kind};
use crate::domain::policy::Assets;
use crate::domain::types::{ActionKind, Risk};
use ipnet::IpNet;

fn finding(class: &str, floor: Risk, detail: String) -> Finding {
    Finding {
        class: class.into(),
        detail,
        floor,
    }
}

/// Pattern characters a directory, an EDR or an IdP may expand in a target
/// that is not an indicator; and the words filters read as "everything".
const WILDCARDS: &[char] = &['*', '?', '%'];
const EVERYTHING: &[&str] = &["all", "any", "everyone", "everything"];

/// Longer than this, a built-in kind's target is not one thing.
const LONG_TARGET: usize = 1_000;

/// Every finding the target alone sets.
pub fn judge(action: &ActionKind, target: &str, assets: &Assets) -> Vec<Finding> {
    let mut out = Vec::new();
    let spellings = names::spellings(target);
    let indicator = *action == ActionKind::BlockIndicator;
    let length = target.chars().count();
    if action.is_builtin() && length > LONG_TARGET {
        out.push(finding(
            "unreadable_target",
            Risk::High,
            format!(
                "a target of {length} characters is no one host, account, file or indicator: held for people"
            ),
        ));
    }
    if !indicator {
        wildcard(&spellings, &mut out);
        // `ws-1,srv-pay-01`: many executors take a list. Each name in it is
        // judged as if it were the target.
        let canon = &spellings[0];
        let parts: Vec<&str> = canon
            .split(|c: char| c == ',' || c == ';' || c == '|' || c.is_whitespace())
            .filter(|p| !p.is_empty())
            .collect();
        if canon.contains([',', ';', '|']) && parts.len() > 1 {
            out.push(finding(
                "several_targets",
                Risk::High,
                format!(
                    "{} names in one target: an executor may act on each",
                    parts.len()
                ),
            ));
        }
        if parts.len() > 1 {
            for part in parts {
                for f in named(action, &names::spellings(part), assets) {
                    if !out.contains(&f) {
                        out.push(f);
                    }
                }
            }
        }
        pid(action, &spellings, &mut out);
    }
    out.extend(named(action, &spellings, assets));
    if indicator {
        match indicator::parse(target) {
            Ok(parsed) => out.extend(indicators(&parsed, assets)),
            Err(why) => out.push(finding(
                "unreadable_target",
                Risk::High,
                format!("{why}: a target the gate cannot read exactly is held for people"),
            )),
        }
    }
    out
}

/// What matching the names in a target sets: asset patterns, the built-in
/// list, drives and top-level directories, protected hosts.
fn named(action: &ActionKind, spellings: &[String], assets: &Assets) -> Vec<Finding> {
    let mut out = Vec::new();
    if *action == ActionKind::QuarantineFile
        && spellings.iter().any(|s| super::indicator::is_hash(s))
    {
        out.push(finding(
            "unreadable_target",
            Risk::Medium,
            "a hash quarantines every file that has it, wherever it is: held for a person".into(),
        ));
    }
    for (patterns, floor) in [
        (&assets.critical, Risk::Critical),
        (&assets.high, Risk::High),
    ] {
        if let Some(p) = patterns.iter().find(|p| names::matches(p, spellings)) {
            out.push(finding(
                "crown_jewel",
                floor,
                format!("target matches the asset pattern `{p}`"),
            ));
        }
    }
    builtin(action, spellings, assets, &mut out);
    if matches!(action, ActionKind::QuarantineFile | ActionKind::Other(_)) {
        top_level(spellings, &mut out);
    }
    if matches!(action, ActionKind::IsolateHost | ActionKind::Other(_)) {
        protected_host(spellings, assets, &mut out);
    }
    out
}

/// A process named by number: `kill` and `taskkill` read `01`, `+1` and
/// `0x1` as 1, and 0 or a negative number as a whole process group or every
/// process. Any other PID names whatever runs under it at the time.
fn pid(action: &ActionKind, spellings: &[String], out: &mut Vec<Finding>) {
    if !matches!(action, ActionKind::KillProcess | ActionKind::Other(_)) {
        return;
    }
    let number = spellings.iter().find_map(|s| {
        let (neg, digits) = match s.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let v = match digits.strip_prefix("0x") {
            Some(hex) => i128::from_str_radix(hex, 16).ok()?,
            None if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
                digits.trim_start_matches('0').parse::<i128>().unwrap_or(0)
            }
            None => return None,
        };
        Some(if neg { -v } else { v })
    });
    let (floor, why) = match number {
        None => return,
        Some(n) if n <= 0 => (
            Risk::Critical,
            format!("PID {n} signals a whole process group or every process"),
        ),
        Some(1) => (
            Risk::Critical,
            "PID 1 (init): the system stops when it exits".into(),
        ),
        Some(4) => (
            Risk::Critical,
            "PID 4 (System on Windows): the host crashes".into(),
        ),
        Some(n) => (
            Risk::Medium,
            format!("PID {n} names whatever runs under it at the time: held for a person"),
        ),
    };
    out.push(finding("sensitive_target", floor, why));
}

fn wildcard(spellings: &[String], out: &mut Vec<Finding>) {
    let canon = &spellings[0];
    if let Some(c) = canon.chars().find(|c| WILDCARDS.contains(c)) {
        out.push(finding(
            "pattern_target",
            Risk::High,
            format!("the target holds the pattern character `{c}`: it may name many"),
        ));
    } else if spellings.iter().any(|s| EVERYTHING.contains(&s.as_str())) {
        out.push(finding(
            "pattern_target",
            Risk::High,
            format!("the target `{canon}` may be read as everything"),
        ));
    }
}

fn builtin(action: &ActionKind, spellings: &[String], assets: &Assets, out: &mut Vec<Finding>) {
    // An indicator is matched by its own spelling only: `dc.evil.example`
    // is not our domain controller.
    let own_spelling = &spellings[..1];
    let hit = sensitive::BUILTIN
        .iter()
        .filter(|e| {
            // A computer account (`DC01$`) is its host.
            e.kind.concerns(action)
                || (e.kind == Kind::Host
                    && spellings[0].ends_with('$')
                    && sensitive::Kind::Account.concerns(action))
        })
        .filter(|e| !assets.ignore_builtin.iter().any(|i| i == e.pattern))
        .filter(|e| {
            let s = if *action == ActionKind::BlockIndicator && e.kind == Kind::Host {
                own_spelling
            } else {
                spellings
            };
            names::matches(e.pattern, s)
        })
        .max_by_key(|e| e.floor);
    if let Some(e) = hit {
        out.push(finding(
            "sensitive_target",
            e.floor,
            format!("the target is {} (built-in `{}`)", e.why, e.pattern),
        ));
    }
}

/// A drive or a top-level directory: `/`, `C:\`, `/etc`.
fn top_level(spellings: &[String], out: &mut Vec<Finding>) {
    let top = spellings.iter().find(|s| {
        names::path(s).is_some_and(|p| {
            let rest = p.split_once('/').map_or("", |(_, r)| r);
            !rest.contains('/')
        }) && (s.starts_with('/') || s.get(1..2) == Some(":"))
    });
    if let Some(p) = top {
        out.push(finding(
            "sensitive_target",
            Risk::Critical,
            format!("`{p}` is a drive or a top-level directory"),
        ));
    }
}

/// Does `name` (a host) fall under the protected `host` or one of its
/// subdomains, or is `name` a parent domain of it (blocking it blocks the
/// protected host too)?
fn under(name: &str, host: &str) -> bool {
    let host = names::canonical_cow(host);
    let host = host.as_ref();
    name == host
        || name.ends_with(&format!(".{host}"))
        || host.ends_with(&format!(".{name}"))
        || (host.contains(['*', '?']) && crate::domain::permissions::pattern::matches(host, name))
}

fn protected_host(spellings: &[String], assets: &Assets, out: &mut Vec<Finding>) {
    for s in spellings {
        if let Some(h) = assets.gate_hosts.iter().find(|h| under(s, h)) {
            out.push(finding(
                "protected_target",
                Risk::Critical,
                format!("`{s}` is one of the gate's own hosts (`{h}`)"),
            ));
            return;
        }
        if let Some(h) = protected(assets).find(|h| under(s, h)) {
            out.push(finding(
                "protected_target",
                Risk::High,
                format!(
                    "`{s}` is protected (`{h}`): identity, update and package hosts are never blocked or isolated by policy alone"
                ),
            ));
            return;
        }
    }
}

fn protected(assets: &Assets) -> impl Iterator<Item = &str> {
    sensitive::PROTECTED
        .iter()
        .copied()
        .filter(|p| !assets.ignore_builtin.iter().any(|i| i == p))
        .chain(assets.protected.iter().map(String::as_str))
}

/// Shared services whose own name (and every parent) is protected, but not
/// their tenants' subdomains: `evil.sharepoint.com` may be blocked.
fn protected_exact(name: &str, assets: &Assets) -> Option<&'static str> {
    sensitive::PROTECTED_EXACT
        .iter()
        .copied()
        .filter(|p| !assets.ignore_builtin.iter().any(|i| i == p))
        .find(|p| *p == name || p.ends_with(&format!(".{name}")))
}

fn indicators(parsed: &Parsed, assets: &Assets) -> Vec<Finding> {
    let mut out = Vec::new();
    if parsed.list {
        out.push(finding(
            "several_indicators",
            Risk::High,
            format!(
                "{} indicators in one target: each is judged, and the list is held for people",
                parsed.items.len()
            ),
        ));
    }
    for item in &parsed.items {
        match item {
            Item::Nets(nets) => {
                for net in nets {
                    out.extend(network(*net, assets));
                }
            }
            Item::Domain(name) => out.extend(domain(name, assets)),
            Item::Hash => {}
        }
    }
    out
}

/// Ranges with a meaning of their own: blocking any part of one takes down
/// more than one outside host.
const SPECIAL: &[(&str, &str)] = &[
    ("0.0.0.0/8", "\"this network\" (0.0.0.0, unspecified)"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "carrier-grade NAT shared address space"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private"),
    ("192.168.0.0/16", "private"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved (and the broadcast address)"),
    (
        "168.63.129.16/32",
        "Azure platform (DNS, DHCP, health probes)",
    ),
    ("8.8.8.8/32", "public resolver"),
    ("8.8.4.4/32", "public resolver"),
    ("1.1.1.1/32", "public resolver"),
    ("1.0.0.1/32", "public resolver"),
    ("9.9.9.9/32", "public resolver"),
    ("2001:4860:4860::8888/128", "public resolver"),
    ("2001:4860:4860::8844/128", "public resolver"),
    ("2606:4700:4700::1111/128", "public resolver"),
    ("2606:4700:4700::1001/128", "public resolver"),
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("fc00::/7", "unique-local"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local"),
    ("ff00::/8", "multicast"),
];

fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
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
        out.push(finding(
            "broad_indicator",
            Risk::High,
            format!("blocks {net} ({hosts}): wider than the /{min} the policy allows for {family}"),
        ));
    }
    static RANGES: std::sync::LazyLock<Vec<(IpNet, &str)>> = std::sync::LazyLock::new(|| {
        SPECIAL
            .iter()
            .filter_map(|(range, kind)| Some((range.parse().ok()?, *kind)))
            .collect()
    });
    let special = RANGES
        .iter()
        .find_map(|(range, kind)| overlaps(&net, range).then_some(*kind));
    if let Some(kind) = special {
        out.push(finding(
            "internal_indicator",
            Risk::High,
            format!("blocks {net}: a {kind} range"),
        ));
    }
    if let Some(own) = assets.own_ranges.iter().find(|r| overlaps(&net, r)) {
        out.push(finding(
            "internal_indicator",
            Risk::High,
            format!("blocks {net}: overlaps the organisation's range {own}"),
        ));
    }
    if let Some(g) = assets
        .gate_hosts
        .iter()
        .filter_map(|h| h.parse::<std::net::IpAddr>().ok())
        .find(|a| net.contains(a))
    {
        out.push(finding(
            "protected_target",
            Risk::Critical,
            format!("blocks {net}: it holds the gate's own address {g}"),
        ));
    }
    out
}

/// Names that only ever resolve inside an organisation.
const INTERNAL_SUFFIXES: &[&str] = &[
    "localhost",
    "local",
    "internal",
    "intranet",
    "lan",
    "home.arpa",
    "localdomain",
    "corp",
    "arpa",
];

fn domain(name: &str, assets: &Assets) -> Vec<Finding> {
    let mut out = Vec::new();
    if !name.contains('.') {
        out.push(finding(
            "broad_indicator",
            Risk::High,
            format!(
                "blocks `{name}`: a single-label name is an internal host, a top-level domain or a filter keyword, not one outside domain"
            ),
        ));
    }
    if let Some(s) = INTERNAL_SUFFIXES
        .iter()
        .find(|s| name == **s || name.ends_with(&format!(".{s}")))
    {
        out.push(finding(
            "internal_indicator",
            Risk::High,
            format!("blocks `{name}`: `.{s}` names are our own"),
        ));
    }
    // A name that is itself a known public suffix (`com`, `co.uk`,
    // `github.io`): every domain under it.
    let is_suffix = psl::suffix(name.as_bytes())
        .is_some_and(|s| s.is_known() && s.as_bytes() == name.as_bytes());
    if is_suffix {
        out.push(finding(
            "broad_indicator",
            Risk::High,
            format!("blocks `{name}`, a public suffix: every domain under it"),
        ));
    }
    if let Some(own) = assets.own_domains.iter().find(|d| under(name, d)) {
        out.push(finding(
            "internal_indicator",
            Risk::High,
            format!("blocks `{name}`: the organisation's domain `{own}`"),
        ));
    }
    protected_host(&[name.to_owned()], assets, &mut out);
    if let Some(p) = protected_exact(name, assets) {
        out.push(finding(
            "protected_target",
            Risk::High,
            format!("blocks `{name}`: it takes down `{p}`, a service the whole organisation uses"),
        ));
    }
    out
}
