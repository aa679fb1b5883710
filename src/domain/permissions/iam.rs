//! AWS IAM policy documents (identity, resource and trust policies): is
//! there a request (principal, action, resource) the new document allows
//! that the old one did not? AWS Access Analyzer's "check no new access",
//! answered soundly and locally:
//!
//! - Reading is strict, as AWS's own parser is: only the elements AWS
//!   knows, `Effect` exactly `Allow` or `Deny` (AWS's values are
//!   case-sensitive: `allow` is no Allow, and no Deny either), strings or
//!   lists of strings where AWS wants them. Anything else is unreadable:
//!   "not analysed", never "no new access".
//! - New side: every Allow statement, Conditions ignored (a condition only
//!   narrows), `NotAction`/`NotResource`/`NotPrincipal` read as `*`, policy
//!   variables (`${aws:username}`) as `*`. Denies on the new side are not
//!   subtracted from the delta: a decoy Deny must never hide a grant.
//! - Old side: only Allow statements without Condition or `Not*` cover, and
//!   patterns holding a policy variable cover nothing.
//! - A new unit (action × resource × principal) not contained in one old
//!   covering statement is new access ("may grant" when it came from a
//!   `Not*` reading or only a conditional old statement would cover it).
//! - An old Deny not contained in a new Deny with the same or no Condition
//!   is new access (a removed Deny). Policy variables are conservative in
//!   both directions: an old Deny's variable may be anything (what it
//!   denied must stay denied everywhere it could reach), a new Deny's
//!   pattern holding a variable covers nothing certain (unless it is the
//!   old pattern, verbatim). `Not*` Denies are kept only verbatim. Added
//!   Denies narrow.
//! - The resulting document on its own: every Allow unit of the new
//!   document not denied outright (an unconditional Deny that holds it) is
//!   reported when its principal is public (`*`) or its action escalates
//!   privilege or exposes credentials — whatever the old document says.
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
    /// The `Not*` elements verbatim (a negated Deny is kept only verbatim).
    negation: Option<Value>,
    condition: Option<Value>,
}

/// A string or a list of strings; `Err` for anything else (AWS refuses
/// it), `Ok(None)` when absent.
#[allow(clippy::result_unit_err)]
fn strings(v: Option<&Value>) -> Result<Option<Vec<String>>, ()> {
    match v {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| x.as_str().map(str::to_owned).ok_or(()))
            .collect::<Result<Vec<_>, ()>>()
            .map(Some),
        Some(_) => Err(()),
    }
}

/// `*`, `{"AWS": …}`, `{"Service": …}`: one string per principal, prefixed
/// by its kind; a bare account id is that account's root. `None` for what
/// AWS would refuse (an unknown kind, a value that is not a string).
fn principals(v: &Value) -> Option<Vec<String>> {
    let out: Vec<String> = match v {
        Value::String(s) if s == "*" => vec!["*".into()],
        Value::String(s) => vec![format!("aws:{s}")],
        Value::Object(m) => {
            let mut out = Vec::new();
            for (kind, vals) in m {
                if !["AWS", "Service", "Federated", "CanonicalUser"].contains(&kind.as_str()) {
                    return None;
                }
                for p in strings(Some(vals)).ok()?.unwrap_or_default() {
                    out.push(match (kind.as_str(), p.as_str()) {
                        (_, "*") => "*".to_owned(),
                        ("AWS", id) if id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()) => {
                            format!("aws:arn:aws:iam::{id}:root")
                        }
                        (k, id) => format!("{}:{id}", k.to_ascii_lowercase()),
                    });
                }
            }
            out
        }
        _ => return None,
    };
    (!out.is_empty()).then_some(out)
}

const STATEMENT_KEYS: &[&str] = &[
    "Sid",
    "Effect",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Principal",
    "NotPrincipal",
    "Condition",
];

