//! The effects runner: every network call and signature happens here, in
//! tokio tasks, and comes back as a [`Msg`]. The queue long-poll restarts
//! when the view changes and an alert fetch replaces the one before it
//! (latest wins). Signed decisions go through the on-disk outbox and one
//! delivery task: delivery is at least once, and the server accepts each
//! signed payload once (by its nonce), so a decision takes effect once.

use super::event::{FreezeFailure, Msg, PreviewFailure, SendFailure, client_error_text};
use super::outbox::{Outbox, Pending};
use super::update::Effect;
use crate::api::{ErrorCode, View};
use crate::client::{ApiClient, Backoff, ClientError, LoginError};
use crate::domain::time::now_millis;
use crate::signing::freeze::FreezeDraft;
use crate::signing::payload::{DecisionDraft, PayloadVerdict, Signed, Target};
use crate::signing::signer::Signer;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

const LONG_POLL_SECS: u64 = 20;
/// An alert is fetched once the selection rests this long: moving quickly
/// through the queue fetches only where it stops.
const FETCH_SETTLE: Duration = Duration::from_millis(60);

/// The longest a quit waits for the logout.
pub const LOGOUT_WAIT: Duration = Duration::from_millis(1500);

fn retry() -> Backoff {
    Backoff::new(Duration::from_millis(250), Duration::from_secs(5))
}

pub struct Runner {
    client: Arc<RwLock<ApiClient>>,
    signer: Arc<Signer>,
    principal: String,
    tx: UnboundedSender<Msg>,
    poll: Option<JoinHandle<()>>,
    fetch: Option<JoinHandle<()>>,
    prefetch: Option<JoinHandle<()>>,
    freezes: Option<JoinHandle<()>>,
    login: Option<JoinHandle<()>>,
    outbox: Arc<Mutex<Outbox>>,
    wake_delivery: Arc<Notify>,
}

fn client_of(c: &Arc<RwLock<ApiClient>>) -> ApiClient {
    match c.read() {
        Ok(g) => g.clone(),
        Err(p) => p.into_inner().clone(),
    }
}

fn verdict_name(v: PayloadVerdict) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Why a login failed, in words a person can act on. The server answers
/// a principal that may not sign as it answers a used challenge (so names
/// cannot be enumerated); the console, which knows who asked, says what
/// that means.
fn refusal(principal: &str, fingerprint: &str, e: &LoginError) -> String {
    match e {
        LoginError::Api(ClientError::Api {
            code: ErrorCode::Unauthorized,
            message,
            ..
        }) => format!(
            "login refused: {principal} cannot sign on this server with key {fingerprint} (not in its allowed_signers, or listed with another key); the server said: {}",
            message.strip_prefix("login refused: ").unwrap_or(message)
        ),
        LoginError::Api(e) => format!("login refused: {}", client_error_text(e)),
        LoginError::Sign(e) => format!("cannot log in: signing the challenge failed: {e}"),
    }
}

impl Runner {
    pub fn new(
        client: ApiClient,
        signer: Arc<Signer>,
        principal: String,
        outbox: Outbox,
        tx: UnboundedSender<Msg>,
    ) -> Self {
        let _ = tx.send(Msg::Outbox(outbox.len()));
        let r = Runner {
            client: Arc::new(RwLock::new(client)),
            signer,
            principal,
            tx,
            poll: None,
            fetch: None,
            prefetch: None,
            freezes: None,
            login: None,
            outbox: Arc::new(Mutex::new(outbox)),
            wake_delivery: Arc::new(Notify::new()),
        };
        r.spawn_delivery();
        r.spawn_ticks();
        r
    }

