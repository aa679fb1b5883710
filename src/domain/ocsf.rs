//! OCSF Detection Findings (class_uid 2004) as alerts.
//!
//! `POST /v1/alerts` also takes `{"ocsf": FINDING, "proposals": [...]}`,
//! optionally with `external_id` (default `finding_info.uid`) and the
//! triage model's own `summary`. The finding becomes an alert in the native
//! shape: title, severity, entity, summary and evidence read from the
//! finding, and the finding itself kept verbatim as `context.ocsf`. That
//! normalised document is what is stored, digested and served, so the
//! digest covers both what the console shows and the finding as it came.
//!
//! A finding that lacks something an alert needs is refused with the OCSF
//! field named (`ocsf.finding_info.title`).

use super::submission::FieldError;
use serde_json::{Map, Value, json};

/// The OCSF Detection Finding class.
pub const DETECTION_FINDING: i64 = 2004;

/// The envelope's own members besides `ocsf`.
const ENVELOPE: [&str; 4] = ["ocsf", "proposals", "external_id", "summary"];

/// Where each native field came from, so a validation error on the
/// normalised document can name the OCSF field the agent sent.
pub struct Origins(Vec<(String, String)>);

impl Origins {
    /// The OCSF path for a native field path, if the field came from the
    /// finding.
    pub fn rename(&self, field: &str) -> Option<String> {
        self.0.iter().find_map(|(native, ocsf)| {
            (field == native || field.starts_with(&format!("{native}.")))
                .then(|| format!("ocsf.{ocsf}"))
        })
    }
}

/// A body is an OCSF envelope when it has an `ocsf` member.
pub fn is_envelope(body: &Value) -> bool {
    body.get("ocsf").is_some()
}

/// The native alert document for an OCSF envelope.
pub fn normalise(body: Value) -> Result<(Value, Origins), FieldError> {
    let Value::Object(mut envelope) = body else {
        return Err(FieldError::new("(body)", "expected a JSON object"));
    };
    if let Some(extra) = envelope.keys().find(|k| !ENVELOPE.contains(&k.as_str())) {
        return Err(FieldError::new(
            extra.clone(),
            format!(
                "unknown member next to `ocsf`; an OCSF submission has {}",
                ENVELOPE.join(", ")
            ),
        ));
    }
    let finding = envelope.remove("ocsf").unwrap_or(Value::Null);
    let Value::Object(f) = &finding else {
        return Err(FieldError::new(
            "ocsf",
            "expected an OCSF Detection Finding object",
        ));
    };
    let mut origins = Vec::new();
    match f.get("class_uid").and_then(Value::as_i64) {
        Some(DETECTION_FINDING) => {}
        Some(other) => {
            return Err(FieldError::new(
                "ocsf.class_uid",
                format!("is {other}; only Detection Findings (2004) are accepted"),
            ));
        }
        None => {
            return Err(FieldError::new(
                "ocsf.class_uid",
                "missing: a Detection Finding has class_uid 2004",
            ));
        }
    }
    let external_id = match envelope.remove("external_id") {
        Some(id) => id,
        None => {
            origins.push(("external_id".into(), "finding_info.uid".into()));
            Value::String(required_str(f, &["finding_info", "uid"])?.to_owned())
        }
    };
    let title = required_str(f, &["finding_info", "title"])?;
    origins.push(("title".into(), "finding_info.title".into()));
    let severity = severity(f)?;
    let source = source(f)?;
    origins.push(("source".into(), "metadata.product".into()));
    let (entity, entity_origin) = entity(f)?;
    origins.push(("entity".into(), entity_origin));
    let summary = match envelope.remove("summary") {
        Some(s) => s,
        None => {
            let (text, origin) = summary_text(f)?;
            origins.push(("summary".into(), origin));
            json!({"text": text, "model": source, "confidence": confidence(f)})
        }
    };
    let evidence = evidence(f)?;
    origins.push(("evidence".into(), "evidences".into()));

    let mut alert = Map::new();
    alert.insert("external_id".into(), external_id);
    alert.insert("source".into(), Value::String(source));
    alert.insert("severity".into(), Value::String(severity.into()));
    alert.insert("title".into(), Value::String(title.to_owned()));
    alert.insert("entity".into(), entity);
    alert.insert("summary".into(), summary);
    alert.insert("evidence".into(), Value::Array(evidence));
    let mut context = Map::new();
    context.insert("ocsf".into(), finding.clone());
    alert.insert("context".into(), Value::Object(context));
    if let Some(proposals) = envelope.remove("proposals") {
        alert.insert("proposals".into(), proposals);
    }
    Ok((Value::Object(alert), Origins(origins)))
}

