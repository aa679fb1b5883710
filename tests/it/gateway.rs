//! `countersign gateway`: the MCP proxy an agent talks to instead of its
//! tool servers. The agent is the official MCP Python SDK's client
//! (tests/fixtures/mcp/agent.py, driven a JSON line at a time), the
//! upstream a real tool server written with the same SDK's server side
//! (tests/fixtures/mcp/upstream.py, which records every call it receives
//! with its arguments and the secret in its environment); between them
//! the real binary, against an in-process countersign server. People
//! approve with signatures made by `ssh-keygen -Y sign` itself.
//!
//! NOTE: the gateway is being written concurrently with these tests, to the
//! contract below; until `countersign gateway` exists every test here fails
//! at run time (the agent cannot initialize). They compile on their own.
//!
//! The contract: a gated call becomes a proposal (`mcp:<upstream>.<tool>`,
//! the arguments in its `parameters`) and is answered `HELD` until a person
//! decides; the same call again after an approval forwards exactly the
//! approved arguments, once, and the proposal ends `executed` (or `failed`);
//! a rejection answers `REJECTED` with the reason; `allow` tools pass at
//! once, `deny` tools do not exist; everything fails closed.
//!
//! Skipped (passing) unless COUNTERSIGN_PYTHON names the Python that has
//! .ci/requirements.txt installed (`bash .ci/run` sets it);
//! COUNTERSIGN_REQUIRE_TOOLS=1 makes a missing Python a failure.

use crate::common::{self, TestServer};
use crate::common::{python, toml_quote as q};
use countersign::client::ApiClient;
use countersign::domain::types::ProposalStatus;
use countersign::server::state::Limits;
use countersign::server::store::ops::ProposalById;
use countersign::signing::allowed_signers::AllowedSigners;
use countersign::signing::payload::{
    DecisionDraft, PayloadVerdict, Review, SignedDecision, Target,
};
use countersign::signing::{NS_DECISION, NS_LOGIN};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// Any `mcp:*` action is medium (a kind the policy does not name) and
/// needs one analyst; alice is one.
const POLICY: &str = "[defaults]\napprovals = 1\nrole = \"analyst\"\nexpiry_secs = 3600\nexecution_window_secs = 600\n\n[roles]\nleads = [\"carol\",\"dave\"]\n";

/// The secret the gateway's config hands to the upstream; the agent's own
/// environment carries a different value, which must never arrive.
const SECRET: &str = "edr-key";
const AGENT_SECRET: &str = "not-from-the-agent";

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mcp");

// ---------------------------------------------------------------------------
// The agent: agent.py driven over its stdin/stdout.

struct Agent {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Lines<BufReader<ChildStdout>>,
    /// The agent's stderr, which is also the gateway's (and the upstreams').
    stderr: PathBuf,
    ready: Value,
}

impl Agent {
    /// `agent.py -- COMMAND...`: waits for its ready line (or panics with
    /// what it said instead).
    async fn start(py: &str, dir: &Path, command: &[&str]) -> Agent {
        let stderr = dir.join(format!(
            "agent-{}.stderr",
            countersign::signing::payload::new_nonce()
        ));
        let mut cmd = Command::new(py);
        cmd.arg(format!("{FIXTURES}/agent.py"));
        for pass in ["RUST_LOG", "RUST_BACKTRACE"] {
            cmd.args(["--pass-env", pass]);
        }
        cmd.arg("--")
            .args(command)
            // The agent's environment has its own value: the upstream must
            // see the gateway config's, never this one.
            .env("UPSTREAM_SECRET", AGENT_SECRET)
            .env_remove("UPSTREAM_RECORD")
            .env_remove("COUNTERSIGN_TOKEN")
            .env_remove("COUNTERSIGN_CONFIG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("start agent.py");
        let stdin = child.stdin.take();
        let out = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut agent = Agent {
            child,
            stdin,
            out,
            stderr,
            ready: Value::Null,
        };
        let ready = agent.read(Duration::from_secs(40)).await;
        assert_eq!(
            ready["ready"],
            true,
            "the agent did not initialize a session: {ready}\n{}",
            agent.stderr_text()
        );
        agent.ready = ready;
        agent
    }

    /// The agent in front of `countersign gateway --config FILE`.
    async fn gateway(py: &str, dir: &Path, config: &Path) -> Agent {
        Agent::start(
            py,
            dir,
            &[
                common::binary(),
                "gateway",
                "--config",
                config.to_str().unwrap(),
            ],
        )
        .await
    }

    fn stderr_text(&self) -> String {
        let text = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        format!("--- agent/gateway stderr ---\n{text}--- end ---")
    }

    async fn read(&mut self, within: Duration) -> Value {
        match tokio::time::timeout(within, self.out.next_line()).await {
            Ok(Ok(Some(line))) => serde_json::from_str(&line).unwrap_or_else(|e| {
                panic!(
                    "not a JSON line from the agent ({e}): {line}\n{}",
                    self.stderr_text()
                )
            }),
            Ok(Ok(None)) => panic!(
                "the agent closed its stdout (exit {:?})\n{}",
                self.child.try_wait(),
                self.stderr_text()
            ),
            Ok(Err(e)) => panic!("reading the agent: {e}\n{}", self.stderr_text()),
            Err(_) => panic!(
                "no answer from the agent within {within:?}\n{}",
                self.stderr_text()
            ),
        }
    }

    /// One request line, one answer line.
    async fn send(&mut self, req: Value, within: Duration) -> Value {
        let stdin = self.stdin.as_mut().expect("agent stdin open");
        let mut line = serde_json::to_string(&req).unwrap();
        line.push('\n');
        stdin.write_all(line.as_bytes()).await.unwrap();
        stdin.flush().await.unwrap();
        self.read(within).await
    }

    /// Every listed tool (name, description, inputSchema, …).
    async fn list(&mut self) -> Vec<Value> {
        let r = self
            .send(json!({"op": "list"}), Duration::from_secs(30))
            .await;
        match r["tools"].as_array() {
            Some(tools) => tools.clone(),
            None => panic!("tools/list failed: {r}\n{}", self.stderr_text()),
        }
    }

    async fn names(&mut self) -> Vec<String> {
        self.list()
            .await
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    }

    /// A tool call the agent gives `timeout` seconds; the answer as the
    /// agent reports it (`isError`/`text`/`structured`, or `error`).
    async fn call_within(&mut self, name: &str, args: Value, timeout: u64) -> Value {
        self.send(
            json!({"op": "call", "name": name, "arguments": args, "timeout": timeout}),
            Duration::from_secs(timeout + 20),
        )
        .await
    }

    async fn call(&mut self, name: &str, args: Value) -> Value {
        self.call_within(name, args, 60).await
    }

    /// A call that must be answered HELD: the proposal's id and digest.
    async fn held(&mut self, name: &str, args: Value) -> (String, String) {
        let r = self.call(name, args).await;
        assert_held(&r, &self.stderr_text())
    }
}

impl Drop for Agent {
    /// EOF first (the agent closes its session and the gateway its
    /// upstreams), a kill if that takes too long.
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.start_kill();
    }
}

