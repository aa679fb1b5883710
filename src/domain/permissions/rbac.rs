//! Kubernetes RBAC, JSON or YAML (read by the caller; serde-saphyr:
//! panic-free on hostile input). Kubernetes answers the same question
//! itself — `Covers(ownerRules, servantRules)` in k8s.io/component-helpers
//! breaks rules into atomic (group, resource, resourceName, verb) tuples and
//! returns those nothing covers — and so does this, with every atom
//! carrying its scope (the role it belongs to: kind, namespace, name):
//!
//! - Role/ClusterRole rules: an atom of the new rules not covered by one old
//!   rule *of the same role* is new access (`*` covers anything; `pods/*`
//!   covers subresources; an empty `resourceNames` means every name). A
//!   `Role` turned `ClusterRole`, or moved to another namespace, is a new
//!   scope: all its rules are new access there.
//! - Aggregation: an `aggregationRule` added or changed gathers rules the
//!   gate cannot see ("may grant"); an `aggregate-to-*` label added to a
//!   ClusterRole hands its rules to everyone holding the aggregating role
//!   (`admin`, `edit`, `view`, …): new access for them.
//! - RoleBinding/ClusterRoleBinding: a (scope, subject, role) the old
//!   binding did not grant is new access.
//! - The resulting documents on their own: escalating or secret-reading
//!   rules, an aggregation rule, a binding to `cluster-admin`/`admin`/`edit`
//!   or to everyone are reported whatever the old documents say.
//! - Reading is strict: a kind other than the four, rules or subjects of
//!   the wrong shape, or a binding without a `roleRef`, is unreadable.
//!
//! Classes from Kubernetes' "RBAC good practices": `escalate`, `bind`,
//! `impersonate`, `serviceaccounts/token`, `pods/exec`, `nodes/proxy`,
//! wildcards and `cluster-admin` are privilege escalation; reading
//! `secrets` is credential exposure; the `system:authenticated`,
//! `system:unauthenticated` and `system:anonymous` subjects are public.

use super::{Analysis, Class, Grant};
use serde_json::Value;

/// The documents, with arrays and `kind: List` unpacked.
fn flatten(docs: &[Value]) -> Option<Vec<&Value>> {
    let mut out = Vec::new();
    for v in docs {
        match v {
            Value::Array(items) => out.extend(flatten(items)?),
            Value::Object(m) if m.get("kind").and_then(Value::as_str) == Some("List") => {
                out.extend(flatten(m.get("items")?.as_array()?)?);
            }
            Value::Null => {}
            other => out.push(other),
        }
    }
    Some(out)
}

/// A list of strings: absent is empty; anything else is unreadable.
fn list(v: Option<&Value>) -> Option<Vec<String>> {
    match v {
        None | Some(Value::Null) => Some(Vec::new()),
        Some(Value::Array(a)) => a.iter().map(|x| x.as_str().map(str::to_owned)).collect(),
        Some(_) => None,
    }
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

/// A Role or ClusterRole, read.
struct Role {
    /// `ClusterRole x` or `Role ns/x`: the scope its atoms carry.
    scope: String,
    rules: Vec<Rule>,
    aggregation: Option<Value>,
    /// Its labels (`key=value`): `aggregate-to-*=true` feeds the built-in
    /// roles; any other may be selected by a custom aggregating role.
    aggregated_into: Vec<String>,
}

/// A binding's (scope, subject, role) grants.
type Bound = (String, String, String);

fn str_at<'a>(doc: &'a Value, pointer: &str) -> Option<Option<&'a str>> {
    match doc.pointer(pointer) {
        None | Some(Value::Null) => Some(None),
        Some(Value::String(s)) => Some(Some(s)),
        Some(_) => None,
    }
}

fn rules(doc: &Value) -> Option<Vec<Rule>> {
    let rs = match doc.get("rules") {
        None | Some(Value::Null) => return Some(Vec::new()),
        Some(v) => v.as_array()?,
    };
    rs.iter()
        .map(|r| {
            let m = r.as_object()?;
            let known = [
                "apiGroups",
                "resources",
                "resourceNames",
                "verbs",
                "nonResourceURLs",
            ];
            if m.keys().any(|k| !known.contains(&k.as_str())) {
                return None;
            }
            Some(Rule {
                groups: list(m.get("apiGroups"))?,
                resources: list(m.get("resources"))?,
                names: list(m.get("resourceNames"))?,
                verbs: list(m.get("verbs"))?,
                urls: list(m.get("nonResourceURLs"))?,
            })
        })
        .collect()
}

