//! A corpus of real-shaped before/after pairs, and properties.

use super::*;
use crate::domain::json::JsonProblem;
use crate::domain::types::Risk;
use proptest::prelude::*;
use serde_json::json;

fn doc(statements: Value) -> String {
    json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}

fn iam(before: Value, after: Value) -> Analysis {
    analyse("json", &doc(before), &doc(after))
}

fn allow(action: &str, resource: &str) -> Value {
    json!({"Effect": "Allow", "Action": action, "Resource": resource})
}

#[test]
fn the_corpus() {
    let base = json!([allow("s3:GetObject", "arn:aws:s3:::data/*")]);
    // A quarantine Deny adds no access (the old keyword diff called it
    // "+7 permissions, 2 broad grants").
    let mut quarantined = base.clone();
    quarantined.as_array_mut().unwrap().push(json!({
        "Sid": "Quarantine", "Effect": "Deny", "Action": "*", "Resource": "*",
        "Condition": {"StringEquals": {"aws:userid": "AIDAEXAMPLE"}}
    }));
    let a = iam(base.clone(), quarantined);
    assert_eq!(a.verdict, Verdict::NoNewAccess, "{a:?}");
    assert_eq!(a.added_denies.len(), 1);

    // Action wildcard widening.
    let a = iam(base.clone(), json!([allow("s3:*", "arn:aws:s3:::data/*")]));
    assert_eq!(a.verdict, Verdict::GrantsNewAccess);
    assert_eq!(a.new_grants[0].action, "s3:*");
    // Resource widening.
    let a = iam(
        base.clone(),
        json!([allow("s3:GetObject", "arn:aws:s3:::*")]),
    );
    assert_eq!(a.verdict, Verdict::GrantsNewAccess);
    assert_eq!(a.worst(), Some(Class::Read));
    // Narrowing, reordering, reformatting, case: nothing new.
    let two = json!([
        allow("s3:GetObject", "arn:aws:s3:::data/*"),
        allow("s3:ListBucket", "arn:aws:s3:::data")
    ]);
    let swapped = json!([
        {"Resource": ["arn:aws:s3:::data"], "Action": ["S3:LISTBUCKET"], "Effect": "Allow"},
        {"Effect": "Allow", "Action": ["s3:getobject"], "Resource": "arn:aws:s3:::data/reports/*"}
    ]);
    assert_eq!(iam(two.clone(), swapped).verdict, Verdict::NoNewAccess);
    // A grant the old policy covered by a wildcard is not new.
    let wide = json!([allow("s3:Get*", "arn:aws:s3:::*")]);
    assert_eq!(iam(wide, base.clone()).verdict, Verdict::NoNewAccess);
    // ARNs are case-sensitive.
    let a = iam(
        base.clone(),
        json!([allow("s3:GetObject", "arn:aws:s3:::DATA/*")]),
    );
    assert_eq!(a.verdict, Verdict::GrantsNewAccess);

    // A dropped Condition is new access; an added one narrows.
    let conditional = json!([{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::data/*",
        "Condition": {"Bool": {"aws:SecureTransport": "true"}}}]);
    assert_eq!(
        iam(conditional.clone(), base.clone()).verdict,
        Verdict::GrantsNewAccess
    );
    assert_eq!(iam(base.clone(), conditional).verdict, Verdict::NoNewAccess);

    // A removed Deny is new access.
    let mut denied = base.clone();
    denied.as_array_mut().unwrap().push(json!({"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::data/secret/*"}));
    let a = iam(denied, base.clone());
    assert_eq!(a.verdict, Verdict::GrantsNewAccess);
    assert_eq!(a.removed_denies.len(), 1);

    // NotAction against a list: exact reasoning is out of reach.
    let not =
        json!([{"Effect": "Allow", "NotAction": ["iam:*", "organizations:*"], "Resource": "*"}]);
    assert_eq!(iam(base.clone(), not).verdict, Verdict::MayGrantNewAccess);
    let not_old = json!([{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]);
    let a = iam(not_old, json!([allow("s3:GetObject", "arn:aws:s3:::x")]));
    assert_eq!(a.verdict, Verdict::MayGrantNewAccess, "{a:?}");

    // iam:PassRole on any role in any account: escalation (cloudsplaining
    // counts it only on Resource "*").
    let a = iam(
        base.clone(),
        json!([allow("s3:GetObject", "arn:aws:s3:::data/*"),
        {"Effect": "Allow", "Action": ["ec2:RunInstances", "iam:PassRole"], "Resource": "arn:aws:iam::*:role/*"}]),
    );
    assert_eq!(a.worst(), Some(Class::PrivilegeEscalation), "{a:?}");
    // A decoy Deny never hides a grant.
    let a = iam(
        base.clone(),
        json!([allow("iam:*", "*"),
        {"Effect": "Deny", "Action": "iam:PassRole", "Resource": "arn:aws:iam::1:role/x"}]),
    );
    assert_eq!(a.worst(), Some(Class::PrivilegeEscalation));
    // Credentials.
    let a = iam(base.clone(), json!([allow("secretsmanager:Get*", "*")]));
    assert_eq!(a.worst(), Some(Class::CredentialExposure));
}

#[test]
fn trust_and_resource_policies() {
    let trust = |principal: Value| json!([{"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}]);
    let own = trust(json!({"AWS": "arn:aws:iam::111122223333:role/ci"}));
    let foreign = trust(json!({"AWS": "arn:aws:iam::999988887777:root"}));
    let a = iam(own.clone(), foreign);
    assert_eq!(a.verdict, Verdict::GrantsNewAccess);
    assert_eq!(a.worst(), Some(Class::PublicOrCrossAccount), "{a:?}");
    let same = trust(json!({"AWS": ["arn:aws:iam::111122223333:role/ci"]}));
    assert_eq!(iam(own.clone(), same).verdict, Verdict::NoNewAccess);
    // A bucket policy opened to everyone.
    let bucket = |p: Value| json!([{"Effect": "Allow", "Principal": p, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::site/*"}]);
    let a = iam(
        bucket(json!({"AWS": "arn:aws:iam::111122223333:root"})),
        bucket(json!("*")),
    );
    assert_eq!(a.worst(), Some(Class::PublicOrCrossAccount));
    // Service principals are their own kind.
    let svc = trust(json!({"Service": "ec2.amazonaws.com"}));
    assert_eq!(iam(svc.clone(), svc).verdict, Verdict::NoNewAccess);
}

#[test]
fn gcp_bindings() {
    let p = |b: Value| json!({"bindings": b, "etag": "x"}).to_string();
    let base =
        json!([{"role": "roles/storage.objectViewer", "members": ["user:ana@acme.example"]}]);
    let a = analyse("json", &p(base.clone()), &p(base.clone()));
    assert_eq!(a.verdict, Verdict::NoNewAccess);
    let public = json!([{"role": "roles/storage.objectViewer", "members": ["user:ana@acme.example", "allUsers"]}]);
    let a = analyse("json", &p(base.clone()), &p(public));
    assert_eq!(a.worst(), Some(Class::PublicOrCrossAccount));
    let owner = json!([{"role": "roles/storage.objectViewer", "members": ["user:ana@acme.example"]},
        {"role": "roles/owner", "members": ["serviceAccount:ci@p.iam.gserviceaccount.com"]}]);
    assert_eq!(
        analyse("json", &p(base.clone()), &p(owner)).worst(),
        Some(Class::PrivilegeEscalation)
    );
    // A dropped condition is new access; an added one narrows.
    let conditional = json!([{"role": "roles/storage.objectViewer", "members": ["user:ana@acme.example"],
        "condition": {"title": "office hours", "expression": "request.time.getHours('UTC') < 18"}}]);
    assert_eq!(
        analyse("json", &p(conditional.clone()), &p(base.clone())).verdict,
        Verdict::GrantsNewAccess
    );
    assert_eq!(
        analyse("json", &p(base), &p(conditional)).verdict,
        Verdict::NoNewAccess
    );
}

#[test]
fn kubernetes_rbac() {
    let role = |rules: &str| {
        format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: deployer\n  namespace: payments\nrules:\n{rules}"
        )
    };
    let base = role(
        "- apiGroups: [\"apps\"]\n  resources: [\"deployments\"]\n  verbs: [\"get\", \"list\", \"update\"]\n",
    );
    assert_eq!(analyse("yaml", &base, &base).verdict, Verdict::NoNewAccess);
    // Fewer verbs: nothing new.
    let narrower =
        role("- apiGroups: [\"apps\"]\n  resources: [\"deployments\"]\n  verbs: [\"get\"]\n");
    assert_eq!(
        analyse("yaml", &base, &narrower).verdict,
        Verdict::NoNewAccess
    );
    // escalate on roles: privilege escalation.
    let escalate = role(
        "- apiGroups: [\"apps\"]\n  resources: [\"deployments\"]\n  verbs: [\"get\", \"list\", \"update\"]\n- apiGroups: [\"rbac.authorization.k8s.io\"]\n  resources: [\"roles\"]\n  verbs: [\"escalate\"]\n",
    );
    let a = analyse("yaml", &base, &escalate);
    assert_eq!(a.worst(), Some(Class::PrivilegeEscalation), "{a:?}");
    // Reading secrets: credential exposure.
    let secrets = role("- apiGroups: [\"\"]\n  resources: [\"secrets\"]\n  verbs: [\"get\"]\n");
    assert_eq!(
        analyse("yaml", &base, &secrets).worst(),
        Some(Class::CredentialExposure)
    );
    // A named resource is within the same rule without names.
    let named = role(
        "- apiGroups: [\"apps\"]\n  resources: [\"deployments\"]\n  resourceNames: [\"web\"]\n  verbs: [\"update\"]\n",
    );
    assert_eq!(analyse("yaml", &base, &named).verdict, Verdict::NoNewAccess);
    assert_eq!(
        analyse("yaml", &named, &base).verdict,
        Verdict::GrantsNewAccess
    );
    // A binding widened to a ClusterRoleBinding of cluster-admin for everyone.
    let before = "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: ci\n  namespace: payments\nsubjects:\n- kind: ServiceAccount\n  name: ci\n  namespace: ci\nroleRef:\n  kind: Role\n  name: deployer\n  apiGroup: rbac.authorization.k8s.io\n";
    let after = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: ci\nsubjects:\n- kind: ServiceAccount\n  name: ci\n  namespace: ci\n- kind: Group\n  name: system:authenticated\nroleRef:\n  kind: ClusterRole\n  name: cluster-admin\n  apiGroup: rbac.authorization.k8s.io\n";
    let a = analyse("yaml", before, after);
    assert_eq!(a.verdict, Verdict::GrantsNewAccess);
    assert_eq!(a.worst(), Some(Class::PrivilegeEscalation), "{a:?}");
    assert!(
        a.new_grants
            .iter()
            .any(|g| g.class == Class::PublicOrCrossAccount)
    );
    // Hostile YAML is an answer, not a crash: not analysed.
    let bomb = "a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n";
    assert_eq!(analyse("yaml", bomb, bomb).verdict, Verdict::NotAnalysed);
}

#[test]
fn lists_and_unknown_formats() {
    let a = analyse(
        "text",
        "readers\ndeploy\n",
        "readers\ndeploy\ndomain-admins\n",
    );
    assert_eq!(a.verdict, Verdict::GrantsNewAccess);
    assert_eq!(a.worst(), Some(Class::PrivilegeEscalation));
    // Order can decide (sudoers, firewall rules): a new order may grant.
    let a = analyse("text", "b\na\n", "a\nb");
    assert_eq!(a.verdict, Verdict::MayGrantNewAccess);
    // A removed line that denied is new access; sudo's ALL is privileged.
    let a = analyse(
        "text",
        "alice ALL=(ALL) ALL\nalice ALL=(ALL) !ALL\n",
        "alice ALL=(ALL) ALL\n",
    );
    assert_eq!(a.verdict, Verdict::GrantsNewAccess);
    let a = analyse("text", "", "%wheel ALL=(ALL) NOPASSWD: ALL\n");
    assert_eq!(a.worst(), Some(Class::PrivilegeEscalation));
    // Deleting a whole document (a boundary? an SCP?) may grant.
    let iam = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
    assert_eq!(analyse("json", iam, "").verdict, Verdict::MayGrantNewAccess);
    // Policy variables without the 2012 version are literal text to AWS.
    let old = r#"{"Statement":[{"Effect":"Deny","Action":"s3:*","Resource":"arn:aws:s3:::home/${aws:username}/*"}]}"#;
    assert_eq!(analyse("json", old, old).verdict, Verdict::NotAnalysed);
    assert_eq!(analyse("text", "a\nb", "a").removed, ["b"]);
    let a = analyse("xml", "<a/>", "<b/>");
    assert_eq!(a.verdict, Verdict::NotAnalysed);
    let a = analyse("json", "{}", "{\"x\": 1}");
    assert_eq!(
        a.verdict,
        Verdict::NotAnalysed,
        "unknown JSON is never 'no new access'"
    );
}

#[test]
fn the_label_is_a_hint_only() {
    // IAM sent as text: a removed Deny * and an Allow rebuilt from lines
    // that already existed showed no new lines.
    let before = "{\"Statement\": [\n{\"Effect\": \"Deny\",\n\"Action\": \"*\",\n\"Resource\": \"*\"},\n{\"Effect\": \"Allow\",\n\"Action\": \"s3:GetObject\",\n\"Resource\": \"arn:aws:s3:::data/*\"}\n]}";
    let after = "{\"Statement\": [\n{\"Effect\": \"Allow\",\n\"Action\": \"s3:GetObject\",\n\"Resource\": \"arn:aws:s3:::data/*\"}\n]}";
    for label in ["text", "list", "lines", "TEXT", "whatever"] {
        let a = analyse(label, before, after);
        assert_eq!(a.format, "aws-iam", "{label}");
        assert_eq!(a.verdict, Verdict::GrantsNewAccess, "{label}: {a:?}");
        assert_eq!(a.removed_denies.len(), 1);
    }
    // GCP and RBAC whatever the label.
    let g = |m: &str| json!({"bindings": [{"role": "roles/owner", "members": [m]}]}).to_string();
    assert_eq!(
        analyse("text", &g("user:a@x.example"), &g("user:b@x.example")).format,
        "gcp-iam"
    );
    let crb = "kind: ClusterRoleBinding\nmetadata:\n  name: x\nsubjects:\n- kind: Group\n  name: system:authenticated\nroleRef:\n  kind: ClusterRole\n  name: view\n";
    let a = analyse("list", "", crb);
    assert_eq!(a.format, "kubernetes-rbac");
    assert_eq!(a.worst(), Some(Class::PublicOrCrossAccount));
    // A misspelt or malformed document of a known shape is never a list.
    let a = analyse("text", "{\"statement\": []}", "{\"statement\": [1]}");
    assert_eq!(a.verdict, Verdict::NotAnalysed, "{a:?}");
    // Lists are lists only when labelled so.
    assert_eq!(
        analyse("text", "a", "a\nb").verdict,
        Verdict::GrantsNewAccess
    );
    assert_eq!(analyse("json", "a", "a\nb").verdict, Verdict::NotAnalysed);
    // A list that is JSON of no known shape is still a list.
    assert_eq!(
        analyse("text", "[\"readers\"]", "[\"readers\"]").verdict,
        Verdict::NoNewAccess
    );
    // An empty side is a policy created (or deleted).
    let a = analyse("json", "", &doc(json!([allow("s3:GetObject", "*")])));
    assert_eq!(
        (a.format.as_str(), a.verdict),
        ("aws-iam", Verdict::GrantsNewAccess)
    );
    let a = analyse(
        "json",
        &doc(json!([{"Effect": "Deny", "Action": "s3:*", "Resource": "*"}])),
        "",
    );
    assert_eq!(a.verdict, Verdict::GrantsNewAccess, "a deleted Deny: {a:?}");
}

#[test]
fn duplicate_names_are_never_read() {
    let dup =
        r#"{"Statement":[{"Effect":"Allow","Action":"*","Action":"s3:GetObject","Resource":"*"}]}"#;
    let a = analyse("json", dup, dup);
    assert_eq!(a.verdict, Verdict::NotAnalysed, "{a:?}");
    match duplicate_names(dup) {
        Some(JsonProblem::Duplicate { path, name }) => {
            assert_eq!(
                (path.as_str(), name.as_str()),
                ("Statement[0].Action", "Action")
            );
        }
        other => panic!("{other:?}"),
    }
    let yaml = "kind: Role\nmetadata:\n  name: r\nrules:\n- apiGroups: [\"\"]\n  resources: [\"pods\"]\n  verbs: [\"get\"]\n  verbs: [\"*\"]\n";
    match duplicate_names(yaml) {
        Some(JsonProblem::Duplicate { path, name }) => {
            assert_eq!((path.as_str(), name.as_str()), ("rules[0].verbs", "verbs"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(analyse("yaml", yaml, yaml).verdict, Verdict::NotAnalysed);
    let second =
        "kind: Role\nmetadata:\n  name: a\n---\nkind: Role\nmetadata:\n  name: b\n  name: c\n";
    assert!(matches!(
        duplicate_names(second),
        Some(JsonProblem::Duplicate { path, .. }) if path == "(document 2).metadata.name"
    ));
    // Not duplicates: the same name in sibling objects, plain lists.
    assert_eq!(duplicate_names(r#"{"a":{"x":1},"b":{"x":1}}"#), None);
    assert_eq!(duplicate_names("readers\ndeploy\n"), None);
    assert_eq!(duplicate_names("kind: Role\nmetadata:\n  name: a\n"), None);
}

#[test]
fn policy_variables_narrow_a_deny() {
    let deny = |r: &str| json!({"Effect": "Deny", "Action": "s3:*", "Resource": r});
    let base = allow("s3:*", "*");
    let a = iam(
        json!([base.clone(), deny("arn:aws:s3:::payroll/*")]),
        json!([base.clone(), deny("arn:aws:s3:::${aws:username}/*")]),
    );
    assert_eq!(a.verdict, Verdict::GrantsNewAccess, "{a:?}");
    assert_eq!(a.removed_denies.len(), 1);
    // The same variable Deny on both sides is kept; a wider plain Deny keeps
    // an old variable Deny.
    let var = json!([base.clone(), deny("arn:aws:s3:::${aws:username}/*")]);
    assert_eq!(iam(var.clone(), var.clone()).verdict, Verdict::NoNewAccess);
    assert_eq!(
        iam(var, json!([base.clone(), deny("arn:aws:s3:::*")])).verdict,
        Verdict::NoNewAccess
    );
    // NotAction Denies are kept only verbatim: a longer NotAction list
    // denies less.
    let not = |l: Value| json!([base.clone(), {"Effect": "Deny", "NotAction": l, "Resource": "*"}]);
    assert_eq!(
        iam(
            not(json!(["s3:GetObject"])),
            not(json!(["s3:GetObject", "s3:PutObject"]))
        )
        .verdict,
        Verdict::GrantsNewAccess
    );
    assert_eq!(
        iam(not(json!(["s3:GetObject"])), not(json!(["s3:GetObject"]))).verdict,
        Verdict::NoNewAccess
    );
}

#[test]
fn rbac_scope_and_aggregation() {
    let role = |kind: &str, ns: &str, labels: &str, extra: &str| {
        format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: {kind}\nmetadata:\n  name: reader\n{ns}{labels}rules:\n- apiGroups: [\"\"]\n  resources: [\"secrets\"]\n  verbs: [\"get\"]\n{extra}"
        )
    };
    let sandbox = role("Role", "  namespace: sandbox\n", "", "");
    let system = role("Role", "  namespace: kube-system\n", "", "");
    let cluster = role("ClusterRole", "", "", "");
    let a = analyse("yaml", &sandbox, &system);
    assert_eq!(
        a.verdict,
        Verdict::GrantsNewAccess,
        "moved namespace: {a:?}"
    );
    assert!(a.new_grants[0].resource.contains("kube-system"), "{a:?}");
    let a = analyse("yaml", &sandbox, &cluster);
    assert_eq!(
        a.verdict,
        Verdict::GrantsNewAccess,
        "Role → ClusterRole: {a:?}"
    );
    assert_eq!(a.worst(), Some(Class::CredentialExposure));
    assert_eq!(
        analyse("yaml", &sandbox, &sandbox).verdict,
        Verdict::NoNewAccess
    );
    // An aggregate-to-admin label: its rules flow into admin.
    let labelled = role(
        "ClusterRole",
        "",
        "  labels:\n    rbac.authorization.k8s.io/aggregate-to-admin: \"true\"\n",
        "",
    );
    let a = analyse("yaml", &cluster, &labelled);
    assert_eq!(a.verdict, Verdict::GrantsNewAccess, "{a:?}");
    assert!(
        a.new_grants[0]
            .principal
            .as_deref()
            .is_some_and(|p| p.contains("aggregate-to-admin")),
        "{a:?}"
    );
    // An aggregationRule added: content unknown, may grant.
    let aggregating = format!(
        "{}aggregationRule:\n  clusterRoleSelectors:\n  - matchLabels:\n      rbac.authorization.k8s.io/aggregate-to-admin: \"true\"\n",
        cluster
    );
    let a = analyse("yaml", &cluster, &aggregating);
    assert_eq!(a.verdict, Verdict::MayGrantNewAccess, "{a:?}");
    assert!(resulting_floor(&a).is_some());
    // verbs * on secrets: credentials.
    let star = "kind: Role\nmetadata:\n  name: s\n  namespace: a\nrules:\n- apiGroups: [\"\"]\n  resources: [\"secrets\"]\n  verbs: [\"*\"]\n";
    assert_eq!(
        analyse("yaml", &sandbox, star).worst(),
        Some(Class::CredentialExposure)
    );
    // Malformed rules are unreadable, never nothing.
    let bad = "kind: Role\nmetadata:\n  name: s\n  namespace: a\nrules:\n- apiGroups: [\"\"]\n  resources: [\"secrets\"]\n  verbs: \"*\"\n";
    assert_eq!(analyse("yaml", &sandbox, bad).verdict, Verdict::NotAnalysed);
    let no_ref = "kind: RoleBinding\nmetadata:\n  name: b\nsubjects:\n- kind: User\n  name: x\n";
    assert_eq!(
        analyse("yaml", no_ref, no_ref).verdict,
        Verdict::NotAnalysed
    );
    let other = "kind: Deployment\nmetadata:\n  name: d\n";
    assert_eq!(analyse("yaml", other, other).verdict, Verdict::NotAnalysed);
}

#[test]
fn gcp_audit_logging_reduced() {
    let p = |audit: Value| {
        json!({"bindings": [{"role": "roles/viewer", "members": ["user:ana@acme.example"]}], "auditConfigs": audit}).to_string()
    };
    let full = json!([{"service": "storage.googleapis.com", "auditLogConfigs": [
        {"logType": "ADMIN_READ"}, {"logType": "DATA_READ"}, {"logType": "DATA_WRITE"}]}]);
    let a = analyse("json", &p(full.clone()), &p(full.clone()));
    assert_eq!(a.verdict, Verdict::NoNewAccess);
    let fewer = json!([{"service": "storage.googleapis.com", "auditLogConfigs": [{"logType": "ADMIN_READ"}]}]);
    let a = analyse("json", &p(full.clone()), &p(fewer));
    assert_eq!(a.audit_reduced.len(), 2, "{a:?}");
    assert!(
        concerns(&a)
            .iter()
            .any(|c| c.class == "audit_logging_reduced" && c.floor == Risk::High)
    );
    let exempt = json!([{"service": "storage.googleapis.com", "auditLogConfigs": [
        {"logType": "ADMIN_READ"}, {"logType": "DATA_READ", "exemptedMembers": ["user:mallory@acme.example"]}, {"logType": "DATA_WRITE"}]}]);
    let a = analyse("json", &p(full.clone()), &p(exempt));
    assert_eq!(
        a.audit_reduced,
        ["user:mallory@acme.example newly exempted from DATA_READ on storage.googleapis.com"]
    );
    // Dropping auditConfigs altogether; allServices still covers a service.
    let none =
        json!({"bindings": [{"role": "roles/viewer", "members": ["user:ana@acme.example"]}]})
            .to_string();
    assert_eq!(
        analyse("json", &p(full.clone()), &none).audit_reduced.len(),
        3
    );
    let all = json!([{"service": "allServices", "audit_log_configs": [
        {"log_type": "ADMIN_READ"}, {"log_type": "DATA_READ"}, {"log_type": "DATA_WRITE"}]}]);
    let a = analyse("json", &p(full), &p(all));
    assert!(a.audit_reduced.is_empty(), "{a:?}");
    // domain: and public members.
    let m = |x: &str| json!({"bindings": [{"role": "roles/viewer", "members": [x]}]}).to_string();
    assert_eq!(
        analyse(
            "json",
            &m("user:ana@acme.example"),
            &m("domain:evil.example")
        )
        .worst(),
        Some(Class::PublicOrCrossAccount)
    );
    assert_eq!(
        analyse(
            "json",
            &m("user:ana@acme.example"),
            &m("allAuthenticatedUsers")
        )
        .worst(),
        Some(Class::PublicOrCrossAccount)
    );
    // Unknown members are unreadable.
    let odd = json!({"bindings": [{"role": "roles/viewer", "members": ["user:a@x.example"], "memberz": []}]}).to_string();
    assert_eq!(analyse("json", &odd, &odd).verdict, Verdict::NotAnalysed);
}

#[test]
fn what_aws_would_refuse_is_held() {
    let base = doc(json!([allow("s3:GetObject", "arn:aws:s3:::data/*")]));
    for bad in [
        // Lower-case effect: AWS's values are case-sensitive.
        json!({"Statement": [{"Effect": "allow", "Action": "*", "Resource": "*"}]}),
        // A Statement that is neither object nor array.
        json!({"Statement": "Allow everything"}),
        json!({"Statement": 7}),
        // A misspelt element.
        json!({"Statement": [{"Effect": "Allow", "Actions": "*", "Resource": "*"}]}),
        // An unknown top-level member.
        json!({"Statement": [], "Statements": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
        // A non-string action.
        json!({"Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", 5], "Resource": "*"}]}),
        // Action and NotAction together.
        json!({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "NotAction": "iam:*", "Resource": "*"}]}),
        // An unknown principal kind, or none.
        json!({"Statement": [{"Effect": "Allow", "Principal": {"Anyone": "*"}, "Action": "s3:GetObject", "Resource": "*"}]}),
        json!({"Statement": [{"Effect": "Allow", "Principal": {}, "Action": "s3:GetObject", "Resource": "*"}]}),
        // A Condition that is not an object.
        json!({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", "Condition": "never"}]}),
    ] {
        let a = analyse("json", &base, &bad.to_string());
        assert_eq!(a.verdict, Verdict::NotAnalysed, "{bad}: {a:?}");
        assert!(a.unreadable.is_some());
    }
    // NotAction with Allow, Principal {"AWS": "*"}, a Condition removed.
    let a = iam(
        json!([allow("s3:GetObject", "*")]),
        json!([{"Effect": "Allow", "NotAction": "s3:DeleteBucket", "Resource": "*"}]),
    );
    assert_ne!(a.verdict, Verdict::NoNewAccess);
    let a = iam(
        json!([{"Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "s3:GetObject", "Resource": "*"}]),
        json!([{"Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": "s3:GetObject", "Resource": "*"}]),
    );
    assert_eq!(a.worst(), Some(Class::PublicOrCrossAccount));
    // Turning audit logging off is escalation's companion.
    let a = iam(
        json!([allow("s3:GetObject", "*")]),
        json!([
            allow("s3:GetObject", "*"),
            allow("cloudtrail:StopLogging", "*")
        ]),
    );
    assert_eq!(a.worst(), Some(Class::PrivilegeEscalation));
}

/// What the floor would be: the delta's verdict and the resulting
/// document's own concerns, as `risk::assess` combines them.
pub(super) fn held(a: &Analysis) -> bool {
    a.verdict != Verdict::NoNewAccess || !concerns(a).is_empty()
}

pub(super) fn resulting_floor(a: &Analysis) -> Option<Risk> {
    concerns(a)
        .iter()
        .filter(|c| c.class == "resulting_document")
        .map(|c| c.floor)
        .max()
}

mod props;
mod resulting;