fn text(r: &Value) -> &str {
    r["text"].as_str().unwrap_or("")
}

/// The result says HELD with a pending proposal; its id and digest.
fn assert_held(r: &Value, stderr: &str) -> (String, String) {
    assert_eq!(
        r["isError"], true,
        "a held call is an error result: {r}\n{stderr}"
    );
    let s = &r["structured"];
    assert_eq!(s["held"], true, "{r}\n{stderr}");
    assert_eq!(s["status"], "pending", "{r}");
    let id = s["proposal_id"].as_str().expect("proposal_id").to_owned();
    let digest = s["digest"].as_str().expect("digest").to_owned();
    assert!(digest.starts_with("sha256:"), "{r}");
    assert!(text(r).starts_with("HELD"), "{r}");
    assert!(text(r).contains(&id), "the text names the proposal: {r}");
    (id, digest)
}

/// A call the gateway refused: an error result, or a protocol error.
fn refused(r: &Value) -> bool {
    r["isError"] == true || r.get("error").is_some()
}

// ---------------------------------------------------------------------------
// The world: a countersign server, the upstream's record, the config.

struct World {
    t: TestServer,
    dir: tempfile::TempDir,
    py: String,
}

/// How one upstream is configured (tool modes by name).
struct Upstream<'a> {
    name: &'a str,
    command: Vec<String>,
    record: PathBuf,
    default: &'a str,
    tools: &'a [(&'a str, &'a str)],
}

