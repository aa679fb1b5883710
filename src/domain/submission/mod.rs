//! What an agent submits (`POST /v1/alerts`): parsing with field-precise
//! errors, validation, and the split into the documents that digests cover.
//!
//! The server keeps the submitted JSON *values*: the alert object without its
//! `proposals` member, and each proposal object, exactly as sent. Digests are
//! computed over those values, and they are served back as `document`.

pub mod ocsf;

mod error;

pub use error::FieldError;

use super::digest;
use super::limits;
use super::types::{ActionKind, EntityKind, EvidenceKind, Risk, Severity};
use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertSubmission {
    #[schema(schema_with = crate::domain::schema::external_id)]
    pub external_id: String,
    #[schema(schema_with = crate::domain::schema::short_text)]
    pub source: String,
    pub severity: Severity,
    #[schema(schema_with = crate::domain::schema::title)]
    pub title: String,
    pub entity: Entity,
    pub summary: Summary,
    #[serde(default)]
    #[schema(max_items = 64)]
    pub evidence: Vec<Evidence>,
    #[serde(default)]
    #[schema(schema_with = crate::domain::schema::context)]
    pub context: Option<Map<String, Value>>,
    #[schema(min_items = 1, max_items = 32)]
    pub proposals: Vec<ProposalSubmission>,
}

/// Its OpenAPI schema has one branch per kind (`domain::schema::entity`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entity {
    pub kind: EntityKind,
    pub id: String,
}

impl utoipa::PartialSchema for Entity {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
        super::schema::entity()
    }
}

impl utoipa::ToSchema for Entity {}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    #[schema(schema_with = crate::domain::schema::long_text)]
    pub text: String,
    #[schema(schema_with = crate::domain::schema::short_text)]
    pub model: String,
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub confidence: f64,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    pub kind: EvidenceKind,
    #[schema(schema_with = crate::domain::schema::title)]
    pub title: String,
    #[schema(schema_with = crate::domain::schema::evidence_body)]
    pub body: String,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposalSubmission {
    pub action: ActionKind,
    #[schema(schema_with = crate::domain::schema::target)]
    pub target: String,
    /// The agent's label; the gate may raise it, never lower it.
    pub risk: Risk,
    #[schema(schema_with = crate::domain::schema::long_text)]
    pub rationale: String,
    #[serde(default)]
    pub permission_change: Option<PermissionChange>,
    /// What exactly will run, for kinds whose target alone does not say:
    /// `argv` (the command line, one string per argument, what `countersign
    /// exec` runs and nothing else), or a tool's arguments. Covered by the
    /// digest and shown to the reviewer in full.
    #[serde(default)]
    #[schema(schema_with = crate::domain::schema::parameters)]
    pub parameters: Option<Value>,
    #[serde(default, deserialize_with = "whole_number")]
    #[schema(minimum = 1, maximum = 2592000)]
    pub expires_in_secs: Option<u64>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PermissionChange {
    #[schema(schema_with = crate::domain::schema::short_text)]
    pub format: String,
    #[schema(schema_with = crate::domain::schema::permission_doc)]
    pub before: String,
    #[schema(schema_with = crate::domain::schema::permission_doc)]
    pub after: String,
}

/// A whole number, also when written `3600.0`: JSON Schema's `integer`
/// (and I-JSON's one number type) make no difference between the two.
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    n.as_u64()
        .or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && (0.0..=9_007_199_254_740_991.0).contains(f))
                .map(|f| f as u64)
        })
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom(format!("expected a whole number, got {n}")))
}

/// A submission that parsed and validated, with its documents and digests.
#[derive(Debug, Clone)]
pub struct ValidSubmission {
    pub alert: AlertSubmission,
    /// The alert object as submitted, without `proposals`.
    pub alert_document: Value,
    /// One entry per proposal, in submission order.
    pub proposals: Vec<ValidProposal>,
}

#[derive(Debug, Clone)]
pub struct ValidProposal {
    pub fields: ProposalSubmission,
    pub document: Value,
    pub digest: String,
}

/// Parses and validates a submitted JSON value. Nothing about a submission
/// with one bad proposal is accepted.
///
/// An OCSF envelope (`{"ocsf": FINDING, "proposals": [...]}`) is first made
/// into the native alert document ([`ocsf`]); an error in a field that
/// came from the finding names the OCSF field.
pub fn parse(value: Value) -> Result<ValidSubmission, FieldError> {
    if ocsf::is_envelope(&value) {
        let (alert, origins) = ocsf::normalise(value)?;
        return parse_native(alert).map_err(|mut e| {
            if let Some(field) = origins.rename(&e.field) {
                e.field = field;
            }
            e
        });
    }
    parse_native(value)
}

