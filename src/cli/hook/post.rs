//! `countersign hook --event post`: after the runtime ran a call the
//! pre-tool-use hook allowed, report `executed` or `failed`, so the
//! proposal does not stay `executing` forever.
//!
//! The pre hook records each call it let run (after the gate accepted
//! `started`) as an empty file in a directory of the user's own (mode
//! 0700, `$XDG_RUNTIME_DIR/countersign/hook-calls`, else
//! `$TMPDIR/countersign-UID/hook-calls`), named by a digest of the runtime,
//! session, tool name and tool input, then the proposal id. The post hook
//! takes the oldest file for the same call (removing it: one report per
//! run) and reports on that proposal.
//!
//! Why a record rather than submitting the call again and reading the
//! proposal id back: Gemini CLI's call id is derived from the event's
//! timestamp, which differs between `BeforeTool` and `AfterTool`; and a
//! call the pre hook never submitted (another matcher, a denied call)
//! would put a new proposal in the queue.
//!
//! It never blocks or fails the runtime: whatever goes wrong is said on
//! stderr, and the exit code is 0.

use super::{HookArgs, read_hook_input, str_at};
use crate::api::ExecutionReport;
use crate::config::FileConfig;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Records older than this are of calls that never ran (or whose post
/// event never came): removed when the next call is recorded.
const STALE: Duration = Duration::from_secs(24 * 3600);

/// The directory of call records, created if absent, refused unless it is
/// the user's own and closed to others.
fn calls_dir() -> anyhow::Result<PathBuf> {
    let uid = rustix::process::getuid().as_raw();
    let base = match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d).join("countersign"),
        None => std::env::temp_dir().join(format!("countersign-{uid}")),
    };
    let dir = base.join("hook-calls");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    for d in [&base, &dir] {
        let m = std::fs::symlink_metadata(d)?;
        if !m.is_dir() || m.uid() != uid || m.permissions().mode() & 0o077 != 0 {
            anyhow::bail!(
                "{} is not a directory of this user's closed to others (mode 0700); not used",
                d.display()
            );
        }
    }
    Ok(dir)
}

/// The digest naming one call: the same in the pre and the post event.
fn call_key(runtime: super::Runtime, input: &Value) -> anyhow::Result<String> {
    let tool = str_at(input, "tool_name").unwrap_or("");
    let call = json!({
        "runtime": runtime.name(),
        "session": str_at(input, "session_id").unwrap_or(""),
        "tool_name": tool,
        "tool_input": input.get("tool_input").cloned().unwrap_or(Value::Null),
    });
    let text = crate::domain::digest::canonical(&call)
        .map_err(|e| anyhow::anyhow!("the tool input cannot be digested: {e}"))?;
    Ok(hex::encode(Sha256::digest(&text)))
}

/// A proposal id as a file name: what the server makes (a UUID), nothing
/// else.
fn safe_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Records that `proposal` started for this call (the pre hook, once the
/// gate accepted `started`).
pub fn record(runtime: super::Runtime, input: &Value, proposal: &str) -> anyhow::Result<()> {
    if !safe_id(proposal) {
        anyhow::bail!("the server named a proposal id that is not a plain id");
    }
    let dir = calls_dir()?;
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > STALE);
            if old {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    let path = dir.join(format!("{}.{proposal}", call_key(runtime, input)?));
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    Ok(())
}

/// Takes the oldest record of this call: its proposal id. Removing the
/// file is the taking, so two post hooks never report the same run.
fn take(dir: &Path, key: &str) -> Option<String> {
    let prefix = format!("{key}.");
    let mut ids: Vec<String> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_prefix(&prefix)
                .map(str::to_owned)
        })
        .filter(|id| safe_id(id))
        .collect();
    // Proposal ids are UUIDv7: in the order they were made.
    ids.sort();
    ids.into_iter()
        .find(|id| std::fs::remove_file(dir.join(format!("{prefix}{id}"))).is_ok())
}