impl World {
    async fn new(py: String) -> World {
        World {
            t: TestServer::start_with_policy(Limits::default(), POLICY).await,
            dir: tempfile::tempdir().unwrap(),
            py,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The real upstream.py, recording to `<name>.jsonl`.
    fn upstream<'a>(&self, name: &'a str, tools: &'a [(&'a str, &'a str)]) -> Upstream<'a> {
        Upstream {
            name,
            command: vec![self.py.clone(), format!("{FIXTURES}/upstream.py")],
            record: self.path(&format!("{name}.jsonl")),
            default: "gate",
            tools,
        }
    }

    /// The calls an upstream received, in order.
    fn record(&self, name: &str) -> Vec<Value> {
        std::fs::read_to_string(self.path(&format!("{name}.jsonl")))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// A gateway config file for `server` with these upstreams.
    fn config(&self, server: &str, call_timeout: u64, ups: &[Upstream]) -> PathBuf {
        let mut s = format!(
            "[gateway]\nserver = {}\ntoken = {}\nhold_secs = 2\ncall_timeout_secs = {call_timeout}\n",
            q(server),
            q(&self.t.agent_token)
        );
        for u in ups {
            let command: Vec<String> = u.command.iter().map(|c| q(c)).collect();
            s.push_str(&format!(
                "\n[[upstreams]]\nname = {}\ncommand = [{}]\nenv = {{ UPSTREAM_RECORD = {}, UPSTREAM_SECRET = {} }}\ndefault = {}\n[upstreams.tools]\n",
                q(u.name),
                command.join(", "),
                q(u.record.to_str().unwrap()),
                q(SECRET),
                q(u.default),
            ));
            for (tool, mode) in u.tools {
                s.push_str(&format!("{tool} = {}\n", q(mode)));
            }
        }
        let path = self.path(&format!(
            "gateway-{}.toml",
            countersign::signing::payload::new_nonce()
        ));
        std::fs::write(&path, s).unwrap();
        path
    }

    /// The usual gateway: upstream `edr`, everything gated but `read_file`
    /// (allowed) and `wipe_disk` (denied).
    async fn edr_gateway(&self, call_timeout: u64) -> Agent {
        let config = self.config(
            &self.t.url(),
            call_timeout,
            &[self.upstream("edr", EDR_TOOLS)],
        );
        Agent::gateway(&self.py, self.dir.path(), &config).await
    }

    async fn status(&self, id: &str) -> ProposalStatus {
        self.t
            .store
            .run(ProposalById(id.to_owned()))
            .await
            .unwrap()
            .expect("proposal")
            .status
    }

    /// Waits (up to 20 s) for the proposal to reach `want`.
    async fn until_status(&self, id: &str, want: ProposalStatus) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let now = self.status(id).await;
            if now == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "proposal {id} is {now:?}, never {want:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The `kind` of every audit entry about this proposal (its alert's
    /// `alert_received` included), in order.
    async fn audit_kinds(&self, id: &str) -> Vec<String> {
        let alert = self.t.stored(id).await.alert_id;
        self.t
            .store
            .audit_all()
            .await
            .unwrap()
            .iter()
            .map(|e| serde_json::from_str::<Value>(&e.entry).unwrap())
            .filter(|b| {
                b["proposal_id"] == id
                    || (b["kind"] == "alert_received" && b["alert_id"] == alert.as_str())
            })
            .map(|b| b["kind"].as_str().unwrap().to_owned())
            .collect()
    }
}

const EDR_TOOLS: &[(&str, &str)] = &[("read_file", "allow"), ("wipe_disk", "deny")];

/// The proposal's parameters carry exactly these arguments (as the
/// parameters themselves, or under `arguments`).
fn binds(parameters: &Value, args: &Value) -> bool {
    parameters == args || parameters["arguments"] == *args
}

// ---------------------------------------------------------------------------
// A person who signs with `ssh-keygen -Y sign` itself.

struct SshKeygenPerson {
    name: String,
    key: PathBuf,
    dir: PathBuf,
    client: ApiClient,
}

fn ssh_keygen_sign(key: &Path, dir: &Path, ns: &str, msg: &[u8]) -> String {
    let file = dir.join(format!(
        "msg-{}",
        countersign::signing::payload::new_nonce()
    ));
    std::fs::write(&file, msg).unwrap();
    let out = std::process::Command::new("ssh-keygen")
        .args(["-Y", "sign", "-n", ns, "-f"])
        .arg(key)
        .arg(&file)
        .stdin(Stdio::null())
        .output()
        .expect("ssh-keygen is installed (openssh-client)");
    assert!(
        out.status.success(),
        "ssh-keygen -Y sign: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(file.with_extension("sig")).unwrap()
}

impl SshKeygenPerson {
    /// A key made by ssh-keygen, trusted as `name` (the server's signers
    /// replaced), logged in with a challenge signed by ssh-keygen.
    async fn new(w: &World, name: &str) -> SshKeygenPerson {
        let dir = w.path(&format!("person-{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        let key = dir.join(name);
        let public = common::keygen(&key, name);
        let signers = dir.join("allowed_signers");
        std::fs::write(
            &signers,
            format!("{name} namespaces=\"{NS_DECISION},{NS_LOGIN}\" {public}"),
        )
        .unwrap();
        w.t.server
            .state
            .set_signers(AllowedSigners::load(&signers).unwrap());
        let http = reqwest::Client::new();
        let challenge = crate::common::login_challenge(&w.t.url(), name).await;
        let signature = ssh_keygen_sign(&key, &dir, NS_LOGIN, challenge.as_bytes());
        let login: Value = http
            .post(format!("{}/v1/session", w.t.url()))
            .json(&json!({"principal": name, "challenge": challenge, "signature": signature}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = login["token"]
            .as_str()
            .unwrap_or_else(|| panic!("logged in with ssh-keygen: {login}"))
            .to_owned();
        SshKeygenPerson {
            name: name.into(),
            key,
            dir,
            client: ApiClient::new(&w.t.url(), Some(token)).unwrap(),
        }
    }

    async fn decide(
        &self,
        id: &str,
        digest: &str,
        verdict: PayloadVerdict,
        reason: &str,
    ) -> String {
        let payload = serde_json::to_string(
            &DecisionDraft {
                target: Target::Proposal(id.into()),
                digest: digest.into(),
                verdict,
                reason: reason.into(),
                labels: vec![],
                review: Review::default(),
                revert_digest: None,
                amend: None,
                amended_digest: None,
                contain_until: None,
            }
            .payload(&self.name, countersign::domain::time::now_millis()),
        )
        .unwrap();
        let signature = ssh_keygen_sign(&self.key, &self.dir, NS_DECISION, payload.as_bytes());
        self.client
            .post_decision(&SignedDecision { payload, signature })
            .await
            .unwrap()
            .event
    }

    async fn approve(&self, id: &str, digest: &str) {
        let event = self.decide(id, digest, PayloadVerdict::Approve, "").await;
        assert_eq!(event, "approved");
    }

    async fn reject(&self, id: &str, digest: &str, reason: &str) {
        let event = self
            .decide(id, digest, PayloadVerdict::Reject, reason)
            .await;
        assert_eq!(event, "rejected");
    }
}

// ---------------------------------------------------------------------------
// The tests.

/// Held → a person approves (ssh-keygen) → the same call forwards exactly
/// the approved arguments once, with the config's secret; the next
/// identical call is a new proposal, held again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approved_call_is_forwarded_once_with_the_approved_arguments() {
    let Some(py) = python() else { return };
    let w = World::new(py).await;
    let mut agent = w.edr_gateway(30).await;

    // What the upstream itself lists, through the same SDK client.
    let mut direct = Agent::start(
        &w.py,
        w.dir.path(),
        &[&w.py, &format!("{FIXTURES}/upstream.py")],
    )
    .await;
    let upstream_tools = direct.list().await;
    drop(direct);
    assert!(w.record("edr").is_empty());

    let listed = agent.list().await;
    let names: Vec<&str> = listed.iter().map(|t| t["name"].as_str().unwrap()).collect();
    for want in ["isolate_host", "read_file", "fail", "hang"] {
        assert!(names.contains(&want), "{want} in {names:?}");
    }
    assert!(
        !names.contains(&"wipe_disk"),
        "a denied tool is listed: {names:?}"
    );
    for tool in &listed {
        let up = upstream_tools
            .iter()
            .find(|u| u["name"] == tool["name"])
            .unwrap_or_else(|| panic!("{} is not the upstream's", tool["name"]));
        // The upstream's description, whole (the gateway may add a note
        // after it, e.g. that a person approves each call).
        let (mine, theirs) = (&tool["description"], &up["description"]);
        assert!(
            mine.as_str()
                .is_some_and(|d| d.starts_with(theirs.as_str().unwrap())),
            "{}: {mine} keeps {theirs}",
            tool["name"]
        );
        assert_eq!(tool["inputSchema"], up["inputSchema"], "{}", tool["name"]);
    }

    let args = json!({"host": "ws-0412", "reason": "lsass read by mimikatz"});
    let (id, digest) = agent.held("isolate_host", args.clone()).await;
    assert!(
        w.record("edr").is_empty(),
        "a held call reached the upstream"
    );
    let p =
        w.t.store
            .run(ProposalById(id.clone()))
            .await
            .unwrap()
            .expect("the proposal is stored");
    assert_eq!(p.status, ProposalStatus::Pending);
    assert_eq!(p.action.as_str(), "mcp:edr.isolate_host");
    assert_eq!(p.digest, digest);
    assert!(
        binds(&p.document["parameters"], &args),
        "the proposal's parameters bind the arguments: {}",
        p.document
    );
    assert!(!p.target.trim().is_empty(), "a readable target");
    assert_eq!(p.proposed_by, "soar-bot");

    // Held again while nobody has decided: the same proposal, nothing sent.
    let (again, _) = agent.held("isolate_host", args.clone()).await;
    assert_eq!(again, id, "the same pending call is the same proposal");
    assert!(w.record("edr").is_empty());

    let alice = SshKeygenPerson::new(&w, "alice").await;
    alice.approve(&id, &digest).await;
    assert_eq!(w.status(&id).await, ProposalStatus::Approved);

    let r = agent.call("isolate_host", args.clone()).await;
    assert_eq!(r["isError"], false, "{r}\n{}", agent.stderr_text());
    assert_eq!(text(&r), "isolated ws-0412", "{r}");
    assert_eq!(
        w.record("edr"),
        vec![json!({"tool": "isolate_host", "arguments": args, "secret": SECRET})],
        "exactly one call, the approved arguments, the config's secret"
    );
    w.until_status(&id, ProposalStatus::Executed).await;

    // An approval is spent: the same call again is a new proposal.
    let (third, _) = agent.held("isolate_host", args.clone()).await;
    assert_ne!(
        third, id,
        "a spent approval let a call through or was reused"
    );
    assert_eq!(w.status(&third).await, ProposalStatus::Pending);
    assert_eq!(w.record("edr").len(), 1, "{:?}", w.record("edr"));
    assert_eq!(w.status(&id).await, ProposalStatus::Executed);
}

/// Other arguments are another proposal; approving one forwards only it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_arguments_are_a_new_proposal() {
    let Some(py) = python() else { return };
    let w = World::new(py).await;
    let mut agent = w.edr_gateway(30).await;

    let a = json!({"host": "ws-0412", "reason": "contain"});
    let b = json!({"host": "dc-01", "reason": "contain"});
    let (id_a, digest_a) = agent.held("isolate_host", a.clone()).await;
    let (id_b, digest_b) = agent.held("isolate_host", b.clone()).await;
    assert_ne!(id_a, id_b);
    assert_ne!(digest_a, digest_b);
    // One more key is a change too.
    let (id_c, _) = agent
        .held(
            "isolate_host",
            json!({"host": "ws-0412", "reason": "contain", "force": true}),
        )
        .await;
    assert_ne!(id_c, id_a);

    let alice = SshKeygenPerson::new(&w, "alice").await;
    alice.approve(&id_a, &digest_a).await;

    // B is still waiting for its own decision.
    let (still_b, _) = agent.held("isolate_host", b.clone()).await;
    assert_eq!(still_b, id_b);
    assert!(w.record("edr").is_empty(), "{:?}", w.record("edr"));

    let r = agent.call("isolate_host", a.clone()).await;
    assert_eq!(r["isError"], false, "{r}\n{}", agent.stderr_text());
    let calls = w.record("edr");
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0]["arguments"], a);
    w.until_status(&id_a, ProposalStatus::Executed).await;
    assert_eq!(w.status(&id_b).await, ProposalStatus::Pending);
}

/// A rejection answers REJECTED with the person's reason; the upstream
/// never sees the call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_call_is_never_forwarded() {
    let Some(py) = python() else { return };
    let w = World::new(py).await;
    let mut agent = w.edr_gateway(30).await;

    let args = json!({"host": "ceo-laptop"});
    let (id, digest) = agent.held("isolate_host", args.clone()).await;
    let reason = "the CEO is presenting: isolate after the board meeting";
    let alice = SshKeygenPerson::new(&w, "alice").await;
    alice.reject(&id, &digest, reason).await;

    let r = agent.call("isolate_host", args.clone()).await;
    assert_eq!(r["isError"], true, "{r}\n{}", agent.stderr_text());
    assert!(text(&r).starts_with("REJECTED"), "{r}");
    assert!(text(&r).contains(reason), "the person's reason: {r}");
    assert!(w.record("edr").is_empty(), "{:?}", w.record("edr"));
    assert_eq!(w.status(&id).await, ProposalStatus::Rejected);
    let kinds = w.audit_kinds(&id).await;
    assert!(kinds.contains(&"rejected".to_owned()), "{kinds:?}");
    assert!(!kinds.iter().any(|k| k.starts_with("execut")), "{kinds:?}");
}

/// `allow` passes at once, with no proposal; `deny` is neither listed nor
/// callable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_forwards_at_once_and_deny_does_not_exist() {
    let Some(py) = python() else { return };
    let w = World::new(py).await;
    let mut agent = w.edr_gateway(30).await;

    let r = agent
        .call("read_file", json!({"path": "/var/log/auth.log"}))
        .await;
    assert_eq!(r["isError"], false, "{r}\n{}", agent.stderr_text());
    assert_eq!(text(&r), "contents of /var/log/auth.log");
    assert_eq!(
        w.record("edr"),
        vec![
            json!({"tool": "read_file", "arguments": {"path": "/var/log/auth.log"}, "secret": SECRET})
        ]
    );
    let kinds: Vec<Value> =
        w.t.store
            .audit_all()
            .await
            .unwrap()
            .iter()
            .map(|e| serde_json::from_str::<Value>(&e.entry).unwrap()["kind"].clone())
            .collect();
    assert!(
        !kinds.contains(&json!("alert_received")),
        "an allowed call made a proposal: {kinds:?}"
    );

    assert!(!agent.names().await.contains(&"wipe_disk".to_owned()));
    let r = agent.call("wipe_disk", json!({"host": "ws-0412"})).await;
    assert!(refused(&r), "a denied tool answered: {r}");
    assert!(
        !text(&r).starts_with("HELD"),
        "a denied tool is no proposal: {r}"
    );
    assert_eq!(w.record("edr").len(), 1, "{:?}", w.record("edr"));
    // The gateway still serves after the refusal.
    let r = agent.call("read_file", json!({"path": "/etc/hosts"})).await;
    assert_eq!(r["isError"], false, "{r}");
    assert_eq!(w.record("edr").len(), 2);
}

/// An approved call whose upstream answers isError ends `failed`, the
/// upstream's message passed on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_error_ends_failed() {
    let Some(py) = python() else { return };
    let w = World::new(py).await;
    let mut agent = w.edr_gateway(30).await;

    let args = json!({"message": "EDR API: host not enrolled"});
    let (id, digest) = agent.held("fail", args.clone()).await;
    let alice = SshKeygenPerson::new(&w, "alice").await;
    alice.approve(&id, &digest).await;
    let r = agent.call("fail", args.clone()).await;
    assert_eq!(r["isError"], true, "{r}\n{}", agent.stderr_text());
    assert!(
        text(&r).contains("EDR API: host not enrolled"),
        "the upstream's error: {r}"
    );
    assert!(!text(&r).starts_with("HELD"), "{r}");
    assert_eq!(
        w.record("edr"),
        vec![json!({"tool": "fail", "arguments": args, "secret": SECRET})]
    );
    w.until_status(&id, ProposalStatus::Failed).await;
    let kinds = w.audit_kinds(&id).await;
    assert!(kinds.contains(&"execution_failed".to_owned()), "{kinds:?}");
    assert!(!kinds.contains(&"executed".to_owned()), "{kinds:?}");
}

/// An approved call to an upstream that hangs past `call_timeout_secs`
/// answers isError in bounded time and ends `failed`; the gateway serves on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_hang_times_out_and_ends_failed() {
    let Some(py) = python() else { return };
    let w = World::new(py).await;
    let mut agent = w.edr_gateway(3).await;

