//! Every error code the API answers, one enum for server and client.
//!
//! The server's `ApiError` carries one of these; the client's
//! `ClientError::Api` parses it back, so neither side matches on strings.
//! A code this build does not know (a newer server) reads as `Unknown`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

macro_rules! error_codes {
    ($($(#[$meta:meta])* $variant:ident => ($text:literal, $status:literal)),+ $(,)?) => {
        /// An API error code and the HTTP status it always comes with.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$meta])* $variant,)+
            /// A code this build does not know (only ever parsed, never sent).
            Unknown,
        }

        impl ErrorCode {
            /// Every code the server can send.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $text,)+
                    ErrorCode::Unknown => "unknown",
                }
            }

            /// The HTTP status this code is sent with.
            pub fn status(self) -> u16 {
                match self {
                    $(ErrorCode::$variant => $status,)+
                    ErrorCode::Unknown => 500,
                }
            }

            /// Parses a wire code; unknown text becomes `Unknown`.
            pub fn parse(s: &str) -> ErrorCode {
                match s {
                    $($text => ErrorCode::$variant,)+
                    _ => ErrorCode::Unknown,
                }
            }
        }
    };
}

error_codes! {
    // 400: the request itself is wrong.
    /// The body is not JSON.
    MalformedJson => ("malformed_json", 400),
    /// The body is empty.
    EmptyBody => ("empty_body", 400),
    /// The body could not be read.
    UnreadableBody => ("unreadable_body", 400),
    /// The same member name twice in one JSON object.
    DuplicateMember => ("duplicate_member", 400),
    /// JSON that I-JSON (RFC 7493) forbids: numbers beyond a double's exact
    /// range, lone surrogates.
    NotIJson => ("not_i_json", 400),
    /// A field is missing, of the wrong type or out of range; `field` names it.
    InvalidField => ("invalid_field", 400),
    /// A query-string parameter is wrong.
    InvalidQuery => ("invalid_query", 400),
    /// A signed payload is not a valid decision.
    InvalidPayload => ("invalid_payload", 400),
    /// A signed payload's `review` metadata is out of bounds: seconds
    /// below 0 or above a week, a pane the console does not have, or a
    /// group on what is not decided in groups.
    InvalidReview => ("invalid_review", 400),
    /// The signature does not verify or is not an SSHSIG.
    BadSignature => ("bad_signature", 400),
    /// Signed in another namespace.
    WrongNamespace => ("wrong_namespace", 400),
    /// Reject, escalate, halt and flag need a reason of two characters or more.
    ReasonRequired => ("reason_required", 400),
    /// An amendment that does not narrow the proposal (another action, a
    /// target outside the original, a document granting more, a longer
    /// expiry); `field` names what.
    NotNarrower => ("not_narrower", 400),
    /// `signed_at` is too far from the server's clock.
    ClockSkew => ("clock_skew", 400),
    // 401
    /// No, or no valid, bearer token.
    Unauthorized => ("unauthorized", 401),
    // 403: who you are may not do this.
    Forbidden => ("forbidden", 403),
    AgentOnly => ("agent_only", 403),
    ReviewerOnly => ("reviewer_only", 403),
    AgentCannotDecide => ("agent_cannot_decide", 403),
    LoginRequired => ("login_required", 403),
    UnknownKey => ("unknown_key", 403),
    PrincipalMismatch => ("principal_mismatch", 403),
    NamespaceNotAllowed => ("namespace_not_allowed", 403),
    KeyNotYetValid => ("key_not_yet_valid", 403),
    KeyExpired => ("key_expired", 403),
    /// The same principal may not count twice.
    SamePrincipal => ("same_principal", 403),
    /// The same key may not count twice, whatever name it signs under.
    SameKey => ("same_key", 403),
    RoleRequired => ("role_required", 403),
    LeadRequired => ("lead_required", 403),
    NotProposer => ("not_proposer", 403),
    SelfApproval => ("self_approval", 403),
    /// The gate's own executor runs this action and reports its outcome:
    /// an agent may not.
    ExecutorOwned => ("executor_owned", 403),
    /// The gateway at `/mcp/gateway` forwarded it, and reports its outcome:
    /// an agent may not.
    GatewayOwned => ("gateway_owned", 403),
    /// The agent's token or workload identity does not allow this action
    /// kind or target (`detail.index` names the proposal). Nothing stored.
    OutOfScope => ("out_of_scope", 403),
    /// The policy rule wants this decision signed by a hardware security
    /// key (FIDO: `sk-ssh-ed25519`, `sk-ecdsa-sha2-nistp256`), touched.
    HardwareKeyRequired => ("hardware_key_required", 403),
    // 404, 405, 408
    NotFound => ("not_found", 404),
    MethodNotAllowed => ("method_not_allowed", 405),
    /// The request body was still arriving at its deadline (--body-timeout).
    BodyTimeout => ("body_timeout", 408),
    // 409: the state of things does not allow it.
    AlreadyFinal => ("already_final", 409),
    WrongState => ("wrong_state", 409),
    Lapsed => ("lapsed", 409),
    Conflict => ("conflict", 409),
    Replay => ("replay", 409),
    StaleDigest => ("stale_digest", 409),
    /// Confirm or flag on a proposal that was not drawn for sampled review.
    NotSampled => ("not_sampled", 409),
    /// A sampled approval already reviewed, or past its review window.
    SampleClosed => ("sample_closed", 409),
    /// A receipt asked for a proposal that is not (or no longer) approved.
    NotApproved => ("not_approved", 409),
    /// `started` named a receipt that is not this proposal's.
    ReceiptMismatch => ("receipt_mismatch", 409),
    /// A lead froze the agent (`hold`): nothing approved may start until
    /// the freeze is lifted. `detail.freeze` says who froze it and why.
    AgentFrozen => ("agent_frozen", 409),
    /// Unfreeze of an agent that is not frozen.
    NotFrozen => ("not_frozen", 409),
    /// A revert of an action nothing undoes (a revoked token, a command
    /// line, a custom kind the policy names no inverse for).
    NotReversible => ("not_reversible", 409),
    // 413, 429
    BodyTooLarge => ("body_too_large", 413),
    /// Too many requests from this caller: submissions and MCP calls per
    /// agent, login challenges per address and principal.
    RateLimited => ("rate_limited", 429),
    /// The agent's submissions used up its byte budget for now; nothing
    /// was stored.
    ByteBudget => ("byte_budget_exceeded", 429),
    /// The caller already holds as many long-polls open as it may.
    TooManyWaits => ("too_many_waits", 429),
    /// The agent (or the server) already holds as many MCP sessions as it
    /// may; close one (DELETE /mcp) or let one go idle.
    TooManySessions => ("too_many_sessions", 429),
    // 5xx
    Internal => ("internal", 500),
    StorageUnavailable => ("storage_unavailable", 503),
    /// At the connection limit: only /healthz is answered on the spare
    /// connections past it (--max-connections).
    ServerBusy => ("server_busy", 503),
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(ErrorCode::parse(&s))
    }
}