    pub fn run(&mut self, e: Effect) {
        match e {
            Effect::Login => self.login(),
            Effect::Poll { view, after } => self.restart_poll(view, after),
            Effect::FetchAlert(id) => {
                if let Some(h) = self.fetch.take() {
                    h.abort();
                }
                let c = client_of(&self.client);
                let tx = self.tx.clone();
                self.fetch = Some(tokio::spawn(async move {
                    tokio::time::sleep(FETCH_SETTLE).await;
                    let result = c
                        .alert(&id)
                        .await
                        .map(Arc::new)
                        .map_err(|e| client_error_text(&e));
                    let _ = tx.send(Msg::Detail {
                        alert_id: id,
                        result,
                    });
                }));
            }
            Effect::Prefetch(ids) => {
                if let Some(h) = self.prefetch.take() {
                    h.abort();
                }
                let c = client_of(&self.client);
                let tx = self.tx.clone();
                // One at a time: the queue never costs the server more than
                // one alert read in flight.
                self.prefetch = Some(tokio::spawn(async move {
                    for id in ids {
                        let Ok(data) = c.alert(&id).await else {
                            return;
                        };
                        let msg = Msg::Detail {
                            alert_id: id,
                            result: Ok(Arc::new(data)),
                        };
                        if tx.send(msg).is_err() {
                            return;
                        }
                    }
                }));
            }
            Effect::Claim {
                proposal_id,
                release,
            } => self.spawn_call(
                move |c| async move { c.claim(&proposal_id, release).await },
                Msg::Claimed,
            ),
            Effect::Send(draft) => self.sign_and_queue(draft),
            Effect::WakeAt(at) => {
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let wait = (at - now_millis()).clamp(0, 60_000) as u64;
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                    let _ = tx.send(Msg::Tick(now_millis()));
                });
            }
            Effect::FetchOversight(since) => self.spawn_call(
                move |c| async move { c.oversight(&since, None).await },
                Msg::Oversight,
            ),
            Effect::FetchFreezes => {
                if let Some(h) = self.freezes.take() {
                    h.abort();
                }
                let c = client_of(&self.client);
                let tx = self.tx.clone();
                self.freezes = Some(tokio::spawn(async move {
                    let r = c.freezes().await.map_err(|e| client_error_text(&e));
                    let _ = tx.send(Msg::Freezes(r));
                }));
            }
            Effect::SendFreeze(draft) => self.sign_and_post_freeze(draft),
            Effect::FetchRevertPreview(proposal_id) => {
                let c = client_of(&self.client);
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let result = c
                        .revert_preview(&proposal_id)
                        .await
                        .map(Box::new)
                        .map_err(|e| PreviewFailure::of(&e));
                    let _ = tx.send(Msg::RevertPreview {
                        proposal_id,
                        result,
                    });
                });
            }
        }
    }

    /// Signs a freeze off the async runtime and posts it once: no outbox,
    /// no retry (`update::freeze` says why). The answer, or why there is
    /// none, comes back as [`Msg::FreezeSent`].
    fn sign_and_post_freeze(&self, draft: FreezeDraft) {
        let (signer, principal, tx) =
            (self.signer.clone(), self.principal.clone(), self.tx.clone());
        let c = client_of(&self.client);
        tokio::spawn(async move {
            let agent = draft.agent.clone();
            let signed =
                tokio::task::spawn_blocking(move || draft.sign(&principal, now_millis(), &signer))
                    .await;
            let result = match signed {
                Ok(Ok(signed)) => c
                    .post_freeze(&signed.decision)
                    .await
                    .map(Box::new)
                    .map_err(|e| FreezeFailure::of(&e)),
                Ok(Err(e)) => Err(FreezeFailure::Unsigned(e.to_string())),
                Err(e) => Err(FreezeFailure::Unsigned(e.to_string())),
            };
            let _ = tx.send(Msg::FreezeSent { agent, result });
        });
    }

    /// One API call off the render loop; its answer (or the error's text)
    /// comes back as a message.
    fn spawn_call<T, F, Fut>(&self, call: F, msg: fn(Result<T, String>) -> Msg)
    where
        T: Send + 'static,
        F: FnOnce(ApiClient) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<T, ClientError>> + Send + 'static,
    {
        let c = client_of(&self.client);
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let r = call(c).await.map_err(|e| client_error_text(&e));
            let _ = tx.send(msg(r));
        });
    }

    /// Logs in, retrying while the server is unreachable. A refusal (the key
    /// is not allowed) is reported and not retried.
    fn login(&mut self) {
        if let Some(h) = self.login.take() {
            h.abort();
        }
        let (client, signer, principal, tx) = (
            self.client.clone(),
            self.signer.clone(),
            self.principal.clone(),
            self.tx.clone(),
        );
        let wake = self.wake_delivery.clone();
        self.login = Some(tokio::spawn(async move {
            let mut backoff = retry();
            loop {
                let mut c = client_of(&client);
                let s = signer.clone();
                let p = principal.clone();
                let result = c.login(&p, &s).await;
                match result {
                    Ok(resp) => {
                        if let Ok(mut g) = client.write() {
                            *g = c;
                        }
                        let _ = tx.send(Msg::LoggedIn(Ok(resp)));
                        wake.notify_one();
                        return;
                    }
                    Err(LoginError::Api(e)) if e.is_transient() => {
                        let _ = tx.send(Msg::Offline(client_error_text(&e)));
                        tokio::time::sleep(backoff.next_delay()).await;
                    }
                    Err(e) => {
                        let _ = tx.send(Msg::LoggedIn(Err(refusal(&p, &s.fingerprint(), &e))));
                        return;
                    }
                }
            }
        }));
    }

    /// Ends the session as the console quits: first the tasks that would
    /// log in again on a 401 (the queue poll, a login under way) and the
    /// other readers, then `DELETE /v1/session`. Best effort, and never
    /// longer than [`LOGOUT_WAIT`]: an unreachable server does not hold
    /// the quit (the session then runs out on its own). Prints nothing.
    pub async fn logout(&mut self) {
        for task in [
            self.login.take(),
            self.poll.take(),
            self.fetch.take(),
            self.prefetch.take(),
            self.freezes.take(),
        ]
        .into_iter()
        .flatten()
        {
            task.abort();
        }
        let c = client_of(&self.client);
        let _ = tokio::time::timeout(LOGOUT_WAIT, c.logout(LOGOUT_WAIT)).await;
    }

    fn restart_poll(&mut self, view: View, after: i64) {
        if let Some(h) = self.poll.take() {
            h.abort();
        }
        let (client, tx) = (self.client.clone(), self.tx.clone());
        let relogin = (self.signer.clone(), self.principal.clone());
        self.poll = Some(tokio::spawn(async move {
            let mut after = after;
            let mut backoff = retry();
            loop {
                let c = client_of(&client);
                let wait = if after == 0 { 0 } else { LONG_POLL_SECS };
                match c.queue(view, after, wait, 1000).await {
                    Ok(resp) => {
                        backoff.reset();
                        let next = resp.page.cursor;
                        let more = resp.page.more;
                        let _ = tx.send(Msg::Queue {
                            view,
                            after,
                            result: Ok(resp),
                            now: now_millis(),
                        });
                        after = next;
                        if more {
                            continue;
                        }
                    }
                    Err(e) => {
                        if let ClientError::Api { status, .. } = &e
                            && status.as_u16() == 401
                        {
                            // The session ran out: log in again, quietly.
                            let mut fresh = c.clone();
                            if fresh.login(&relogin.1, &relogin.0).await.is_ok()
                                && let Ok(mut g) = client.write()
                            {
                                *g = fresh;
                                continue;
                            }
                        }
                        let _ = tx.send(Msg::Queue {
                            view,
                            after,
                            result: Err(client_error_text(&e)),
                            now: now_millis(),
                        });
                        tokio::time::sleep(backoff.next_delay()).await;
                    }
                }
            }
        }));
    }

    /// Signs off the async runtime (an agent or a passphrase-less key; no
    /// prompt here), stores in the outbox, and wakes the delivery task.
    fn sign_and_queue(&self, draft: DecisionDraft) {
        let (signer, principal, tx) =
            (self.signer.clone(), self.principal.clone(), self.tx.clone());
        let (outbox, wake) = (self.outbox.clone(), self.wake_delivery.clone());
        tokio::spawn(async move {
            let proposal_id = match &draft.target {
                Target::Proposal(id) => Some(id.clone()),
                Target::Alert(_) => None,
            };
            let verdict = verdict_name(draft.verdict);
            let signed =
                tokio::task::spawn_blocking(move || draft.sign(&principal, now_millis(), &signer))
                    .await;
            let Signed { decision, nonce } = match signed {
                Ok(Ok(d)) => d,
                Ok(Err(e)) => {
                    let _ = tx.send(Msg::Decision {
                        proposal_id,
                        verdict,
                        result: Err(SendFailure::Unsigned(e.to_string())),
                    });
                    return;
                }
                Err(e) => {
                    let _ = tx.send(Msg::Decision {
                        proposal_id,
                        verdict,
                        result: Err(SendFailure::Unsigned(e.to_string())),
                    });
                    return;
                }
            };
            let pending = Pending {
                decision,
                proposal_id: proposal_id.clone(),
                verdict: verdict.clone(),
                nonce,
                attempts: 0,
            };
            // The save fsyncs: off the async runtime.
            let saved = tokio::task::spawn_blocking(move || {
                outbox
                    .lock()
                    .map_err(|_| "outbox lock poisoned".to_owned())
                    .and_then(|mut o| {
                        o.push(pending)
                            .map_err(|e| format!("cannot write the outbox: {e}"))?;
                        Ok(o.len())
                    })
            })
            .await
            .unwrap_or_else(|e| Err(format!("outbox task failed: {e}")));
            match saved {
                Ok(n) => {
                    let _ = tx.send(Msg::Outbox(n));
                    wake.notify_one();
                }
                Err(e) => {
                    let _ = tx.send(Msg::Decision {
                        proposal_id,
                        verdict,
                        result: Err(SendFailure::Unsigned(e)),
                    });
                }
            }
        });
    }

    /// Delivers the outbox in order, once each; waits out outages.
    fn spawn_delivery(&self) {
        let (client, outbox, wake, tx) = (
            self.client.clone(),
            self.outbox.clone(),
            self.wake_delivery.clone(),
            self.tx.clone(),
        );
        tokio::spawn(async move {
            let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(5));
            loop {
                let next = outbox.lock().ok().and_then(|o| o.items().first().cloned());
                let Some(item) = next else {
                    wake.notified().await;
                    continue;
                };
                let c = client_of(&client);
                let result = c.post_decision(&item.decision).await;
                let first = item.attempts == 0;
                let done = match result {
                    Ok(acc) => {
                        let seq = acc.audit.seq;
                        let msg = if first {
                            Msg::Decision {
                                proposal_id: item.proposal_id.clone(),
                                verdict: item.verdict.clone(),
                                result: Ok(Box::new(acc)),
                            }
                        } else {
                            Msg::Delivered {
                                proposal_id: item.proposal_id.clone(),
                                verdict: item.verdict.clone(),
                                seq: Some(seq),
                            }
                        };
                        let _ = tx.send(msg);
                        true
                    }
                    Err(e) if e.code() == Some(ErrorCode::Replay) => {
                        // Accepted on an earlier try whose answer was lost.
                        let _ = tx.send(Msg::Delivered {
                            proposal_id: item.proposal_id.clone(),
                            verdict: item.verdict.clone(),
                            seq: None,
                        });
                        true
                    }
                    Err(e)
                        if e.is_transient()
                            || matches!(&e, ClientError::Api { status, .. } if status.as_u16() == 401) =>
                    {
                        if let Ok(mut o) = outbox.lock() {
                            o.bump(&item.nonce);
                        }
                        if first {
                            let _ = tx.send(Msg::Decision {
                                proposal_id: item.proposal_id.clone(),
                                verdict: item.verdict.clone(),
                                result: Err(SendFailure::Queued(client_error_text(&e))),
                            });
                        }
                        tokio::select! {
                            _ = tokio::time::sleep(backoff.next_delay()) => {}
                            _ = wake.notified() => {}
                        }
                        false
                    }
                    Err(e) => {
                        let (code, message) = match &e {
                            ClientError::Api { code, message, .. } => (*code, message.clone()),
                            other => (ErrorCode::Unknown, other.to_string()),
                        };
                        let _ = tx.send(Msg::Decision {
                            proposal_id: item.proposal_id.clone(),
                            verdict: item.verdict.clone(),
                            result: Err(SendFailure::Refused { code, message }),
                        });
                        true
                    }
                };
                if done {
                    backoff.reset();
                    let (outbox, tx, nonce) = (outbox.clone(), tx.clone(), item.nonce.clone());
                    let _ = tokio::task::spawn_blocking(move || {
                        if let Ok(mut o) = outbox.lock() {
                            if let Err(e) = o.remove(&nonce) {
                                tracing::warn!(error = %e, "outbox: delivered decision not removed; a retry will be a replay");
                            }
                            let _ = tx.send(Msg::Outbox(o.len()));
                        }
                    })
                    .await;
                }
            }
        });
    }

    fn spawn_ticks(&self) {
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                if tx.send(Msg::Tick(now_millis())).is_err() {
                    return;
                }
            }
        });
    }
}
