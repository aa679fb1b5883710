//! Every route with its OpenAPI description, and the OpenAPI 3.1 document
//! generated from the handlers' `#[utoipa::path]` annotations as
//! [`routes`] registers them, so a route and its description cannot drift
//! apart. Served at `GET /v1/openapi.json`; `router.rs` serves the routes.

use super::handlers::{
    alerts, audit, decisions, freezes, ops, oversight, proposals, queue, revert, session,
};
use super::state::AppState;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use std::sync::LazyLock;
use utoipa::openapi::OpenApi as Document;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "countersign",
        description = "A human approval gate for AI-proposed security actions. Agents submit alerts with proposed actions and wait for a decision; people decide in the console with signed decisions; everything lands in a hash-chained audit log.\n\nAuthentication: `Authorization: Bearer TOKEN`. Agent tokens submit and wait; reviewer tokens read; person sessions (from `/v1/session`) decide. Errors are always `{\"error\": {\"code\", \"message\", ...}}`, and each code always comes with the same HTTP status.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    modifiers(&Bearer),
    components(schemas(
        crate::api::ErrorCode,
        crate::api::View,
        crate::api::schema::OcsfSubmission,
        crate::api::schema::IJsonValue
    )),
    tags(
        (name = "agents", description = "What an agent calls: submit, wait, report."),
        (name = "console", description = "What the review console calls."),
        (name = "session", description = "Login by SSH signature, and logout."),
        (name = "audit", description = "The hash-chained audit log."),
        (name = "ops", description = "Health, metrics and this document.")
    )
)]
pub struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An agent or reviewer token (`countersign token create`), an agent's workload identity JWT from an issuer the server trusts (`[[agents.oidc]]`), or a person's session token from POST /v1/session.",
                    ))
                    .build(),
            ),
        );
    }
}

/// Every route with its OpenAPI description: registering a handler here is
/// what puts it in `/v1/openapi.json`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(alerts::submit))
        .routes(routes!(alerts::get))
        .routes(routes!(proposals::decision))
        .routes(routes!(proposals::execution))
        .routes(routes!(proposals::receipt))
        .routes(routes!(proposals::claim))
        .routes(routes!(revert::preview))
        .routes(routes!(queue::queue))
        .routes(routes!(oversight::oversight))
        .routes(routes!(decisions::post))
        .routes(routes!(freezes::list, freezes::post))
        .routes(routes!(session::challenge))
        .routes(routes!(session::login, session::logout))
        .routes(routes!(audit::entries))
        .routes(routes!(audit::checkpoint))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::metrics))
        .routes(routes!(serve))
}

/// The document, rendered once from the routes.
static RENDERED: LazyLock<String> = LazyLock::new(|| {
    serde_json::to_string(&document()).unwrap_or_else(|e| {
        serde_json::json!({"error": {"code": "internal", "message": e.to_string()}}).to_string()
    })
});

#[utoipa::path(
    get,
    operation_id = "openapi",
    path = "/v1/openapi.json",
    tag = "ops",
    summary = "This document",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object)
    ),
    security(())
)]
pub async fn serve() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        RENDERED.as_str(),
    )
        .into_response()
}

/// The whole document, as the router builds it.
pub fn document() -> Document {
    let mut doc = routes().into_openapi();
    add_links(&mut doc);
    doc
}

/// What an agent does next with a submission's answer, as OpenAPI links
/// (clients and Schemathesis follow them).
fn add_links(doc: &mut Document) {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::link::LinkBuilder;
    let Some(item) = doc.paths.paths.get_mut("/v1/alerts") else {
        return;
    };
    let Some(op) = item.post.as_mut() else {
        return;
    };
    for status in ["200", "201"] {
        let Some(RefOr::T(response)) = op.responses.responses.get_mut(status) else {
            continue;
        };
        for (name, operation, id) in [
            ("GetAlert", "get_alert", "$response.body#/alert_id"),
            (
                "WaitForDecision",
                "wait_for_decision",
                "$response.body#/proposals/0/id",
            ),
            (
                "ReportExecution",
                "report_execution",
                "$response.body#/proposals/0/id",
            ),
            (
                "GetReceipt",
                "get_receipt",
                "$response.body#/proposals/0/id",
            ),
            (
                "ClaimProposal",
                "claim_proposal",
                "$response.body#/proposals/0/id",
            ),
        ] {
            response.links.insert(
                name.into(),
                RefOr::T(
                    LinkBuilder::new()
                        .operation_id(operation)
                        .parameter("id", id)
                        .build(),
                ),
            );
        }
    }
}
