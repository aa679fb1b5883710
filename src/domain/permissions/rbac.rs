//! Kubernetes RBAC, JSON or YAML (serde-saphyr: panic-free on hostile
//! input). Kubernetes answers the same question itself —
//! `Covers(ownerRules, servantRules)` in k8s.io/component-helpers breaks
//! rules into atomic (group, resource, resourceName, verb) tuples and
//! returns those nothing covers — and so does this:
//!
//! - Role/ClusterRole rules: an atom of the new rules not covered by one old
//!   rule is new access (`*` covers anything; `pods/*` covers subresources;
//!   an empty `resourceNames` means every name).
//! - RoleBinding/ClusterRoleBinding: a (scope, subject, role) the old
//!   binding did not grant is new access.
//!
//! Classes from Kubernetes' "RBAC good practices": `escalate`, `bind`,
//! `impersonate`, `serviceaccounts/token`, wildcards and `cluster-admin` are
//! privilege escalation; reading `secrets` is credential exposure; the
//! `system:authenticated`/`unauthenticated` groups are public.

use super::{Analysis, Class, Grant};
use serde_json::Value;

fn docs(text: &str) -> Option<Vec<Value>> {
    let parsed: Vec<Value> = match serde_json::from_str::<Value>(text) {
        Ok(v) => vec![v],
        Err(_) => serde_saphyr::from_multiple(text).ok()?,
    };
    let mut out = Vec::new();
    for v in parsed {
        match v {
            Value::Array(items) => out.extend(items),
            Value::Object(ref m) if m.get("kind").and_then(Value::as_str) == Some("List") => {
                out.extend(m.get("items")?.as_array()?.iter().cloned());
            }
            Value::Null => {}
            other => out.push(other),
        }
    }
    Some(out)
}

fn list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// One atomic permission: (apiGroup, resource, resourceName, verb), or a
/// non-resource URL and verb (group "(url)").
#[derive(Debug, Clone, PartialEq, Eq)]
struct Atom {
    group: String,
    resource: String,
    name: String,
    verb: String,
}

#[derive(Debug, Clone)]
struct Rule {
    groups: Vec<String>,
    resources: Vec<String>,
    names: Vec<String>,
    verbs: Vec<String>,
    urls: Vec<String>,
}

