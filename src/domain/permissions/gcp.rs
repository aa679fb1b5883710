//! Cloud IAM policies in the GCP shape: `{"bindings": [{"role", "members",
//! "condition"}], "auditConfigs": [...], "etag", "version"}` (proto JSON:
//! `audit_configs` is the same member as `auditConfigs`).
//!
//! - A (role, member) pair the new policy grants and no unconditional old
//!   binding does is new access; a dropped condition is new access; added
//!   conditions narrow.
//! - Audit logging: every (service, log type) the old policy logged must
//!   still be logged (by the service's own entry or `allServices`), with no
//!   member exempted the old policy did not exempt. Anything less is
//!   "audit logging reduced", a finding of its own.
//! - The resulting policy on its own: a binding for `allUsers` or
//!   `allAuthenticatedUsers`, an owner-level or escalation role, or a role
//!   that reads secrets is reported whatever the old policy says.
//! - Reading is strict, as the API's is: unknown members, members that are
//!   not strings, or a member spelt twice ways are unreadable ("not
//!   analysed").
//!
//! Classes from GCP's own owner-level roles and permissions (`roles/owner`,
//! `setIamPolicy`, `actAs`): see
//! https://cloud.google.com/iam/docs/understanding-roles.

use super::{Analysis, Class, Grant};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// A member under one of its two proto-JSON spellings; `Err` if both.
fn member<'a>(
    m: &'a Map<String, Value>,
    camel: &str,
    snake: &str,
) -> Result<Option<&'a Value>, ()> {
    match (m.get(camel), m.get(snake)) {
        (Some(_), Some(_)) => Err(()),
        (a, b) => Ok(a.or(b)),
    }
}

fn known_keys(m: &Map<String, Value>, keys: &[&str]) -> bool {
    m.keys().all(|k| keys.contains(&k.as_str()))
}

/// (role, member, has a condition)
fn bindings(doc: &Value) -> Option<Vec<(String, String, bool)>> {
    let top = doc.as_object()?;
    if !known_keys(
        top,
        &[
            "bindings",
            "auditConfigs",
            "audit_configs",
            "etag",
            "version",
        ],
    ) {
        return None;
    }
    let Some(list) = top.get("bindings") else {
        return Some(Vec::new());
    };
    let mut out = Vec::new();
    for b in list.as_array()? {
        let m = b.as_object()?;
        if !known_keys(m, &["role", "members", "condition"]) {
            return None;
        }
        let role = m.get("role")?.as_str()?.to_owned();
        let conditional = m.get("condition").is_some_and(|c| !c.is_null());
        for x in m.get("members")?.as_array()? {
            out.push((role.clone(), x.as_str()?.to_owned(), conditional));
        }
    }
    Some(out)
}

/// (service, log type) → exempted members.
type Logging = BTreeMap<(String, String), BTreeSet<String>>;

fn audit(doc: &Value) -> Option<Logging> {
    let top = doc.as_object()?;
    let mut out = Logging::new();
    let Some(list) = member(top, "auditConfigs", "audit_configs").ok()? else {
        return Some(out);
    };
    for c in list.as_array()? {
        let m = c.as_object()?;
        if !known_keys(m, &["service", "auditLogConfigs", "audit_log_configs"]) {
            return None;
        }
        let service = m.get("service")?.as_str()?.to_owned();
        let Some(logs) = member(m, "auditLogConfigs", "audit_log_configs").ok()? else {
            continue;
        };
        for l in logs.as_array()? {
            let lm = l.as_object()?;
            if !known_keys(
                lm,
                &["logType", "log_type", "exemptedMembers", "exempted_members"],
            ) {
                return None;
            }
            let log_type = member(lm, "logType", "log_type")
                .ok()??
                .as_str()?
                .to_owned();
            let exempted = match member(lm, "exemptedMembers", "exempted_members").ok()? {
                None => BTreeSet::new(),
                Some(v) => v
                    .as_array()?
                    .iter()
                    .map(|x| x.as_str().map(str::to_owned))
                    .collect::<Option<BTreeSet<_>>>()?,
            };
            out.entry((service.clone(), log_type))
                .or_default()
                .extend(exempted);
        }
    }
    Some(out)
}

/// Is (service, log type) logged, and for whom not?
fn logged<'a>(l: &'a Logging, service: &str, log_type: &str) -> Option<BTreeSet<&'a String>> {
    let own = l.get(&(service.to_owned(), log_type.to_owned()));
    let all = l.get(&("allServices".to_owned(), log_type.to_owned()));
    if own.is_none() && all.is_none() {
        return None;
    }
    Some(own.into_iter().chain(all).flatten().collect())
}

/// What the new audit configuration no longer logs.
fn reduced(old: &Logging, new: &Logging) -> Vec<String> {
    let mut out = Vec::new();
    for (service, log_type) in old.keys() {
        let before = logged(old, service, log_type).unwrap_or_default();
        match logged(new, service, log_type) {
            None => out.push(format!("{log_type} no longer logged for {service}")),
            Some(after) => {
                for m in after.difference(&before) {
                    out.push(format!("{m} newly exempted from {log_type} on {service}"));
                }
            }
        }
    }
    out
}

