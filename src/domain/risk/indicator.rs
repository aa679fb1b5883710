//! An indicator read as the systems that block it read it: iptables and
//! nftables, Windows Firewall, cloud firewall APIs, DNS and web filters.
//!
//! One spelling, several readings: `10/8` is 10.0.0.0/8 to iptables (it
//! pads a short address with zeros) and 0.0.0.10 with a /8 mask to
//! `inet_aton` (the last part fills the rest); `2130706433` and `0x7f.1`
//! are 127.0.0.1 to `inet_aton`. Every reading is kept, and the judge
//! takes the worst. IPv6 addresses that carry an IPv4 address (mapped,
//! compatible, NAT64, 6to4) are also read as that IPv4 network. A target
//! that is not exactly one address, network, range, domain, URL, e-mail
//! address or file hash this module understands is unreadable.

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::net::{Ipv4Addr, Ipv6Addr};

/// One indicator in a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// Addresses: every network a blocking system may read the spelling
    /// as (a range is several networks), with the number of addresses.
    Nets(Vec<IpNet>),
    /// A domain name, mapped by UTS-46 to lower-case ASCII, without a
    /// leading or trailing dot.
    Domain(String),
    /// A file hash (MD5, SHA-1, SHA-256, SHA-512).
    Hash,
}

/// What a target holds, or why it cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub items: Vec<Item>,
    /// Written as a list of several indicators.
    pub list: bool,
}

/// Characters that make a name a pattern to a filter (glob, SQL `LIKE`,
/// regular expression) rather than one name.
pub const PATTERN: &[char] = &[
    '*', '?', '%', '[', ']', '^', '$', '|', '+', '(', ')', '{', '}', '\\', '~', '!',
];

/// Separators between the indicators of a list.
fn is_separator(c: char) -> bool {
    c == ',' || c == ';' || c.is_whitespace()
}

/// Reads a target; `Err` says what could not be read.
pub fn parse(target: &str) -> Result<Parsed, String> {
    let parts: Vec<&str> = target
        .split(is_separator)
        .filter(|p| !p.is_empty())
        .collect();
    if parts.is_empty() {
        return Err("an empty indicator".into());
    }
    let items = parts
        .iter()
        .map(|p| item(p))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Parsed {
        list: parts.len() > 1,
        items,
    })
}

fn item(s: &str) -> Result<Item, String> {
    if let Some(nets) = networks(s)? {
        return Ok(Item::Nets(nets));
    }
    if is_hash(s) {
        return Ok(Item::Hash);
    }
    if s.contains("://") {
        return url_host(s);
    }
    if let Some((local, domain)) = s.rsplit_once('@') {
        if let Some(c) = local.chars().find(|c| PATTERN.contains(c)) {
            return Err(format!(
                "`{s}`: the pattern character `{c}` in an e-mail address"
            ));
        }
        return item(domain);
    }
    domain(s).map(Item::Domain)
}