    // An integer: the gateway may forward numbers in canonical form
    // (120.0 as 120), which is the same JSON number.
    let args = json!({"seconds": 120});
    let (id, digest) = agent.held("hang", args.clone()).await;
    let alice = SshKeygenPerson::new(&w, "alice").await;
    alice.approve(&id, &digest).await;
    let started = Instant::now();
    let r = agent.call_within("hang", args.clone(), 90).await;
    let took = started.elapsed();
    assert!(refused(&r), "a hung upstream answered: {r}");
    assert_ne!(text(&r), "done", "{r}");
    assert!(
        took < Duration::from_secs(30),
        "call_timeout_secs = 3 but the call took {took:?}"
    );
    let calls = w.record("edr");
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0]["arguments"], args);
    w.until_status(&id, ProposalStatus::Failed).await;

    // Not wedged: an allowed call still goes through.
    let r = agent.call("read_file", json!({"path": "/tmp/after"})).await;
    assert_eq!(r["isError"], false, "{r}\n{}", agent.stderr_text());
}

/// The countersign server unreachable: a gated call is an error saying so,
/// and nothing is forwarded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gate_unreachable_fails_closed() {
    let Some(py) = python() else { return };
    let w = World::new(py).await;
    let closed = format!("http://127.0.0.1:{}", common::free_port());
    let config = w.config(&closed, 30, &[w.upstream("edr", EDR_TOOLS)]);
    let mut agent = Agent::gateway(&w.py, w.dir.path(), &config).await;

    let started = Instant::now();
    let r = agent.call("isolate_host", json!({"host": "ws-0412"})).await;
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(r["isError"], true, "{r}\n{}", agent.stderr_text());
    assert!(!text(&r).starts_with("HELD"), "{r}");
    assert!(
        text(&r).to_lowercase().contains("reach"),
        "the text says the gate cannot be reached: {r}"
    );
    assert!(w.record("edr").is_empty(), "{:?}", w.record("edr"));
}

