//! A person at the console: their session and the key they sign with, so a
//! test says what someone does in one line (`alice.approve(&id, &digest)`).

use super::signed;
use countersign::api::DecisionAccepted;
use countersign::client::{ApiClient, ClientError};
use countersign::signing::payload::{PayloadVerdict, SignedDecision};
use countersign::signing::signer::Signer;

/// Logged in as `name` with `signer`; everything else an `ApiClient` does
/// (queue, claim, alert, a raw `post_decision`) is there through `Deref`.
pub struct Person {
    name: String,
    signer: Signer,
    client: ApiClient,
}

impl Person {
    /// `name` logs in at `url` with `signer`, the key that will sign too.
    pub async fn login(url: &str, name: &str, signer: Signer) -> Person {
        let mut client = ApiClient::new(url, None).expect("client");
        client.login(name, &signer).await.expect("login");
        Person {
            name: name.into(),
            signer,
            client,
        }
    }

    /// This person's verdict, signed but not posted: for a test that
    /// tampers with it, posts it twice or posts it on another session.
    pub fn signed(
        &self,
        proposal: &str,
        digest: &str,
        verdict: PayloadVerdict,
        reason: &str,
    ) -> SignedDecision {
        signed(&self.signer, &self.name, proposal, digest, verdict, reason)
    }

    /// Signs a verdict and posts it on this person's session.
    pub async fn decide(
        &self,
        proposal: &str,
        digest: &str,
        verdict: PayloadVerdict,
        reason: &str,
    ) -> Result<DecisionAccepted, ClientError> {
        self.client
            .post_decision(&self.signed(proposal, digest, verdict, reason))
            .await
    }

    /// Approves, giving no reason (the console's plain approve).
    pub async fn approve(
        &self,
        proposal: &str,
        digest: &str,
    ) -> Result<DecisionAccepted, ClientError> {
        self.decide(proposal, digest, PayloadVerdict::Approve, "")
            .await
    }

    /// Rejects; a rejection always says why.
    pub async fn reject(
        &self,
        proposal: &str,
        digest: &str,
        reason: &str,
    ) -> Result<DecisionAccepted, ClientError> {
        self.decide(proposal, digest, PayloadVerdict::Reject, reason)
            .await
    }
}

impl std::ops::Deref for Person {
    type Target = ApiClient;

    fn deref(&self) -> &ApiClient {
        &self.client
    }
}
