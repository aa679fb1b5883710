//! A load generator lean enough to measure a server on the same machine:
//! agents that send alerts over their own HTTP/1.1 keep-alive connection
//! (hyper's client connection, no pool, no retries), with bodies spliced
//! from one serialised template, on a runtime of their own whose threads
//! are named `bench-client` (so their CPU is told apart from the server's).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// A submission body for any external id: the pieces of `common::alert`
/// serialised once around a marker, joined with the id.
#[derive(Clone)]
pub struct Template(Arc<Vec<String>>);

impl Template {
    pub fn alert() -> Template {
        const MARK: &str = "\u{1}EXT\u{1}";
        let text = serde_json::to_string(&super::alert(MARK, 1)).unwrap();
        // `serde_json` writes U+0001 as `\u0001`.
        let mark = serde_json::to_string(MARK).unwrap();
        let mark = &mark[1..mark.len() - 1];
        Template(Arc::new(text.split(mark).map(str::to_owned).collect()))
    }

    pub fn body(&self, ext: &str) -> Bytes {
        Bytes::from(self.0.join(ext))
    }
}

/// What the agents did.
pub struct Sent {
    pub accepted: u64,
    pub failed: u64,
}

/// The agents' runtime: its threads live until it is dropped, so their
/// CPU can be read after a run.
pub struct Agents(tokio::runtime::Runtime);

impl Agents {
    pub fn new() -> Agents {
        Agents(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("bench-client")
                .enable_all()
                .build()
                .unwrap(),
        )
    }

    /// `agents` agents, each submitting one alert after another
    /// (`ingest-A-I`) to `url` (`http://127.0.0.1:PORT`) with `token`
    /// until `until`, each waiting for its answer before sending the next.
    pub fn submit_until(&self, url: &str, token: &str, agents: u64, until: Instant) -> Sent {
        let addr = url.trim_start_matches("http://").to_owned();
        let template = Template::alert();
        let accepted = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        self.0.block_on(async {
            let mut tasks = Vec::new();
            for a in 0..agents {
                let (addr, template) = (addr.clone(), template.clone());
                let auth = format!("Bearer {token}");
                let (accepted, failed) = (accepted.clone(), failed.clone());
                tasks.push(tokio::spawn(async move {
                    let stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
                    stream.set_nodelay(true).unwrap();
                    let (mut send, conn) = http1::handshake(TokioIo::new(stream)).await.unwrap();
                    tokio::spawn(conn);
                    let mut i = 0u64;
                    while Instant::now() < until {
                        let req = hyper::Request::post("/v1/alerts")
                            .header("host", &addr)
                            .header("authorization", &auth)
                            .header("content-type", "application/json")
                            .body(Full::new(template.body(&format!("ingest-{a}-{i}"))))
                            .unwrap();
                        let ok = match send.send_request(req).await {
                            Ok(resp) => {
                                let created = resp.status() == hyper::StatusCode::CREATED;
                                resp.into_body().collect().await.is_ok() && created
                            }
                            Err(_) => false,
                        };
                        if ok { &accepted } else { &failed }.fetch_add(1, Ordering::Relaxed);
                        i += 1;
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
        });
        Sent {
            accepted: accepted.load(Ordering::Relaxed),
            failed: failed.load(Ordering::Relaxed),
        }
    }
}