/// An upstream that cannot start is no crash: the other upstream's tools
/// are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_upstream_command_leaves_the_others_served() {
    let Some(py) = python() else { return };
    let w = World::new(py).await;
    let mut broken = w.upstream("broken", &[]);
    broken.command = vec![w.path("no-such-upstream").display().to_string()];
    let config = w.config(&w.t.url(), 30, &[broken, w.upstream("edr", EDR_TOOLS)]);
    let mut agent = Agent::gateway(&w.py, w.dir.path(), &config).await;

    let names = agent.names().await;
    for want in ["isolate_host", "read_file"] {
        assert!(names.contains(&want.to_owned()), "{want} in {names:?}");
    }
    let r = agent.call("read_file", json!({"path": "/etc/hosts"})).await;
    assert_eq!(r["isError"], false, "{r}\n{}", agent.stderr_text());
    assert_eq!(w.record("edr").len(), 1);
    let r = agent.call("broken.anything", json!({})).await;
    assert!(refused(&r), "{r}");
    // Still alive.
    assert!(!agent.names().await.is_empty());
}

/// Two upstreams with the same tools: each is named `upstream.tool`, and a
/// call reaches only its own upstream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_names_are_qualified_by_upstream() {
    let Some(py) = python() else { return };
    let w = World::new(py).await;
    let config = w.config(
        &w.t.url(),
        30,
        &[w.upstream("edr", EDR_TOOLS), w.upstream("edr2", EDR_TOOLS)],
    );
    let mut agent = Agent::gateway(&w.py, w.dir.path(), &config).await;
    let names = agent.names().await;
    for want in [
        "edr.isolate_host",
        "edr2.isolate_host",
        "edr.read_file",
        "edr2.read_file",
    ] {
        assert!(names.contains(&want.to_owned()), "{want} in {names:?}");
    }
    assert!(!names.contains(&"isolate_host".to_owned()), "{names:?}");
    assert!(!names.iter().any(|n| n.ends_with("wipe_disk")), "{names:?}");

    let r = agent.call("edr2.read_file", json!({"path": "/x"})).await;
    assert_eq!(r["isError"], false, "{r}\n{}", agent.stderr_text());
    assert!(w.record("edr").is_empty());
    assert_eq!(w.record("edr2")[0]["arguments"], json!({"path": "/x"}));
    let (id, _) = agent.held("edr2.isolate_host", json!({"host": "h"})).await;
    let p = w.t.stored(&id).await;
    assert_eq!(p.action.as_str(), "mcp:edr2.isolate_host");
}

