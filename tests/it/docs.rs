//! Every recipe in the README, docs/ and benches/README.md runs as written,
//! so none can go stale.
//!
//! A document's fenced blocks, by their info string:
//! - `sh`: run, in order, as one bash script (`set -euo pipefail`) in a
//!   fresh directory with `countersign` on the PATH, a home and XDG
//!   directories of its own, and no `COUNTERSIGN_*` from the outside. A
//!   line starting `countersign serve` starts a server in the background
//!   and waits until it says it serves; every server stops at the end.
//!   Loopback ports 8750–8759 are mapped to free ones, and
//!   `$DATABASE_URL` is a fresh PostgreSQL database (`.ci/run` starts the
//!   server; without one, an SQLite file stands in).
//! - `toml file=NAME`, `json file=NAME`, `text file=NAME`: written to NAME
//!   at that point of the script, so what the page shows is what runs.
//! - `json` and `toml` without a file: must parse (JSON Lines too).
//! - `console`: commands a person runs that tests cannot run here (the
//!   demo, the console, the whole suite, benchmarks, installing); each
//!   must start with a command listed in `ELSEWHERE`, with where it is
//!   exercised.

use crate::common;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// What a `console` block may run, and what exercises it instead.
const ELSEWHERE: &[(&str, &str)] = &[
    (
        "cargo run --release -- demo",
        "tests/it/demo.rs (the demo in a pseudo-terminal)",
    ),
    ("countersign demo", "tests/it/demo.rs"),
    (
        "countersign tui",
        "tests/it/console.rs (the console in a pseudo-terminal)",
    ),
    ("bash .ci/run", "CI itself"),
    ("cargo install --path .", "CI builds the same binary"),
    ("cargo test", "CI"),
    ("cargo bench", "benchmarks print figures; not run by tests"),
    ("COUNTERSIGN_TEST_PG_URL=", "benchmarks against PostgreSQL"),
    ("bash .ci/pg-start", ".ci/run"),
    (
        "sudo ",
        "installation on a host (the unit file is checked by docs::units)",
    ),
    ("podman ", "building the container image"),
];

struct Block {
    info: String,
    body: String,
    line: usize,
}

fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for (n, line) in text.lines().enumerate() {
        let t = line.trim_start();
        match open.take() {
            None => {
                if let Some(info) = t.strip_prefix("```") {
                    open = Some(Block {
                        info: info.trim().to_owned(),
                        body: String::new(),
                        line: n + 1,
                    });
                }
            }
            Some(mut b) => {
                if t == "```" {
                    out.push(b);
                } else {
                    b.body.push_str(line);
                    b.body.push('\n');
                    open = Some(b);
                }
            }
        }
    }
    assert!(open.is_none(), "an unclosed fence");
    out
}

/// `sh`, `toml file=x` → ("toml", Some("x")).
fn kind(info: &str) -> (&str, Option<&str>) {
    let mut words = info.split_whitespace();
    let lang = words.next().unwrap_or("");
    let file = words.find_map(|w| w.strip_prefix("file="));
    (lang, file)
}

