//! The real binary as a child process on loopback.

use super::{binary, free_port};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub struct ServeProcess {
    pub child: Child,
    pub url: String,
}

impl ServeProcess {
    /// Starts `countersign serve` on a free port and waits for /healthz.
    pub async fn start(db: &Path, extra: &[&str]) -> Self {
        Self::start_on(db, free_port(), extra).await
    }

    /// The same on a given port (a restart keeps the address).
    pub async fn start_on(db: &Path, port: u16, extra: &[&str]) -> Self {
        Self::start_url(&format!("sqlite:{}", db.display()), port, extra).await
    }

    /// Any `--db` URL (PostgreSQL replicas). Load tests flood from one
    /// agent, so the agent rate limit and byte budget are lifted unless
    /// `extra` sets them.
    pub async fn start_url(db: &str, port: u16, extra: &[&str]) -> Self {
        Self::spawn(db, port, extra, Stdio::inherit()).await
    }

    /// As [`Self::start_url`], its stderr (the log) written to `log`.
    pub async fn start_logged(db: &str, port: u16, extra: &[&str], log: &Path) -> Self {
        let file = std::fs::File::create(log).expect("log file");
        Self::spawn(db, port, extra, Stdio::from(file)).await
    }

    async fn spawn(db: &str, port: u16, extra: &[&str], stderr: Stdio) -> Self {
        let unlimited: &[&str] = if extra.contains(&"--agent-rate") {
            &[]
        } else {
            &["--agent-rate", "1000000", "--agent-burst", "1000000"]
        };
        // The same for the byte budget.
        let unlimited_bytes: &[&str] = if extra.contains(&"--agent-bytes-per-min") {
            &[]
        } else {
            &["--agent-bytes-per-min", "4294967295"]
        };
        let child = Command::new(binary())
            .args(["serve", "--db", db])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(unlimited)
            .args(unlimited_bytes)
            .args(extra)
            .env_remove("COUNTERSIGN_CONFIG")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn serve");
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = http.get(format!("{url}/healthz")).send().await
                && r.status().is_success()
            {
                break;
            }
            assert!(Instant::now() < deadline, "server did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        ServeProcess { child, url }
    }

    /// kill -9.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn run(args: &[&str]) -> Output {
    Command::new(binary())
        .args(args)
        .env_remove("COUNTERSIGN_CONFIG")
        .env_remove("COUNTERSIGN_TOKEN")
        .env_remove("COUNTERSIGN_SERVER")
        .output()
        .expect("run countersign")
}

/// `audit export` from the server at `url` (a reviewer token) into
/// `dir/export.jsonl`, then `audit verify` of it with the allowed_signers
/// and server key in `dir`: whether it passed, and what it said.
pub fn export_and_verify(url: &str, reviewer_token: &str, dir: &Path) -> (bool, String) {
    let file = dir.join("export.jsonl");
    let path = |f: &str| dir.join(f).display().to_string();
    let out = run(&[
        "audit",
        "export",
        "--server",
        url,
        "--token",
        reviewer_token,
        "--out",
        file.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&[
        "audit",
        "verify",
        file.to_str().unwrap(),
        "--signers",
        &path("allowed_signers"),
        "--server-key",
        &path("server_key"),
    ]);
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), said)
}

/// `countersign token create`, returning the token printed on stdout.
pub fn create_token(db: &Path, name: &str, role: &str) -> String {
    create_token_url(&format!("sqlite:{}", db.display()), name, role)
}

pub fn create_token_url(db: &str, name: &str, role: &str) -> String {
    let out = run(&[
        "token", "create", "--name", name, "--role", role, "--db", db,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf8");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "token create prints the token alone: {text:?}"
    );
    lines[0].to_owned()
}