fn rules(doc: &Value) -> Vec<Rule> {
    doc.get("rules")
        .and_then(Value::as_array)
        .map(|rs| {
            rs.iter()
                .map(|r| Rule {
                    groups: list(r.get("apiGroups")),
                    resources: list(r.get("resources")),
                    names: list(r.get("resourceNames")),
                    verbs: list(r.get("verbs")),
                    urls: list(r.get("nonResourceURLs")),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn atoms(r: &Rule) -> Vec<Atom> {
    let mut out = Vec::new();
    let names = if r.names.is_empty() {
        vec!["*".to_owned()]
    } else {
        r.names.clone()
    };
    for verb in &r.verbs {
        for url in &r.urls {
            out.push(Atom {
                group: "(url)".into(),
                resource: url.clone(),
                name: "*".into(),
                verb: verb.clone(),
            });
        }
        for group in &r.groups {
            for resource in &r.resources {
                for name in &names {
                    out.push(Atom {
                        group: group.clone(),
                        resource: resource.clone(),
                        name: name.clone(),
                        verb: verb.clone(),
                    });
                }
            }
        }
    }
    out
}

fn has(list: &[String], x: &str) -> bool {
    list.iter().any(|v| v == "*" || v == x)
}

/// Kubernetes' own rule coverage for one atom.
fn covers(r: &Rule, a: &Atom) -> bool {
    if !has(&r.verbs, &a.verb) {
        return false;
    }
    if a.group == "(url)" {
        return r.urls.iter().any(|u| {
            u == &a.resource
                || u.strip_suffix('*')
                    .is_some_and(|p| a.resource.starts_with(p))
        });
    }
    let resource = r.resources.iter().any(|x| {
        x == "*"
            || x == &a.resource
            || x.strip_suffix("/*")
                .is_some_and(|base| a.resource.split_once('/').is_some_and(|(b, _)| b == base))
    });
    has(&r.groups, &a.group)
        && resource
        && (r.names.is_empty() || a.name != "*" && r.names.iter().any(|n| n == &a.name))
}

fn classify_atom(a: &Atom) -> (Class, String) {
    let wild = a.verb == "*" && a.resource == "*";
    if wild || ["escalate", "bind", "impersonate"].contains(&a.verb.as_str()) {
        return (
            Class::PrivilegeEscalation,
            format!("{} on {}", a.verb, a.resource),
        );
    }
    if a.resource == "serviceaccounts/token"
        || (a.resource.starts_with("serviceaccounts") && a.verb == "*")
    {
        return (
            Class::PrivilegeEscalation,
            "mints service-account tokens".into(),
        );
    }
    if (a.resource == "secrets" || a.resource == "*")
        && ["get", "list", "watch", "*"].contains(&a.verb.as_str())
    {
        return (Class::CredentialExposure, "reads secrets".into());
    }
    if ["get", "list", "watch"].contains(&a.verb.as_str()) {
        (Class::Read, String::new())
    } else {
        (Class::Write, String::new())
    }
}

/// (scope, subject, role) grants of a binding document.
fn bindings(doc: &Value) -> Vec<(String, String, String)> {
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or_default();
    let scope = match kind {
        "ClusterRoleBinding" => "cluster".to_owned(),
        _ => format!(
            "namespace {}",
            doc.pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("(default)")
        ),
    };
    let role = format!(
        "{} {}",
        doc.pointer("/roleRef/kind")
            .and_then(Value::as_str)
            .unwrap_or("?"),
        doc.pointer("/roleRef/name")
            .and_then(Value::as_str)
            .unwrap_or("?")
    );
    doc.get("subjects")
        .and_then(Value::as_array)
        .map(|ss| {
            ss.iter()
                .map(|s| {
                    let kind = s.get("kind").and_then(Value::as_str).unwrap_or("?");
                    let name = s.get("name").and_then(Value::as_str).unwrap_or("?");
                    let ns = s.get("namespace").and_then(Value::as_str);
                    let who = match ns {
                        Some(ns) => format!("{kind} {ns}/{name}"),
                        None => format!("{kind} {name}"),
                    };
                    (scope.clone(), who, role.clone())
                })
                .collect()
        })
        .unwrap_or_default()
}

fn classify_binding(subject: &str, role: &str) -> (Class, String) {
    if [
        "system:authenticated",
        "system:unauthenticated",
        "system:anonymous",
        "system:serviceaccounts",
    ]
    .iter()
    .any(|g| subject.ends_with(g))
    {
        return (Class::PublicOrCrossAccount, format!("{subject}: everyone"));
    }
    if ["cluster-admin", "admin", "edit"]
        .iter()
        .any(|r| role.ends_with(&format!(" {r}")))
    {
        return (Class::PrivilegeEscalation, role.to_owned());
    }
    (Class::Write, String::new())
}

pub fn analyse(before: &str, after: &str) -> Option<Analysis> {
    let (old, new) = (docs(before)?, docs(after)?);
    let is_rbac = |d: &Value| {
        matches!(
            d.get("kind").and_then(Value::as_str),
            Some("Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding")
        )
    };
    if !new.iter().chain(&old).any(is_rbac) || !new.iter().chain(&old).all(is_rbac) {
        return None;
    }
    let mut a = Analysis::new("kubernetes-rbac");
    let old_rules: Vec<Rule> = old.iter().flat_map(rules).collect();
    for r in new.iter().flat_map(rules) {
        for atom in atoms(&r) {
            if old_rules.iter().any(|o| covers(o, &atom)) {
                continue;
            }
            let (class, why) = classify_atom(&atom);
            a.grant(Grant {
                action: atom.verb.clone(),
                resource: format!(
                    "{}/{}{}",
                    atom.group,
                    atom.resource,
                    if atom.name == "*" {
                        String::new()
                    } else {
                        format!(" {}", atom.name)
                    }
                ),
                principal: None,
                class,
                why,
                certain: true,
            });
        }
    }
    let old_bindings: Vec<_> = old.iter().flat_map(bindings).collect();
    for (scope, subject, role) in new.iter().flat_map(bindings) {
        if old_bindings.contains(&(scope.clone(), subject.clone(), role.clone())) {
            continue;
        }
        let (class, why) = classify_binding(&subject, &role);
        a.grant(Grant {
            action: format!("bound to {role}"),
            resource: scope,
            principal: Some(subject),
            class,
            why,
            certain: true,
        });
    }
    a.settle();
    Some(a)
}