/// `md5:`/`sha1:`/`sha256:` optional, then 32, 40, 64 or 128 hex digits.
pub fn is_hash(s: &str) -> bool {
    let hex = s
        .split_once(':')
        .filter(|(k, _)| {
            ["md5", "sha1", "sha256", "sha512"].contains(&k.to_ascii_lowercase().as_str())
        })
        .map_or(s, |(_, h)| h);
    [32, 40, 64, 128].contains(&hex.len()) && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

fn url_host(s: &str) -> Result<Item, String> {
    let u = url::Url::parse(s).map_err(|e| format!("`{s}`: not a URL a filter can read ({e})"))?;
    match u.host() {
        Some(url::Host::Domain(d)) => domain(d).map(Item::Domain),
        Some(url::Host::Ipv4(a)) => Ok(Item::Nets(vec![IpNet::V4(Ipv4Net::from(a))])),
        Some(url::Host::Ipv6(a)) => Ok(Item::Nets(with_embedded(Ipv6Net::from(a)))),
        None => Err(format!("`{s}`: a URL without a host")),
    }
}

/// A domain name as a resolver or filter reads it: UTS-46 mapping (full-
/// width letters, ideographic full stops), lower case, no trailing dot, a
/// leading dot (a subtree, as squid and dnsmasq write it) dropped.
pub fn domain(s: &str) -> Result<String, String> {
    if let Some(c) = s.chars().find(|c| PATTERN.contains(c)) {
        return Err(format!("`{s}`: `{c}` makes it a pattern, not one name"));
    }
    let ascii = idna::domain_to_ascii(s)
        .map_err(|_| format!("`{s}`: not a domain name (IDNA mapping fails)"))?;
    let name = ascii.trim_start_matches('.').trim_end_matches('.');
    if name.is_empty()
        || name.split('.').any(|l| {
            l.is_empty()
                || l.len() > 63
                || !l
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
    {
        return Err(format!("`{s}`: not a domain name"));
    }
    // A last label that is a number makes browsers read the whole name as
    // an IPv4 address (WHATWG URL, "ends in a number").
    let last = name.rsplit('.').next().unwrap_or(name);
    if last.bytes().all(|b| b.is_ascii_digit()) || last.starts_with("0x") {
        return Err(format!("`{s}`: neither an address nor a domain name"));
    }
    Ok(name.to_owned())
}

/// Addresses and networks in any spelling a blocking system accepts;
/// `Ok(None)` when the text is not an address at all (a name).
fn networks(s: &str) -> Result<Option<Vec<IpNet>>, String> {
    if let Some((a, b)) = s.split_once('-')
        && let (Some(start), Some(end)) = (exact_addr(a), exact_addr(b))
    {
        return range(s, start, end).map(Some);
    }
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let bracketed = addr
        .strip_prefix('[')
        .and_then(|a| a.strip_suffix(']'))
        .unwrap_or(addr);
    // A scope (`fe80::1%eth0`) names the interface, not another address.
    let unscoped = bracketed.split_once('%').map_or(bracketed, |(a, _)| a);
    if unscoped.contains(':') {
        let Ok(a) = unscoped.parse::<Ipv6Addr>() else {
            return if unscoped
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
            {
                Err(format!("`{s}`: not an IPv6 address"))
            } else {
                Ok(None)
            };
        };
        let len = match prefix {
            None => 128,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|n| *n <= 128)
                .ok_or_else(|| format!("`{s}`: `/{p}` is no IPv6 prefix length"))?,
        };
        let net = Ipv6Net::new(a, len).map_err(|e| e.to_string())?.trunc();
        return Ok(Some(with_embedded(net)));
    }
    let readings = v4_readings(addr);
    if readings.is_empty() {
        // Digits and dots that no system reads as an address are not a
        // name either; nor is anything written with a prefix length.
        let numeric = addr.bytes().all(|b| b.is_ascii_digit() || b == b'.');
        return if prefix.is_some() || numeric {
            Err(format!("`{s}`: not an address any blocking system reads"))
        } else {
            Ok(None)
        };
    }
    let len = match prefix {
        None => 32,
        Some(p) => prefix_len_v4(p).ok_or_else(|| {
            format!("`{s}`: `/{p}` is neither a prefix length nor a contiguous netmask")
        })?,
    };
    let mut nets = Vec::new();
    for a in readings {
        let net = IpNet::V4(Ipv4Net::new(a, len).map_err(|e| e.to_string())?.trunc());
        if !nets.contains(&net) {
            nets.push(net);
        }
    }
    Ok(Some(nets))
}

/// An address written out in full: four dotted decimal parts, or IPv6.
fn exact_addr(s: &str) -> Option<std::net::IpAddr> {
    let s = s.trim();
    s.parse::<Ipv4Addr>()
        .map(std::net::IpAddr::V4)
        .or_else(|_| s.parse::<Ipv6Addr>().map(std::net::IpAddr::V6))
        .ok()
}

fn range(s: &str, start: std::net::IpAddr, end: std::net::IpAddr) -> Result<Vec<IpNet>, String> {
    use std::net::IpAddr::{V4, V6};
    let nets: Vec<IpNet> = match (start, end) {
        (V4(a), V4(b)) if a <= b => ipnet::Ipv4Subnets::new(a, b, 0).map(IpNet::V4).collect(),
        (V6(a), V6(b)) if a <= b => {
            // At most 254 networks make any IPv6 range; more would be a bug.
            let subnets: Vec<_> = ipnet::Ipv6Subnets::new(a, b, 0).take(1025).collect();
            if subnets.len() > 1024 {
                return Err(format!("`{s}`: a range too irregular to judge"));
            }
            subnets.into_iter().flat_map(with_embedded).collect()
        }
        _ => {
            return Err(format!(
                "`{s}`: not a range from a lower to a higher address"
            ));
        }
    };
    Ok(nets)
}

/// One part of an `inet_aton` address: decimal, `0x` hex or `0` octal.
fn number(part: &str) -> Option<u64> {
    if part.is_empty() || part.len() > 12 {
        return None;
    }
    let lower = part.to_ascii_lowercase();
    if let Some(hex) = lower.strip_prefix("0x") {
        return if hex.is_empty() {
            Some(0)
        } else {
            u64::from_str_radix(hex, 16).ok()
        };
    }
    if part.len() > 1 && part.starts_with('0') {
        return u64::from_str_radix(&part[1..], 8).ok();
    }
    part.parse().ok()
}

/// Every IPv4 address a blocking system may read `s` as: `inet_aton`
/// (1 to 4 parts, the last filling the rest; decimal, hex, octal) and
/// iptables' short network form (`10.1` = 10.1.0.0).
pub fn v4_readings(s: &str) -> Vec<Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    let mut out = Vec::new();
    if parts.len() > 4 {
        return out;
    }
    let nums: Option<Vec<u64>> = parts.iter().map(|p| number(p)).collect();
    let Some(nums) = nums else {
        return out;
    };
    // inet_aton
    let (head, last) = nums.split_at(nums.len() - 1);
    let rest_bits = 8 * (4 - head.len() as u32);
    if head.iter().all(|n| *n <= 255) && last[0] < (1u64 << rest_bits) {
        let mut v: u64 = 0;
        for n in head {
            v = (v << 8) | n;
        }
        v = (v << rest_bits) | last[0];
        out.push(Ipv4Addr::from(v as u32));
    }
    // Readers that ignore leading zeros (Go before 1.17, Python before
    // 3.9.5, many appliances): `010.0.0.1` is 10.0.0.1.
    if parts.len() == 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit()))
    {
        let octets: Option<Vec<u8>> = parts.iter().map(|p| p.parse::<u8>().ok()).collect();
        if let Some(o) = octets {
            let a = Ipv4Addr::new(o[0], o[1], o[2], o[3]);
            if !out.contains(&a) {
                out.push(a);
            }
        }
    }
    // iptables' short form: missing parts are zeros at the end.
    if nums.len() < 4 && nums.iter().all(|n| *n <= 255) {
        let mut octets = [0u8; 4];
        for (o, n) in octets.iter_mut().zip(&nums) {
            *o = *n as u8;
        }
        let a = Ipv4Addr::from(octets);
        if !out.contains(&a) {
            out.push(a);
        }
    }
    out
}

