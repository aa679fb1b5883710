//! Reversing what ran: what undoes each action kind, and the compensating
//! proposal a signed `revert` creates. The proposal is derived from the
//! executed one alone (and the policy's `[inverses]` for custom kinds), so
//! the console shows, and the person signs over, exactly the document the
//! server then creates.

use super::limits::TITLE;
use super::policy::Policy;
use super::records::{AlertRecord, ProposalRecord};
use super::submission::{self, ValidSubmission};
use super::text::truncate;
use super::types::ActionKind;
use serde_json::{Value, json};

/// The external id of a compensating alert: `revert:` and the id of the
/// proposal it reverts. Reserved: an agent's submission may not use it.
pub const PREFIX: &str = "revert:";

/// Why a proposal cannot be reverted by the gate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotReversible(pub String);

/// What undoes `kind`: built in for the containment kinds and permission
/// changes; for a custom kind, what the policy's `[inverses]` names.
pub fn inverse(kind: &ActionKind, policy: &Policy) -> Result<ActionKind, NotReversible> {
    let named = |s: &str| ActionKind::Other(s.to_owned());
    match kind {
        ActionKind::IsolateHost => Ok(named("release_host")),
        ActionKind::DisableAccount => Ok(named("enable_account")),
        ActionKind::BlockIndicator => Ok(named("unblock_indicator")),
        ActionKind::QuarantineFile => Ok(named("restore_file")),
        ActionKind::ModifyPolicy => Ok(ActionKind::ModifyPolicy),
        ActionKind::Other(_) => policy.inverse_of(kind).cloned().ok_or_else(|| {
            NotReversible(format!(
                "`{kind}` has no inverse: the policy's [inverses] does not name one"
            ))
        }),
        other => Err(NotReversible(format!(
            "`{other}` cannot be undone (a revoked token or a rotated secret stays so, a killed process dead, reset credentials reset)"
        ))),
    }
}

/// The external id of the alert that reverts `proposal_id`.
pub fn external_id(proposal_id: &str) -> String {
    format!("{PREFIX}{proposal_id}")
}

/// The proposal a revert of `original` (of `alert`, executed) creates: the
/// same target and parameters under the inverse kind (a permission change
/// with `before` and `after` swapped), in an alert of its own that names
/// what it reverts. A command line (`parameters.argv`) has no inverse the
/// gate can derive.
pub fn compensating(
    alert: &AlertRecord,
    original: &ProposalRecord,
    policy: &Policy,
) -> Result<ValidSubmission, NotReversible> {
    let inverse = inverse(&original.action, policy)?;
    let mut p = original.document.clone();
    if p["parameters"].get("argv").is_some() {
        return Err(NotReversible(
            "it ran a command line (parameters.argv): the gate cannot derive what undoes it; propose the undo as an action of its own".into(),
        ));
    }
    let Some(obj) = p.as_object_mut() else {
        return Err(NotReversible("its stored document is not an object".into()));
    };
    obj.remove("expires_in_secs");
    obj.insert("action".into(), json!(inverse.as_str()));
    obj.insert(
        "rationale".into(),
        json!(format!(
            "Reverts proposal {} ({} on {}), which was executed.",
            original.id, original.action, original.target
        )),
    );
    if let Some(change) = obj.get_mut("permission_change") {
        let before = change["before"].take();
        let after = change["after"].take();
        change["before"] = after;
        change["after"] = before;
    }
    let body = json!({
        "external_id": external_id(&original.id),
        "source": "countersign",
        "severity": alert.severity,
        "title": truncate(&format!("Revert: {}", alert.title), TITLE),
        "entity": {"kind": alert.entity_kind, "id": alert.entity_id},
        "summary": {
            "text": format!(
                "Reverts proposal {} of alert {} ({}): {} on {}, executed. It goes to whoever ran the original, through the same gate.",
                original.id, alert.id, alert.external_id, original.action, original.target
            ),
            "model": "countersign",
            "confidence": 1.0,
        },
        "context": {"reverts": {"proposal_id": original.id, "alert_id": alert.id}},
        "proposals": [p],
    });
    submission::parse(body)
        .map_err(|e| NotReversible(format!("its compensating proposal is not valid: {e}")))
}

/// The proposal a compensating alert reverts, from its external id.
pub fn reverts(external_id: &str) -> Option<&str> {
    external_id.strip_prefix(PREFIX)
}

/// Whether `v` (a proposal document) reverts something: its alert context
/// names it.
pub fn reverted_in(alert_document: &Value) -> Option<&str> {
    alert_document["context"]["reverts"]["proposal_id"].as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(extra: &str) -> Policy {
        Policy::from_toml(&format!("[defaults]\napprovals = 1\n{extra}"), "t").unwrap()
    }

    #[test]
    fn every_kind_has_its_inverse_or_a_reason_it_has_none() {
        let p = policy("[inverses]\n\"mcp:edr.isolate_host\" = \"mcp:edr.release_host\"\n");
        let inv = |k: &str| inverse(&k.parse().unwrap(), &p).map(|a| a.to_string());
        assert_eq!(inv("isolate_host").unwrap(), "release_host");
        assert_eq!(inv("disable_account").unwrap(), "enable_account");
        assert_eq!(inv("block_indicator").unwrap(), "unblock_indicator");
        assert_eq!(inv("quarantine_file").unwrap(), "restore_file");
        assert_eq!(inv("modify_policy").unwrap(), "modify_policy");
        assert_eq!(inv("mcp:edr.isolate_host").unwrap(), "mcp:edr.release_host");
        for none in [
            "revoke_token",
            "rotate_secret",
            "kill_process",
            "reset_credentials",
            "run_command",
        ] {
            assert!(inv(none).is_err(), "{none}");
        }
    }

    #[test]
    fn a_policy_names_inverses_only_for_custom_kinds() {
        let bad = Policy::from_toml(
            "[defaults]\napprovals = 1\n[inverses]\nisolate_host = \"unisolate\"\n",
            "t",
        );
        assert!(bad.unwrap_err().to_string().contains("built-in"));
        let bad = Policy::from_toml(
            "[defaults]\napprovals = 1\n[inverses]\n\"a b\" = \"c\"\n",
            "t",
        );
        assert!(bad.is_err());
    }
}
