//! The API's own schemas, built on the domain's (`domain::schema`): any
//! I-JSON value, the OCSF envelope `POST /v1/alerts` takes, and the choice
//! between it and a native alert.

use crate::domain::limits;
use crate::domain::schema::{external_id, from_json, invisible_class, title};
use utoipa::openapi::{RefOr, Schema};

/// Every number in a body is within ±(2^53−1) (`domain::json`).
const SAFE: i64 = 9_007_199_254_740_991;

/// Any JSON that I-JSON (RFC 7493) allows: integers within ±(2^53−1).
/// The server refuses bigger ones anywhere in a body (`not_i_json`).
pub fn i_json_value() -> RefOr<Schema> {
    from_json(i_json_value_json())
}

fn i_json_value_json() -> serde_json::Value {
    serde_json::json!({
        "description": "Any JSON value whose numbers a double holds exactly (I-JSON, RFC 7493).",
        "anyOf": [
            {"type": ["string", "boolean", "null"]},
            {"type": "number", "minimum": -SAFE, "maximum": SAFE},
            {"type": "array", "items": {"$ref": "#/components/schemas/IJsonValue"}},
            {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/IJsonValue"}}
        ]
    })
}

/// `POST /v1/alerts` with an OCSF Detection Finding (`domain::submission::ocsf`).
pub struct OcsfSubmission;

impl utoipa::PartialSchema for OcsfSubmission {
    fn schema() -> RefOr<Schema> {
        from_json(ocsf_submission_json())
    }
}

fn ocsf_submission_json() -> serde_json::Value {
    {
        use serde_json::json;
        let visible = format!("^[^{}]*$", invisible_class());
        let candidate =
            json!({"type": "string", "maxLength": limits::SHORT_TEXT, "pattern": visible});
        let present = |keys: &[&str]| {
            json!({"anyOf": keys.iter()
                .map(|k| json!({"type": "object", "required": [k], "properties": {*k: {"type": "string", "pattern": "\\S"}}}))
                .collect::<Vec<_>>()})
        };
        let base = json!({
            "type": "object",
            "additionalProperties": {"$ref": "#/components/schemas/IJsonValue"},
            "description": "An OCSF Detection Finding (class_uid 2004), kept verbatim as the alert's context.ocsf. Read from it: finding_info.uid (the default external_id), finding_info.title, severity_id (1 informational to 6 fatal), metadata.product, the entity (the first resource, else device, else actor.user; every resource needs a uid or name), message (else finding_info.desc, else the title), evidences, confidence_score.",
            "required": ["class_uid", "severity_id", "finding_info", "metadata"],
            "properties": {
                "class_uid": {"type": "integer", "enum": [2004]},
                "severity_id": {"type": "integer", "enum": [1, 2, 3, 4, 5, 6]},
                "message": {"type": "string", "maxLength": limits::LONG_TEXT},
                "confidence_score": {"type": "number", "minimum": -SAFE, "maximum": SAFE},
                "confidence_id": {"type": "integer", "minimum": -SAFE, "maximum": SAFE},
                "finding_info": {
                    "type": "object", "additionalProperties": {"$ref": "#/components/schemas/IJsonValue"},
                    "required": ["uid", "title"],
                    "properties": {
                        "uid": external_id(),
                        "title": title(),
                        "desc": {"type": "string", "maxLength": limits::LONG_TEXT}
                    }
                },
                "metadata": {
                    "type": "object", "additionalProperties": {"$ref": "#/components/schemas/IJsonValue"},
                    "required": ["product"],
                    "properties": {"product": {
                        "type": "object", "additionalProperties": {"$ref": "#/components/schemas/IJsonValue"},
                        "required": ["name"],
                        "properties": {
                            "name": {"type": "string", "maxLength": 255, "pattern": "\\S"},
                            "vendor_name": {"type": "string", "maxLength": 255}
                        }
                    }}
                },
                "resources": {"type": "array", "items": {"allOf": [
                    {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/IJsonValue"},
                     "properties": {"uid": candidate, "name": candidate, "type": {"type": "string"}}},
                    present(&["uid", "name"])
                ]}},
                "device": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/IJsonValue"}, "properties": {
                    "hostname": candidate, "name": candidate, "uid": candidate, "ip": candidate
                }},
                "actor": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/IJsonValue"}, "properties": {"user": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/IJsonValue"}, "properties": {
                    "name": candidate, "uid": candidate, "email_addr": candidate
                }}}},
                "evidences": {"type": "array", "maxItems": limits::EVIDENCE_ITEMS, "items": {
                    "type": "object", "additionalProperties": {"$ref": "#/components/schemas/IJsonValue"}
                }}
            }
        });
        let finding = json!({"allOf": [base, {"anyOf": [
                {"type": "object", "required": ["resources"], "properties": {"resources": {"type": "array", "items": {"type": "object"}, "minItems": 1}}},
                {"type": "object", "required": ["device"], "properties": {"device": present(&["hostname", "name", "uid", "ip"])}},
                {"type": "object", "required": ["actor"], "properties": {"actor": {"type": "object", "required": ["user"], "properties": {
                    "user": present(&["name", "uid", "email_addr"])
                }}}}
        ]}]});
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["ocsf", "proposals"],
            "properties": {
                "ocsf": finding,
                "proposals": {
                    "type": "array", "minItems": 1, "maxItems": limits::PROPOSALS,
                    "items": {"$ref": "#/components/schemas/ProposalSubmission"}
                },
                "external_id": external_id(),
                "summary": {"$ref": "#/components/schemas/Summary"}
            },
            "examples": [{
                "ocsf": {
                    "class_uid": 2004, "activity_id": 1, "type_uid": 200401, "severity_id": 5,
                    "time": 1763870400000_i64,
                    "message": "procdump64.exe read lsass.exe memory",
                    "metadata": {"version": "1.3.0", "product": {"name": "Falcon Insight", "vendor_name": "CrowdStrike"}},
                    "finding_info": {"uid": "ldt:4f1c9e0a2b:77310", "title": "Credential Dumping via LSASS"},
                    "device": {"hostname": "ws-0412", "ip": "10.20.4.12"},
                    "evidences": [{"process": {"pid": 4411, "name": "procdump64.exe"}}]
                },
                "proposals": [{"action": "isolate_host", "target": "ws-0412", "risk": "high",
                               "rationale": "contain before the dump leaves the host"}]
            }]
        })
    }
}