/// A prefix length (`8`) or a contiguous netmask (`255.0.0.0`).
fn prefix_len_v4(p: &str) -> Option<u8> {
    if let Ok(n) = p.parse::<u8>() {
        return (n <= 32).then_some(n);
    }
    let mask = u32::from(p.parse::<Ipv4Addr>().ok()?);
    let ones = mask.leading_ones();
    (mask.checked_shl(ones).unwrap_or(0) == 0).then_some(ones as u8)
}

/// Where IPv6 carries IPv4 in its last 32 bits: mapped (`::ffff:0:0/96`),
/// compatible (`::/96`), NAT64's well-known and local-use prefixes.
const LOW32: [(&str, u8); 4] = [
    ("::ffff:0:0", 96),
    ("::", 96),
    ("64:ff9b::", 96),
    ("64:ff9b:1::", 48),
];

/// The network itself and the IPv4 networks it carries.
pub fn with_embedded(net: Ipv6Net) -> Vec<IpNet> {
    let mut out = vec![IpNet::V6(net)];
    let whole_v4 = || IpNet::V4(Ipv4Net::default());
    for (prefix, len) in LOW32 {
        let Ok(region) = Ipv6Net::new(prefix.parse().unwrap_or(Ipv6Addr::UNSPECIFIED), len) else {
            continue;
        };
        if net.contains(&region) {
            out.push(whole_v4());
        } else if region.contains(&net) {
            if net.prefix_len() >= 96 {
                let low = (u128::from(net.network()) & 0xffff_ffff) as u32;
                if let Ok(v4) = Ipv4Net::new(Ipv4Addr::from(low), net.prefix_len() - 96) {
                    out.push(IpNet::V4(v4));
                }
            } else {
                out.push(whole_v4());
            }
        }
    }
    // 6to4: 2002:AABB:CCDD::/48 carries AA.BB.CC.DD.
    if let Ok(six_to_four) = Ipv6Net::new(Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16) {
        if net.contains(&six_to_four) {
            out.push(whole_v4());
        } else if six_to_four.contains(&net) {
            let bits = u128::from(net.network());
            let v4 = ((bits >> 80) & 0xffff_ffff) as u32;
            let len = (net.prefix_len() - 16).min(32);
            if let Ok(v4) = Ipv4Net::new(Ipv4Addr::from(v4), len) {
                out.push(IpNet::V4(v4.trunc()));
            }
        }
    }
    let mut seen = Vec::new();
    out.retain(|n| {
        let new = !seen.contains(n);
        seen.push(*n);
        new
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(s: &str) -> Vec<String> {
        match parse(s) {
            Ok(Parsed { items, .. }) => items
                .into_iter()
                .flat_map(|i| match i {
                    Item::Nets(n) => n.into_iter().map(|n| n.to_string()).collect(),
                    other => vec![format!("{other:?}")],
                })
                .collect(),
            Err(e) => vec![format!("error: {e}")],
        }
    }

    #[test]
    fn spellings_of_networks() {
        for (spelling, expect) in [
            ("0/0", "0.0.0.0/0"),
            ("10/8", "10.0.0.0/8"),
            ("0.0.0.0/0.0.0.0", "0.0.0.0/0"),
            ("10.0.0.0/255.0.0.0", "10.0.0.0/8"),
            ("0x0/0", "0.0.0.0/0"),
            ("2130706433", "127.0.0.1/32"),
            ("0x7f000001", "127.0.0.1/32"),
            ("0177.0.0.1", "127.0.0.1/32"),
            ("10.1.2.3/8", "10.0.0.0/8"),
            ("[::]/0", "::/0"),
            ("fe80::1%eth0", "fe80::1/128"),
            ("::ffff:0:0/96", "0.0.0.0/0"),
            ("64:ff9b::/96", "0.0.0.0/0"),
            ("::ffff:198.51.100.0/120", "198.51.100.0/24"),
            ("64:ff9b::10.0.0.1", "10.0.0.1/32"),
            ("2002:0a00::/24", "10.0.0.0/8"),
        ] {
            let got = nets(spelling);
            assert!(got.iter().any(|n| n == expect), "{spelling}: {got:?}");
        }
        // A range is every network it spans.
        assert_eq!(nets("0.0.0.0-255.255.255.255"), ["0.0.0.0/0"]);
        assert_eq!(
            nets("10.0.0.255-10.0.1.0"),
            ["10.0.0.255/32", "10.0.1.0/32"]
        );
        // Both readings of a short address.
        let got = nets("10.1");
        assert!(got.contains(&"10.0.0.1/32".to_owned()), "{got:?}");
        assert!(got.contains(&"10.1.0.0/32".to_owned()), "{got:?}");
    }

    #[test]
    fn lists_domains_and_what_cannot_be_read() {
        let p = parse("203.0.113.5,10.0.0.0/8").unwrap();
        assert!(p.list);
        assert_eq!(p.items.len(), 2);
        for (s, name) in [
            ("ＥＶＩＬ.example", "evil.example"),
            ("co。uk", "co.uk"),
            (".com", "com"),
            ("Login.Evil.example.", "login.evil.example"),
            ("https://evil.example/x", "evil.example"),
            ("phish@evil.example", "evil.example"),
        ] {
            assert_eq!(parse(s).unwrap().items, [Item::Domain(name.into())], "{s}");
        }
        assert_eq!(
            parse(&"ab".repeat(32)).unwrap().items,
            [Item::Hash],
            "a SHA-256"
        );
        for bad in [
            "?om",
            "%",
            "*.example.com",
            "a..b",
            "10.0.0.0/33",
            "10.0.0.0/255.0.255.0",
            "1.2.3.4.5",
            "::g/0",
            "*@gmail.com",
            "10.0.0.9-10.0.0.1",
        ] {
            assert!(parse(bad).is_err(), "{bad}: {:?}", parse(bad));
        }
    }
}