/// The audit log of one gated call: received, approved by the person
/// (their ssh-keygen signature on it), started, executed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_log_records_the_gated_call() {
    let Some(py) = python() else { return };
    let w = World::new(py).await;
    let mut agent = w.edr_gateway(30).await;

    let args = json!({"host": "ws-0412"});
    let (id, digest) = agent.held("isolate_host", args.clone()).await;
    let alice = SshKeygenPerson::new(&w, "alice").await;
    alice.approve(&id, &digest).await;
    let r = agent.call("isolate_host", args).await;
    assert_eq!(r["isError"], false, "{r}\n{}", agent.stderr_text());
    w.until_status(&id, ProposalStatus::Executed).await;

    let kinds = w.audit_kinds(&id).await;
    let want = [
        "alert_received",
        "approved",
        "execution_started",
        "executed",
    ];
    let mut at = 0;
    for k in &kinds {
        if at < want.len() && k == want[at] {
            at += 1;
        }
    }
    assert_eq!(at, want.len(), "{want:?} in order in {kinds:?}");
    for k in want {
        assert_eq!(
            kinds.iter().filter(|x| *x == k).count(),
            1,
            "{k} once in {kinds:?}"
        );
    }

    let entries: Vec<Value> =
        w.t.store
            .audit_all()
            .await
            .unwrap()
            .iter()
            .map(|e| serde_json::from_str(&e.entry).unwrap())
            .collect();
    let approved = entries
        .iter()
        .find(|b| b["kind"] == "approved" && b["proposal_id"] == id.as_str())
        .unwrap();
    assert_eq!(approved["actor"]["principal"], "alice", "{approved}");
    assert!(
        approved["data"]["signature"]
            .as_str()
            .is_some_and(|s| s.contains("BEGIN SSH SIGNATURE")),
        "the person's signature is in the log: {approved}"
    );
    let started = entries
        .iter()
        .find(|b| b["kind"] == "execution_started" && b["proposal_id"] == id.as_str())
        .unwrap();
    assert_eq!(started["actor"]["name"], "soar-bot", "{started}");
}

/// The fixtures themselves, without the gateway (this one passes today):
/// the SDK agent straight against the SDK upstream, and an `mcp:*`
/// proposal approved with ssh-keygen. When a gateway test fails and this
/// passes, the gateway is at fault, not the harness.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixtures_work_without_the_gateway() {
    let Some(py) = python() else { return };
    let w = World::new(py).await;
    let record = w.path("direct.jsonl");
    let mut agent = Agent::start(
        &w.py,
        w.dir.path(),
        &[
            "env",
            &format!("UPSTREAM_RECORD={}", record.display()),
            &format!("UPSTREAM_SECRET={SECRET}"),
            &w.py,
            &format!("{FIXTURES}/upstream.py"),
        ],
    )
    .await;
    assert_eq!(agent.ready["server"], "countersign-test-upstream");
    let names = agent.names().await;
    assert_eq!(
        names,
        ["isolate_host", "read_file", "wipe_disk", "fail", "hang"]
    );
    let r = agent.call("isolate_host", json!({"host": "h1"})).await;
    assert_eq!(r["isError"], false, "{r}");
    assert_eq!(text(&r), "isolated h1");
    let r = agent.call("fail", json!({"message": "boom"})).await;
    assert_eq!(r["isError"], true, "{r}");
    assert!(text(&r).contains("boom"), "{r}");
    let r = agent.call_within("hang", json!({"seconds": 30}), 1).await;
    assert!(
        r["error"].as_str().is_some_and(|e| e.contains("timed out")),
        "{r}"
    );
    let r = agent
        .send(json!("not an object"), Duration::from_secs(10))
        .await;
    assert!(r.get("error").is_some(), "{r}");
    let calls: Vec<Value> = std::fs::read_to_string(&record)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        calls,
        vec![
            json!({"tool": "isolate_host", "arguments": {"host": "h1"}, "secret": SECRET}),
            json!({"tool": "fail", "arguments": {"message": "boom"}, "secret": SECRET}),
            json!({"tool": "hang", "arguments": {"seconds": 30}, "secret": SECRET}),
        ]
    );

    // An mcp:* action under POLICY: pending, one analyst approves with a
    // signature made by ssh-keygen.
    let mut alert = common::alert("fixture-1", vec![common::proposal("isolate_host", "low")]);
    alert["proposals"][0]["action"] = json!("mcp:edr.isolate_host");
    alert["proposals"][0]["parameters"] = json!({"host": "h1"});
    let submitted = w.t.agent().submit_alert(&alert).await.unwrap();
    let p = &submitted.proposals[0];
    assert_eq!(w.status(&p.id).await, ProposalStatus::Pending);
    let alice = SshKeygenPerson::new(&w, "alice").await;
    alice.approve(&p.id, &p.digest).await;
    assert_eq!(w.status(&p.id).await, ProposalStatus::Approved);
}

