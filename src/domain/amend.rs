//! Narrowing before approving: a person approves a proposal as amended —
//! a smaller network, fewer hosts, fewer grants, a shorter expiry — and
//! signs over both the digest of what was shown and the digest of the
//! amended document. The gate accepts an amendment only if it narrows:
//! the same action, a target contained in the original, a permission
//! document that grants nothing the proposed one did not.

use super::permissions::{self, Verdict};
pub use super::records::Amended;
use super::records::ProposalRecord;
use super::risk::indicator::{self, Item};
use super::submission::{self, ProposalSubmission, ValidSubmission};
use super::types::ActionKind;
use serde_json::{Map, Value, json};

/// The fields an amendment may replace.
pub const FIELDS: [&str; 3] = ["target", "permission_change", "expires_in_secs"];

/// Why an amendment is refused, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {why}")]
pub struct NotNarrower {
    pub field: String,
    pub why: String,
}

fn refuse(field: &str, why: impl Into<String>) -> NotNarrower {
    NotNarrower {
        field: field.to_owned(),
        why: why.into(),
    }
}

/// The proposal document with `amend`'s fields in its place, and what each
/// replaced. `amend` holds `target`, `permission_change` (`{"after": …}`
/// only: the format and what is there now stay) or `expires_in_secs`.
pub fn apply(original: &Value, amend: &Value) -> Result<(Value, Map<String, Value>), NotNarrower> {
    let Some(fields) = amend.as_object().filter(|m| !m.is_empty()) else {
        return Err(refuse("amend", "an object of the fields it replaces"));
    };
    let mut doc = original.clone();
    let mut changed = Map::new();
    for (field, to) in fields {
        let from = original.get(field).cloned().unwrap_or(Value::Null);
        match field.as_str() {
            "target" | "expires_in_secs" => doc[field] = to.clone(),
            "permission_change" => {
                let after = to
                    .as_object()
                    .filter(|o| o.len() == 1)
                    .and_then(|o| o.get("after"))
                    .ok_or_else(|| {
                        refuse(
                            "amend.permission_change",
                            "only `after` is amended; the format and `before` stay",
                        )
                    })?;
                if from.is_null() {
                    return Err(refuse(
                        "amend.permission_change",
                        "the proposal has no permission change",
                    ));
                }
                doc[field]["after"] = after.clone();
            }
            other => {
                return Err(refuse(
                    &format!("amend.{other}"),
                    format!("not amendable (only {})", FIELDS.join(", ")),
                ));
            }
        }
        changed.insert(field.clone(), json!({"from": from, "to": doc[field]}));
    }
    Ok((doc, changed))
}

/// The amended proposal as a submission of its own (its alert's document
/// and the amended proposal), so it is validated and digested as any.
pub fn submission(alert_document: &Value, amended: &Value) -> Result<ValidSubmission, NotNarrower> {
    let mut body = alert_document.clone();
    body["proposals"] = json!([amended]);
    submission::parse(body).map_err(|e| {
        let field = e.field.replace("proposals[0]", "amend");
        refuse(&field, e.message)
    })
}

/// Whether `amended` narrows `original` (stored, with its lifetime).
pub fn narrows(
    original: &ProposalRecord,
    proposed: &ProposalSubmission,
    amended: &ProposalSubmission,
) -> Result<(), NotNarrower> {
    if amended.action != proposed.action {
        return Err(refuse("action", "an amendment keeps the action"));
    }
    if amended.target != proposed.target {
        target_within(&proposed.action, &proposed.target, &amended.target)?;
    }
    match (&proposed.permission_change, &amended.permission_change) {
        (Some(p), Some(a)) if p.after != a.after => {
            let a = permissions::analyse(&p.format, &p.after, &a.after);
            if a.verdict != Verdict::NoNewAccess {
                return Err(refuse(
                    "permission_change.after",
                    format!(
                        "the amended document may grant what the proposed one did not ({})",
                        a.unreadable.unwrap_or_else(|| a.verdict.text().to_owned())
                    ),
                ));
            }
        }
        _ => {}
    }
    let lifetime = (original.expires_at - original.created_at).max(0) as u64 / 1000;
    if let Some(secs) = amended.expires_in_secs
        && secs > lifetime
    {
        return Err(refuse(
            "expires_in_secs",
            format!("{secs} s is longer than the {lifetime} s it had"),
        ));
    }
    Ok(())
}

