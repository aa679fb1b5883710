//! Cloud IAM bindings in the GCP shape: `{"bindings": [{"role", "members",
//! "condition"}]}`. A (role, member) pair the new policy grants and no
//! unconditional old binding does is new access; a dropped condition is
//! new access; added conditions narrow. Classes from GCP's own owner-level
//! roles and permissions (`roles/owner`, `setIamPolicy`, `actAs`): see
//! https://cloud.google.com/iam/docs/understanding-roles.

use super::{Analysis, Class, Grant};
use serde_json::Value;

/// (role, member, has a condition)
fn bindings(doc: &Value) -> Option<Vec<(String, String, bool)>> {
    let list = doc.get("bindings")?.as_array()?;
    let mut out = Vec::new();
    for b in list {
        let role = b.get("role")?.as_str()?.to_owned();
        let conditional = b.get("condition").is_some_and(|c| !c.is_null());
        for m in b.get("members")?.as_array()? {
            out.push((role.clone(), m.as_str()?.to_owned(), conditional));
        }
    }
    Some(out)
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
    "roles/iam.workloadIdentityUser",
    "roles/resourcemanager.organizationAdmin",
    "roles/resourcemanager.folderAdmin",
    "roles/resourcemanager.projectIamAdmin",
    "roles/cloudfunctions.developer",
    "roles/run.admin",
];
const CREDENTIALS: &[&str] = &[
    "roles/secretmanager.secretAccessor",
    "roles/secretmanager.admin",
    "roles/cloudkms.cryptoKeyDecrypter",
    "roles/cloudkms.cryptoKeyEncrypterDecrypter",
];

fn classify(role: &str, member: &str) -> (Class, String) {
    if member == "allUsers" || member == "allAuthenticatedUsers" {
        return (Class::PublicOrCrossAccount, format!("{member}: anyone"));
    }
    if ESCALATION.contains(&role) || role.ends_with(".admin") && role.contains("iam") {
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

pub fn analyse(before: &Value, after: &Value) -> Option<Analysis> {
    let old = bindings(before)?;
    let new = bindings(after)?;
    let mut a = Analysis::new("gcp-iam");
    for (role, member, _) in &new {
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
    a.settle();
    Some(a)
}
