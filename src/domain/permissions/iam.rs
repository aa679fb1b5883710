//! AWS IAM policy documents (identity, resource and trust policies): is
//! there a request (principal, action, resource) the new document allows
//! that the old one did not? AWS Access Analyzer's "check no new access",
//! answered soundly and locally:
//!
//! - New side: every Allow statement, Conditions ignored (a condition only
//!   narrows), `NotAction`/`NotResource`/`NotPrincipal` read as `*`, policy
//!   variables (`${aws:username}`) as `*`. Denies on the new side are not
//!   subtracted: a decoy Deny must never hide a grant.
//! - Old side: only Allow statements without Condition or `Not*` cover, and
//!   patterns holding a policy variable cover nothing.
//! - A new unit (action × resource × principal) not contained in one old
//!   covering statement is new access ("may grant" when it came from a
//!   `Not*` reading or only a conditional old statement would cover it).
//! - An old Deny not contained in a new Deny with the same or no Condition
//!   is new access (a removed Deny). Added Denies narrow.
//!
//! It never misses new access; it may raise a false alarm, and then says
//! "may grant new access".

use super::pattern::{contains, matches};
use super::{Analysis, Class, Grant};
use serde_json::Value;

/// One statement, normalised: patterns lower-cased where IAM ignores case.
#[derive(Debug, Clone)]
struct Stmt {
    allow: bool,
    actions: Vec<String>,
    resources: Vec<String>,
    principals: Vec<String>,
    /// Read from `NotAction`/`NotResource`/`NotPrincipal`.
    negated: bool,
    condition: Option<Value>,
}

fn strings(v: Option<&Value>) -> Option<Vec<String>> {
    match v? {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(a) => Some(
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect(),
        ),
        _ => None,
    }
}