fn get<'a>(f: &'a Map<String, Value>, path: &[&str]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    rest.iter().try_fold(f.get(*first)?, |v, k| v.get(k))
}

fn non_empty_str<'a>(f: &'a Map<String, Value>, path: &[&str]) -> Option<&'a str> {
    get(f, path)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

fn required_str<'a>(f: &'a Map<String, Value>, path: &[&str]) -> Result<&'a str, FieldError> {
    non_empty_str(f, path).ok_or_else(|| {
        FieldError::new(
            format!("ocsf.{}", path.join(".")),
            "missing or empty: an alert needs it",
        )
    })
}

/// OCSF `severity_id`: 1 Informational … 5 Critical, 6 Fatal.
fn severity(f: &Map<String, Value>) -> Result<&'static str, FieldError> {
    let field = "ocsf.severity_id";
    match f.get("severity_id").and_then(Value::as_i64) {
        Some(1) => Ok("info"),
        Some(2) => Ok("low"),
        Some(3) => Ok("medium"),
        Some(4) => Ok("high"),
        Some(5 | 6) => Ok("critical"),
        Some(n) => Err(FieldError::new(
            field,
            format!("is {n}; give 1 (informational) to 6 (fatal), not unknown or other"),
        )),
        None => Err(FieldError::new(field, "missing: an alert needs a severity")),
    }
}

/// The product that found it: `metadata.product.vendor_name` and `name`.
fn source(f: &Map<String, Value>) -> Result<String, FieldError> {
    let vendor = non_empty_str(f, &["metadata", "product", "vendor_name"]);
    let name = non_empty_str(f, &["metadata", "product", "name"]);
    match (vendor, name) {
        (Some(v), Some(n)) if n.starts_with(v) => Ok(n.to_owned()),
        (Some(v), Some(n)) => Ok(format!("{v} {n}")),
        (Some(one), None) | (None, Some(one)) => Ok(one.to_owned()),
        (None, None) => Err(FieldError::new(
            "ocsf.metadata.product.name",
            "missing: name the product (or vendor_name) that made the finding",
        )),
    }
}

/// What the alert is about: the first resource, else the device, else the
/// acting user.
fn entity(f: &Map<String, Value>) -> Result<(Value, String), FieldError> {
    let first_of = |path: &[&str], keys: &[&str]| {
        keys.iter().find_map(|k| {
            let mut p = path.to_vec();
            p.push(k);
            non_empty_str(f, &p).map(|s| (s.to_owned(), format!("{}.{k}", path.join("."))))
        })
    };
    if let Some(Value::Array(resources)) = f.get("resources")
        && let Some(Value::Object(r)) = resources.first()
    {
        let Some((id, key)) = ["uid", "name"]
            .iter()
            .find_map(|k| non_empty_str(r, &[k]).map(|s| (s.to_owned(), *k)))
        else {
            return Err(FieldError::new(
                "ocsf.resources[0].uid",
                "missing: a resource needs a uid or a name",
            ));
        };
        let kind = resource_kind(r.get("type").and_then(Value::as_str).unwrap_or(""));
        return Ok((
            json!({"kind": kind, "id": id}),
            format!("resources[0].{key}"),
        ));
    }
    if let Some((id, origin)) = first_of(&["device"], &["hostname", "name", "uid", "ip"]) {
        return Ok((json!({"kind": "host", "id": id}), origin));
    }
    if let Some((id, origin)) = first_of(&["actor", "user"], &["name", "uid", "email_addr"]) {
        return Ok((json!({"kind": "user", "id": id}), origin));
    }
    Err(FieldError::new(
        "ocsf.resources",
        "missing: an alert needs an entity (resources[0].uid, device.hostname or actor.user.name)",
    ))
}