fn parse_native(value: Value) -> Result<ValidSubmission, FieldError> {
    if !value.is_object() {
        return Err(FieldError::new("(body)", "expected a JSON object"));
    }
    let alert: AlertSubmission = serde_path_to_error::deserialize(&value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "(body)".to_owned()
        } else {
            path
        };
        FieldError::new(field, e.into_inner().to_string())
    })?;
    validate(&alert)?;

    let mut alert_document = value;
    let proposals_value = alert_document
        .as_object_mut()
        .and_then(|o| o.remove("proposals"))
        .unwrap_or(Value::Array(Vec::new()));
    let Value::Array(proposal_docs) = proposals_value else {
        return Err(FieldError::new("proposals", "expected an array"));
    };
    let proposals = alert
        .proposals
        .iter()
        .cloned()
        .zip(proposal_docs)
        .map(|(fields, document)| {
            let digest = digest::proposal_digest(&alert_document, &document)?;
            Ok(ValidProposal {
                fields,
                document,
                digest,
            })
        })
        .collect::<Result<Vec<_>, FieldError>>()?;
    Ok(ValidSubmission {
        alert,
        alert_document,
        proposals,
    })
}

fn text(field: &str, value: &str, max: usize, required: bool) -> Result<(), FieldError> {
    if required && value.trim().is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    let chars = value.chars().count();
    if chars > max {
        return Err(FieldError::new(
            field,
            format!("is {chars} characters, the limit is {max}"),
        ));
    }
    Ok(())
}

/// `parameters`: an object within [`PARAMETERS`] bytes; its `argv`, if
/// any, a command line of one or more arguments.
fn parameters(field: &str, value: &Value) -> Result<(), FieldError> {
    use limits::{ARGV_ITEMS, PARAMETERS};
    let Some(obj) = value.as_object() else {
        return Err(FieldError::new(field, "must be an object"));
    };
    let size = serde_json::to_vec(value).map_or(usize::MAX, |v| v.len());
    if size > PARAMETERS {
        return Err(FieldError::new(
            field,
            format!("is {size} bytes as JSON, the limit is {PARAMETERS}"),
        ));
    }
    if let Some(argv) = obj.get("argv") {
        let args = argv
            .as_array()
            .filter(|a| !a.is_empty() && a.len() <= ARGV_ITEMS && a.iter().all(Value::is_string))
            .ok_or_else(|| {
                FieldError::new(
                    format!("{field}.argv"),
                    format!("must be an array of 1 to {ARGV_ITEMS} strings (the command, then each argument)"),
                )
            })?;
        if args[0].as_str().is_some_and(|c| c.is_empty()) {
            return Err(FieldError::new(
                format!("{field}.argv"),
                "the command (argv[0]) must not be empty",
            ));
        }
    }
    Ok(())
}

/// A machine-read identifier: visible text only.
fn identifier(field: &str, value: &str) -> Result<(), FieldError> {
    match super::text::identifier_problem(value) {
        Some(problem) => Err(FieldError::new(field, problem)),
        None => Ok(()),
    }
}

/// An entity id is what its kind says: an address for `ip`, a name for
/// `domain`, and so on. Kinds that name things inside an organisation
/// (host, user, …) take any visible text.
fn entity_id(kind: EntityKind, id: &str) -> Result<(), String> {
    use super::risk::indicator;
    let id = id.trim();
    match kind {
        EntityKind::Ip => id
            .parse::<std::net::IpAddr>()
            .map(|_| ())
            .or_else(|_| id.parse::<ipnet::IpNet>().map(|_| ()))
            .map_err(|_| format!("`{id}` is not an IP address or network (kind ip)")),
        EntityKind::Domain => indicator::domain(id)
            .map(|_| ())
            .map_err(|e| format!("{e} (kind domain)")),
        EntityKind::Url => match url::Url::parse(id) {
            Ok(u) if u.host().is_some() => Ok(()),
            Ok(_) => Err(format!("`{id}` is a URL without a host (kind url)")),
            Err(e) => Err(format!("`{id}` is not a URL: {e} (kind url)")),
        },
        EntityKind::FileHash => {
            if indicator::is_hash(id) {
                Ok(())
            } else {
                Err(format!(
                    "`{id}` is not a file hash: 32, 40, 64 or 128 hex digits (MD5, SHA-1, SHA-256, SHA-512), optionally after `sha256:` (kind file_hash)"
                ))
            }
        }
        EntityKind::Email => match id.rsplit_once('@') {
            Some((local, domain)) if !local.is_empty() && !local.contains(char::is_whitespace) => {
                indicator::domain(domain)
                    .map(|_| ())
                    .map_err(|e| format!("{e} (kind email)"))
            }
            _ => Err(format!("`{id}` is not an e-mail address (kind email)")),
        },
        EntityKind::Host
        | EntityKind::User
        | EntityKind::ServiceAccount
        | EntityKind::Service
        | EntityKind::CloudResource
        | EntityKind::Token
        | EntityKind::Process => Ok(()),
    }
}

