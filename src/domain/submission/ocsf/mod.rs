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

use super::error::FieldError;
use crate::domain::limits;
use crate::domain::text;
use serde_json::{Map, Value, json};

/// The OCSF Detection Finding class.
pub const DETECTION_FINDING: i64 = 2004;

/// The envelope's own members besides `ocsf`.
const ENVELOPE: [&str; 4] = ["ocsf", "proposals", "external_id", "summary"];

/// Where each native field came from, so a validation error on the
/// normalised document can name the OCSF field the agent sent.
#[derive(Debug)]
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
    let f = Finding::new(&finding)?;
    let mut origins = Vec::new();
    match f.int(&["class_uid"])? {
        Some(DETECTION_FINDING) => {}
        Some(other) => {
            return Err(f.error(
                &["class_uid"],
                format!("is {other}; only Detection Findings (2004) are accepted"),
            ));
        }
        None => {
            return Err(f.error(
                &["class_uid"],
                "missing: a Detection Finding has class_uid 2004",
            ));
        }
    }
    let uid = f.required(&["finding_info", "uid"])?;
    let external_id = match envelope.remove("external_id") {
        Some(id) => id,
        None => {
            origins.push(("external_id".into(), "finding_info.uid".into()));
            Value::String(uid.to_owned())
        }
    };
    let title = f.required(&["finding_info", "title"])?;
    origins.push(("title".into(), "finding_info.title".into()));
    let severity = severity(&f)?;
    let source = f.required(&["metadata", "product", "name"])?;
    for key in ["name", "vendor_name"] {
        let path = ["metadata", "product", key];
        if f.text(&path)?.is_some_and(|v| v.chars().count() > 255) {
            return Err(f.error(&path, "is longer than 255 characters"));
        }
    }
    let source = match f.text(&["metadata", "product", "vendor_name"])? {
        Some(vendor) if !source.starts_with(vendor) => format!("{vendor} {source}"),
        _ => source.to_owned(),
    };
    origins.push(("source".into(), "metadata.product".into()));
    let (entity, entity_origin) = entity(&f)?;
    origins.push(("entity".into(), entity_origin));
    // Both are text a person may read, whichever becomes the summary.
    for path in [&["message"][..], &["finding_info", "desc"][..]] {
        if f.text(path)?
            .is_some_and(|t| t.chars().count() > limits::LONG_TEXT)
        {
            return Err(f.error(
                path,
                format!("is longer than {} characters", limits::LONG_TEXT),
            ));
        }
    }
    // What the finding says it found: its message, else its description,
    // else its title.
    let (text, origin) = match (f.text(&["message"])?, f.text(&["finding_info", "desc"])?) {
        (Some(m), _) => (m, "message"),
        (None, Some(d)) => (d, "finding_info.desc"),
        (None, None) => (title, "finding_info.title"),
    };
    let confidence = confidence(&f)?;
    let summary = match envelope.remove("summary") {
        Some(s) => s,
        None => {
            origins.push(("summary".into(), origin.into()));
            json!({"text": text, "model": source, "confidence": confidence})
        }
    };
    let mut evidence = evidence(&f)?;
    if let Some(o) = observables_evidence(&f)? {
        evidence.push(o);
    }
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

/// Typed reads of a finding. A member we read is either absent or of its
/// OCSF type: a number where a string belongs is refused, not skipped, so
/// the OpenAPI document can say exactly what is accepted.
struct Finding<'a>(&'a Map<String, Value>);

impl<'a> Finding<'a> {
    fn new(v: &'a Value) -> Result<Self, FieldError> {
        match v {
            Value::Object(f) => Ok(Finding(f)),
            _ => Err(FieldError::new(
                "ocsf",
                "expected an OCSF Detection Finding object",
            )),
        }
    }

    fn error(&self, path: &[&str], message: impl Into<String>) -> FieldError {
        FieldError::new(format!("ocsf.{}", path.join(".")), message)
    }

