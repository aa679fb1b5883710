//! LISTEN/NOTIFY: every replica hears every commit, so a decision accepted
//! on one replica wakes long-polls waiting on another. The listener
//! reconnects by itself; after a reconnect it tells every waiter to re-read
//! (something may have been missed).

use crate::server::store::{ChangeSet, EVERYONE};
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_postgres::{AsyncMessage, Config};

pub const CHANNEL: &str = "countersign_changes";
/// NOTIFY payloads must stay under 8,000 bytes.
const MAX_PAYLOAD: usize = 7_000;

/// `head_seq;id,id,…`, or `head_seq;*` when the ids would not fit or the
/// change concerns every waiter ([`EVERYONE`]).
pub fn payload(head_seq: i64, ids: &[String]) -> String {
    let list = ids.join(",");
    if list.len() > MAX_PAYLOAD || ids.iter().any(|id| id == EVERYONE) {
        format!("{head_seq};*")
    } else {
        format!("{head_seq};{list}")
    }
}

pub fn parse(payload: &str) -> ChangeSet {
    let (seq, ids) = payload.split_once(';').unwrap_or((payload, "*"));
    let head_seq = seq.parse().unwrap_or(i64::MAX);
    if ids == "*" {
        return ChangeSet {
            head_seq,
            proposals: vec![],
            reset: true,
        };
    }
    ChangeSet {
        head_seq,
        proposals: ids
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        reset: false,
    }
}

pub fn spawn(
    config: Config,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    tx: broadcast::Sender<Arc<ChangeSet>>,
) {
    tokio::spawn(async move {
        let mut first = true;
        loop {
            match config.connect(tls.clone()).await {
                Ok((client, mut connection)) => {
                    let mut messages =
                        futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
                    let listen = async {
                        client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
                        Ok::<_, tokio_postgres::Error>(())
                    };
                    // Drive the connection while LISTEN runs.
                    let mut listen = Box::pin(listen);
                    let ok = loop {
                        tokio::select! {
                            r = &mut listen => break r.is_ok(),
                            m = messages.next() => if m.is_none() { break false },
                        }
                    };
                    if ok {
                        if !first {
                            let _ = tx.send(Arc::new(ChangeSet {
                                head_seq: i64::MAX,
                                proposals: vec![],
                                reset: true,
                            }));
                        }
                        first = false;
                        while let Some(msg) = messages.next().await {
                            match msg {
                                Ok(AsyncMessage::Notification(n)) => {
                                    let _ = tx.send(Arc::new(parse(n.payload())));
                                }
                                Ok(_) => {}
                                Err(e) => {
                                    tracing::warn!(error = %e, "PostgreSQL listener lost its connection");
                                    break;
                                }
                            }
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "PostgreSQL listener cannot connect; retrying")
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trip() {
        let cs = parse(&payload(7, &["a".into(), "b".into()]));
        assert_eq!(
            (cs.head_seq, cs.proposals, cs.reset),
            (7, vec!["a".to_owned(), "b".to_owned()], false)
        );
        let many: Vec<String> = (0..1000).map(|i| format!("{i:036}")).collect();
        assert!(parse(&payload(9, &many)).reset);
    }
}