fn validate(a: &AlertSubmission) -> Result<(), FieldError> {
    use limits::*;
    text("external_id", &a.external_id, SHORT_TEXT, true)?;
    identifier("external_id", &a.external_id)?;
    identifier("entity.id", &a.entity.id)?;
    text("source", &a.source, SHORT_TEXT, true)?;
    text("title", &a.title, TITLE, true)?;
    text("entity.id", &a.entity.id, SHORT_TEXT, true)?;
    entity_id(a.entity.kind, &a.entity.id).map_err(|m| FieldError::new("entity.id", m))?;
    text("summary.text", &a.summary.text, LONG_TEXT, true)?;
    text("summary.model", &a.summary.model, SHORT_TEXT, true)?;
    if !(0.0..=1.0).contains(&a.summary.confidence) {
        return Err(FieldError::new(
            "summary.confidence",
            "must be a number from 0 to 1",
        ));
    }
    if a.evidence.len() > EVIDENCE_ITEMS {
        return Err(FieldError::new(
            "evidence",
            format!(
                "has {} items, the limit is {EVIDENCE_ITEMS}",
                a.evidence.len()
            ),
        ));
    }
    for (i, ev) in a.evidence.iter().enumerate() {
        text(&format!("evidence[{i}].title"), &ev.title, TITLE, true)?;
        text(
            &format!("evidence[{i}].body"),
            &ev.body,
            EVIDENCE_BODY,
            false,
        )?;
    }
    if a.proposals.is_empty() {
        return Err(FieldError::new(
            "proposals",
            "must hold at least one proposal",
        ));
    }
    if a.proposals.len() > PROPOSALS {
        return Err(FieldError::new(
            "proposals",
            format!("has {} items, the limit is {PROPOSALS}", a.proposals.len()),
        ));
    }
    for (i, p) in a.proposals.iter().enumerate() {
        let at = |f: &str| format!("proposals[{i}].{f}");
        // One limit for every kind (the API document states one); a long
        // target of a built-in kind is held by the risk floor instead.
        text(&at("target"), &p.target, COMMAND_TARGET, true)?;
        identifier(&at("target"), &p.target)?;
        text(&at("rationale"), &p.rationale, LONG_TEXT, true)?;
        if let Some(pc) = &p.permission_change {
            text(
                &at("permission_change.format"),
                &pc.format,
                SHORT_TEXT,
                true,
            )?;
            text(
                &at("permission_change.before"),
                &pc.before,
                PERMISSION_DOC,
                false,
            )?;
            text(
                &at("permission_change.after"),
                &pc.after,
                PERMISSION_DOC,
                false,
            )?;
            // One document, one meaning, inside too: a name twice in an
            // embedded JSON or YAML document is read last-wins by one
            // reader and first-wins by another.
            for (name, doc) in [("before", &pc.before), ("after", &pc.after)] {
                if let Some(p) = super::permissions::duplicate_names(doc) {
                    return Err(FieldError {
                        field: at(&format!("permission_change.{name}")),
                        message: format!("in the embedded document, {p}"),
                        embedded: Some(p),
                    });
                }
            }
        }
        if let Some(params) = &p.parameters {
            parameters(&at("parameters"), params)?;
        }
        if let Some(secs) = p.expires_in_secs
            && !(1..=MAX_EXPIRES_IN_SECS).contains(&secs)
        {
            return Err(FieldError::new(
                at("expires_in_secs"),
                format!("must be from 1 to {MAX_EXPIRES_IN_SECS}"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::json::JsonProblem;
    use serde_json::json;

    pub(crate) fn sample() -> Value {
        json!({
            "external_id": "edr-4411",
            "source": "edr",
            "severity": "high",
            "title": "Credential dumping on ws-0412",
            "entity": {"kind": "host", "id": "ws-0412"},
            "summary": {"text": "lsass read by unsigned binary", "model": "triage-v3", "confidence": 0.82},
            "evidence": [{"kind": "log", "title": "lsass access", "body": "\u{1b}]0;pwned\u{7}"}],
            "context": {"rule_id": "win-lsass-17", "tags": ["T1003"]},
            "proposals": [{
                "action": "isolate_host",
                "target": "ws-0412",
                "risk": "high",
                "rationale": "contain before lateral movement",
                "expires_in_secs": 3600
            }]
        })
    }

    #[test]
    fn splits_documents_and_keeps_text_verbatim() {
        let v = parse(sample()).unwrap();
        assert!(v.alert_document.get("proposals").is_none());
        assert_eq!(
            v.alert_document["evidence"][0]["body"],
            "\u{1b}]0;pwned\u{7}"
        );
        assert_eq!(v.proposals.len(), 1);
        assert_eq!(v.proposals[0].document["action"], "isolate_host");
        let again = digest::proposal_digest(&v.alert_document, &v.proposals[0].document).unwrap();
        assert_eq!(v.proposals[0].digest, again);
    }

    #[test]
    fn entities_are_what_their_kind_says() {
        for (kind, id) in [
            ("ip", "10.30.0.15"),
            ("ip", "2001:db8::7"),
            ("ip", "203.0.113.0/24"),
            ("domain", "evil.example"),
            ("domain", "ｅｖｉｌ.example"),
            ("url", "https://evil.example/login?x=1"),
            ("file_hash", "44d88612fea8a8f36de82e1278abb02f"),
            (
                "file_hash",
                "sha256:275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
            ),
            ("email", "payroll@evil.example"),
            ("process", "C:\\Windows\\Temp\\x.exe"),
        ] {
            let mut v = sample();
            v["entity"] = json!({"kind": kind, "id": id});
            assert!(parse(v).is_ok(), "{kind} {id}");
        }
        for (kind, id) in [
            ("ip", "10.30.0.999"),
            ("ip", "ws-0412"),
            ("domain", "*.evil.example"),
            ("domain", "evil..example"),
            ("url", "evil.example/login"),
            ("file_hash", "abc123"),
            ("email", "payroll"),
            ("email", "@evil.example"),
        ] {
            let mut v = sample();
            v["entity"] = json!({"kind": kind, "id": id});
            let err = parse(v).unwrap_err();
            assert_eq!(err.field, "entity.id", "{kind} {id}: {err}");
            assert!(err.message.contains(kind), "{kind} {id}: {err}");
        }
    }

    #[test]
    fn errors_name_the_field() {
        type Mutation = Box<dyn Fn(&mut Value)>;
        let cases: Vec<(Mutation, &str)> = vec![
            (
                Box::new(|v| v["proposals"][0]["action"] = json!("nuke everything!")),
                "proposals[0].action",
            ),
            (
                Box::new(|v| {
                    v.as_object_mut().unwrap().remove("title");
                }),
                "(body)",
            ),
            (
                Box::new(|v| v["summary"]["confidence"] = json!(1.5)),
                "summary.confidence",
            ),
            (Box::new(|v| v["proposals"] = json!([])), "proposals"),
            (Box::new(|v| v["entity"]["kind"] = json!(3)), "entity.kind"),
            (Box::new(|v| v["surprise"] = json!(1)), "surprise"),
            (
                Box::new(|v| v["proposals"][0]["rationale"] = json!(" ")),
                "proposals[0].rationale",
            ),
            (
                Box::new(|v| v["proposals"][0]["expires_in_secs"] = json!(0)),
                "proposals[0].expires_in_secs",
            ),
        ];
        for (mutate, field) in cases {
            let mut v = sample();
            mutate(&mut v);
            let err = parse(v).unwrap_err();
            assert_eq!(err.field, field, "{err}");
        }
    }

    #[test]
    fn missing_field_message_names_it() {
        let mut v = sample();
        v.as_object_mut().unwrap().remove("title");
        let err = parse(v).unwrap_err();
        assert!(err.message.contains("title"), "{err}");
    }

    #[test]
    fn duplicate_names_inside_embedded_documents_are_refused() {
        for (side, doc, path) in [
            (
                "after",
                r#"{"Statement":[{"Effect":"Allow","Action":"*","Action":"s3:GetObject","Resource":"*"}]}"#,
                "Statement[0].Action",
            ),
            (
                "before",
                "kind: Role\nmetadata:\n  name: r\n  namespace: a\n  namespace: b\n",
                "metadata.namespace",
            ),
        ] {
            let mut v = sample();
            v["proposals"][0]["permission_change"] =
                json!({"format": "text", "before": "", "after": ""});
            v["proposals"][0]["permission_change"][side] = json!(doc);
            let err = parse(v).unwrap_err();
            assert_eq!(
                err.field,
                format!("proposals[0].permission_change.{side}"),
                "{err}"
            );
            assert!(
                matches!(&err.embedded, Some(JsonProblem::Duplicate { path: p, .. }) if p == path),
                "{err:?}"
            );
            assert!(err.to_string().contains(path), "{err}");
        }
        // The same names in sibling objects are fine.
        let mut v = sample();
        v["proposals"][0]["permission_change"] = json!({"format": "json",
            "before": r#"{"Statement":[{"Effect":"Allow","Action":"a:b","Resource":"*"},{"Effect":"Allow","Action":"a:c","Resource":"*"}]}"#,
            "after": "readers\n"});
        assert!(parse(v).is_ok());
    }
}