/// `serve` with `[[upstreams]]` offers the same at `/mcp/gateway`, to
/// agent tokens only, each call made with the caller's own token: held,
/// a person approves, the same call again is forwarded once.
#[tokio::test(flavor = "multi_thread")]
async fn serve_offers_the_gateway_at_mcp_gateway() {
    use rmcp::ServiceExt;
    use rmcp::model::CallToolRequestParams;
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("calls.jsonl");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[gateway]\nhold_secs = 1\n\n[[upstreams]]\nname = \"edr\"\ncommand = [{}, {}]\nenv = {{ UPSTREAM_RECORD = {}, UPSTREAM_SECRET = {} }}\n",
            q(&py),
            q(&format!("{FIXTURES}/upstream.py")),
            q(record.to_str().unwrap()),
            q(SECRET)
        ),
    )
    .unwrap();
    let g = crate::common::gate::Gate::start_with(&["--config", config.to_str().unwrap()]).await;
    let connect = |token: &str| {
        let cfg =
            StreamableHttpClientTransportConfig::with_uri(format!("{}/mcp/gateway", g.server.url))
                .auth_header(token.to_owned());
        ().serve(StreamableHttpClientTransport::from_config(cfg))
    };
    // No agent token, no gateway.
    assert!(connect("not-a-token").await.is_err());
    let agent = connect(&g.agent_token)
        .await
        .expect("MCP over /mcp/gateway");
    let names: Vec<String> = agent
        .list_all_tools()
        .await
        .unwrap()
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    assert!(names.iter().any(|n| n == "isolate_host"), "{names:?}");
    let call = || async {
        let args = serde_json::json!({"host": "ws-0412"});
        agent
            .call_tool(
                CallToolRequestParams::new("isolate_host")
                    .with_arguments(args.as_object().unwrap().clone()),
            )
            .await
            .unwrap()
    };
    let held = call().await;
    assert_eq!(held.is_error, Some(true));
    let s = held.structured_content.clone().unwrap();
    assert_eq!(s["held"], true, "{s}");
    let (id, digest) = (
        s["proposal_id"].as_str().unwrap().to_owned(),
        s["digest"].as_str().unwrap().to_owned(),
    );
    assert!(
        std::fs::read_to_string(&record)
            .unwrap_or_default()
            .is_empty()
    );
    g.person("alice", "alice")
        .await
        .approve(&id, &digest)
        .await
        .unwrap();
    // The agent holds a token here, but may not report what the gateway
    // forwards: starting it itself would let it claim a run that never was.
    let own = ApiClient::new(&g.server.url, Some(g.agent_token.clone()))
        .unwrap()
        .report_execution(&id, &countersign::api::ExecutionReport::started())
        .await
        .unwrap_err();
    assert!(own.to_string().contains("gateway_owned"), "{own}");
    let ran = call().await;
    assert_ne!(ran.is_error, Some(true), "{ran:?}");
    let lines: Vec<Value> = std::fs::read_to_string(&record)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "forwarded once: {lines:?}");
    assert_eq!(lines[0]["arguments"]["host"], "ws-0412");
    assert_eq!(lines[0]["secret"], SECRET);
    let status = g.reviewer.decision(&id, 0).await.unwrap().status;
    assert_eq!(status, countersign::domain::types::ProposalStatus::Executed);
}