impl utoipa::ToSchema for OcsfSubmission {}

/// The schema component `IJsonValue` (see [`i_json_value`]).
pub struct IJsonValue;

impl utoipa::PartialSchema for IJsonValue {
    fn schema() -> RefOr<Schema> {
        i_json_value()
    }
}

impl utoipa::ToSchema for IJsonValue {}

/// The body of `POST /v1/alerts`: an alert, or an OCSF finding with
/// proposals (told apart by the `ocsf` member).
pub struct AlertOrFinding;

impl utoipa::PartialSchema for AlertOrFinding {
    fn schema() -> RefOr<Schema> {
        from_json(alert_or_finding_json())
    }
}

fn alert_or_finding_json() -> serde_json::Value {
    serde_json::json!({"oneOf": [
        {"$ref": "#/components/schemas/AlertSubmission"},
        {"$ref": "#/components/schemas/OcsfSubmission"}
    ]})
}

impl utoipa::ToSchema for AlertOrFinding {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        use utoipa::PartialSchema;
        schemas.push((
            "AlertSubmission".into(),
            crate::domain::submission::AlertSubmission::schema(),
        ));
        <crate::domain::submission::AlertSubmission as utoipa::ToSchema>::schemas(schemas);
        schemas.push(("OcsfSubmission".into(), OcsfSubmission::schema()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::PartialSchema;

    /// utoipa's schema model drops keywords it has no field for (`anyOf`
    /// next to `type`, `minItems` without `type: array`): every hand-written
    /// schema must come back from it unchanged (`domain::schema` checks its
    /// own).
    #[test]
    fn hand_written_schemas_survive_the_model() {
        for (name, json) in [
            ("OcsfSubmission", ocsf_submission_json()),
            ("IJsonValue", i_json_value_json()),
            ("AlertOrFinding", alert_or_finding_json()),
            (
                "ExecutionReport",
                crate::api::proposals::execution_report_json(),
            ),
        ] {
            let schema: RefOr<Schema> =
                serde_json::from_value(json.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(serde_json::to_value(&schema).unwrap(), json, "{name}");
        }
        let s = serde_json::to_value(OcsfSubmission::schema()).unwrap();
        assert_eq!(s["required"], serde_json::json!(["ocsf", "proposals"]));
    }
}