/// The parts of a target an executor may act on each of.
fn parts(target: &str) -> Vec<&str> {
    target
        .split(|c: char| c == ',' || c == ';' || c == '|' || c.is_whitespace())
        .filter(|p| !p.is_empty())
        .collect()
}

/// Every part of `amended` inside a part of `original`: the same name, or
/// for an indicator a network inside the original's (as every system reads
/// both) or a subdomain of its domain.
fn target_within(action: &ActionKind, original: &str, amended: &str) -> Result<(), NotNarrower> {
    let wanted = parts(amended);
    if wanted.is_empty() {
        return Err(refuse("target", "an amended target names something"));
    }
    let have = parts(original);
    for part in wanted {
        let inside = have.iter().any(|o| {
            *o == part || (*action == ActionKind::BlockIndicator && indicator_within(o, part))
        });
        if !inside {
            return Err(refuse(
                "target",
                format!("`{}` is not within `{original}`", part.escape_debug()),
            ));
        }
    }
    Ok(())
}

/// `inner` within `outer`, however a blocking system reads either: every
/// network `inner` may be read as inside every one `outer` may, or a
/// subdomain of the domain.
fn indicator_within(outer: &str, inner: &str) -> bool {
    let (Ok(o), Ok(i)) = (indicator::parse(outer), indicator::parse(inner)) else {
        return false;
    };
    match (o.items.as_slice(), i.items.as_slice()) {
        ([Item::Nets(outer)], [Item::Nets(inner)]) => {
            inner.iter().all(|n| outer.iter().all(|o| o.contains(n)))
        }
        ([Item::Domain(outer)], [Item::Domain(inner)]) => {
            inner == outer || inner.ends_with(&format!(".{outer}"))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_smaller_network_or_fewer_hosts_is_narrower() {
        let block = ActionKind::BlockIndicator;
        assert!(target_within(&block, "10.0.0.0/24", "10.0.0.5/32").is_ok());
        assert!(target_within(&block, "10.0.0.0/24", "10.0.0.5").is_ok());
        assert!(target_within(&block, "10.0.0.0/24", "10.0.1.5/32").is_err());
        assert!(target_within(&block, "10.0.0.0/24", "10.0.0.0/16").is_err());
        // 10/8 is also 0.0.0.10/8 to inet_aton: 10.1.0.0/16 is not inside both.
        assert!(target_within(&block, "10/8", "10.1.0.0/16").is_err());
        assert!(target_within(&block, "evil.example", "cdn.evil.example").is_ok());
        assert!(target_within(&block, "cdn.evil.example", "evil.example").is_err());
        assert!(target_within(&block, "evil.example", "notevil.example").is_err());
        let isolate = ActionKind::IsolateHost;
        assert!(target_within(&isolate, "ws-1,ws-2,ws-3", "ws-2").is_ok());
        assert!(target_within(&isolate, "ws-1,ws-2", "ws-2, ws-1").is_ok());
        assert!(target_within(&isolate, "ws-1,ws-2", "ws-4").is_err());
        assert!(target_within(&isolate, "ws-1", " ").is_err());
        let account = ActionKind::DisableAccount;
        assert!(target_within(&account, "alice@corp", "bob@corp").is_err());
    }

    #[test]
    fn only_the_amendable_fields_and_only_after() {
        let doc = json!({"action": "modify_policy", "target": "role/x", "risk": "high", "rationale": "r",
                         "permission_change": {"format": "aws-iam", "before": "{}", "after": "{}"}});
        assert!(apply(&doc, &json!({"action": "block_indicator"})).is_err());
        assert!(apply(&doc, &json!({})).is_err());
        assert!(apply(&doc, &json!({"permission_change": {"before": "x"}})).is_err());
        let (amended, changed) =
            apply(&doc, &json!({"permission_change": {"after": "[]"}})).unwrap();
        assert_eq!(amended["permission_change"]["before"], "{}");
        assert_eq!(amended["permission_change"]["after"], "[]");
        assert_eq!(changed["permission_change"]["from"]["after"], "{}");
    }
}