/// A client that speaks the MCP tasks extension gets a task for a gated
/// call instead of HELD: it polls `tasks/get` while a person decides, and
/// the task ends with the upstream's answer, forwarded once.
#[tokio::test(flavor = "multi_thread")]
async fn a_tasks_client_gets_a_task_that_ends_with_the_result() {
    use rmcp::ServiceExt;
    use rmcp::model::{
        CallToolRequestParams, CallToolResponse, ClientCapabilities, ClientConfig, GetTaskParams,
    };
    use rmcp::transport::TokioChildProcess;
    let Some(py) = python() else { return };
    let w = World::new(py).await;
    let config = w.config(&w.t.url(), 30, &[w.upstream("edr", EDR_TOOLS)]);
    let mut cmd = tokio::process::Command::new(common::binary());
    cmd.args(["gateway", "--config"])
        .arg(&config)
        .env_remove("COUNTERSIGN_CONFIG");
    let mut info = ClientConfig::default();
    info.capabilities = ClientCapabilities::builder().enable_tasks().build();
    let client = info
        .serve(TokioChildProcess::new(cmd).unwrap())
        .await
        .expect("MCP over stdio with tasks");
    let args = serde_json::json!({"host": "ws-0412"});
    let answer = client
        .peer()
        .call_tool_once(
            CallToolRequestParams::new("isolate_host")
                .with_arguments(args.as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    let CallToolResponse::Task(created) = answer else {
        panic!("a task, not {answer:?}")
    };
    let task_id = created.task.task_id.clone();
    let get = || async {
        serde_json::to_value(
            client
                .peer()
                .get_task(GetTaskParams::new(task_id.clone()))
                .await
                .unwrap(),
        )
        .unwrap()
    };
    // Working while it waits; the proposal exists and nothing was run.
    let deadline = Instant::now() + Duration::from_secs(20);
    let id = loop {
        let proposed = w.t.store.audit_all().await.unwrap().iter().find_map(|e| {
            let b: Value = serde_json::from_str(&e.entry).unwrap();
            (b["kind"] == "alert_received")
                .then(|| b["data"]["proposals"][0]["id"].as_str().unwrap().to_owned())
        });
        if let Some(id) = proposed {
            break id;
        }
        assert!(Instant::now() < deadline, "no proposal");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(get().await["status"], "working");
    assert!(w.record("edr").is_empty());
    let digest = w.t.stored(&id).await.digest;
    w.t.person("alice")
        .await
        .approve(&id, &digest)
        .await
        .unwrap();
    let done = loop {
        let t = get().await;
        if t["status"] != "working" {
            break t;
        }
        assert!(Instant::now() < deadline + Duration::from_secs(20), "{t}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["result"]["isError"], false, "{done}");
    assert_eq!(done["result"]["content"][0]["text"], "isolated ws-0412");
    let calls = w.record("edr");
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0]["arguments"]["host"], "ws-0412");
    w.until_status(&id, ProposalStatus::Executed).await;
}

/// A streamable-HTTP upstream, with its own headers: countersign's own
/// `/mcp`, reached with a token only the gateway's config holds. Its
/// `get_proposal` is allowed; `request_approval` (gated by default) is held.
#[tokio::test(flavor = "multi_thread")]
async fn a_streamable_http_upstream_with_its_own_headers() {
    let Some(py) = python() else { return };
    let w = World::new(py).await;
    let config = w.path("http.toml");
    std::fs::write(
        &config,
        format!(
            "[gateway]\nserver = {}\ntoken = {}\nhold_secs = 1\n\n[[upstreams]]\nname = \"gate\"\nurl = {}\nheaders = {{ Authorization = {} }}\n[upstreams.tools]\nget_proposal = \"allow\"\n",
            q(&w.t.url()),
            q(&w.t.agent_token),
            q(&format!("{}/mcp", w.t.url())),
            q(&format!("Bearer {}", w.t.other_agent_token)),
        ),
    )
    .unwrap();
    let mut agent = Agent::gateway(&w.py, w.dir.path(), &config).await;
    let names: Vec<String> = agent
        .list()
        .await
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(names.iter().any(|n| n == "get_proposal"), "{names:?}");
    // Allowed: answered by the upstream itself (a made-up id: its refusal).
    let r = agent
        .call(
            "get_proposal",
            json!({"proposal_id": "01a20000-0000-7000-8000-000000000000"}),
        )
        .await;
    assert!(
        text(&r).contains("NOT APPROVED"),
        "the upstream's own answer: {r}\n{}",
        agent.stderr_text()
    );
    // Gated: held, nothing reaches the upstream (no alert from other-bot).
    let r = agent
        .call("request_approval", json!({"alert": {"title": "x"}}))
        .await;
    assert_held(&r, &agent.stderr_text());
    let by_upstream =
        w.t.store
            .audit_all()
            .await
            .unwrap()
            .iter()
            .filter(|e| e.entry.contains("\"other-bot\""))
            .count();
    assert_eq!(by_upstream, 0);
}

/// The gate, not the gateway's memory, knows which proposal a call is:
/// held by one gateway process, approved, asked again of a new one (a
/// restart, another replica), it is forwarded once — and asked again
/// after that, it is a new proposal.
#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_gateway_finds_the_held_call_on_the_gate() {
    let Some(py) = python() else { return };
    let w = World::new(py).await;
    let args = json!({"host": "ws-0412"});
    let (id, digest) = {
        let mut first = w.edr_gateway(30).await;
        first.held("isolate_host", args.clone()).await
    };
    let alice = SshKeygenPerson::new(&w, "alice").await;
    alice.approve(&id, &digest).await;
    let mut second = w.edr_gateway(30).await;
    let r = second.call("isolate_host", args.clone()).await;
    assert_eq!(r["isError"], false, "{r}\n{}", second.stderr_text());
    w.until_status(&id, ProposalStatus::Executed).await;
    assert_eq!(w.record("edr").len(), 1);
    let mut third = w.edr_gateway(30).await;
    let (again, _) = third.held("isolate_host", args).await;
    assert_ne!(again, id, "a call that ran is asked anew");
    assert_eq!(w.record("edr").len(), 1);
}

/// A lead's `hold` on the agent: nothing is forwarded, allowed calls
/// included, an approved call waits and says why; lifted, the approved
/// call goes through once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_forwards_nothing_until_lifted() {
    use countersign::api::FreezeMode;
    use countersign::signing::freeze::FreezeDraft;
    let Some(py) = python() else { return };
    let w = World::new(py).await;
    let mut agent = w.edr_gateway(30).await;
    let carol = w.t.login("carol").await;
    let freeze = |mode| {
        FreezeDraft {
            agent: "soar-bot".into(),
            mode,
            reason: "the agent isolates the whole floor".into(),
        }
        .sign(
            "carol",
            countersign::domain::time::now_millis(),
            &w.t.signer("carol"),
        )
        .unwrap()
        .decision
    };
    carol
        .post_freeze(&freeze(Some(FreezeMode::Hold)))
        .await
        .unwrap();

    let r = agent.call("read_file", json!({"path": "/etc/hosts"})).await;
    assert!(refused(&r), "an allowed call passed a hold: {r}");
    assert!(text(&r).contains("frozen by carol (hold"), "{r}");

    let args = json!({"host": "ws-0412", "reason": "beaconing"});
    let r = agent.call("isolate_host", args.clone()).await;
    let (id, digest) = assert_held(&r, &agent.stderr_text());
    assert_eq!(r["structured"]["frozen"]["by"], "carol", "{r}");
    w.t.person("alice")
        .await
        .approve(&id, &digest)
        .await
        .unwrap();
    let r = agent.call("isolate_host", args.clone()).await;
    assert!(refused(&r), "{r}");
    assert!(text(&r).starts_with("HELD"), "{r}");
    assert!(text(&r).contains("approved, but held"), "{r}");
    assert!(w.record("edr").is_empty(), "{:?}", w.record("edr"));
    assert_eq!(w.status(&id).await, ProposalStatus::Approved);

    carol.post_freeze(&freeze(None)).await.unwrap();
    let r = agent.call("isolate_host", args.clone()).await;
    assert_eq!(r["isError"], false, "{r}\n{}", agent.stderr_text());
    assert_eq!(w.record("edr").len(), 1, "{:?}", w.record("edr"));
    w.until_status(&id, ProposalStatus::Executed).await;
}