    /// The member at `path`, if there; every step before it an object.
    fn get(&self, path: &[&str]) -> Result<Option<&'a Value>, FieldError> {
        let mut here = self.0;
        for (i, key) in path.iter().enumerate() {
            let Some(v) = here.get(*key) else {
                return Ok(None);
            };
            if i + 1 == path.len() {
                return Ok(Some(v));
            }
            here = v
                .as_object()
                .ok_or_else(|| self.error(&path[..=i], "expected an object"))?;
        }
        Ok(None)
    }

    /// A string member; `None` when absent or blank.
    fn text(&self, path: &[&str]) -> Result<Option<&'a str>, FieldError> {
        match self.get(path)? {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str()).filter(|s| !s.trim().is_empty())),
            Some(_) => Err(self.error(path, "expected a string")),
        }
    }

    fn required(&self, path: &[&str]) -> Result<&'a str, FieldError> {
        self.text(path)?
            .ok_or_else(|| self.error(path, "missing or blank: an alert needs it"))
    }

    fn int(&self, path: &[&str]) -> Result<Option<i64>, FieldError> {
        match self.get(path)? {
            None => Ok(None),
            // `4.0` is the integer 4 to JSON Schema and to I-JSON.
            Some(v) => v
                .as_i64()
                .or_else(|| {
                    v.as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_991.0)
                        .map(|f| f as i64)
                })
                .map(Some)
                .ok_or_else(|| self.error(path, "expected an integer")),
        }
    }
}

/// OCSF `severity_id`: 1 Informational … 5 Critical, 6 Fatal.
fn severity(f: &Finding) -> Result<&'static str, FieldError> {
    let path = ["severity_id"];
    match f.int(&path)? {
        Some(1) => Ok("info"),
        Some(2) => Ok("low"),
        Some(3) => Ok("medium"),
        Some(4) => Ok("high"),
        Some(5 | 6) => Ok("critical"),
        Some(n) => Err(f.error(
            &path,
            format!("is {n}; give 1 (informational) to 6 (fatal), not unknown or other"),
        )),
        None => Err(f.error(&path, "missing: an alert needs a severity")),
    }
}

/// Where the entity may come from, in order: the first resource (every
/// resource needs a uid or name), the device, the acting user. Every candidate present must
/// be visible text of at most 512 characters, chosen or not.
const RESOURCE_KEYS: [&str; 2] = ["uid", "name"];
const DEVICE_KEYS: [&str; 4] = ["hostname", "name", "uid", "ip"];
const USER_KEYS: [&str; 3] = ["name", "uid", "email_addr"];

