//! Two `serve` replicas on one PostgreSQL database: conflicting decisions
//! from 8 clients split across both end with exactly one outcome each, one
//! linear audit chain that `audit verify` accepts, and as many accepted
//! decisions as 201 answers; and kill -9 of one replica mid-load loses
//! nothing acknowledged while the other carries on.

use crate::common;

use common::person::Person;
use common::proc::{ServeProcess, create_token_url};
use common::{alert, free_port, proposal};
use countersign::client::ApiClient;
use countersign::signing::payload::PayloadVerdict;
use countersign::signing::signer::Signer;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

struct Cluster {
    dir: tempfile::TempDir,
    url: String,
    replicas: Vec<Option<ServeProcess>>,
    ports: Vec<u16>,
    keys: Vec<(String, ssh_key::PrivateKey)>,
    agent_token: String,
    reviewer_token: String,
}

/// The shared test policy without what needs a lead (the high-risk rule,
/// escalation): `serve` starts only on a policy its people can meet.
/// analyst0 is a lead, to freeze.
const POLICY: &str = r#"
[defaults]
approvals = 1
role = "analyst"
expiry_secs = 3600
execution_window_secs = 600

[roles]
leads = ["analyst0"]

[[rules]]
action = "block_indicator"
risk = "low"
auto = true
sample = 1.0
"#;

async fn cluster(people: usize) -> Option<Cluster> {
    let admin = common::pg_url()?;
    let url = common::pg_fresh_db(&admin).await;
    let dir = tempfile::tempdir().unwrap();
    let keys: Vec<(String, ssh_key::PrivateKey)> = (0..people)
        .map(|i| (format!("analyst{i}"), common::new_key()))
        .collect();
    let signers: String = keys
        .iter()
        .map(|(n, k)| format!("{n} {}\n", k.public_key().to_openssh().unwrap()))
        .collect();
    std::fs::write(dir.path().join("allowed_signers"), signers).unwrap();
    std::fs::write(dir.path().join("policy.toml"), POLICY).unwrap();
    let key_path = dir.path().join("server_key");
    common::new_key()
        .write_openssh_file(&key_path, ssh_key::LineEnding::LF)
        .unwrap();
    let mut c = Cluster {
        agent_token: String::new(),
        reviewer_token: String::new(),
        dir,
        url,
        replicas: vec![],
        ports: vec![free_port(), free_port()],
        keys,
    };
    // Both replicas start together: migrations must not race.
    let (a, b) = tokio::join!(c.start(0), c.start(1));
    c.replicas = vec![Some(a), Some(b)];
    c.agent_token = create_token_url(&c.url, "soar-bot", "agent");
    c.reviewer_token = create_token_url(&c.url, "auditor", "reviewer");
    Some(c)
}

impl Cluster {
    async fn start(&self, i: usize) -> ServeProcess {
        let p = |f: &str| self.dir.path().join(f).display().to_string();
        ServeProcess::start_url(
            &self.url,
            self.ports[i],
            &[
                "--signers",
                &p("allowed_signers"),
                "--policy",
                &p("policy.toml"),
                "--server-key",
                &p("server_key"),
            ],
        )
        .await
    }

