//! What a permission change really grants: the effective difference in
//! access between the `before` and `after` documents, not their text. Pure
//! code, shared by the server (risk floors) and the console (the diff tab).
//!
//! Formats analysed: AWS IAM policy documents, GCP-shaped IAM bindings,
//! Kubernetes RBAC roles and bindings (JSON or YAML), plain entitlement
//! lists (`format: "text"`, one per line: set difference). Anything else is
//! "not analysed" — never "no new access".

pub mod gcp;
pub mod iam;
pub mod pattern;
pub mod rbac;

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
        }
    }

    fn not_analysed(format: &str) -> Self {
        Analysis {
            verdict: Verdict::NotAnalysed,
            ..Analysis::new(format)
        }
    }

    pub fn grant(&mut self, g: Grant) {
        if self.new_grants.len() < MAX_GRANTS && !self.new_grants.contains(&g) {
            self.new_grants.push(g);
        }
    }

    /// The verdict from what was found.
    pub fn settle(&mut self) {
        self.new_grants.sort_by_key(|g| (g.class, !g.certain));
        self.verdict =
            if self.new_grants.iter().any(|g| g.certain) || !self.removed_denies.is_empty() {
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

/// Analyses a `permission_change` (`format`, `before`, `after`).
pub fn analyse(format: &str, before: &str, after: &str) -> Analysis {
    let f = format.to_ascii_lowercase();
    if matches!(f.as_str(), "text" | "list" | "lines") {
        return text(before, after);
    }
    let parse = |s: &str| serde_json::from_str::<Value>(s).ok();
    if let (Some(b), Some(a)) = (parse(before), parse(after))
        && (a.get("Statement").is_some() || b.get("Statement").is_some())
    {
        return iam::analyse(&b, &a)
            .unwrap_or_else(|| Analysis::not_analysed("aws-iam (unreadable)"));
    }
    if let (Some(b), Some(a)) = (parse(before), parse(after))
        && (a.get("bindings").is_some() || b.get("bindings").is_some())
    {
        return gcp::analyse(&b, &a)
            .unwrap_or_else(|| Analysis::not_analysed("gcp-iam (unreadable)"));
    }
    if let Some(a) = rbac::analyse(before, after) {
        return a;
    }
    Analysis::not_analysed(&f)
}

/// Plain entitlement lists: one per line; new lines are new access.
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
    for e in new.difference(&old) {
        let lower = e.to_ascii_lowercase();
        let class = if ["admin", "owner", "root", "superuser", "iam", "security"]
            .iter()
            .any(|k| lower.contains(k))
        {
            Class::PrivilegeEscalation
        } else {
            Class::Write
        };
        a.grant(Grant {
            action: (*e).to_owned(),
            resource: "(entitlement)".into(),
            principal: None,
            class,
            why: String::new(),
            certain: true,
        });
    }
    a.removed = old.difference(&new).map(|s| (*s).to_owned()).collect();
    a.settle();
    a
}

#[cfg(test)]
mod tests;