/// Joins `\`-continued lines, so a command spread over several is one.
fn logical_lines(body: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in body.lines() {
        match line.strip_suffix('\\') {
            Some(head) => {
                cur.push_str(head);
                cur.push(' ');
            }
            None => {
                cur.push_str(line);
                out.push(std::mem::take(&mut cur));
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

const PRELUDE: &str = r#"set -euo pipefail
_doc_servers=()
_doc_stop() { for p in "${_doc_servers[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap _doc_stop EXIT
_doc_wait() {  # log file, pid: until the server says it serves
  for _ in $(seq 1 600); do
    grep -q "countersign serving on" "$1" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || { echo "the server stopped:"; cat "$1"; return 1; }
    sleep 0.1
  done
  echo "the server did not start:"; cat "$1"; return 1
}
"#;

/// The document's runnable part as one script, and what it checked.
fn script(doc: &str, blocks: &[Block], ports: &BTreeMap<u16, u16>) -> (String, usize) {
    let mut s = String::from(PRELUDE);
    let mut recipes = 0;
    let mut servers = 0;
    for b in blocks {
        let (lang, file) = kind(&b.info);
        let mut body = b.body.clone();
        for (from, to) in ports {
            body = body.replace(&format!("127.0.0.1:{from}"), &format!("127.0.0.1:{to}"));
        }
        if let Some(name) = file {
            s.push_str(&format!(
                "# {doc}:{}\ncat > '{name}' <<'COUNTERSIGN_DOC_EOF'\n{body}COUNTERSIGN_DOC_EOF\n",
                b.line
            ));
            continue;
        }
        if lang != "sh" {
            continue;
        }
        recipes += 1;
        s.push_str(&format!("# {doc}:{}\n", b.line));
        for line in logical_lines(&body) {
            let cmd = line.trim_start();
            if cmd.starts_with("countersign serve") {
                servers += 1;
                let log = format!(".serve-{servers}.log");
                s.push_str(&format!(
                    "{cmd} > {log} 2>&1 &\n_doc_servers+=($!)\n_doc_wait {log} $!\n"
                ));
            } else {
                s.push_str(&line);
                s.push('\n');
            }
        }
    }
    (s, recipes)
}

fn check_data(doc: &str, b: &Block) {
    let (lang, _) = kind(&b.info);
    let at = format!("{doc}:{}", b.line);
    match lang {
        "json" => {
            let whole = serde_json::from_str::<serde_json::Value>(&b.body).is_ok();
            let lines = b
                .body
                .lines()
                .filter(|l| !l.trim().is_empty())
                .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok());
            assert!(whole || lines, "{at}: a json block that is not JSON");
        }
        "toml" => {
            if let Err(e) = b.body.parse::<toml::Table>() {
                panic!("{at}: a toml block that is not TOML: {e}");
            }
        }
        "console" => {
            for line in logical_lines(&b.body) {
                let cmd = line.trim();
                if cmd.is_empty() || cmd.starts_with('#') {
                    continue;
                }
                assert!(
                    ELSEWHERE.iter().any(|(p, _)| cmd.starts_with(p)),
                    "{at}: `{cmd}` is shown but runs nowhere: make it an `sh` recipe \
                     or list where it is exercised in ELSEWHERE"
                );
            }
        }
        "sh" | "text" | "python" | "ini" | "dockerfile" | "" => {}
        other => panic!("{at}: unknown block kind `{other}`"),
    }
}

/// Runs `doc` (relative to the repository) and returns how many `sh`
/// recipes it ran.
async fn run_doc(doc: &str) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join(doc)).unwrap();
    let blocks = blocks(&text);
    for b in &blocks {
        check_data(doc, b);
    }
    let ports: BTreeMap<u16, u16> = (8750..8760).map(|p| (p, common::free_port())).collect();
    let (script, recipes) = script(doc, &blocks, &ports);
    if recipes == 0 {
        return 0;
    }

    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let bin = Path::new(common::binary()).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let database_url = match script
        .contains("DATABASE_URL")
        .then(common::pg_url)
        .flatten()
    {
        Some(admin) => common::pg_fresh_db(&admin).await,
        None => "sqlite:pg-stand-in.db".to_owned(),
    };
    let mut cmd = Command::new("bash");
    cmd.arg("-c").arg(&script).current_dir(&work);
    for (k, _) in std::env::vars() {
        if k.starts_with("COUNTERSIGN_") || k.starts_with("XDG_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .env("PATH", path)
        .env("HOME", dir.path().join("home"))
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .env("DATABASE_URL", database_url)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let shown =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{doc}: a recipe failed ({}):\n{shown}\n--- the script ---\n{script}",
        out.status
    );
    recipes
}

#[tokio::test]
async fn readme() {
    assert!(run_doc("README.md").await >= 2);
}

#[tokio::test]
async fn operators() {
    assert!(run_doc("docs/operators.md").await >= 4);
}

#[tokio::test]
async fn policy() {
    assert!(run_doc("docs/policy.md").await >= 1);
}

#[tokio::test]
async fn agents() {
    assert!(run_doc("docs/agents.md").await >= 3);
}

#[tokio::test]
async fn notifications() {
    assert!(run_doc("docs/notifications.md").await >= 1);
}

#[tokio::test]
async fn reviewers() {
    assert!(run_doc("docs/reviewers.md").await >= 1);
}

#[tokio::test]
async fn audit() {
    assert!(run_doc("docs/audit.md").await >= 2);
}

#[tokio::test]
async fn security_architecture_and_benches() {
    for doc in [
        "docs/security.md",
        "docs/ARCHITECTURE.md",
        "benches/README.md",
    ] {
        run_doc(doc).await;
    }
}

/// Every Markdown file is one of those above, and no link leaves the
/// repository for a file it does not have.
#[test]
fn every_document_is_run_and_links_stay_inside() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut docs = vec![root.join("README.md"), root.join("benches/README.md")];
    for e in std::fs::read_dir(root.join("docs")).unwrap() {
        docs.push(e.unwrap().path());
    }
    let known = [
        "README.md",
        "operators.md",
        "policy.md",
        "agents.md",
        "notifications.md",
        "reviewers.md",
        "audit.md",
        "security.md",
        "ARCHITECTURE.md",
    ];
    for d in &docs {
        let name = d.file_name().unwrap().to_string_lossy();
        assert!(
            known.contains(&name.as_ref()),
            "{} is run by no test",
            d.display()
        );
        let text = std::fs::read_to_string(d).unwrap();
        // A sibling folder of the checkout (where a team keeps its own
        // notes) is nothing a reader of the repository has.
        let sibling = ["..", "/shared"].concat();
        assert!(
            !text.contains(&sibling),
            "{} points outside the repository",
            d.display()
        );
        // [text](target): every relative target exists.
        for (i, _) in text.match_indices("](") {
            let rest = &text[i + 2..];
            let Some(end) = rest.find(')') else { continue };
            let target = rest[..end].split('#').next().unwrap_or("");
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let p = d.parent().unwrap().join(target);
            assert!(
                p.exists(),
                "{}: a link to {target}, which is not there",
                d.display()
            );
        }
    }
}

/// The systemd unit's and the container's command lines start a server, as
/// written (their paths moved into a temporary directory, the container's
/// 0.0.0.0 onto loopback).
#[test]
fn units() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let unit = std::fs::read_to_string(root.join("contrib/countersign.service")).unwrap();
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap();
    let unit_args: Vec<String> = exec.split_whitespace().skip(1).map(str::to_owned).collect();
    let container = std::fs::read_to_string(root.join("Containerfile")).unwrap();
    let cmd = container
        .lines()
        .find_map(|l| l.strip_prefix("CMD "))
        .unwrap();
    let container_args: Vec<String> = serde_json::from_str(cmd).unwrap();
    for (what, args, env) in [
        ("unit", unit_args, &unit),
        ("container", container_args, &container),
    ] {
        assert!(env.contains("XDG_CONFIG_HOME=/etc"), "{what}");
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("var/lib/countersign");
        std::fs::create_dir_all(&state).unwrap();
        std::fs::create_dir_all(dir.path().join("etc/countersign")).unwrap();
        let port = common::free_port();
        let mut args: Vec<String> = args
            .iter()
            .map(|a| {
                a.replace("/var/lib/countersign", &state.display().to_string())
                    .replace("0.0.0.0:8750", &format!("127.0.0.1:{port}"))
            })
            .collect();
        // The unit listens where its config file says (by default
        // 127.0.0.1:8750): here, a free port.
        if !args.iter().any(|a| a == "--listen") {
            args.extend(["--listen".to_owned(), format!("127.0.0.1:{port}")]);
        }
        let mut child = Command::new(common::binary())
            .args(&args)
            .env("XDG_CONFIG_HOME", dir.path().join("etc"))
            .env_remove("COUNTERSIGN_DB")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{}/healthz", port);
        let up = (0..300).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(100));
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        assert!(
            up,
            "{what}: `countersign {}` did not serve {url}:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// No file of the repository sends a reader to a design document it does
/// not hold (the team's own notes live outside it).
#[test]
fn nothing_points_at_a_document_outside_the_repository() {
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("Cargo.toml"), root.join("README.md")];
    for dir in ["src", "tests", "benches", "docs", "contrib", "policy"] {
        walk(&root.join(dir), &mut files);
    }
    let design = ["DESIGN", ".md"].concat();
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        assert!(!text.contains(&design), "{} names {design}", f.display());
    }
}