    fn base(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.ports[i])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conflicting_decisions_on_two_replicas() {
    let Some(c) = cluster(8).await else { return };
    let agent = ApiClient::new(&c.base(0), Some(c.agent_token.clone())).unwrap();
    let mut proposals = Vec::new();
    for a in 0..40 {
        let ps = (0..25).map(|i| {
            let mut p = proposal("isolate_host", "medium");
            p["target"] = format!("ws-{a}-{i}").into();
            p
        });
        let r = agent
            .submit_alert(&alert(&format!("bulk-{a}"), ps.collect()))
            .await
            .unwrap();
        proposals.extend(r.proposals.into_iter().map(|p| (p.id, p.digest)));
    }
    assert_eq!(proposals.len(), 1000);
    let proposals = Arc::new(proposals);
    let created = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for (i, (name, key)) in c.keys.iter().cloned().enumerate() {
        // Client i and client i+4 work the same quarter of the proposals,
        // one approving and one rejecting, on different replicas.
        let replica = if i < 4 { i % 2 } else { (i + 1) % 2 };
        let base = c.base(replica);
        let (proposals, created) = (proposals.clone(), created.clone());
        tasks.push(tokio::spawn(async move {
            let person = Person::login(&base, &name, Signer::from_key(key)).await;
            let verdict = if i < 4 {
                PayloadVerdict::Approve
            } else {
                PayloadVerdict::Reject
            };
            let mut conflicts = 0;
            for (id, digest) in proposals.iter().skip(i % 4).step_by(4) {
                match person
                    .decide(id, digest, verdict, "racing on purpose")
                    .await
                {
                    Ok(_) => {
                        created.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        // The loser gets 409: already_final, or wrong_state
                        // when rejecting what the other side approved.
                        assert!(
                            matches!(
                                e.code(),
                                Some(
                                    countersign::api::ErrorCode::AlreadyFinal
                                        | countersign::api::ErrorCode::WrongState
                                )
                            ),
                            "unexpected refusal: {e}"
                        );
                        conflicts += 1;
                    }
                }
            }
            conflicts
        }));
    }
    let mut conflicts = 0;
    for t in tasks {
        conflicts += t.await.unwrap();
    }
    let created = created.load(Ordering::Relaxed);
    assert_eq!(created + conflicts, 2000);
    assert_eq!(created, 1000, "every proposal decided exactly once");

    // The log: one decision per proposal, one linear chain, verified offline.
    let reviewer = ApiClient::new(&c.base(1), Some(c.reviewer_token.clone())).unwrap();
    let entries = reviewer.audit_all(0).await.unwrap();
    let mut per: BTreeMap<String, usize> = BTreeMap::new();
    for e in &entries {
        let v: Value = serde_json::from_str(&e.entry).unwrap();
        if v["data"]["payload"].is_string() {
            *per.entry(v["proposal_id"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
    }
    assert_eq!(per.len(), 1000);
    assert!(per.values().all(|n| *n == 1));
    let (ok, text) =
        crate::common::proc::export_and_verify(&c.base(0), &c.reviewer_token, c.dir.path());
    assert!(ok, "{text}");
    assert!(text.contains("1000 signed decisions verified"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_one_replica_loses_nothing() {
    let Some(mut c) = cluster(1).await else {
        return;
    };
    let acked = Arc::new(std::sync::Mutex::new(BTreeMap::<String, String>::new()));
    let clients: Vec<ApiClient> = (0..2)
        .map(|i| ApiClient::new(&c.base(i), Some(c.agent_token.clone())).unwrap())
        .collect();
    // Agents submit until told to stop; replica B dies once 200 are
    // acknowledged, and the load goes on after it for a while, so the kill
    // lands mid-load however fast this machine is.
    let killed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for a in 0..8 {
        let (clients, acked, killed) = (clients.clone(), acked.clone(), killed.clone());
        tasks.push(tokio::spawn(async move {
            // Like a load balancer: round-robin, and on failure the other one.
            let (mut failures, mut sent, mut after_kill) = (0, 0, 0);
            while after_kill < 40 {
                let ext = format!("kill-{a}-{sent}");
                let doc = alert(&ext, vec![proposal("isolate_host", "medium")]);
                let first = (a + sent) % 2;
                let r = match clients[first].submit_alert(&doc).await {
                    Ok(r) => Ok(r),
                    Err(_) => {
                        failures += 1;
                        clients[1 - first].submit_alert(&doc).await
                    }
                };
                if let Ok(r) = r {
                    acked.lock().unwrap().insert(ext, r.proposals[0].id.clone());
                }
                sent += 1;
                if killed.load(Ordering::SeqCst) {
                    after_kill += 1;
                }
            }
            (failures, sent)
        }));
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while acked.lock().unwrap().len() < 200 {
        assert!(std::time::Instant::now() < deadline, "no progress");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    c.replicas[1].take(); // kill -9 replica B mid-load
    killed.store(true, Ordering::SeqCst);
    let (mut failures, mut sent) = (0, 0);
    for t in tasks {
        let (f, n) = t.await.unwrap();
        failures += f;
        sent += n;
    }
    let acked = acked.lock().unwrap().clone();
    assert_eq!(acked.len(), sent, "the surviving replica took every retry");
    assert!(
        failures > 0,
        "requests to the dead replica failed over to the live one"
    );
    let reviewer = ApiClient::new(&c.base(0), Some(c.reviewer_token.clone())).unwrap();
    for (ext, id) in &acked {
        let d = clients[0]
            .decision(id, 0)
            .await
            .unwrap_or_else(|e| panic!("{ext} lost: {e}"));
        assert_eq!(&d.proposal_id, id);
    }
    let entries = reviewer.audit_all(0).await.unwrap();
    countersign::audit::chain::verify_links(&countersign::audit::chain::Head::genesis(), &entries)
        .expect("one unbroken chain");
}

/// A loopback TCP proxy in front of PostgreSQL that the test can cut (every
/// connection dropped, new ones refused) and restore.
struct Proxy {
    port: u16,
    up: Arc<std::sync::atomic::AtomicBool>,
    generation: Arc<AtomicU64>,
    /// Proxied connections alive now.
    live: Arc<AtomicU64>,
}

impl Proxy {
    async fn start(target: String) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let generation = Arc::new(AtomicU64::new(0));
        let live = Arc::new(AtomicU64::new(0));
        let (u, g, l) = (up.clone(), generation.clone(), live.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if !u.load(Ordering::SeqCst) {
                    continue; // dropped: refused
                }
                let (target, g2, born) = (target.clone(), g.clone(), g.load(Ordering::SeqCst));
                let l2 = l.clone();
                l2.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    struct Alive(Arc<AtomicU64>);
                    impl Drop for Alive {
                        fn drop(&mut self) {
                            self.0.fetch_sub(1, Ordering::SeqCst);
                        }
                    }
                    let _alive = Alive(l2);
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    let copy = tokio::io::copy_bidirectional(&mut inbound, &mut outbound);
                    let cut = async {
                        while g2.load(Ordering::SeqCst) == born {
                            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                        }
                    };
                    tokio::select! { _ = copy => {}, _ = cut => {} }
                });
            }
        });
        Proxy {
            port,
            up,
            generation,
            live,
        }
    }

    /// Drops every connection and refuses new ones; returns once none is
    /// left alive.
    async fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.live.load(Ordering::SeqCst) > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "connections did not close"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn losing_the_database_is_503_then_recovers() {
    let Some(admin) = common::pg_url() else {
        return;
    };
    let direct = common::pg_fresh_db(&admin).await;
    // postgres://user@127.0.0.1:PORT/DB -> the same through the proxy.
    let (before_port, rest) = direct.split_once("127.0.0.1:").unwrap();
    let (pg_port, db) = rest.split_once('/').unwrap();
    let proxy = Proxy::start(format!("127.0.0.1:{pg_port}")).await;
    let via_proxy = format!("{before_port}127.0.0.1:{}/{db}", proxy.port);
    let token = create_token_url(&direct, "soar-bot", "agent");
    let port = free_port();
    let server = ServeProcess::start_url(&via_proxy, port, &[]).await;
    let agent = ApiClient::new(&format!("http://127.0.0.1:{port}"), Some(token)).unwrap();
    let ok = agent
        .submit_alert(&alert("before", vec![proposal("isolate_host", "medium")]))
        .await
        .unwrap();

    proxy.cut().await;
    let err = agent
        .submit_alert(&alert("during", vec![proposal("isolate_host", "medium")]))
        .await
        .expect_err("the database is gone");
    match &err {
        countersign::client::ClientError::Api {
            status,
            code,
            message,
            ..
        } => {
            assert_eq!(
                (status.as_u16(), code.as_str()),
                (503, "storage_unavailable"),
                "{message}"
            );
            assert!(message.contains("PostgreSQL"), "{message}");
        }
        other => panic!("{other}"),
    }
    // Health says so too.
    let health = reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
        .await
        .unwrap();
    assert_eq!(health.status(), 503);

    proxy.restore();
    let mut recovered = None;
    for _ in 0..50 {
        match agent
            .submit_alert(&alert("after", vec![proposal("isolate_host", "medium")]))
            .await
        {
            Ok(r) => {
                recovered = Some(r);
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
        }
    }
    assert!(recovered.is_some(), "the server reconnects by itself");
    // Nothing acknowledged was lost; nothing of the failed request was written.
    assert_eq!(
        agent
            .decision(&ok.proposals[0].id, 0)
            .await
            .unwrap()
            .proposal_id,
        ok.proposals[0].id
    );
    let (client, conn) = tokio_postgres::connect(&direct, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let during: i64 = client
        .query_one(
            "SELECT COUNT(*) FROM alerts WHERE external_id = 'during'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(during, 0);
    drop(server);
}

/// A lead's freeze on one replica reaches an agent waiting on the other at
/// once (every replica hears the commit), and stops policy approvals there.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_freeze_on_one_replica_tells_an_agent_waiting_on_the_other() {
    use countersign::api::FreezeMode;
    use countersign::signing::freeze::FreezeDraft;
    let Some(c) = cluster(1).await else { return };
    let agent = ApiClient::new(&c.base(1), Some(c.agent_token.clone())).unwrap();
    let r = agent
        .submit_alert(&alert(
            "fz-replica",
            vec![proposal("isolate_host", "medium")],
        ))
        .await
        .unwrap();
    let id = r.proposals[0].id.clone();
    let waiter = agent.clone();
    let waiting = tokio::spawn(async move {
        let at = std::time::Instant::now();
        (waiter.decision(&id, 120).await, at.elapsed())
    });
    common::until_long_polls(&c.base(1), 1).await;
    let (name, key) = c.keys[0].clone();
    let signer = Signer::from_key(key.clone());
    let lead = Person::login(&c.base(0), &name, Signer::from_key(key)).await;
    let signed = FreezeDraft {
        agent: "soar-bot".into(),
        mode: Some(FreezeMode::NoAuto),
        reason: "stop it everywhere".into(),
    }
    .sign(&name, countersign::domain::time::now_millis(), &signer)
    .unwrap()
    .decision;
    lead.post_freeze(&signed).await.unwrap();
    let (view, took) = waiting.await.unwrap();
    let view = view.unwrap();
    assert_eq!(view.frozen.map(|f| f.by), Some(name.clone()));
    assert!(took < std::time::Duration::from_secs(60), "took {took:?}");
    // The other replica's writer reads the freeze: no policy approval there.
    let auto = agent
        .submit_alert(&alert("fz-auto", vec![proposal("block_indicator", "low")]))
        .await
        .unwrap();
    assert_eq!(auto.proposals[0].status.as_str(), "pending");
}