/// A string: one of the codes the server sends.
impl utoipa::PartialSchema for ErrorCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
        let described: Vec<String> = ErrorCode::ALL
            .iter()
            .map(|c| format!("`{c}` ({})", c.status()))
            .collect();
        utoipa::openapi::RefOr::T(Schema::Object(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(ErrorCode::ALL.iter().map(|c| c.as_str())))
                .description(Some(format!(
                    "Each code always comes with the same HTTP status: {}. A client should read a code it does not know as an error of that status.",
                    described.join(", ")
                )))
                .build(),
        ))
    }
}

impl utoipa::ToSchema for ErrorCode {}

/// The error object every non-2xx answer carries: `{"error": {...}}`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorObject,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorObject {
    pub code: ErrorCode,
    /// What went wrong, for a person to act on.
    pub message: String,
    /// Extra members by code: `field` (invalid_field), `current_digest`
    /// (stale_digest), `retry_after` (every 429, also sent as `Retry-After`),
    /// `freeze` (agent_frozen: who froze the agent, how and why).
    #[serde(flatten)]
    #[schema(ignore)]
    pub detail: serde_json::Map<String, serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_is_kept_apart() {
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(c.as_str()), *c);
            let json = serde_json::to_string(c).unwrap();
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), *c);
            assert!((400..600).contains(&c.status()), "{c}");
        }
        assert_eq!(
            serde_json::from_str::<ErrorCode>("\"from_the_future\"").unwrap(),
            ErrorCode::Unknown
        );
    }

    #[test]
    fn codes_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.as_str()), "{c} twice");
        }
    }
}
