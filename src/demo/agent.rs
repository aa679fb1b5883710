//! The simulated agent: submits alerts through the same public API as a
//! real agent, waits on each decision, "executes" what is approved (some
//! executions fail, as real ones do), and never acts on what expired,
//! was rejected, halted or lapsed.

use crate::api::ExecutionReport;
use crate::client::ApiClient;
use crate::domain::types::ProposalStatus;
use serde_json::Value;
use std::time::Duration;
use tokio::sync::watch;

/// Deterministic "does this execution fail": about one in five.
fn fails(proposal_id: &str) -> bool {
    proposal_id
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32))
        % 5
        == 0
}

/// Submits one alert and follows each of its proposals to the end.
pub async fn submit_and_follow(client: &ApiClient, alert: &Value, stop: &watch::Receiver<bool>) {
    let resp = match client.submit_alert(alert).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "demo agent: submit failed");
            return;
        }
    };
    let targets: Vec<String> = alert["proposals"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .map(|p| p["target"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default();
    for (p, target) in resp.proposals.into_iter().zip(targets) {
        let (c, mut stop) = (client.clone(), stop.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = follow(&c, &p.id, &target) => {}
                _ = stop.wait_for(|s| *s) => {}
            }
        });
    }
}

async fn follow(c: &ApiClient, id: &str, target: &str) {
    let decided = loop {
        match c.decision(id, 30).await {
            Ok(v) if v.decided => break v,
            Ok(_) => continue,
            // Many proposals waited on at once may pass the server's cap
            // on long-polls per agent: wait a moment and ask again.
            Err(e) if e.is_transient() || e.code() == Some(crate::api::ErrorCode::TooManyWaits) => {
                tokio::time::sleep(Duration::from_secs(2)).await
            }
            Err(_) => return,
        }
    };
    if decided.status != ProposalStatus::Approved {
        return; // rejected, expired, halted, lapsed: nothing runs
    }
    // A moment for a human to halt it, as a real playbook's queue would give.
    tokio::time::sleep(Duration::from_secs(3)).await;
    if c.report_execution(id, &ExecutionReport::started())
        .await
        .is_err()
    {
        return; // halted or lapsed meanwhile: the hand-off refused
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let report = if fails(target) {
        ExecutionReport::Failed {
            detail: "EDR API answered 503: sensor offline; will not retry automatically".into(),
        }
    } else {
        ExecutionReport::Executed {
            detail: "done; containment ticket CT-".to_owned() + &id[..8],
        }
    };
    let _ = c.report_execution(id, &report).await;
}

/// Raises a new alert every `rate` until stopped.
pub async fn stream(client: ApiClient, rate: Duration, mut stop: watch::Receiver<bool>) {
    let mut n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    loop {
        tokio::select! {
            _ = tokio::time::sleep(rate) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        submit_and_follow(&client, &super::seed::stream(n), &stop).await;
        n += 1;
    }
}