/// Whether the runtime says the call failed, and how, in a few words.
pub fn failure(input: &Value) -> Option<String> {
    if str_at(input, "hook_event_name") == Some("PostToolUseFailure") {
        return Some("the runtime reported the tool call failed".into());
    }
    let error = |v: &Value| match v.get("error") {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(format!("error: {s}")),
        Some(Value::Object(o)) if !o.is_empty() => {
            Some(format!("error: {}", Value::Object(o.clone())))
        }
        _ => None,
    };
    if let Some(e) = error(input) {
        return Some(e);
    }
    let r = input.get("tool_response")?;
    for flag in ["is_error", "isError"] {
        if r.get(flag) == Some(&Value::Bool(true)) {
            return Some(format!("{flag}: true"));
        }
    }
    if r.get("interrupted") == Some(&Value::Bool(true)) {
        return Some("interrupted".into());
    }
    for code in ["exit_code", "exitCode"] {
        if let Some(c) = r.get(code).and_then(Value::as_i64)
            && c != 0
        {
            return Some(format!("exit code {c}"));
        }
    }
    error(r)
}

/// The post event: report how the call went. Always exit 0.
pub async fn run(args: &HookArgs, file: &FileConfig) -> ExitCode {
    if let Err(e) = report(args, file).await {
        eprintln!("countersign hook (post): {e:#}; nothing reported");
    }
    ExitCode::SUCCESS
}

async fn report(args: &HookArgs, file: &FileConfig) -> anyhow::Result<()> {
    let input = read_hook_input()?;
    let key = call_key(args.runtime, &input)?;
    let Some(proposal) = take(&calls_dir()?, &key) else {
        // Not a call the pre hook let run (another matcher, or denied).
        return Ok(());
    };
    let response = input.get("tool_response").cloned().unwrap_or(Value::Null);
    let bytes = serde_json::to_vec(&response)?;
    let tool = str_at(&input, "tool_name").unwrap_or("the tool");
    let seen = format!(
        "{}: {tool}; tool response sha256:{} {} bytes",
        args.runtime.name(),
        hex::encode(Sha256::digest(&bytes)),
        bytes.len()
    );
    let report = match failure(&input) {
        Some(why) => ExecutionReport::Failed {
            detail: crate::domain::text::truncate(&format!("{seen}; failed: {why}"), 4096),
        },
        None => ExecutionReport::Executed {
            detail: format!("{seen}; completed"),
        },
    };
    let client = args.connection.client(file)?;
    let timeout = Duration::from_secs(args.timeout.clamp(1, 50));
    match tokio::time::timeout(timeout, client.report_execution(&proposal, &report)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(anyhow::anyhow!("reporting on {proposal} failed: {e}")),
        Err(_) => Err(anyhow::anyhow!(
            "reporting on {proposal} got no answer within {} s",
            timeout.as_secs()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_call_is_told_by_each_runtime_s_signs() {
        let ok = json!({"tool_response": {"stdout": "hi", "stderr": "", "interrupted": false}});
        assert_eq!(failure(&ok), None);
        for (input, says) in [
            (json!({"tool_response": {"is_error": true}}), "is_error"),
            (json!({"tool_response": {"isError": true}}), "isError"),
            (json!({"tool_response": {"exit_code": 3}}), "exit code 3"),
            (json!({"tool_response": {"exitCode": 1}}), "exit code 1"),
            (
                json!({"tool_response": {"interrupted": true}}),
                "interrupted",
            ),
            (
                json!({"tool_response": {"error": "no such file"}}),
                "no such file",
            ),
            (json!({"hook_event_name": "PostToolUseFailure"}), "failed"),
        ] {
            let f = failure(&input).unwrap_or_default();
            assert!(f.contains(says), "{input}: {f}");
        }
        assert_eq!(
            failure(&json!({"tool_response": {"exit_code": 0, "error": null}})),
            None
        );
    }

    #[test]
    fn the_same_call_has_the_same_key_and_another_call_another() {
        let call = |cmd: &str| {
            json!({"session_id": "s", "tool_name": "Bash", "tool_input": {"command": cmd, "description": "d"},
                   "hook_event_name": "PreToolUse"})
        };
        let mut post = call("ls");
        post["hook_event_name"] = "PostToolUse".into();
        post["tool_response"] = json!({"stdout": ""});
        let r = super::super::Runtime::ClaudeCode;
        assert_eq!(
            call_key(r, &call("ls")).unwrap(),
            call_key(r, &post).unwrap()
        );
        assert_ne!(
            call_key(r, &call("ls")).unwrap(),
            call_key(r, &call("rm")).unwrap()
        );
        assert_ne!(
            call_key(r, &call("ls")).unwrap(),
            call_key(super::super::Runtime::Codex, &call("ls")).unwrap()
        );
        assert!(!safe_id("../x"));
        assert!(safe_id("0190f3a2-7c1e-7b3e-9f00-1234567890ab"));
    }
}
