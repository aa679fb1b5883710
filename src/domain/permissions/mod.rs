//! What a permission change really grants, judged by what is, not by what
//! the agent claims. Pure code, shared by the server (risk floors) and the
//! console (the diff tab).
//!
//! Two questions, both answered for every change:
//!
//! - **The delta**: is there a request the `after` document allows that the
//!   `before` document did not (new grants, removed Denies, reduced audit
//!   logging)?
//! - **The resulting document on its own**: does `after` grant admin, a
//!   public principal, privilege escalation or credentials, whatever
//!   `before` says? The agent writes `before` too; it only shows a reviewer
//!   what changes and never makes a grant harmless. Ordinary standing
//!   grants (`s3:GetObject` on one bucket) are not reported.
//!
//! Formats: every document is tried as an AWS IAM policy, GCP IAM bindings
//! and Kubernetes RBAC (JSON or YAML), whatever the `format` label says; if
//! it reads as one it is judged as that. Only a document that is none of
//! them is read as a plain entitlement list (one per line, set difference),
//! and only when the label says `text`, `list` or `lines`. An empty
//! document is one that grants nothing (a policy created or deleted).
//! Anything else — unknown shapes, malformed members, a name twice in one
//! object — is "not analysed", never "no new access": what cannot be read
//! is held for a person.

pub mod gcp;
pub mod iam;
pub mod pattern;
pub mod rbac;
pub mod yaml;

use super::json::{self, JsonProblem};
use super::types::{ActionKind, Risk};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    NoNewAccess,
    GrantsNewAccess,
    MayGrantNewAccess,
    NotAnalysed,
}

impl Verdict {
    pub fn text(self) -> &'static str {
        match self {
            Verdict::NoNewAccess => "no new access",
            Verdict::GrantsNewAccess => "grants new access",
            Verdict::MayGrantNewAccess => "may grant new access",
            Verdict::NotAnalysed => "not analysed",
        }
    }
}

/// What kind of access a new grant is, most dangerous first. From Rhino
/// Security Labs' IAM privilege-escalation methods and cloudsplaining's
/// categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    PrivilegeEscalation,
    CredentialExposure,
    PublicOrCrossAccount,
    Write,
    Read,
}

impl Class {
    pub fn text(self) -> &'static str {
        match self {
            Class::PrivilegeEscalation => "privilege escalation",
            Class::CredentialExposure => "credential exposure",
            Class::PublicOrCrossAccount => "public or cross-account exposure",
            Class::Write => "write",
            Class::Read => "read",
        }
    }

    /// Escalation, credentials and exposure beyond the account: critical.
    pub fn is_severe(self) -> bool {
        matches!(
            self,
            Class::PrivilegeEscalation | Class::CredentialExposure | Class::PublicOrCrossAccount
        )
    }
}

/// One request the new document allows that the old did not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub action: String,
    pub resource: String,
    pub principal: Option<String>,
    pub class: Class,
    /// Why it is in its class ("reaches iam:passrole").
    pub why: String,
    /// `false`: exact reasoning was out of reach ("may grant").
    pub certain: bool,
}