/// `*`, `{"AWS": …}`, `{"Service": …}`: one string per principal, prefixed
/// by its kind; a bare account id is that account's root.
fn principals(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) if s == "*" => vec!["*".into()],
        Value::String(s) => vec![format!("aws:{s}")],
        Value::Object(m) => m
            .iter()
            .flat_map(|(kind, vals)| {
                strings(Some(vals))
                    .unwrap_or_default()
                    .into_iter()
                    .map(move |p| match (kind.as_str(), p.as_str()) {
                        (_, "*") => "*".to_owned(),
                        ("AWS", id) if id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()) => {
                            format!("aws:arn:aws:iam::{id}:root")
                        }
                        (k, id) => format!("{}:{id}", k.to_ascii_lowercase()),
                    })
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn statements(doc: &Value) -> Option<Vec<Stmt>> {
    let list = match doc.get("Statement")? {
        Value::Array(a) => a.clone(),
        s @ Value::Object(_) => vec![s.clone()],
        _ => return None,
    };
    let mut out = Vec::new();
    for s in &list {
        let allow = s.get("Effect")?.as_str()? == "Allow";
        let (actions, na) = match (strings(s.get("Action")), strings(s.get("NotAction"))) {
            (Some(a), _) => (a, false),
            (None, Some(_)) => (vec!["*".into()], true),
            (None, None) => return None,
        };
        let (resources, nr) = match (strings(s.get("Resource")), strings(s.get("NotResource"))) {
            (Some(r), _) => (r, false),
            (None, Some(_)) => (vec!["*".into()], true),
            // A trust policy: the role itself.
            (None, None) => (vec!["*".into()], false),
        };
        let (principals, np) = match (s.get("Principal"), s.get("NotPrincipal")) {
            (Some(p), _) => (principals(p), false),
            (None, Some(_)) => (vec!["*".into()], true),
            (None, None) => (vec!["(self)".into()], false),
        };
        out.push(Stmt {
            allow,
            actions: actions
                .into_iter()
                .map(|a| a.to_ascii_lowercase())
                .collect(),
            resources,
            principals,
            negated: na || nr || np,
            condition: s.get("Condition").cloned(),
        });
    }
    Some(out)
}

const VAR: &str = "${";

/// A new-side pattern: policy variables may be anything.
fn widen(p: &str) -> String {
    let mut out = String::new();
    let mut rest = p;
    while let Some(i) = rest.find(VAR) {
        out.push_str(&rest[..i]);
        out.push('*');
        rest = rest[i..].find('}').map_or("", |j| &rest[i + j + 1..]);
    }
    out.push_str(rest);
    out
}

fn covers(old: &Stmt, action: &str, resource: &str, principal: &str) -> bool {
    let any = |pats: &[String], x: &str| pats.iter().any(|p| !p.contains(VAR) && contains(x, p));
    any(&old.actions, action) && any(&old.resources, resource) && any(&old.principals, principal)
}

/// Sensitive actions, from Rhino Security Labs' "AWS IAM privilege
/// escalation methods" and cloudsplaining's credential-exposure list.
const ESCALATION: &[&str] = &[
    "iam:passrole",
    "iam:createpolicyversion",
    "iam:setdefaultpolicyversion",
    "iam:attachuserpolicy",
    "iam:attachgrouppolicy",
    "iam:attachrolepolicy",
    "iam:putuserpolicy",
    "iam:putgrouppolicy",
    "iam:putrolepolicy",
    "iam:addusertogroup",
    "iam:updateassumerolepolicy",
    "iam:createloginprofile",
    "iam:updateloginprofile",
    "sts:assumerole",
    "lambda:updatefunctioncode",
    "lambda:createfunction",
    "glue:updatedevendpoint",
    "glue:createdevendpoint",
    "cloudformation:createstack",
    "datapipeline:createpipeline",
];
const CREDENTIALS: &[&str] = &[
    "iam:createaccesskey",
    "iam:updateaccesskey",
    "iam:createservicespecificcredential",
    "secretsmanager:getsecretvalue",
    "ssm:getparameter",
    "ssm:getparameters",
    "ssm:getparametersbypath",
    "kms:decrypt",
    "sts:getsessiontoken",
    "sts:getfederationtoken",
];

/// Account ids named anywhere in a document's principals and resources.
fn accounts(stmts: &[Stmt]) -> Vec<String> {
    let mut out = Vec::new();
    for s in stmts {
        for x in s.principals.iter().chain(&s.resources) {
            let arn = x.strip_prefix("aws:").unwrap_or(x);
            if let Some(id) = arn.split(':').nth(4).filter(|id| id.len() == 12) {
                out.push(id.to_owned());
            }
        }
    }
    out
}

fn classify(action: &str, principal: &str, known_accounts: &[String]) -> (Class, String) {
    if principal == "*" || principal.starts_with("aws:*") {
        return (
            Class::PublicOrCrossAccount,
            "anyone (Principal \"*\")".into(),
        );
    }
    if let Some(id) = principal
        .strip_prefix("aws:")
        .and_then(|arn| arn.split(':').nth(4))
        .filter(|id| id.len() == 12 && !known_accounts.iter().any(|k| k == id))
    {
        return (
            Class::PublicOrCrossAccount,
            format!("account {id}, named nowhere in the old document"),
        );
    }
    if let Some(x) = ESCALATION.iter().find(|x| matches(action, x)) {
        return (Class::PrivilegeEscalation, format!("reaches {x}"));
    }
    if let Some(x) = CREDENTIALS.iter().find(|x| matches(action, x)) {
        return (Class::CredentialExposure, format!("reaches {x}"));
    }
    let verb = action.split_once(':').map_or(action, |(_, v)| v);
    let read = ["get", "list", "describe", "head", "view"]
        .iter()
        .any(|r| verb.starts_with(r));
    if read && !verb.starts_with('*') {
        (Class::Read, String::new())
    } else {
        (Class::Write, String::new())
    }
}

/// Compares two IAM policy documents; `None` if either is not one.
pub fn analyse(before: &Value, after: &Value) -> Option<Analysis> {
    let old = statements(before)?;
    // New-side patterns widened once: policy variables may be anything.
    let new: Vec<Stmt> = statements(after)?
        .into_iter()
        .map(|mut s| {
            s.actions = s.actions.iter().map(|p| widen(p)).collect();
            s.resources = s.resources.iter().map(|p| widen(p)).collect();
            s
        })
        .collect();
    let known = accounts(&old);
    let mut a = Analysis::new("aws-iam");
    let exact_old: Vec<&Stmt> = old
        .iter()
        .filter(|s| s.allow && !s.negated && s.condition.is_none())
        .collect();
    let index = ServiceIndex::new(&exact_old);
    // Old statements read inexactly (Not*): covering by one of them is
    // "maybe". A conditional old statement covers nothing: dropping its
    // Condition is new access.
    let inexact_old: Vec<&Stmt> = old.iter().filter(|s| s.allow && s.negated).collect();
    for s in new.iter().filter(|s| s.allow) {
        for action in &s.actions {
            for resource in &s.resources {
                for principal in &s.principals {
                    if index
                        .candidates(action)
                        .any(|o| covers(o, action, resource, principal))
                    {
                        continue;
                    }
                    // It came from a Not* reading, or only a statement we
                    // cannot reason about exactly would cover it.
                    let unsure = s.negated
                        || inexact_old
                            .iter()
                            .any(|o| covers(o, action, resource, principal));
                    let (class, why) = classify(action, principal, &known);
                    a.grant(Grant {
                        action: action.clone(),
                        resource: resource.clone(),
                        principal: (principal != "(self)").then(|| principal.clone()),
                        class,
                        why,
                        certain: !unsure,
                    });
                }
            }
        }
    }
    // Denies: every old Deny must still be there, as wide, with the same or
    // no Condition.
    for d in old.iter().filter(|s| !s.allow) {
        let kept = new.iter().filter(|n| !n.allow).any(|n| {
            (n.condition.is_none() || n.condition == d.condition)
                && if d.negated || n.negated {
                    n.actions == d.actions && n.resources == d.resources && n.negated == d.negated
                } else {
                    d.actions.iter().all(|x| {
                        d.resources
                            .iter()
                            .all(|r| d.principals.iter().all(|p| covers_deny(n, x, r, p)))
                    })
                }
        });
        if !kept {
            a.removed_denies.push(describe(d));
        }
    }
    for n in new.iter().filter(|s| !s.allow) {
        let was = old.iter().filter(|o| !o.allow).any(|o| {
            o.actions == n.actions && o.resources == n.resources && o.condition == n.condition
        });
        if !was {
            a.added_denies.push(describe(n));
        }
    }
    // Grants the new document no longer makes (for people; no risk).
    for o in &exact_old {
        for action in &o.actions {
            for resource in &o.resources {
                let still = new.iter().filter(|s| s.allow).any(|s| {
                    s.actions.iter().any(|x| contains(action, x))
                        && s.resources.iter().any(|r| contains(resource, r))
                });
                if !still {
                    a.removed.push(format!("{action} on {resource}"));
                }
            }
        }
    }
    a.settle();
    Some(a)
}

/// Old statements by the service of their actions (`s3` of `s3:Get*`), so
/// a new unit is checked only against statements that could hold it.
struct ServiceIndex<'a> {
    by_service: std::collections::HashMap<&'a str, Vec<&'a Stmt>>,
    /// Statements with an action whose service part is a wildcard.
    anywhere: Vec<&'a Stmt>,
}

