//! A corpus of real-shaped before/after pairs, and properties.

use super::*;
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
    let a = analyse("text", "b\na\n", "a\nb");
    assert_eq!(a.verdict, Verdict::NoNewAccess);
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

fn action() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "s3:GetObject",
        "s3:Get*",
        "s3:*",
        "iam:PassRole",
        "ec2:Describe*",
        "kms:Decrypt",
        "*",
    ])
    .prop_map(str::to_owned)
}

fn resource() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "*",
        "arn:aws:s3:::a/*",
        "arn:aws:s3:::a/b",
        "arn:aws:s3:::b/*",
        "arn:aws:iam::1:role/*",
    ])
    .prop_map(str::to_owned)
}

proptest! {
    /// A document against itself, reordered or reformatted: no new access.
    #[test]
    fn itself_reordered_is_nothing_new(stmts in prop::collection::vec((action(), resource()), 1..6)) {
        let list: Vec<Value> = stmts.iter().map(|(a, r)| allow(a, r)).collect();
        let mut reversed = list.clone();
        reversed.reverse();
        let pretty = serde_json::to_string_pretty(&json!({"Statement": reversed})).unwrap();
        let a = analyse("json", &doc(Value::Array(list)), &pretty);
        prop_assert_eq!(a.verdict, Verdict::NoNewAccess);
    }

    /// A statement the old document does not cover is always found.
    #[test]
    fn an_uncovered_statement_is_new_access(
        stmts in prop::collection::vec((action(), resource()), 1..5),
        extra in (action(), resource()),
    ) {
        let old: Vec<Value> = stmts.iter().map(|(a, r)| allow(a, r)).collect();
        let covered = stmts.iter().any(|(a, r)| {
            pattern::contains(&extra.0.to_ascii_lowercase(), &a.to_ascii_lowercase())
                && pattern::contains(&extra.1, r)
        });
        let mut new = old.clone();
        new.push(allow(&extra.0, &extra.1));
        let v = analyse("json", &doc(Value::Array(old)), &doc(Value::Array(new))).verdict;
        if covered {
            prop_assert_eq!(v, Verdict::NoNewAccess);
        } else {
            prop_assert_eq!(v, Verdict::GrantsNewAccess);
        }
    }
}