fn statements(doc: &Value) -> Option<Vec<Stmt>> {
    let top = doc.as_object()?;
    if top
        .keys()
        .any(|k| !["Version", "Id", "Statement"].contains(&k.as_str()))
    {
        return None;
    }
    let list = match top.get("Statement")? {
        Value::Array(a) => a.iter().collect::<Vec<_>>(),
        s @ Value::Object(_) => vec![s],
        _ => return None,
    };
    let mut out = Vec::new();
    for s in list {
        let m = s.as_object()?;
        if m.keys().any(|k| !STATEMENT_KEYS.contains(&k.as_str())) {
            return None;
        }
        let allow = match m.get("Effect")?.as_str()? {
            "Allow" => true,
            "Deny" => false,
            _ => return None,
        };
        let (actions, na) = match (
            strings(m.get("Action")).ok()?,
            strings(m.get("NotAction")).ok()?,
        ) {
            (Some(a), None) => (a, false),
            (None, Some(_)) => (vec!["*".into()], true),
            _ => return None,
        };
        let (resources, nr) = match (
            strings(m.get("Resource")).ok()?,
            strings(m.get("NotResource")).ok()?,
        ) {
            (Some(r), None) => (r, false),
            (None, Some(_)) => (vec!["*".into()], true),
            // A trust policy: the role itself.
            (None, None) => (vec!["*".into()], false),
            (Some(_), Some(_)) => return None,
        };
        let (principals, np) = match (m.get("Principal"), m.get("NotPrincipal")) {
            (Some(p), None) => (principals(p)?, false),
            (None, Some(p)) => {
                principals(p)?;
                (vec!["*".into()], true)
            }
            (None, None) => (vec!["(self)".into()], false),
            (Some(_), Some(_)) => return None,
        };
        let condition = match m.get("Condition") {
            None | Some(Value::Null) => None,
            Some(c @ Value::Object(_)) => Some(c.clone()),
            Some(_) => return None,
        };
        let negation = (na || nr || np).then(|| {
            serde_json::json!([
                m.get("NotAction"),
                m.get("NotResource"),
                m.get("NotPrincipal")
            ])
        });
        out.push(Stmt {
            allow,
            actions: actions
                .into_iter()
                .map(|a| a.to_ascii_lowercase())
                .collect(),
            resources,
            principals,
            negated: na || nr || np,
            negation,
            condition,
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
/// escalation methods" and cloudsplaining's credential-exposure list, and
/// what turns audit logging off (defence evasion: escalation's companion).
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
    "iam:deleterolepermissionsboundary",
    "iam:deleteuserpermissionsboundary",
    "iam:putrolepermissionsboundary",
    "iam:putuserpermissionsboundary",
    "sts:assumerole",
    "sts:assumerolewithsaml",
    "sts:assumerolewithwebidentity",
    "lambda:updatefunctioncode",
    "lambda:updatefunctionconfiguration",
    "lambda:createfunction",
    "glue:updatedevendpoint",
    "glue:createdevendpoint",
    "cloudformation:createstack",
    "cloudformation:updatestack",
    "datapipeline:createpipeline",
    "codebuild:createproject",
    "ssm:sendcommand",
    "ssm:startsession",
    "ec2-instance-connect:sendsshpublickey",
    "sagemaker:createpresignednotebookinstanceurl",
    "organizations:leaveorganization",
    "organizations:detachpolicy",
    "organizations:deletepolicy",
    "organizations:updatepolicy",
    "ec2:modifyinstanceattribute",
    "iam:tagrole",
    "iam:taguser",
    "sso:createaccountassignment",
    "sso:attachmanagedpolicytopermissionset",
    "sso:putinlinepolicytopermissionset",
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
    "ec2:getpassworddata",
    "kms:creategrant",
];
const EVASION: &[&str] = &[
    "cloudtrail:stoplogging",
    "cloudtrail:deletetrail",
    "cloudtrail:updatetrail",
    "cloudtrail:puteventselectors",
    "guardduty:deletedetector",
    "guardduty:updatedetector",
    "config:stopconfigurationrecorder",
    "config:deleteconfigurationrecorder",
    "guardduty:createfilter",
    "guardduty:disassociatefromadministratoraccount",
    "securityhub:disablesecurityhub",
];

/// Does the (lower-cased) action pattern reach one of these actions?
fn reaches(action: &str, list: &'static [&'static str]) -> Option<&'static str> {
    if action.contains(['*', '?']) {
        list.iter().find(|x| matches(action, x)).copied()
    } else {
        list.iter().find(|x| **x == action).copied()
    }
}

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

/// Anyone: `*`, or a principal holding a wildcard (AWS allows `*` only
/// whole; read any other wildcard as the widest).
fn public(principal: &str) -> bool {
    principal.contains('*')
}

/// The class of an action alone (escalation, credentials, audit, write,
/// read).
fn action_class(action: &str) -> (Class, String) {
    if let Some(x) = reaches(action, ESCALATION) {
        return (Class::PrivilegeEscalation, format!("reaches {x}"));
    }
    if let Some(x) = reaches(action, EVASION) {
        return (
            Class::PrivilegeEscalation,
            format!("reaches {x}: turns audit logging off"),
        );
    }
    if let Some(x) = reaches(action, CREDENTIALS) {
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

fn classify(action: &str, principal: &str, known_accounts: &[String]) -> (Class, String) {
    if public(principal) {
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
    action_class(action)
}

/// The class of a unit of the resulting document on its own, if it is
/// sensitive whatever the old document says: anyone, escalation (`*` on
/// `*` among it), credentials. A trust policy's `sts:AssumeRole` for a
/// named principal is what a trust policy is for (who is new is the
/// delta's question), not a standing escalation.
fn standing_class(action: &str, principal: &str) -> Option<(Class, String)> {
    if public(principal) {
        return Some((
            Class::PublicOrCrossAccount,
            "anyone (Principal \"*\")".into(),
        ));
    }
    if principal != "(self)" && action.starts_with("sts:") && !action.contains('*') {
        return None;
    }
    let (class, why) = action_class(action);
    matches!(
        class,
        Class::PrivilegeEscalation | Class::CredentialExposure
    )
    .then_some((class, why))
}

/// Compares two IAM policy documents; `None` if either is not one.
pub fn analyse(before: &Value, after: &Value) -> Option<Analysis> {
    // Without `"Version": "2012-10-17"` AWS reads `${…}` as literal text:
    // a policy variable then means something else on each side.
    let literal_variables = |d: &Value| {
        d.get("Version").and_then(Value::as_str) != Some("2012-10-17")
            && d.to_string().contains(VAR)
    };
    if literal_variables(before) || literal_variables(after) {
        return Some(Analysis::not_analysed(
            "aws-iam",
            "policy variables in a document without \"Version\": \"2012-10-17\" are read as literal text by AWS",
        ));
    }
    let old = statements(before)?;
    // New-side Allow patterns widened once: policy variables may be
    // anything. New Denies keep theirs (a variable narrows them to nothing
    // certain).
    let new: Vec<Stmt> = statements(after)?
        .into_iter()
        .map(|mut s| {
            if s.allow {
                s.actions = s.actions.iter().map(|p| widen(p)).collect();
                s.resources = s.resources.iter().map(|p| widen(p)).collect();
                s.principals = s.principals.iter().map(|p| widen(p)).collect();
            }
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
    // Denies of the new document that hold a unit outright: no Condition,
    // no Not*, no variable.
    let outright: Vec<&Stmt> = new
        .iter()
        .filter(|s| !s.allow && !s.negated && s.condition.is_none())
        .collect();
    for s in new.iter().filter(|s| s.allow) {
        for action in &s.actions {
            for resource in &s.resources {
                for principal in &s.principals {
                    let principal_shown = (principal != "(self)").then(|| principal.clone());
                    if let Some((class, why)) = standing_class(action, principal)
                        && !outright
                            .iter()
                            .any(|d| deny_holds(d, action, resource, principal))
                    {
                        a.resulting(Grant {
                            action: action.clone(),
                            resource: resource.clone(),
                            principal: principal_shown.clone(),
                            class,
                            why,
                            certain: !s.negated,
                        });
                    }
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
                        principal: principal_shown,
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
                    n.negation == d.negation
                        && n.actions == d.actions
                        && n.resources == d.resources
                        && n.principals == d.principals
                } else {
                    d.actions.iter().all(|x| {
                        d.resources
                            .iter()
                            .all(|r| d.principals.iter().all(|p| deny_still_holds(n, x, r, p)))
                    })
                }
        });
        if !kept {
            a.removed_denies.push(describe(d));
        }
    }
    for n in new.iter().filter(|s| !s.allow) {
        let was = old.iter().filter(|o| !o.allow).any(|o| {
            o.actions == n.actions
                && o.resources == n.resources
                && o.condition == n.condition
                && o.negation == n.negation
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

/// Does new Deny `n` still deny what an old Deny denied at this pattern?
/// The old pattern's variables may be anything (widened); a new pattern
/// holding a variable covers nothing, unless it is the old one verbatim.
fn deny_still_holds(n: &Stmt, action: &str, resource: &str, principal: &str) -> bool {
    let any = |pats: &[String], x: &str| {
        let wide = widen(x);
        pats.iter()
            .any(|p| p == x || (!p.contains(VAR) && contains(&wide, p)))
    };
    any(&n.actions, action) && any(&n.resources, resource) && any(&n.principals, principal)
}

/// Does an outright Deny hold this (widened) Allow unit?
fn deny_holds(n: &Stmt, action: &str, resource: &str, principal: &str) -> bool {
    let any = |pats: &[String], x: &str| pats.iter().any(|p| !p.contains(VAR) && contains(x, p));
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