fn role(doc: &Value, kind: &str) -> Option<Role> {
    let name = str_at(doc, "/metadata/name")?.unwrap_or("(unnamed)");
    let scope = if kind == "ClusterRole" {
        format!("ClusterRole {name}")
    } else {
        let ns = str_at(doc, "/metadata/namespace")?.unwrap_or("(default)");
        format!("Role {ns}/{name}")
    };
    let aggregation = match doc.get("aggregationRule") {
        None | Some(Value::Null) => None,
        Some(v @ Value::Object(_)) if kind == "ClusterRole" => Some(v.clone()),
        Some(_) => return None,
    };
    let aggregated_into = match doc.pointer("/metadata/labels") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(labels)) if kind == "ClusterRole" => labels
            .iter()
            // Any label may be what an aggregating role selects; only
            // `aggregate-to-*: "true"` is known to be.
            .map(|(k, v)| match v.as_str() {
                Some(text) => format!("{k}={text}"),
                None => format!("{k}={v}"),
            })
            .collect(),
        Some(Value::Object(_)) => Vec::new(),
        Some(_) => return None,
    };
    Some(Role {
        scope,
        rules: rules(doc)?,
        aggregation,
        aggregated_into,
    })
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

const RBAC_OBJECTS: &[&str] = &[
    "roles",
    "clusterroles",
    "rolebindings",
    "clusterrolebindings",
];

