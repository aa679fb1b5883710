//! A typed client for the v1 API (reqwest, rustls). Used by `submit`, the
//! console and the demo's agent.

use crate::api::{
    AlertDetail, AuditPage, ChallengeResponse, ClaimView, DecisionAccepted, DecisionView,
    ErrorCode, ExecutionReport, LoginResponse, QueueResponse, SubmitResponse, View,
};
use crate::audit::checkpoint::Checkpoint;
use crate::domain::records::AuditEntry;
use crate::signing::payload::SignedDecision;
use crate::signing::signer::Signer;
pub mod agent;
pub mod backoff;

pub use backoff::Backoff;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No answer: refused, reset, timed out. Worth retrying.
    #[error("cannot reach {url}: {message}")]
    Unreachable { url: String, message: String },
    /// The server answered with an error object.
    #[error("{status} {code}: {message}")]
    Api {
        status: StatusCode,
        code: ErrorCode,
        message: String,
        body: Value,
    },
    #[error("unexpected answer from the server: {0}")]
    Decode(String),
    #[error("bad server URL `{0}`")]
    BadUrl(String),
    /// The server's certificate is not trusted (wrong CA, wrong name,
    /// expired). Retrying does not help; `--ca` might.
    #[error(
        "{url}: the server's TLS certificate is not trusted: {message} (pass --ca FILE to trust a private CA)"
    )]
    Tls { url: String, message: String },
    #[error("CA certificate {path}: {message}")]
    BadCa { path: String, message: String },
}

impl ClientError {
    /// Worth trying again later: the server was unreachable or overloaded.
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Unreachable { .. } => true,
            ClientError::Api { status, .. } => {
                *status == StatusCode::SERVICE_UNAVAILABLE
                    || *status == StatusCode::BAD_GATEWAY
                    || *status == StatusCode::GATEWAY_TIMEOUT
            }
            _ => false,
        }
    }

    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// An answer of the v1 API: the body as `T` on success, else the error