fn service(action: &str) -> Option<&str> {
    let svc = action.split(':').next()?;
    (!svc.contains(['*', '?']) && action.contains(':')).then_some(svc)
}

impl<'a> ServiceIndex<'a> {
    fn new(stmts: &[&'a Stmt]) -> Self {
        let mut by_service: std::collections::HashMap<&str, Vec<&Stmt>> = Default::default();
        let mut anywhere = Vec::new();
        for s in stmts {
            let mut services: Vec<&str> = Vec::new();
            for a in &s.actions {
                match service(a) {
                    Some(svc) if !services.contains(&svc) => services.push(svc),
                    Some(_) => {}
                    None => {
                        anywhere.push(*s);
                        services.clear();
                        break;
                    }
                }
            }
            for svc in services {
                by_service.entry(svc).or_default().push(*s);
            }
        }
        ServiceIndex {
            by_service,
            anywhere,
        }
    }

    /// Statements that could hold `action`: those of its service and those
    /// with a wildcard service. An action with a wildcard service could be
    /// held only by the latter.
    fn candidates(&self, action: &str) -> impl Iterator<Item = &&'a Stmt> {
        let same = service(action)
            .and_then(|svc| self.by_service.get(svc))
            .into_iter()
            .flatten();
        same.chain(self.anywhere.iter())
    }
}

fn covers_deny(n: &Stmt, action: &str, resource: &str, principal: &str) -> bool {
    let any = |pats: &[String], x: &str| pats.iter().any(|p| contains(x, p));
    any(&n.actions, action) && any(&n.resources, resource) && any(&n.principals, principal)
}

fn describe(s: &Stmt) -> String {
    format!(
        "{}{} on {}{}",
        if s.negated {
            "NotAction/NotResource "
        } else {
            ""
        },
        s.actions.join(", "),
        s.resources.join(", "),
        if s.condition.is_some() {
            " (with a Condition)"
        } else {
            ""
        }
    )
}
