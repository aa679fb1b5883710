//! OpenAPI schemas for domain fields whose JSON shape is not their Rust
//! type's: the RFC 3339 timestamps kept as milliseconds, and text with the
//! limits `domain::submission` enforces (`domain::limits`), so the OpenAPI
//! document says exactly what the server accepts (Schemathesis checks both
//! directions). `api::schema` builds the API's own schemas on these.

use super::limits;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{RefOr, Schema};

/// The characters an identifier may not hold (`domain::text`): C0 and C1
/// controls, bidi controls and invisible format characters. A test checks
/// this list against `domain::text` for every code point.
const INVISIBLE_RANGES: &[(u32, u32)] = &[
    (0x00, 0x1f),
    (0x7f, 0x9f),
    (0xad, 0xad),
    (0x34f, 0x34f),
    (0x61c, 0x61c),
    (0x115f, 0x1160),
    (0x17b4, 0x17b5),
    (0x180b, 0x180f),
    (0x200b, 0x200f),
    (0x202a, 0x202e),
    (0x2060, 0x2064),
    (0x2066, 0x206f),
    (0x3164, 0x3164),
    (0xfe00, 0xfe0f),
    (0xfeff, 0xfeff),
    (0xffa0, 0xffa0),
    (0xfff9, 0xfffb),
    (0x1d173, 0x1d17a),
    (0xe0000, 0xe0fff),
];

/// The ranges as the inside of a regex character class: `\uXXXX` escapes
/// in the Basic Multilingual Plane, the characters themselves beyond it
/// (ECMA-262 with the `u` flag and Python's `re` both read a literal
/// supplementary character as one code point; neither reads the other's
/// escape for it).
pub(crate) fn invisible_class() -> String {
    let one = |c: u32| {
        if c <= 0xffff {
            format!("\\u{c:04x}")
        } else {
            char::from_u32(c).map(String::from).unwrap_or_default()
        }
    };
    INVISIBLE_RANGES
        .iter()
        .map(|&(a, b)| {
            if a == b {
                one(a)
            } else {
                format!("{}-{}", one(a), one(b))
            }
        })
        .collect()
}

fn string(max: usize, pattern: Option<String>, description: &str) -> RefOr<Schema> {
    let mut b = ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(max))
        .description(Some(description));
    if let Some(p) = pattern {
        b = b.pattern(Some(p));
    }
    RefOr::T(Schema::Object(b.build()))
}

/// Text that must hold something besides white space.
fn required(max: usize, description: &str) -> RefOr<Schema> {
    string(max, Some("\\S".into()), description)
}

fn identifier(max: usize, description: &str) -> RefOr<Schema> {
    let bad = invisible_class();
    string(
        max,
        Some(format!("^[^{bad}]*[^\\s{bad}][^{bad}]*$")),
        description,
    )
}

pub fn external_id() -> RefOr<Schema> {
    identifier(
        limits::SHORT_TEXT,
        "The source's own id for the alert: resubmitting it is idempotent. Visible text only.",
    )
}

pub fn entity_id() -> RefOr<Schema> {
    identifier(limits::SHORT_TEXT, "Visible text only.")
}

pub fn target() -> RefOr<Schema> {
    identifier(
        limits::COMMAND_TARGET,
        "What the action acts on (host, account, indicator, command). Visible text only. At most 16384 characters (a whole command); a built-in kind's target over 1000 characters is held at high risk.",
    )
}

/// A person's name as allowed_signers lists it: one concrete name
/// (`domain::text::principal_problem`).
pub fn principal() -> RefOr<Schema> {
    string(
        256,
        Some(format!("^[^\\s*?!,{}]+$", invisible_class())),
        "One concrete principal (no spaces, no allowed_signers pattern characters * ? ! ,).",
    )
}

/// A proposal's `parameters`: an object; `argv` a command line.
pub fn parameters() -> RefOr<Schema> {
    from_json(serde_json::json!({
        "type": ["object", "null"],
        "description": format!("What exactly will run, covered by the digest and shown in full: `argv` (the command line, one string per argument: what `countersign exec` runs and nothing else), or a tool's arguments. At most {} bytes as JSON.", limits::PARAMETERS),
        "properties": {"argv": {"type": "array", "minItems": 1, "maxItems": limits::ARGV_ITEMS, "prefixItems": [{"type": "string", "minLength": 1}], "items": {"type": "string"}, "description": "The command (not empty), then each argument."}},
        "additionalProperties": {"$ref": "#/components/schemas/IJsonValue"}
    }))
}

/// `context`: free-form, kept verbatim.
pub fn context() -> RefOr<Schema> {
    from_json(context_json())
}

fn context_json() -> serde_json::Value {
    serde_json::json!({
        "type": ["object", "null"],
        "description": "Free-form context, kept verbatim and covered by the digest.",
        "additionalProperties": {"$ref": "#/components/schemas/IJsonValue"}
    })
}

pub fn short_text() -> RefOr<Schema> {
    required(limits::SHORT_TEXT, "Not blank.")
}