/// object as `ClientError::Api`. Shared by every transport.
pub fn decode<T: DeserializeOwned>(
    path: &str,
    status: StatusCode,
    bytes: &[u8],
) -> Result<T, ClientError> {
    if !status.is_success() {
        let body: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
        let err = &body["error"];
        return Err(ClientError::Api {
            status,
            code: err["code"]
                .as_str()
                .map_or(ErrorCode::Unknown, ErrorCode::parse),
            message: err["message"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| String::from_utf8_lossy(bytes).chars().take(300).collect()),
            body,
        });
    }
    // No content (a logout) reads as `null`: `()`.
    let bytes = if status == StatusCode::NO_CONTENT {
        b"null"
    } else {
        bytes
    };
    serde_json::from_slice(bytes).map_err(|e| ClientError::Decode(format!("{path}: {e}")))
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error(transparent)]
    Api(#[from] ClientError),
    #[error(transparent)]
    Sign(#[from] crate::signing::signer::SignerError),
}

#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl ApiClient {
    pub fn new(base: &str, token: Option<String>) -> Result<Self, ClientError> {
        Self::with_ca(base, token, None)
    }

    /// A client that verifies an `https://` server with the system's roots
    /// and, if given, this CA certificate (PEM) as well.
    pub fn with_ca(
        base: &str,
        token: Option<String>,
        ca: Option<&std::path::Path>,
    ) -> Result<Self, ClientError> {
        let base = base.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::BadUrl(base));
        }
        let mut builder = reqwest::Client::builder().connect_timeout(Duration::from_secs(5));
        if let Some(path) = ca {
            let bad = |message: String| ClientError::BadCa {
                path: path.display().to_string(),
                message,
            };
            let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| bad(format!("not a PEM certificate: {e}")))?;
            if certs.is_empty() {
                return Err(bad("holds no certificate".into()));
            }
            builder = builder.tls_certs_merge(certs);
        }
        let http = builder
            .build()
            .map_err(|e| ClientError::BadUrl(format!("{base}: {e}")))?;
        Ok(ApiClient { http, base, token })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn set_token(&mut self, token: String) {
        self.token = Some(token);
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        timeout: Duration,
    ) -> Result<T, ClientError> {
        let url = format!("{}{}", self.base, path);
        let mut req = self
            .http
            .request(method, &url)
            .query(query)
            .timeout(timeout);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| send_error(&url, &e))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| ClientError::Unreachable {
            url: url.clone(),
            message: error_chain(&e),
        })?;
        decode(path, status, &bytes)
    }

    const SHORT: Duration = Duration::from_secs(30);

    fn long(wait: u64) -> Duration {
        Duration::from_secs(wait + 30)
    }

    pub async fn submit_alert(&self, alert: &Value) -> Result<SubmitResponse, ClientError> {
        self.call(Method::POST, "/v1/alerts", &[], Some(alert), Self::SHORT)
            .await
    }

    pub async fn decision(&self, proposal: &str, wait: u64) -> Result<DecisionView, ClientError> {
        let path = format!("/v1/proposals/{proposal}/decision");
        self.call(
            Method::GET,
            &path,
            &[("wait", wait.to_string())],
            None,
            Self::long(wait),
        )
        .await
    }

    pub async fn report_execution(
        &self,
        proposal: &str,
        report: &ExecutionReport,
    ) -> Result<DecisionView, ClientError> {
        let path = format!("/v1/proposals/{proposal}/execution");
        let body = serde_json::to_value(report).map_err(|e| ClientError::Decode(e.to_string()))?;
        self.call(Method::POST, &path, &[], Some(&body), Self::SHORT)
            .await
    }

    /// The signed approval receipt of an approved proposal.
    pub async fn receipt(&self, proposal: &str) -> Result<crate::api::SignedReceipt, ClientError> {
        let path = format!("/v1/proposals/{proposal}/receipt");
        self.call(Method::GET, &path, &[], None, Self::SHORT).await
    }

    /// What a revert of an executed proposal would create.
    pub async fn revert_preview(
        &self,
        proposal: &str,
    ) -> Result<crate::api::RevertPreview, ClientError> {
        let path = format!("/v1/proposals/{proposal}/revert");
        self.call(Method::GET, &path, &[], None, Self::SHORT).await
    }

    /// What is frozen: every freeze to a person, those that stop it to an
    /// agent.
    pub async fn freezes(&self) -> Result<crate::api::FreezeList, ClientError> {
        self.call(Method::GET, "/v1/freezes", &[], None, Self::SHORT)
            .await
    }

    /// A lead's signed freeze or unfreeze.
    pub async fn post_freeze(
        &self,
        signed: &crate::api::SignedDecision,
    ) -> Result<crate::api::FreezeAccepted, ClientError> {
        let body = serde_json::to_value(signed).map_err(|e| ClientError::Decode(e.to_string()))?;
        self.call(Method::POST, "/v1/freezes", &[], Some(&body), Self::SHORT)
            .await
    }

    pub async fn queue(
        &self,
        view: View,
        after: i64,
        wait: u64,
        limit: u32,
    ) -> Result<QueueResponse, ClientError> {
        let query = [
            ("view", view.as_str().to_owned()),
            ("after", after.to_string()),
            ("wait", wait.to_string()),
            ("limit", limit.to_string()),
        ];
        self.call(Method::GET, "/v1/queue", &query, None, Self::long(wait))
            .await
    }

    pub async fn alert(&self, id: &str) -> Result<AlertDetail, ClientError> {
        self.call(
            Method::GET,
            &format!("/v1/alerts/{id}"),
            &[],
            None,
            Self::SHORT,
        )
        .await
    }

    pub async fn audit(&self, after: i64, limit: u32) -> Result<AuditPage, ClientError> {
        let query = [("after", after.to_string()), ("limit", limit.to_string())];
        self.call(Method::GET, "/v1/audit", &query, None, Self::SHORT)
            .await
    }

    pub async fn claim(&self, proposal: &str, release: bool) -> Result<ClaimView, ClientError> {
        let path = format!("/v1/proposals/{proposal}/claim");
        let body = serde_json::json!({ "release": release });
        self.call(Method::POST, &path, &[], Some(&body), Self::SHORT)
            .await
    }

    /// The lead's oversight figures; `since`/`until` as the API takes them.
    pub async fn oversight(
        &self,
        since: &str,
        until: Option<&str>,
    ) -> Result<crate::api::oversight::Oversight, ClientError> {
        let mut query = vec![("since", since.to_owned())];
        query.extend(until.map(|u| ("until", u.to_owned())));
        self.call(Method::GET, "/v1/oversight", &query, None, Self::SHORT)
            .await
    }

    pub async fn checkpoint(&self) -> Result<Checkpoint, ClientError> {
        self.call(Method::GET, "/v1/audit/checkpoint", &[], None, Self::SHORT)
            .await
    }

    pub async fn post_decision(&self, d: &SignedDecision) -> Result<DecisionAccepted, ClientError> {
        let body = serde_json::to_value(d).map_err(|e| ClientError::Decode(e.to_string()))?;
        self.call(Method::POST, "/v1/decisions", &[], Some(&body), Self::SHORT)
            .await
    }

    /// Challenge/response login with the person's key; on success the
    /// client uses the session token from then on.
    pub async fn login(
        &mut self,
        principal: &str,
        signer: &Signer,
    ) -> Result<LoginResponse, LoginError> {
        let body = serde_json::json!({ "principal": principal });
        let ch: ChallengeResponse = self
            .call(
                Method::POST,
                "/v1/session/challenge",
                &[],
                Some(&body),
                Self::SHORT,
            )
            .await?;
        let signature = signer.sign(crate::signing::NS_LOGIN, ch.challenge.as_bytes())?;
        let body = serde_json::json!({
            "principal": principal,
            "challenge": ch.challenge,
            "signature": signature,
        });
        let resp: LoginResponse = self
            .call(Method::POST, "/v1/session", &[], Some(&body), Self::SHORT)
            .await?;
        self.token = Some(resp.token.clone());
        Ok(resp)
    }

    /// Ends this client's session (`DELETE /v1/session`), waiting at most
    /// `timeout`. Only a session token can log out; a client that never
    /// logged in has nothing to end.
    pub async fn logout(&self, timeout: Duration) -> Result<(), ClientError> {
        if self.token.is_none() {
            return Ok(());
        }
        self.call(Method::DELETE, "/v1/session", &[], None, timeout)
            .await
    }

    /// Every audit entry after `after`, page by page.
    pub async fn audit_all(&self, mut after: i64) -> Result<Vec<AuditEntry>, ClientError> {
        let mut all = Vec::new();
        loop {
            // A page ends at its count or the server's byte cap; follow
            // `next_after` (or the last entry) until a page reaches the head.
            let page = self.audit(after, 10_000).await?;
            let Some(last) = page.entries.last() else {
                return Ok(all);
            };
            let done = page.next_after.is_none() && last.seq >= page.head_seq;
            after = last.seq;
            all.extend(page.entries);
            if done {
                return Ok(all);
            }
        }
    }
}

/// A failed send: a certificate the client does not trust is not an
/// outage (no retry helps), anything else is. reqwest does not type the
/// TLS cause, so it is told by the chain's text ("invalid peer certificate").
fn send_error(url: &str, e: &reqwest::Error) -> ClientError {
    let message = error_chain(e);
    if message.contains("certificate") {
        ClientError::Tls {
            url: url.to_owned(),
            message,
        }
    } else {
        // The innermost cause says it ("Connection refused (os error
        // 111)"); the layers above it repeat the URL.
        let mut cause: &dyn std::error::Error = e;
        while let Some(next) = cause.source() {
            cause = next;
        }
        ClientError::Unreachable {
            url: url.to_owned(),
            message: cause.to_string(),
        }
    }
}

/// reqwest's error with its sources, e.g. "error sending request: connection
/// refused", so the person sees the cause.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        src = s.source();
    }
    out
}