/// An entity kind from an OCSF resource `type` (`AWS::IAM::Role`,
/// `AwsS3Bucket`, `k8s.serviceaccount`).
fn resource_kind(resource_type: &str) -> &'static str {
    let t = resource_type.to_ascii_lowercase();
    if t.contains("serviceaccount") || t.contains("service_account") || t.ends_with("role") {
        "service_account"
    } else if t.contains("user") {
        "user"
    } else if t.contains("accesskey") || t.contains("token") {
        "token"
    } else if t.contains("instance") || t.contains("host") || t.contains("device") {
        "host"
    } else {
        "cloud_resource"
    }
}

fn summary_text(f: &Map<String, Value>) -> Result<(String, String), FieldError> {
    if let Some(m) = non_empty_str(f, &["message"]) {
        return Ok((m.to_owned(), "message".into()));
    }
    if let Some(d) = non_empty_str(f, &["finding_info", "desc"]) {
        return Ok((d.to_owned(), "finding_info.desc".into()));
    }
    Err(FieldError::new(
        "ocsf.message",
        "missing: an alert needs a summary (message or finding_info.desc)",
    ))
}

/// The detector's own confidence: `confidence_score` (0–100), else
/// `confidence_id` (1 low, 2 medium, 3 high), else 0: none given.
fn confidence(f: &Map<String, Value>) -> f64 {
    if let Some(score) = f.get("confidence_score").and_then(Value::as_f64) {
        return (score / 100.0).clamp(0.0, 1.0);
    }
    match f.get("confidence_id").and_then(Value::as_i64) {
        Some(1) => 0.33,
        Some(2) => 0.66,
        Some(3) => 1.0,
        _ => 0.0,
    }
}

/// One evidence item per OCSF Evidence Artifacts object, its JSON verbatim
/// (pretty-printed) as the body.
fn evidence(f: &Map<String, Value>) -> Result<Vec<Value>, FieldError> {
    let Some(items) = f.get("evidences") else {
        return Ok(Vec::new());
    };
    let Value::Array(items) = items else {
        return Err(FieldError::new("ocsf.evidences", "expected an array"));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let Value::Object(e) = item else {
                return Err(FieldError::new(
                    format!("ocsf.evidences[{i}]"),
                    "expected an object",
                ));
            };
            let (kind, title) = evidence_heading(e, i);
            let body = serde_json::to_string_pretty(item)
                .map_err(|err| FieldError::new(format!("ocsf.evidences[{i}]"), err.to_string()))?;
            Ok(json!({"kind": kind, "title": title, "body": body}))
        })
        .collect()
}

