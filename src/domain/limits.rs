//! Limits on what one submission may hold. Generous for real alerts, small
//! enough that one agent cannot make the console or the database suffer.
//! `domain::submission` enforces them; `domain::schema` states them in the
//! API document.

pub const SHORT_TEXT: usize = 512;
pub const TITLE: usize = 1_000;
/// A `run_command` target: the whole command, so what a person approves
/// is what runs (the hook puts it there, never cut).
pub const COMMAND_TARGET: usize = 16 * 1024;
pub const LONG_TEXT: usize = 64 * 1024;
pub const EVIDENCE_BODY: usize = 256 * 1024;
pub const EVIDENCE_ITEMS: usize = 64;
pub const PROPOSALS: usize = 32;
pub const PERMISSION_DOC: usize = 512 * 1024;
pub const MAX_EXPIRES_IN_SECS: u64 = 30 * 24 * 3600;
/// A proposal's `parameters`, as JSON bytes.
pub const PARAMETERS: usize = 64 * 1024;
/// Arguments in `parameters.argv`.
pub const ARGV_ITEMS: usize = 1024;

/// A token's or agent's name (also `[[agents.oidc.agents]]` `agent`).
pub fn valid_agent_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
}
