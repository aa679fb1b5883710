//! The resulting document judged on its own, beside the delta.

use super::*;

#[test]
fn the_resulting_document_is_judged_on_its_own() {
    // The agent writes the before too: admin in both is still admin.
    let admin = doc(json!([allow("*", "*")]));
    let a = analyse("json", &admin, &admin);
    assert_eq!(a.verdict, Verdict::NoNewAccess, "the delta alone");
    assert_eq!(resulting_floor(&a), Some(Risk::Critical), "{a:?}");
    let c = concerns(&a);
    assert!(
        c[0].detail.contains("resulting document") && c[0].detail.contains("on its own"),
        "{c:?}"
    );
    // A public principal in both.
    let public = doc(
        json!([{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::site/*"}]),
    );
    let a = analyse("json", &public, &public);
    assert_eq!(resulting_floor(&a), Some(Risk::Critical), "{a:?}");
    assert_eq!(a.resulting[0].class, Class::PublicOrCrossAccount);
    // Credentials in both: high.
    let creds = doc(json!([allow("secretsmanager:GetSecretValue", "*")]));
    let a = analyse("json", &creds, &creds);
    assert_eq!(resulting_floor(&a), Some(Risk::High), "{a:?}");
    // NotAction Allow: reaches escalation, even unsure.
    let not = doc(json!([{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]));
    let a = analyse("json", &not, &not);
    assert_eq!(resulting_floor(&a), Some(Risk::Critical), "{a:?}");
    // An unconditional Deny of everything holds it outright; a conditional
    // one (a quarantine for one user) does not.
    let denied = doc(json!([allow("*", "*"), {"Effect": "Deny", "Action": "*", "Resource": "*"}]));
    assert_eq!(resulting_floor(&analyse("json", &admin, &denied)), None);
    let quarantined = doc(
        json!([allow("*", "*"), {"Effect": "Deny", "Action": "*", "Resource": "*",
        "Condition": {"StringEquals": {"aws:userid": "AIDAEXAMPLE"}}}]),
    );
    assert_eq!(
        resulting_floor(&analyse("json", &admin, &quarantined)),
        Some(Risk::Critical)
    );

    // Controls: ordinary standing grants raise nothing.
    let ordinary = doc(json!([
        allow("s3:GetObject", "arn:aws:s3:::data/*"),
        allow("s3:ListBucket", "arn:aws:s3:::data")
    ]));
    // A quarantine Deny added.
    let q = doc(json!([
        allow("s3:GetObject", "arn:aws:s3:::data/*"),
        allow("s3:ListBucket", "arn:aws:s3:::data"),
        {"Sid": "Quarantine", "Effect": "Deny", "Action": "*", "Resource": "*",
         "Condition": {"StringEquals": {"aws:userid": "AIDAEXAMPLE"}}}
    ]));
    assert!(!held(&analyse("json", &ordinary, &q)));
    // A read grant removed.
    let fewer = doc(json!([allow("s3:GetObject", "arn:aws:s3:::data/*")]));
    let a = analyse("json", &ordinary, &fewer);
    assert!(!held(&a), "{a:?}");
    assert_eq!(a.removed, ["s3:listbucket on arn:aws:s3:::data"]);
    // An Allow narrowed.
    let narrowed = doc(json!([allow(
        "s3:GetObject",
        "arn:aws:s3:::data/reports/*"
    )]));
    assert!(!held(&analyse("json", &fewer, &narrowed)));
    // s3:* on everything is write, not admin.
    let s3 = doc(json!([allow("s3:*", "*")]));
    assert!(!held(&analyse("json", &s3, &s3)));
    // A trust policy for a named service is what trust policies are for.
    let trust = doc(
        json!([{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]),
    );
    assert!(!held(&analyse("json", &trust, &trust)));
}

#[test]
fn standing_grants_in_rbac_and_gcp() {
    let crb = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: open\nsubjects:\n- kind: User\n  name: system:anonymous\n  apiGroup: rbac.authorization.k8s.io\nroleRef:\n  kind: ClusterRole\n  name: cluster-admin\n  apiGroup: rbac.authorization.k8s.io\n";
    let a = analyse("yaml", crb, crb);
    assert_eq!(a.verdict, Verdict::NoNewAccess);
    assert_eq!(resulting_floor(&a), Some(Risk::Critical), "{a:?}");
    let p = |b: Value| json!({"bindings": b}).to_string();
    let owner = p(json!([{"role": "roles/owner", "members": ["allUsers"]}]));
    let a = analyse("json", &owner, &owner);
    assert_eq!(resulting_floor(&a), Some(Risk::Critical), "{a:?}");
    let auth =
        p(json!([{"role": "roles/storage.objectViewer", "members": ["allAuthenticatedUsers"]}]));
    assert_eq!(
        resulting_floor(&analyse("json", &auth, &auth)),
        Some(Risk::Critical)
    );
    let editor = p(json!([{"role": "roles/editor", "members": ["user:ana@acme.example"]}]));
    assert_eq!(
        resulting_floor(&analyse("json", &editor, &editor)),
        Some(Risk::Critical)
    );
    // Secrets read in a Role: high.
    let secrets = "kind: Role\napiVersion: rbac.authorization.k8s.io/v1\nmetadata:\n  name: r\n  namespace: a\nrules:\n- apiGroups: [\"\"]\n  resources: [\"secrets\"]\n  verbs: [\"*\"]\n";
    let a = analyse("yaml", secrets, secrets);
    assert_eq!(resulting_floor(&a), Some(Risk::High), "{a:?}");
    assert_eq!(a.resulting[0].class, Class::CredentialExposure);
    // Controls: a GCP viewer removed; a deployer role narrowed.
    let two = p(
        json!([{"role": "roles/viewer", "members": ["user:ana@acme.example", "user:bo@acme.example"]}]),
    );
    let one = p(json!([{"role": "roles/viewer", "members": ["user:ana@acme.example"]}]));
    let a = analyse("json", &two, &one);
    assert!(!held(&a), "{a:?}");
    assert_eq!(a.removed, ["roles/viewer for user:bo@acme.example"]);
    let deployer = |verbs: &str| {
        format!(
            "kind: Role\napiVersion: rbac.authorization.k8s.io/v1\nmetadata:\n  name: d\n  namespace: a\nrules:\n- apiGroups: [\"apps\"]\n  resources: [\"deployments\"]\n  verbs: [{verbs}]\n"
        )
    };
    assert!(!held(&analyse(
        "yaml",
        &deployer("get, list, update"),
        &deployer("get")
    )));
}