fn evidence_heading(e: &Map<String, Value>, i: usize) -> (&'static str, String) {
    let named = |key: &str, fields: &[&str]| {
        fields
            .iter()
            .find_map(|k| non_empty_str(e, &[key, k]))
            .map(str::to_owned)
    };
    if e.contains_key("process") {
        let name = named("process", &["cmd_line", "name", "path"]).unwrap_or_default();
        return (
            "process_tree",
            format!("process {name}").trim_end().to_owned(),
        );
    }
    if e.contains_key("file") {
        let name = named("file", &["path", "name"]).unwrap_or_default();
        return ("file", format!("file {name}").trim_end().to_owned());
    }
    if e.contains_key("dst_endpoint") || e.contains_key("connection_info") {
        let to = named("dst_endpoint", &["hostname", "domain", "ip"]).unwrap_or_default();
        return (
            "network_flow",
            format!("connection {to}").trim_end().to_owned(),
        );
    }
    if e.contains_key("api") {
        let op = named("api", &["operation"]).unwrap_or_default();
        return ("log", format!("API call {op}").trim_end().to_owned());
    }
    if e.contains_key("url") || e.contains_key("query") {
        return ("indicator", "indicator".into());
    }
    ("raw_json", format!("evidence {}", i + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn edr_finding() -> Value {
        json!({
            "class_uid": 2004,
            "category_uid": 2,
            "activity_id": 1,
            "type_uid": 200401,
            "time": 1763870400000_i64,
            "severity_id": 4,
            "message": "Credential dumping: lsass.exe memory read by an unsigned binary",
            "confidence_score": 87,
            "metadata": {"version": "1.3.0", "product": {"name": "Falcon Insight", "vendor_name": "CrowdStrike"}},
            "finding_info": {"uid": "ldt:8f1c:4411", "title": "Credential Dumping", "desc": "OS credential dumping (T1003.001)"},
            "device": {"hostname": "ws-0412", "ip": "10.20.4.12", "os": {"name": "Windows 11", "type_id": 100}},
            "evidences": [
                {"process": {"name": "procdump64.exe", "pid": 4411, "cmd_line": "procdump64.exe -ma lsass.exe"}},
                {"dst_endpoint": {"ip": "203.0.113.7", "port": 443}}
            ]
        })
    }

    #[test]
    fn an_edr_finding_becomes_a_host_alert_with_the_finding_verbatim() {
        let finding = edr_finding();
        let (alert, _) = normalise(json!({"ocsf": finding.clone(), "proposals": []})).unwrap();
        assert_eq!(alert["external_id"], "ldt:8f1c:4411");
        assert_eq!(alert["title"], "Credential Dumping");
        assert_eq!(alert["severity"], "high");
        assert_eq!(alert["source"], "CrowdStrike Falcon Insight");
        assert_eq!(alert["entity"], json!({"kind": "host", "id": "ws-0412"}));
        assert_eq!(alert["summary"]["confidence"], 0.87);
        assert_eq!(alert["evidence"][0]["kind"], "process_tree");
        assert_eq!(
            alert["evidence"][0]["title"],
            "process procdump64.exe -ma lsass.exe"
        );
        assert_eq!(alert["evidence"][1]["kind"], "network_flow");
        assert_eq!(alert["context"]["ocsf"], finding);
    }

    #[test]
    fn missing_fields_are_named_as_ocsf_fields() {
        type Mutation = fn(&mut Value);
        let cases: [(&str, Mutation); 5] = [
            ("ocsf.class_uid", (|f| f["class_uid"] = json!(2001))),
            (
                "ocsf.finding_info.title",
                (|f| f["finding_info"]["title"] = json!("  ")),
            ),
            ("ocsf.severity_id", (|f| f["severity_id"] = json!(0))),
            (
                "ocsf.finding_info.uid",
                (|f| {
                    f["finding_info"].as_object_mut().unwrap().remove("uid");
                }),
            ),
            (
                "ocsf.resources",
                (|f| {
                    f.as_object_mut().unwrap().remove("device");
                }),
            ),
        ];
        for (field, mutate) in cases {
            let mut f = edr_finding();
            mutate(&mut f);
            let err = normalise(json!({"ocsf": f, "proposals": []}))
                .err()
                .unwrap();
            assert_eq!(err.field, field, "{err}");
        }
        let err = normalise(json!({"ocsf": edr_finding(), "title": "x"}))
            .err()
            .unwrap();
        assert_eq!(err.field, "title");
    }

    #[test]
    fn cloud_resources_and_users_are_entities() {
        let mut f = edr_finding();
        f["resources"] =
            json!([{"type": "AWS::IAM::Role", "uid": "arn:aws:iam::111122223333:role/ci"}]);
        let (alert, origins) = normalise(json!({"ocsf": f})).unwrap();
        assert_eq!(alert["entity"]["kind"], "service_account");
        assert_eq!(
            origins.rename("entity.id").as_deref(),
            Some("ocsf.resources[0].uid")
        );
        let mut f = edr_finding();
        f.as_object_mut().unwrap().remove("device");
        f["actor"] = json!({"user": {"name": "j.doe@corp.example"}});
        let (alert, _) = normalise(json!({"ocsf": f})).unwrap();
        assert_eq!(
            alert["entity"],
            json!({"kind": "user", "id": "j.doe@corp.example"})
        );
    }
}