fn classify_atom(a: &Atom) -> (Class, String) {
    let wild = a.verb == "*" && a.resource == "*";
    if wild || ["escalate", "bind", "impersonate"].contains(&a.verb.as_str()) {
        return (
            Class::PrivilegeEscalation,
            format!("{} on {}", a.verb, a.resource),
        );
    }
    if a.verb == "*" && RBAC_OBJECTS.contains(&a.resource.as_str()) {
        return (
            Class::PrivilegeEscalation,
            format!("* on {}: escalate and bind among it", a.resource),
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
    let writes = ["create", "update", "patch", "*"].contains(&a.verb.as_str());
    if writes
        && [
            "pods",
            "pods/ephemeralcontainers",
            "nodes",
            "nodes/status",
            "deployments",
            "daemonsets",
            "statefulsets",
            "replicasets",
            "jobs",
            "cronjobs",
            "replicationcontrollers",
        ]
        .contains(&a.resource.as_str())
    {
        return (
            Class::PrivilegeEscalation,
            format!(
                "{} {}: runs a pod as any service account in reach, or moves one onto a node",
                a.verb, a.resource
            ),
        );
    }
    if [
        "pods/exec",
        "pods/attach",
        "nodes/proxy",
        "pods/*",
        "nodes/*",
    ]
    .contains(&a.resource.as_str())
        && ["create", "get", "*"].contains(&a.verb.as_str())
    {
        return (
            Class::PrivilegeEscalation,
            format!("{} {}: runs commands where secrets are", a.verb, a.resource),
        );
    }
    if [
        "mutatingwebhookconfigurations",
        "validatingwebhookconfigurations",
        "certificatesigningrequests/approval",
    ]
    .contains(&a.resource.as_str())
        && !["get", "list", "watch"].contains(&a.verb.as_str())
    {
        return (
            Class::PrivilegeEscalation,
            format!("{} {}", a.verb, a.resource),
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
fn bindings(doc: &Value, kind: &str) -> Option<Vec<Bound>> {
    let scope = match kind {
        "ClusterRoleBinding" => "cluster".to_owned(),
        _ => format!(
            "namespace {}",
            str_at(doc, "/metadata/namespace")?.unwrap_or("(default)")
        ),
    };
    let role = format!(
        "{} {}",
        str_at(doc, "/roleRef/kind")??,
        str_at(doc, "/roleRef/name")??
    );
    let subjects = match doc.get("subjects") {
        None | Some(Value::Null) => return Some(Vec::new()),
        Some(v) => v.as_array()?,
    };
    subjects
        .iter()
        .map(|s| {
            let kind = str_at(s, "/kind")??;
            let name = str_at(s, "/name")??;
            let who = match str_at(s, "/namespace")? {
                Some(ns) => format!("{kind} {ns}/{name}"),
                None => format!("{kind} {name}"),
            };
            Some((scope.clone(), who, role.clone()))
        })
        .collect()
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
        || ["system:controller:", "system:node", "system:kube-"]
            .iter()
            .any(|p| role.contains(&format!(" {p}")))
    {
        return (Class::PrivilegeEscalation, role.to_owned());
    }
    (Class::Write, String::new())
}

/// What an aggregation rule gathers, and its class: admin's and edit's
/// rules escalate.
fn aggregation_grant(scope: &str, rule: &Value) -> Grant {
    let text = rule.to_string();
    let class = if [
        "aggregate-to-admin",
        "aggregate-to-edit",
        "aggregate-to-cluster-admin",
    ]
    .iter()
    .any(|x| text.contains(x))
    {
        Class::PrivilegeEscalation
    } else {
        Class::Write
    };
    Grant {
        action: "aggregates".into(),
        resource: scope.to_owned(),
        principal: None,
        class,
        why: format!("aggregationRule {text}: rules the gate cannot see"),
        certain: false,
    }
}

fn describe_atom(scope: &str, atom: &Atom) -> String {
    format!(
        "{}/{}{} in {scope}",
        atom.group,
        atom.resource,
        if atom.name == "*" {
            String::new()
        } else {
            format!(" {}", atom.name)
        }
    )
}

/// Roles and binding grants of a set of documents; `None` if one is not
/// an RBAC object or is malformed.
fn read(docs: &[Value]) -> Option<(Vec<Role>, Vec<Bound>)> {
    let (mut roles, mut bound) = (Vec::new(), Vec::new());
    for d in flatten(docs)? {
        match d.get("kind").and_then(Value::as_str) {
            Some(k @ ("Role" | "ClusterRole")) => roles.push(role(d, k)?),
            Some(k @ ("RoleBinding" | "ClusterRoleBinding")) => bound.extend(bindings(d, k)?),
            _ => return None,
        }
    }
    Some((roles, bound))
}

pub fn analyse(before: &[Value], after: &[Value]) -> Option<Analysis> {
    let (old_roles, old_bound) = read(before)?;
    let (new_roles, new_bound) = read(after)?;
    if old_roles.is_empty() && new_roles.is_empty() && old_bound.is_empty() && new_bound.is_empty()
    {
        return None;
    }
    let mut a = Analysis::new("kubernetes-rbac");
    for r in &new_roles {
        let old: Vec<&Role> = old_roles.iter().filter(|o| o.scope == r.scope).collect();
        let new_labels: Vec<&String> = r
            .aggregated_into
            .iter()
            .filter(|l| !old.iter().any(|o| o.aggregated_into.contains(l)))
            .collect();
        for atom in r.rules.iter().flat_map(atoms) {
            let (class, why) = classify_atom(&atom);
            let resource = describe_atom(&r.scope, &atom);
            if matches!(
                class,
                Class::PrivilegeEscalation | Class::CredentialExposure
            ) {
                a.resulting(Grant {
                    action: atom.verb.clone(),
                    resource: resource.clone(),
                    principal: None,
                    class,
                    why: why.clone(),
                    certain: true,
                });
            }
            // Its rules now flow into every role that aggregates the label.
            for label in &new_labels {
                a.grant(Grant {
                    action: atom.verb.clone(),
                    resource: resource.clone(),
                    principal: Some(format!("holders of the roles aggregating {label}")),
                    class,
                    why: why.clone(),
                    certain: label.contains("aggregate-to") && label.ends_with("=true"),
                });
            }
            if old.iter().flat_map(|o| &o.rules).any(|o| covers(o, &atom)) {
                continue;
            }
            a.grant(Grant {
                action: atom.verb.clone(),
                resource,
                principal: None,
                class,
                why,
                certain: true,
            });
        }
        if let Some(rule) = &r.aggregation {
            a.resulting(aggregation_grant(&r.scope, rule));
            if !old.iter().any(|o| o.aggregation.as_ref() == Some(rule)) {
                a.grant(aggregation_grant(&r.scope, rule));
            }
        }
    }
    for (scope, subject, role) in new_bound {
        let (class, why) = classify_binding(&subject, &role);
        if matches!(
            class,
            Class::PrivilegeEscalation | Class::PublicOrCrossAccount
        ) {
            a.resulting(Grant {
                action: format!("bound to {role}"),
                resource: scope.clone(),
                principal: Some(subject.clone()),
                class,
                why: why.clone(),
                certain: true,
            });
        }
        if old_bound.contains(&(scope.clone(), subject.clone(), role.clone())) {
            continue;
        }
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
