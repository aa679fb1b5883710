//! The demo's data set (`alerts.json`), written for this project: realistic alerts an AI
//! triage pipeline would raise, each with the proposals it would make.
//! Covers endpoint malware, impossible travel, a service-account token from
//! a new ASN, an exposed cloud key, an AI-drafted IAM change that quietly
//! broadens access, an over-broad Kubernetes role binding, a noisy false
//! positive, a prompt-injection attempt in the evidence, a hostname carrying
//! terminal escape sequences, and every risk tier.

use serde_json::{Value, json};

/// The seeded alerts (at least 30), from `alerts.json` beside this file:
/// data, not code, so it reads and changes like the submissions it is.
pub fn alerts() -> Vec<Value> {
    // Embedded at build time and checked by the test below, so this parse
    // cannot fail in a build that passed its tests.
    serde_json::from_str(include_str!("alerts.json")).unwrap_or_default()
}

fn ev(kind: &str, title: &str, body: &str) -> Value {
    json!({"kind": kind, "title": title, "body": body})
}

/// New alerts the simulated agent keeps raising, cycled with fresh ids.
pub fn stream(n: u64) -> Value {
    let hosts = [
        "ws-2201",
        "ws-2240",
        "lap-hr-014",
        "srv-web-03",
        "ws-0733",
        "lap-dev-101",
    ];
    let host = hosts[(n as usize) % hosts.len()];
    let (sev, risk, conf) = match n % 5 {
        0 => ("critical", "critical", 0.93),
        1 | 3 => ("high", "high", 0.81),
        _ => ("medium", "medium", 0.66),
    };
    let mut a = json!({
        "external_id": format!("edr-live-{n}"),
        "source": "crowdstrike",
        "severity": sev,
        "title": format!("Credential dumping attempt on {host}"),
        "entity": {"kind": "host", "id": host},
        "summary": {
            "text": format!("procdump.exe was run against lsass.exe on {host} by a user who has never run admin tools. The dump file was written to a share and then deleted."),
            "model": "triage-v3",
            "confidence": conf,
        },
        "evidence": [ev(
            "process_tree",
            "process chain",
            &format!(
                "explorer.exe\n └─ procdump64.exe -ma lsass.exe \\\\fs01\\scratch\\l.dmp\nhost: {host}"
            )
        )],
        "context": {"rule_id": "edr-lsass-dump"},
        "proposals": [{
            "action": "isolate_host",
            "target": host,
            "risk": risk,
            "rationale": "Contain the host; the dump may hold domain credentials.",
        }],
    });
    if n.is_multiple_of(4) {
        // A short fuse: shows the countdown and, if nobody acts, expiry.
        a["proposals"][0]["expires_in_secs"] = json!(300);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seeded_alert_is_valid_and_there_are_enough() {
        let all = alerts();
        assert!(all.len() >= 30, "{}", all.len());
        for a in all.into_iter().chain((0..10).map(stream)) {
            crate::domain::submission::parse(a.clone())
                .unwrap_or_else(|e| panic!("{}: {e}", a["external_id"]));
        }
    }
}