/// Roles that let the holder grant themselves more, or act as others.
const ESCALATION: &[&str] = &[
    "roles/owner",
    "roles/editor",
    "roles/iam.securityAdmin",
    "roles/iam.serviceAccountAdmin",
    "roles/iam.serviceAccountUser",
    "roles/iam.serviceAccountTokenCreator",
    "roles/iam.serviceAccountKeyAdmin",
    "roles/iam.roleAdmin",
    "roles/iam.organizationRoleAdmin",
    "roles/iam.workloadIdentityUser",
    "roles/iam.workloadIdentityPoolAdmin",
    "roles/resourcemanager.organizationAdmin",
    "roles/resourcemanager.folderAdmin",
    "roles/resourcemanager.projectIamAdmin",
    "roles/cloudfunctions.developer",
    "roles/cloudfunctions.admin",
    "roles/run.admin",
    "roles/container.admin",
    "roles/compute.instanceAdmin.v1",
    "roles/cloudbuild.builds.editor",
    "roles/deploymentmanager.editor",
    "roles/logging.admin",
    "roles/logging.configWriter",
    "roles/compute.admin",
    "roles/iam.denyAdmin",
    "roles/cloudkms.admin",
    "roles/storage.admin",
];
const CREDENTIALS: &[&str] = &[
    "roles/secretmanager.secretAccessor",
    "roles/secretmanager.admin",
    "roles/cloudkms.cryptoKeyDecrypter",
    "roles/cloudkms.cryptoKeyEncrypterDecrypter",
];

/// Members that are everyone somewhere: a consumer mail domain, a whole
/// pool of federated identities.
fn everyone_in(member: &str) -> Option<String> {
    const CONSUMER: &[&str] = &[
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "yahoo.com",
        "icloud.com",
    ];
    if let Some(d) = member.strip_prefix("domain:")
        && CONSUMER.contains(&d.to_ascii_lowercase().as_str())
    {
        return Some(format!("everyone with a {d} address"));
    }
    if member.starts_with("principalSet:") && member.ends_with("/*") {
        return Some(format!("{member}: every identity in the pool"));
    }
    None
}

fn is_public(member: &str) -> bool {
    member == "allUsers" || member == "allAuthenticatedUsers"
}

fn role_class(role: &str) -> (Class, String) {
    let lower = role.to_ascii_lowercase();
    if ESCALATION.contains(&role) || lower.ends_with("admin") && lower.contains("iam") {
        return (
            Class::PrivilegeEscalation,
            format!("{role} can grant access or act as others"),
        );
    }
    if CREDENTIALS.contains(&role) {
        return (
            Class::CredentialExposure,
            format!("{role} reads secrets or keys"),
        );
    }
    let read = ["viewer", "reader", "browser", "Viewer", "Reader"]
        .iter()
        .any(|r| role.ends_with(r));
    if read {
        (Class::Read, String::new())
    } else {
        (Class::Write, String::new())
    }
}

fn classify(role: &str, member: &str) -> (Class, String) {
    if is_public(member) {
        return (Class::PublicOrCrossAccount, format!("{member}: anyone"));
    }
    if let Some(d) = member.strip_prefix("domain:") {
        return (
            Class::PublicOrCrossAccount,
            format!("everyone in the domain {d}"),
        );
    }
    if member.starts_with("principalSet:") {
        return (
            Class::PublicOrCrossAccount,
            "a set of federated identities".into(),
        );
    }
    role_class(role)
}

pub fn analyse(before: &Value, after: &Value) -> Option<Analysis> {
    let old = bindings(before)?;
    let new = bindings(after)?;
    let (old_log, new_log) = (audit(before)?, audit(after)?);
    let mut a = Analysis::new("gcp-iam");
    for (role, member, conditional) in &new {
        let (class, why) = role_class(role);
        let standing = if is_public(member) {
            Some((Class::PublicOrCrossAccount, format!("{member}: anyone")))
        } else if let Some(why) = everyone_in(member) {
            Some((Class::PublicOrCrossAccount, why))
        } else {
            matches!(
                class,
                Class::PrivilegeEscalation | Class::CredentialExposure
            )
            .then_some((class, why))
        };
        if let Some((class, why)) = standing {
            a.resulting(Grant {
                action: role.clone(),
                resource: "(this resource)".into(),
                principal: Some(member.clone()),
                class,
                why,
                certain: !conditional,
            });
        }
        let covered = old
            .iter()
            .any(|(r, m, conditional)| r == role && m == member && !conditional);
        if covered {
            continue;
        }
        let (class, why) = classify(role, member);
        a.grant(Grant {
            action: role.clone(),
            resource: "(this resource)".into(),
            principal: Some(member.clone()),
            class,
            why,
            certain: true,
        });
    }
    for (role, member, _) in &old {
        if !new.iter().any(|(r, m, _)| r == role && m == member) {
            a.removed.push(format!("{role} for {member}"));
        }
    }
    a.audit_reduced = reduced(&old_log, &new_log);
    a.settle();
    Some(a)
}