impl Grant {
    pub fn describe(&self) -> String {
        let mut s = format!("grants {} on {}", self.action, self.resource);
        if let Some(p) = &self.principal {
            s.push_str(&format!(" to {p}"));
        }
        s.push_str(&format!(" ({}", self.class.text()));
        if !self.why.is_empty() {
            s.push_str(&format!(": {}", self.why));
        }
        s.push(')');
        s
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Analysis {
    /// What was analysed: `aws-iam`, `text`, or what was not.
    pub format: String,
    pub verdict: Verdict,
    pub new_grants: Vec<Grant>,
    /// Grants the new document no longer makes.
    pub removed: Vec<String>,
    pub added_denies: Vec<String>,
    /// Old Denies the new document no longer has (new access).
    pub removed_denies: Vec<String>,
    /// What the resulting document grants on its own that is sensitive
    /// (admin, public, escalation, credentials), whatever `before` says.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resulting: Vec<Grant>,
    /// Audit logging the new document no longer does (GCP `auditConfigs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audit_reduced: Vec<String>,
    /// Why the change was not analysed, when it was not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
}

/// How many grants an analysis keeps (a wildcard policy could list many).
const MAX_GRANTS: usize = 200;

impl Analysis {
    pub fn new(format: &str) -> Self {
        Analysis {
            format: format.to_owned(),
            verdict: Verdict::NoNewAccess,
            new_grants: Vec::new(),
            removed: Vec::new(),
            added_denies: Vec::new(),
            removed_denies: Vec::new(),
            resulting: Vec::new(),
            audit_reduced: Vec::new(),
            unreadable: None,
        }
    }

    /// Not analysed, and why.
    pub fn not_analysed(format: &str, why: impl Into<String>) -> Self {
        Analysis {
            verdict: Verdict::NotAnalysed,
            unreadable: Some(why.into()),
            ..Analysis::new(format)
        }
    }

    pub fn grant(&mut self, g: Grant) {
        if self.new_grants.len() < MAX_GRANTS && !self.new_grants.contains(&g) {
            self.new_grants.push(g);
        }
    }

    /// A sensitive grant of the resulting document on its own.
    pub fn resulting(&mut self, g: Grant) {
        if self.resulting.len() < MAX_GRANTS && !self.resulting.contains(&g) {
            self.resulting.push(g);
        }
    }

    /// The verdict from what was found: the delta (new grants, removed
    /// Denies, reduced audit logging). The resulting document's own grants
    /// are judged beside it, in [`concerns`].
    pub fn settle(&mut self) {
        self.new_grants.sort_by_key(|g| (g.class, !g.certain));
        self.resulting.sort_by_key(|g| (g.class, !g.certain));
        self.verdict = if self.new_grants.iter().any(|g| g.certain)
            || !self.removed_denies.is_empty()
            || !self.audit_reduced.is_empty()
        {
            Verdict::GrantsNewAccess
        } else if !self.new_grants.is_empty() {
            Verdict::MayGrantNewAccess
        } else {
            Verdict::NoNewAccess
        };
    }

    /// The most severe class among the new grants.
    pub fn worst(&self) -> Option<Class> {
        self.new_grants.iter().map(|g| g.class).min()
    }
}

/// One side of a change, read.
enum Side {
    /// Empty: a document that grants nothing (created or deleted).
    Absent,
    /// Parsed: one JSON document, or one value per YAML document.
    Docs(Vec<Value>),
    /// Neither JSON nor YAML.
    Opaque,
    /// A name twice in one object: two readers, two meanings. Never read.
    Ambiguous(String),
}

impl Side {
    fn docs(&self) -> &[Value] {
        match self {
            Side::Docs(d) => d,
            _ => &[],
        }
    }
}

fn read(text: &str) -> Side {
    if text.trim().is_empty() {
        return Side::Absent;
    }
    match json::check(text.as_bytes()) {
        Err(JsonProblem::Duplicate { path, name }) => {
            return Side::Ambiguous(format!("the name `{name}` appears twice, at {path}"));
        }
        Err(JsonProblem::Syntax(_)) => {}
        Ok(()) | Err(JsonProblem::NotIJson { .. }) => {
            return match serde_json::from_str::<Value>(text) {
                Ok(v) => Side::Docs(vec![v]),
                Err(_) => Side::Opaque,
            };
        }
    }
    match yaml::documents(text) {
        Some(docs) => Side::Docs(docs),
        None => match yaml::duplicate(text) {
            Some(p) => Side::Ambiguous(p.to_string()),
            None => Side::Opaque,
        },
    }
}

/// Has the object a member of one of these names, in any case? (A name in
/// the wrong case is still tried as that format, and then refused by its
/// strict reading: never passed to a weaker one.)
fn named(v: &Value, names: &[&str]) -> bool {
    v.as_object().is_some_and(|m| {
        m.keys()
            .any(|k| names.iter().any(|n| k.eq_ignore_ascii_case(n)))
    })
}

fn is_iam(v: &Value) -> bool {
    named(v, &["Statement"])
}

fn is_gcp(v: &Value) -> bool {
    named(v, &["bindings", "auditConfigs", "audit_configs"])
}

fn is_k8s(v: &Value) -> bool {
    match v {
        Value::Array(items) => items.iter().any(is_k8s),
        _ => named(
            v,
            &[
                "kind",
                "apiVersion",
                "rules",
                "roleRef",
                "subjects",
                "aggregationRule",
            ],
        ),
    }
}

/// Analyses a `permission_change` (`format`, `before`, `after`). The label
/// is a hint only (see the module docs).
pub fn analyse(format: &str, before: &str, after: &str) -> Analysis {
    let mut a = analyse_documents(format, before, after);
    // A document deleted whole may have been a permissions boundary, a
    // service control policy or a Deny: the gate cannot tell which.
    if after.trim().is_empty() && !before.trim().is_empty() && a.verdict != Verdict::NotAnalysed {
        a.grant(Grant {
            action: "(document deleted)".into(),
            resource: "(whatever it limited)".into(),
            principal: None,
            class: Class::Write,
            why: "a deleted boundary, SCP or Deny widens access".into(),
            certain: false,
        });
        a.settle();
    }
    a
}

fn analyse_documents(format: &str, before: &str, after: &str) -> Analysis {
    let f = format.to_ascii_lowercase();
    let listy = matches!(f.as_str(), "text" | "list" | "lines");
    let (b, a) = (read(before), read(after));
    for side in [&b, &a] {
        if let Side::Ambiguous(why) = side {
            return Analysis::not_analysed(&f, why.clone());
        }
    }
    let (old, new) = (b.docs(), a.docs());
    let all = || old.iter().chain(new);
    if all().any(is_iam) {
        return one_each(&b, &a, "aws-iam", &["Statement"], iam::analyse);
    }
    if all().any(is_gcp) {
        return one_each(&b, &a, "gcp-iam", &["bindings"], gcp::analyse);
    }
    if all().any(is_k8s) {
        if matches!(b, Side::Opaque) || matches!(a, Side::Opaque) {
            return Analysis::not_analysed("kubernetes-rbac", "one side is neither JSON nor YAML");
        }
        return rbac::analyse(old, new).unwrap_or_else(|| {
            Analysis::not_analysed(
                "kubernetes-rbac (unreadable)",
                "not every document is a well-formed Role, ClusterRole, RoleBinding or ClusterRoleBinding",
            )
        });
    }
    if listy {
        return text(before, after);
    }
    Analysis::not_analysed(
        &f,
        "neither an IAM policy, GCP bindings, Kubernetes RBAC nor (labelled text) a list",
    )
}

/// IAM and GCP documents: one document a side; an empty side is an empty
/// document of the other's format.
fn one_each(
    b: &Side,
    a: &Side,
    name: &str,
    list: &[&str],
    f: fn(&Value, &Value) -> Option<Analysis>,
) -> Analysis {
    let empty = Value::Object(
        list.iter()
            .map(|k| ((*k).to_owned(), Value::Array(Vec::new())))
            .collect(),
    );
    fn one<'a>(s: &'a Side, empty: &'a Value) -> Option<&'a Value> {
        match s {
            Side::Absent => Some(empty),
            Side::Docs(d) if d.len() == 1 => d.first(),
            _ => None,
        }
    }
    match (one(b, &empty), one(a, &empty)) {
        (Some(old), Some(new)) => f(old, new).unwrap_or_else(|| {
            Analysis::not_analysed(
                &format!("{name} (unreadable)"),
                "a member is missing, misspelt or of the wrong type",
            )
        }),
        _ => Analysis::not_analysed(name, "not one document on each side"),
    }
}

/// Plain entitlement lists: one per line; new lines are new access, and
/// privileged lines in the resulting list are reported on their own.
fn text(before: &str, after: &str) -> Analysis {
    let old: std::collections::BTreeSet<&str> = before
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let new: std::collections::BTreeSet<&str> = after
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut a = Analysis::new("text");
    let grant = |e: &str| {
        let lower = e.to_ascii_lowercase();
        let words: Vec<&str> = lower
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        let class = if [
            "admin",
            "owner",
            "root",
            "superuser",
            "iam",
            "security",
            "nopasswd",
            "poweruser",
            "fullaccess",
            "readwrite",
            "privileged",
        ]
        .iter()
        .any(|k| lower.contains(k))
            || ["all", "wheel", "sudo", "sudoers", "contributor", "any"]
                .iter()
                .any(|k| words.contains(k))
            || lower.trim() == "*"
        {
            Class::PrivilegeEscalation
        } else {
            Class::Write
        };
        Grant {
            action: e.to_owned(),
            resource: "(entitlement)".into(),
            principal: None,
            class,
            why: String::new(),
            certain: true,
        }
    };
    for e in new.difference(&old) {
        a.grant(grant(e));
    }
    for e in &new {
        let g = grant(e);
        if g.class.is_severe() {
            a.resulting(g);
        }
    }
    a.removed = old.difference(&new).map(|s| (*s).to_owned()).collect();
    // A list is not always a set: in sudoers or a firewall's rules a later
    // line overrides an earlier one, and a removed line may have been the
    // one that denied.
    let sequence = |t: &str| -> Vec<String> {
        t.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let (old_seq, new_seq) = (sequence(before), sequence(after));
    let kept_in_old_order: Vec<&String> = old_seq
        .iter()
        .filter(|l| new.contains(l.as_str()))
        .collect();
    let kept_in_new_order: Vec<&String> = new_seq
        .iter()
        .filter(|l| old.contains(l.as_str()))
        .collect();
    if kept_in_old_order != kept_in_new_order {
        a.grant(Grant {
            action: "(lines reordered)".into(),
            resource: "(entitlement)".into(),
            principal: None,
            class: Class::Write,
            why: "where a later line overrides an earlier one, a new order is new access".into(),
            certain: false,
        });
    }
    for r in &a.removed {
        let lower = r.to_ascii_lowercase();
        if lower.contains('!')
            || [
                "deny", "revoke", "block", "exclude", "reject", "disallow", "drop",
            ]
            .iter()
            .any(|k| lower.contains(k))
        {
            a.removed_denies.push(r.clone());
        }
    }
    a.settle();
    a
}

/// A floor the analysis sets beside its verdict, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Concern {
    pub class: &'static str,
    pub detail: String,
    pub floor: Risk,
}

/// What the analysis finds beside the delta: the resulting document's own
/// sensitive grants (high; critical for escalation or public exposure),
/// reduced audit logging (high).
pub fn concerns(a: &Analysis) -> Vec<Concern> {
    let mut out = Vec::new();
    if let Some(first) = a.resulting.first() {
        let critical = a.resulting.iter().any(|g| {
            matches!(
                g.class,
                Class::PrivilegeEscalation | Class::PublicOrCrossAccount
            )
        });
        let more = match a.resulting.len() {
            1 => String::new(),
            n => format!(" and {} more", n - 1),
        };
        out.push(Concern {
            class: "resulting_document",
            detail: format!(
                "the resulting document on its own {}{more}, whatever the old document says",
                first.describe()
            ),
            floor: if critical { Risk::Critical } else { Risk::High },
        });
    }
    if !a.audit_reduced.is_empty() {
        out.push(Concern {
            class: "audit_logging_reduced",
            detail: format!("audit logging reduced: {}", a.audit_reduced.join("; ")),
            floor: Risk::High,
        });
    }
    out
}

/// A name twice in one object of an embedded document (JSON, or YAML),
/// with its path: refused at submission, as in the envelope.
pub fn duplicate_names(text: &str) -> Option<JsonProblem> {
    match json::check(text.as_bytes()) {
        Err(p @ JsonProblem::Duplicate { .. }) => Some(p),
        Err(JsonProblem::Syntax(_)) => yaml::duplicate(text),
        Ok(()) | Err(JsonProblem::NotIJson { .. }) => None,
    }
}

/// Is this action kind one that changes who can do what? `modify_policy`
/// always; others when the policy's `[assets] access_changing` names them.
pub fn changes_access(action: &ActionKind, access_changing: &[ActionKind]) -> bool {
    *action == ActionKind::ModifyPolicy || access_changing.contains(action)
}

/// An access-changing proposal that sent no `permission_change`: what it
/// grants cannot be judged, so it is held as if it may grant new access.
pub fn missing_change(action: &ActionKind, access_changing: &[ActionKind]) -> Option<Concern> {
    changes_access(action, access_changing).then(|| Concern {
        class: "not_analysed",
        detail: format!(
            "a `{action}` proposal changes access but carries no permission_change: held as if it may grant new access"
        ),
        floor: Risk::High,
    })
}

#[cfg(test)]
mod tests;
