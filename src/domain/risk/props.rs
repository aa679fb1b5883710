//! Property tests: a target cannot be talked down by spelling it another
//! way. Any spelling of a network reads as (at least) the network its
//! canonical form names, and no re-spelling lowers a target's floor.

use super::indicator::{self, Item};
use super::*;
use crate::domain::policy::Assets;
use crate::domain::types::ActionKind;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use proptest::prelude::*;
use std::net::{Ipv4Addr, Ipv6Addr};

fn policy() -> Policy {
    let mut p = Policy::builtin();
    p.assets = Assets {
        critical: vec!["srv-pay-*".into(), "dc-??".into()],
        own_ranges: vec!["198.51.100.0/24".parse().expect("a network")],
        ..Assets::default()
    };
    p
}

fn floor(action: ActionKind, target: &str) -> Risk {
    let p: ProposalSubmission = serde_json::from_value(serde_json::json!({
        "action": action.as_str(), "target": target, "risk": "low", "rationale": "r"
    }))
    .expect("a proposal");
    assess(&p, &policy()).floor
}

/// Spellings of an IPv4 network that blocking systems accept.
fn v4_spellings(net: Ipv4Net) -> Vec<String> {
    let a = net.network();
    let n = u32::from(a);
    let len = net.prefix_len();
    let o = a.octets();
    let mask = Ipv4Addr::from(u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0));
    let mut out = vec![
        format!("{a}/{len}"),
        format!("{a}/{mask}"),
        format!("{n}/{len}"),
        format!("{n:#x}/{len}"),
        format!("0{:o}.0{:o}.0{:o}.0{:o}/{len}", o[0], o[1], o[2], o[3]),
        format!("::ffff:{a}/{}", u32::from(len) + 96),
        format!("64:ff9b::{a}/{}", u32::from(len) + 96),
        format!("[::ffff:{a}]/{}", u32::from(len) + 96),
        format!("{}-{}", a, net.broadcast()),
        format!(" {a}/{len} "),
    ];
    // iptables' short form: trailing zero octets left out.
    let keep = o.iter().rposition(|x| *x != 0).map_or(1, |i| i + 1);
    let short: Vec<String> = o[..keep].iter().map(u8::to_string).collect();
    out.push(format!("{}/{len}", short.join(".")));
    if len == 32 {
        out.push(a.to_string());
        out.push(n.to_string());
    }
    out
}

fn covered(s: &str, want: &IpNet) -> bool {
    let Ok(parsed) = indicator::parse(s) else {
        return false;
    };
    let nets: Vec<IpNet> = parsed
        .items
        .into_iter()
        .flat_map(|i| match i {
            Item::Nets(n) => n,
            _ => Vec::new(),
        })
        .collect();
    // One reading is the network itself, or the range's pieces add up to it.
    nets.contains(want)
        || (nets.iter().all(|n| want.contains(n))
            && nets
                .iter()
                .map(|n| 1u64 << (32 - u32::from(n.prefix_len())).min(63))
                .sum::<u64>()
                == 1u64 << (32 - u32::from(want.prefix_len())))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

    #[test]
    fn every_spelling_of_a_v4_network_reads_as_it(addr in any::<u32>(), len in 0u8..=32) {
        let net = Ipv4Net::new(Ipv4Addr::from(addr), len).expect("a prefix").trunc();
        let want = IpNet::V4(net);
        let canonical = floor(ActionKind::BlockIndicator, &want.to_string());
        for s in v4_spellings(net) {
            prop_assert!(covered(&s, &want), "{s} does not read as {want}: {:?}", indicator::parse(&s));
            let f = floor(ActionKind::BlockIndicator, &s);
            prop_assert!(f >= canonical, "{s}: {f} below {want}'s {canonical}");
        }
    }

    #[test]
    fn every_spelling_of_a_v6_network_reads_as_it(addr in any::<u128>(), len in 0u8..=128) {
        let net = Ipv6Net::new(Ipv6Addr::from(addr), len).expect("a prefix").trunc();
        let want = IpNet::V6(net);
        let canonical = floor(ActionKind::BlockIndicator, &want.to_string());
        let a = net.network();
        for s in [
            format!("[{a}]/{len}"),
            format!("{}/{len}", a.segments().map(|x| format!("{x:04X}")).join(":")),
            format!("{a}%eth0/{len}"),
        ] {
            prop_assert!(covered(&s, &want) || indicator::parse(&s).is_ok_and(|p| p.items.iter().any(|i| matches!(i, Item::Nets(n) if n.contains(&want)))),
                "{s} does not read as {want}");
            let f = floor(ActionKind::BlockIndicator, &s);
            prop_assert!(f >= canonical, "{s}: {f} below {want}'s {canonical}");
        }
    }

    #[test]
    fn a_name_respelt_never_scores_lower(
        name in "[a-z]{2,6}(-[a-z0-9]{1,4}){0,2}",
        pick in prop::sample::select(vec![
            "srv-pay-01", "dc-01", "krbtgt", "root", "lsass.exe", "ws-0412", "administrator",
        ]),
        use_pick in any::<bool>(),
        action in prop::sample::select(ActionKind::ALL.to_vec()),
    ) {
        let base = if use_pick { pick.to_owned() } else { name };
        let canonical = floor(action.clone(), &base);
        for s in [
            base.to_uppercase(),
            format!("  {base}\t"),
            format!("corp\\{base}"),
            format!("{base}@CORP.EXAMPLE"),
            format!("host:{base}"),
            format!("user:{base}"),
            format!("{base}.corp.example"),
            base.replace('-', "\u{2010}"),
            base.replace('-', "\u{2212}"),
            base.chars().map(|c| char::from_u32(c as u32 + 0xfee0).filter(|_| c.is_ascii_alphanumeric()).unwrap_or(c)).collect(),
        ] {
            if action == ActionKind::BlockIndicator {
                // Indicators are judged as names or addresses by their own
                // rules; a re-spelt single label is held either way.
                continue;
            }
            let f = floor(action.clone(), &s);
            prop_assert!(f >= canonical, "{action} {s:?}: {f} below {base:?}'s {canonical}");
        }
    }
}