pub fn title() -> RefOr<Schema> {
    required(limits::TITLE, "Not blank.")
}

pub fn long_text() -> RefOr<Schema> {
    required(
        limits::LONG_TEXT,
        "Not blank; shown verbatim, escapes made visible.",
    )
}

pub fn evidence_body() -> RefOr<Schema> {
    string(
        limits::EVIDENCE_BODY,
        None,
        "Shown verbatim, escapes made visible.",
    )
}

pub fn permission_doc() -> RefOr<Schema> {
    string(
        limits::PERMISSION_DOC,
        None,
        "The document as text (JSON, YAML or a list of grants).",
    )
}

fn date_time(nullable: bool) -> RefOr<Schema> {
    let ty = if nullable {
        utoipa::openapi::schema::SchemaType::from_iter([Type::String, Type::Null])
    } else {
        utoipa::openapi::schema::SchemaType::Type(Type::String)
    };
    RefOr::T(Schema::Object(
        ObjectBuilder::new()
            .schema_type(ty)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .build(),
    ))
}

/// An RFC 3339 timestamp (stored as milliseconds).
pub fn timestamp() -> RefOr<Schema> {
    date_time(false)
}

/// An RFC 3339 timestamp or `null`.
pub fn timestamp_opt() -> RefOr<Schema> {
    date_time(true)
}

pub(crate) fn from_json(v: serde_json::Value) -> RefOr<Schema> {
    // The literals below are schemas by construction; a test parses them.
    serde_json::from_value(v).unwrap_or_else(|e| {
        RefOr::T(Schema::Object(
            ObjectBuilder::new()
                .description(Some(format!("schema error: {e}")))
                .build(),
        ))
    })
}

/// What an alert is about: a kind, and an id that is what the kind says
/// (`domain::submission` checks it; these patterns are what it surely
/// accepts).
pub fn entity() -> RefOr<Schema> {
    from_json(entity_json())
}

fn entity_json() -> serde_json::Value {
    use serde_json::json;
    let bad = invisible_class();
    let visible = json!({"type": "string", "maxLength": limits::SHORT_TEXT,
        "pattern": format!("^[^{bad}]*[^\\s{bad}][^{bad}]*$"),
        "description": "Visible text only."});
    let domain = "([A-Za-z0-9]{1,30}\\.){1,4}[A-Za-z]{2,20}";
    let branch = |kinds: &[&str], id: serde_json::Value| {
        json!({"type": "object", "additionalProperties": false, "required": ["kind", "id"],
               "properties": {"kind": {"type": "string", "enum": kinds}, "id": id}})
    };
    json!({"oneOf": [
        branch(&["host", "user", "service_account", "service", "cloud_resource", "token", "process"], visible),
        branch(&["ip"], json!({"anyOf": [
            {"type": "string", "format": "ipv4"},
            {"type": "string", "format": "ipv6"}
        ], "description": "An IPv4 or IPv6 address (a network in CIDR form is accepted too)."})),
        branch(&["domain"], json!({"type": "string", "maxLength": 253,
            "pattern": format!("^{domain}$"), "description": "A domain name (IDN in Unicode is accepted too)."})),
        branch(&["url"], json!({"type": "string", "maxLength": limits::SHORT_TEXT,
            "pattern": format!("^https?://{domain}(/[A-Za-z0-9._~-]{{0,40}}){{0,5}}$"),
            "description": "A URL with a host."})),
        branch(&["file_hash"], json!({"type": "string",
            "pattern": "^((md5|sha1|sha256|sha512):)?([0-9a-fA-F]{32}|[0-9a-fA-F]{40}|[0-9a-fA-F]{64}|[0-9a-fA-F]{128})$",
            "description": "MD5, SHA-1, SHA-256 or SHA-512 in hex, optionally after its name."})),
        branch(&["email"], json!({"type": "string", "maxLength": limits::SHORT_TEXT,
            "pattern": format!("^[A-Za-z0-9._+-]{{1,64}}@{domain}$"),
            "description": "An e-mail address."}))
    ]})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_invisible_ranges_are_what_identifiers_refuse() {
        for c in (0..=0x10ffff_u32).filter_map(char::from_u32) {
            let listed = INVISIBLE_RANGES
                .iter()
                .any(|&(a, b)| (a..=b).contains(&(c as u32)));
            let refused = crate::domain::text::identifier_problem(&c.to_string()).is_some();
            assert_eq!(listed, refused, "U+{:04X}", c as u32);
        }
    }

    /// utoipa's schema model drops keywords it has no field for (`anyOf`
    /// next to `type`): every hand-written schema must come back from it
    /// unchanged (`api::schema` checks its own).
    #[test]
    fn hand_written_schemas_survive_the_model() {
        for (name, json) in [("Entity", entity_json()), ("context", context_json())] {
            let schema: RefOr<Schema> =
                serde_json::from_value(json.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(serde_json::to_value(&schema).unwrap(), json, "{name}");
        }
    }
}