fn entity(f: &Finding) -> Result<(Value, String), FieldError> {
    let mut holders: Vec<(String, &'static str, Finding, &[&str])> = Vec::new();
    match f.get(&["resources"])? {
        None => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let label = format!("resources[{i}]");
                let Value::Object(r) = item else {
                    return Err(FieldError::new(
                        format!("ocsf.{label}"),
                        "expected an object",
                    ));
                };
                let kind = match r.get("type") {
                    None => "cloud_resource",
                    Some(Value::String(t)) => resource_kind(t),
                    Some(_) => {
                        return Err(FieldError::new(
                            format!("ocsf.{label}.type"),
                            "expected a string",
                        ));
                    }
                };
                let has_id = RESOURCE_KEYS.iter().any(|k| {
                    r.get(*k)
                        .and_then(Value::as_str)
                        .is_some_and(|v| !v.trim().is_empty())
                });
                if !has_id {
                    return Err(FieldError::new(
                        format!("ocsf.{label}.uid"),
                        "missing: a resource needs a uid or a name",
                    ));
                }
                holders.push((label, kind, Finding(r), &RESOURCE_KEYS));
            }
        }
        Some(_) => return Err(f.error(&["resources"], "expected an array")),
    }
    for (path, kind, keys) in [
        (&["device"][..], "host", &DEVICE_KEYS[..]),
        (&["actor", "user"][..], "user", &USER_KEYS[..]),
    ] {
        match f.get(path)? {
            None => {}
            Some(Value::Object(o)) => holders.push((path.join("."), kind, Finding(o), keys)),
            Some(_) => return Err(f.error(path, "expected an object")),
        }
    }
    let mut chosen = None;
    for (label, kind, holder, keys) in &holders {
        for key in *keys {
            let field = format!("{label}.{key}");
            let value = holder
                .text(&[key])
                .map_err(|e| FieldError::new(format!("ocsf.{field}"), e.message))?;
            let raw = holder.0.get(*key).and_then(Value::as_str).unwrap_or("");
            if let Some(problem) = text::identifier_problem(raw) {
                return Err(FieldError::new(format!("ocsf.{field}"), problem));
            }
            if raw.chars().count() > limits::SHORT_TEXT {
                return Err(FieldError::new(
                    format!("ocsf.{field}"),
                    "is longer than 512 characters",
                ));
            }
            if let Some(value) = value
                && chosen.is_none()
            {
                chosen = Some((json!({"kind": kind, "id": value}), field));
            }
        }
    }
    if let Some(chosen) = chosen {
        return Ok(chosen);
    }
    // A finding about an address, a URL or a message (phishing) may name
    // its subject only among its observables.
    for (i, o) in observables(f)?.iter().enumerate() {
        if let Some(kind) = o.kind {
            let value = o.value.trim();
            if value.is_empty() {
                continue;
            }
            return Ok((
                json!({"kind": kind, "id": value}),
                format!("observables[{i}].value"),
            ));
        }
    }
    Err(f.error(
        &["resources"],
        "missing: an alert needs an entity (resources[].uid, device.hostname, actor.user.name, or an observable of a known type)",
    ))
}

/// One OCSF observable, read.
struct Observable {
    name: String,
    type_name: String,
    value: String,
    /// The entity kind its type stands for, if any.
    kind: Option<&'static str>,
}

/// The entity kind for an OCSF observable `type_id` (OCSF 1.x, object
/// `observable`).
fn observable_kind(type_id: i64) -> Option<&'static str> {
    Some(match type_id {
        1 | 20 => "host",
        2 => "ip",
        4 | 21 => "user",
        5 | 22 => "email",
        6 | 23 => "url",
        8 => "file_hash",
        9 | 25 => "process",
        10 => "cloud_resource",
        _ => return None,
    })
}

/// Most observables one finding may bring.
const MAX_OBSERVABLES: usize = 256;

fn observables(f: &Finding) -> Result<Vec<Observable>, FieldError> {
    let items = match f.get(&["observables"])? {
        None => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(f.error(&["observables"], "expected an array")),
    };
    if items.len() > MAX_OBSERVABLES {
        return Err(f.error(
            &["observables"],
            format!("has {} items, the limit is {MAX_OBSERVABLES}", items.len()),
        ));
    }
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = |k: &str| format!("ocsf.observables[{i}]{k}");
        let Value::Object(o) = item else {
            return Err(FieldError::new(at(""), "expected an object"));
        };
        let o = Finding(o);
        let type_id = o
            .int(&["type_id"])
            .map_err(|e| FieldError::new(at(".type_id"), e.message))?
            .ok_or_else(|| {
                FieldError::new(at(".type_id"), "missing: an observable has a type_id")
            })?;
        let Some(value) = o
            .text(&["value"])
            .map_err(|e| FieldError::new(at(".value"), e.message))?
        else {
            continue;
        };
        if let Some(problem) = text::identifier_problem(value) {
            return Err(FieldError::new(at(".value"), problem));
        }
        if value.chars().count() > limits::SHORT_TEXT {
            return Err(FieldError::new(
                at(".value"),
                "is longer than 512 characters",
            ));
        }
        let label = |k: &str| -> Result<String, FieldError> {
            Ok(o.text(&[k])
                .map_err(|e| FieldError::new(at(&format!(".{k}")), e.message))?
                .map(|s| text::visible(&text::truncate(s, 200)))
                .unwrap_or_default())
        };
        out.push(Observable {
            name: label("name")?,
            type_name: label("type")?,
            value: value.to_owned(),
            kind: observable_kind(type_id),
        });
    }
    Ok(out)
}

/// The observables as one evidence item, one per line: what the finding
/// pointed at, for the analyst and for finding other alerts on it.
fn observables_evidence(f: &Finding) -> Result<Option<Value>, FieldError> {
    let list = observables(f)?;
    if list.is_empty() {
        return Ok(None);
    }
    let body = list
        .iter()
        .map(|o| {
            let what = match (o.type_name.as_str(), o.kind) {
                ("", Some(k)) => k.to_owned(),
                ("", None) => "observable".to_owned(),
                (t, _) => t.to_owned(),
            };
            let at = if o.name.is_empty() {
                String::new()
            } else {
                format!(" ({})", o.name)
            };
            format!("{what}: {}{at}", o.value)
        })
        .collect::<Vec<_>>()
        .join("\n");
    Ok(Some(json!({
        "kind": "indicator",
        "title": format!("observables ({})", list.len()),
        "body": body,
    })))
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

/// The detector's own confidence: `confidence_score` (0–100), else
/// `confidence_id` (1 low, 2 medium, 3 high), else 0: none given.
fn confidence(f: &Finding) -> Result<f64, FieldError> {
    if let Some(v) = f.get(&["confidence_score"])? {
        let score = v
            .as_f64()
            .ok_or_else(|| f.error(&["confidence_score"], "expected a number"))?;
        return Ok((score / 100.0).clamp(0.0, 1.0));
    }
    Ok(match f.int(&["confidence_id"])? {
        Some(1) => 0.33,
        Some(2) => 0.66,
        Some(3) => 1.0,
        _ => 0.0,
    })
}

/// One evidence item per OCSF Evidence Artifacts object, its JSON verbatim
/// (pretty-printed) as the body.
fn evidence(f: &Finding) -> Result<Vec<Value>, FieldError> {
    let items = match f.get(&["evidences"])? {
        None => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(f.error(&["evidences"], "expected an array")),
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let at = format!("ocsf.evidences[{i}]");
            let Value::Object(e) = item else {
                return Err(FieldError::new(at, "expected an object"));
            };
            let (kind, title) = evidence_heading(e, i);
            let body = serde_json::to_string_pretty(item)
                .map_err(|err| FieldError::new(at, err.to_string()))?;
            Ok(json!({"kind": kind, "title": title, "body": body}))
        })
        .collect()
}

fn evidence_heading(e: &Map<String, Value>, i: usize) -> (&'static str, String) {
    let named = |key: &str, fields: &[&str]| {
        fields
            .iter()
            .find_map(|k| {
                e.get(key)?
                    .get(k)?
                    .as_str()
                    .filter(|s| !s.trim().is_empty())
            })
            .map(|s| s.chars().take(200).collect::<String>())
    };
    let heading = |what: &str, name: Option<String>| match name {
        Some(n) => format!("{what} {n}"),
        None => what.to_owned(),
    };
    if e.contains_key("process") {
        return (
            "process_tree",
            heading("process", named("process", &["cmd_line", "name", "path"])),
        );
    }
    if e.contains_key("file") {
        return ("file", heading("file", named("file", &["path", "name"])));
    }
    if e.contains_key("dst_endpoint") || e.contains_key("connection_info") {
        return (
            "network_flow",
            heading(
                "connection",
                named("dst_endpoint", &["hostname", "domain", "ip"]),
            ),
        );
    }
    if e.contains_key("api") {
        return ("log", heading("API call", named("api", &["operation"])));
    }
    if e.contains_key("url") || e.contains_key("query") {
        return ("indicator", "indicator".into());
    }
    ("raw_json", format!("evidence {}", i + 1))
}

#[cfg(test)]
mod tests;
