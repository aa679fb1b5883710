//! The approval policy: who is a lead, and per action kind and risk tier how
//! many approvals are needed, from which role, and the deadlines. Pure data;
//! loaded from TOML with errors that name the line. Whether its rules can
//! be met at all, with the people allowed_signers lists: [`unmeetable`].

use super::permissions::pattern;
use super::risk::sensitive;
use super::types::{ActionKind, Risk, Role};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::ops::Range;
use toml::Spanned;

pub const DEFAULT_POLICY: &str = include_str!("../../../policy/default.toml");

/// Most approvals a rule may ask for.
pub const MAX_APPROVALS: u32 = 5;

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Principal patterns, as in allowed_signers (`*`, `?`, `!negation`).
    leads: BTreeSet<String>,
    analysts: BTreeSet<String>,
    defaults: Rule,
    rules: Vec<Rule>,
    pub assets: Assets,
    /// The exact text it was read from, and `sha256:` + hex of its bytes:
    /// what the audit log records as the policy in force.
    text: std::sync::Arc<str>,
    digest: String,
    /// Where it was read from (a path, or `(built-in)`).
    origin: String,
    /// `[inverses]`: what undoes a custom action kind.
    inverses: std::collections::BTreeMap<ActionKind, ActionKind>,
}

/// `sha256:` + hex of a policy's exact bytes: how the audit log names it.
pub fn policy_digest(text: &str) -> String {
    use sha2::Digest as _;
    format!(
        "sha256:{}",
        hex::encode(sha2::Sha256::digest(text.as_bytes()))
    )
}

/// `[assets]`: what the gate knows about the organisation, for risk floors.
/// Target patterns match case-insensitively after normalisation (see
/// `risk::names`); the built-in list of sensitive targets
/// (`risk::sensitive`) applies besides these.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Assets {
    /// Target patterns (`*`, `?`) whose actions are always critical.
    pub critical: Vec<String>,
    /// Target patterns whose actions are at least high.
    pub high: Vec<String>,
    /// Hosts and domains never blocked or isolated by policy alone (at
    /// least high), besides the built-in identity, update and package
    /// hosts. Each stands for its subdomains too.
    pub protected: Vec<String>,
    /// The gate's own hosts (names or addresses): acting on them is
    /// critical.
    pub gate_hosts: Vec<String>,
    /// Built-in patterns (sensitive targets or protected hosts) that do not
    /// fit this organisation, by their exact spelling in the built-in list.
    pub ignore_builtin: Vec<String>,
    /// The organisation's own address ranges: blocking them is high risk.
    pub own_ranges: Vec<ipnet::IpNet>,
    /// The organisation's own domains: blocking them is high risk.
    pub own_domains: Vec<String>,
    /// Blocking a network wider than this (a shorter prefix) is high risk.
    pub min_prefix_v4: u8,
    pub min_prefix_v6: u8,
    /// Action kinds that change who can do what, besides `modify_policy`
    /// (always): one without a `permission_change` is held as not analysed
    /// (at least high).
    pub access_changing: Vec<ActionKind>,
}

impl Default for Assets {
    fn default() -> Self {
        Assets {
            critical: Vec::new(),
            high: Vec::new(),
            protected: Vec::new(),
            gate_hosts: Vec::new(),
            ignore_builtin: Vec::new(),
            own_ranges: Vec::new(),
            own_domains: Vec::new(),
            min_prefix_v4: 24,
            min_prefix_v6: 48,
            access_changing: Vec::new(),
        }
    }
}

/// A resolved rule: every field set.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub name: String,
    pub action: Option<ActionKind>,
    pub risk: Option<Risk>,
    /// Distinct human approvals needed; 0 when `auto`.
    pub approvals: u32,
    pub role: Role,
    pub auto: bool,
    pub expiry_secs: u64,
    pub escalate_after_secs: Option<u64>,
    pub execution_window_secs: u64,
    /// Share of this rule's policy approvals drawn for a person to review
    /// afterwards (human on the loop); 0 when not `auto` or not sampled.
    pub sample: f64,
    /// How long a sampled approval waits for its review before it counts
    /// as unreviewed.
    pub sample_window_secs: u64,
    /// Containment for a while: seconds after it ran until the gate
    /// proposes the revert (containment kinds only).
    pub contain_for_secs: Option<u64>,
    /// Approvals under this rule must be signed by a hardware security key
    /// (FIDO: `sk-ssh-ed25519`, `sk-ecdsa-sha2-nistp256`), touched.
    pub hardware_key: bool,
}

/// Default time a sampled approval waits for review: a working day.
pub const DEFAULT_SAMPLE_WINDOW_SECS: u64 = 24 * 3600;

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("policy {origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("policy {origin}, line {line}: {message}")]
    Invalid {
        origin: String,
        line: usize,
        message: String,
    },
    #[error("cannot read policy file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    defaults: Spanned<RawRule>,
    #[serde(default)]
    roles: RawRoles,
    #[serde(default)]
    rules: Vec<Spanned<RawRule>>,
    #[serde(default)]
    assets: Assets,
    /// Custom action kinds' inverses, for a signed revert:
    /// `"mcp:edr.isolate_host" = "mcp:edr.release_host"`.
    #[serde(default)]
    inverses: std::collections::BTreeMap<String, Spanned<ActionKind>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRoles {
    #[serde(default)]
    leads: Vec<Spanned<String>>,
    #[serde(default)]
    analysts: Vec<Spanned<String>>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Option<String>,
    action: Option<ActionKind>,
    risk: Option<Risk>,
    approvals: Option<u32>,
    role: Option<Role>,
    auto: Option<bool>,
    expiry_secs: Option<u64>,
    escalate_after_secs: Option<u64>,
    execution_window_secs: Option<u64>,
    sample: Option<f64>,
    sample_window_secs: Option<u64>,
    /// Containment for a while (`"8h"`): when it runs out after the action
    /// ran, the gate proposes its revert unless a person extended it.
    contain_for: Option<String>,
    /// Approvals need a FIDO security key (`hardware_key = true`).
    hardware_key: Option<bool>,
}

/// A rule's `contain_for`, in seconds: a span (`"8h"`), on a rule for a
/// containment kind (or for any action, where it applies to those).
fn contain_for(r: &RawRule, _span: Range<usize>) -> Result<Option<u64>, String> {
    let Some(text) = &r.contain_for else {
        return Ok(None);
    };
    if let Some(a) = &r.action
        && !a.is_containment()
    {
        return Err(format!(
            "`contain_for` applies to containment kinds (isolate_host, disable_account, block_indicator, quarantine_file), not `{a}`"
        ));
    }
    let ms = crate::domain::time::parse_span_ms(text)
        .filter(|ms| *ms >= 1_000)
        .ok_or_else(|| {
            format!("`contain_for = \"{text}\"`: a span like \"30m\", \"8h\" or \"2d\"")
        })?;
    Ok(Some(ms as u64 / 1000))
}

fn line_of(text: &str, span: Range<usize>) -> usize {
    text[..span.start.min(text.len())].matches('\n').count() + 1
}

impl Policy {
    /// The embedded default policy.
    #[allow(
        clippy::expect_used,
        reason = "the embedded policy is a constant; tests parse it"
    )]
    pub fn builtin() -> Self {
        Self::from_toml(DEFAULT_POLICY, "(built-in)").expect("the built-in policy is valid")
    }

    pub fn load(path: &std::path::Path) -> Result<Self, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Parses a policy. `origin` names the file in error messages.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, PolicyError> {
        let raw: RawPolicy = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s));
            let message = e.message().to_owned();
            match line {
                Some(line) => PolicyError::Invalid {
                    origin: origin.to_owned(),
                    line,
                    message,
                },
                None => PolicyError::Parse {
                    origin: origin.to_owned(),
                    message,
                },
            }
        })?;
        let invalid = |span: Range<usize>, message: String| PolicyError::Invalid {
            origin: origin.to_owned(),
            line: line_of(text, span),
            message,
        };

        let d = raw.defaults.get_ref();
        let defaults_span = raw.defaults.span();
        let defaults = Rule {
            name: "defaults".to_owned(),
            action: None,
            risk: None,
            approvals: d.approvals.unwrap_or(1),
            role: d.role.unwrap_or(Role::Analyst),
            auto: false,
            expiry_secs: d.expiry_secs.unwrap_or(4 * 3600),
            escalate_after_secs: d.escalate_after_secs,
            execution_window_secs: d.execution_window_secs.unwrap_or(900),
            sample: 0.0,
            sample_window_secs: d.sample_window_secs.unwrap_or(DEFAULT_SAMPLE_WINDOW_SECS),
            contain_for_secs: None,
            hardware_key: d.hardware_key.unwrap_or(false),
        };
        if d.action.is_some()
            || d.risk.is_some()
            || d.auto.is_some()
            || d.sample.is_some()
            || d.contain_for.is_some()
        {
            return Err(invalid(
                defaults_span,
                "[defaults] takes no `action`, `risk`, `auto`, `sample` or `contain_for`".into(),
            ));
        }
        check_rule(&defaults).map_err(|m| invalid(defaults_span.clone(), m))?;

        let mut rules = Vec::new();
        let mut seen = BTreeSet::new();
        for (i, spanned) in raw.rules.iter().enumerate() {
            let r = spanned.get_ref();
            let span = spanned.span();
            let auto = r.auto.unwrap_or(false);
            let rule = Rule {
                name: r.name.clone().unwrap_or_else(|| format!("rules[{i}]")),
                action: r.action.clone(),
                risk: r.risk,
                approvals: if auto {
                    0
                } else {
                    r.approvals.unwrap_or(defaults.approvals)
                },
                role: r.role.unwrap_or(defaults.role),
                auto,
                expiry_secs: r.expiry_secs.unwrap_or(defaults.expiry_secs),
                escalate_after_secs: r.escalate_after_secs.or(defaults.escalate_after_secs),
                execution_window_secs: r
                    .execution_window_secs
                    .unwrap_or(defaults.execution_window_secs),
                sample: r.sample.unwrap_or(0.0),
                sample_window_secs: r.sample_window_secs.unwrap_or(defaults.sample_window_secs),
                contain_for_secs: contain_for(r, span.clone())
                    .map_err(|m| invalid(span.clone(), m))?,
                hardware_key: r.hardware_key.unwrap_or(defaults.hardware_key),
            };
            if r.sample.is_some() && !auto {
                return Err(invalid(
                    span,
                    "`sample` applies to `auto` rules only (what a person approves is already reviewed)".into(),
                ));
            }
            if !(0.0..=1.0).contains(&rule.sample) {
                return Err(invalid(
                    span,
                    "`sample` is a share from 0 to 1 (0.1 = one policy approval in ten)".into(),
                ));
            }
            if auto && r.approvals.is_some_and(|n| n > 0) {
                return Err(invalid(span, "an `auto` rule takes no approvals".into()));
            }
            if auto && rule.risk != Some(Risk::Low) {
                return Err(invalid(
                    span,
                    "`auto` is allowed only for rules with risk = \"low\"".into(),
                ));
            }
            check_rule(&rule).map_err(|m| invalid(span.clone(), m))?;
            if let Some(ActionKind::Other(name)) = &rule.action
                && let Some(near) = ActionKind::ALL
                    .iter()
                    .find(|k| edit_distance(k.as_str(), name) <= 2)
            {
                return Err(invalid(
                    span,
                    format!(
                        "action `{name}`: did you mean `{near}`? (other action names are allowed, but this one looks like a typo of a built-in)"
                    ),
                ));
            }
            if !seen.insert((rule.action.clone(), rule.risk)) {
                return Err(invalid(
                    span,
                    format!(
                        "another rule already matches action = {}, risk = {}",
                        rule.action.as_ref().map_or("any", ActionKind::as_str),
                        rule.risk.map_or("any", Risk::as_str)
                    ),
                ));
            }
            rules.push(rule);
        }

        let collect = |names: &[Spanned<String>]| -> Result<BTreeSet<String>, PolicyError> {
            let mut set = BTreeSet::new();
            for n in names {
                let name = n.get_ref().trim();
                if name.is_empty() || name == "!" {
                    return Err(invalid(n.span(), "empty principal name".into()));
                }
                set.insert(name.to_owned());
            }
            Ok(set)
        };
        let leads = collect(&raw.roles.leads)?;
        let analysts = collect(&raw.roles.analysts)?;
        if let Some(both) = raw
            .roles
            .analysts
            .iter()
            .find(|n| is_lead(&leads, n.get_ref().trim()))
        {
            let name = both.get_ref().trim();
            let message = if leads.contains(name) {
                format!("`{name}` is listed as both lead and analyst")
            } else {
                format!(
                    "`{name}` is listed as an analyst but a pattern in leads matches it (add \"!{name}\" to leads to leave them out)"
                )
            };
            return Err(invalid(both.span(), message));
        }
        if let Some(unknown) = sensitive::unknown_ignore(&raw.assets.ignore_builtin) {
            return Err(PolicyError::Parse {
                origin: origin.to_owned(),
                message: format!(
                    "[assets] ignore_builtin: `{unknown}` is not a built-in pattern (`countersign policy builtin` lists them)"
                ),
            });
        }
        if raw.assets.min_prefix_v4 > 32 || raw.assets.min_prefix_v6 > 128 {
            return Err(PolicyError::Parse {
                origin: origin.to_owned(),
                message: "[assets] min_prefix_v4 is at most 32 and min_prefix_v6 at most 128"
                    .into(),
            });
        }
        let mut inverses = std::collections::BTreeMap::new();
        for (kind, inverse) in &raw.inverses {
            let parsed: ActionKind =
                kind.parse()
                    .map_err(|e: crate::domain::types::UnknownName| {
                        invalid(inverse.span(), format!("[inverses] `{kind}`: {e}"))
                    })?;
            if parsed.is_builtin() {
                return Err(invalid(
                    inverse.span(),
                    format!(
                        "[inverses] `{kind}` is a built-in kind: its inverse (if any) is built in"
                    ),
                ));
            }
            inverses.insert(parsed, inverse.get_ref().clone());
        }
        Ok(Policy {
            inverses,
            leads,
            analysts,
            defaults,
            rules,
            assets: raw.assets,
            text: text.into(),
            digest: policy_digest(text),
            origin: origin.to_owned(),
        })
    }

    /// What undoes `kind`, as the policy's `[inverses]` names it (custom
    /// kinds only; see `domain::revert` for the built-in ones).
    pub fn inverse_of(&self, kind: &ActionKind) -> Option<&ActionKind> {
        self.inverses.get(kind)
    }

    /// A principal's role: lead if the policy's lead patterns match them,
    /// else analyst.
    pub fn role_of(&self, principal: &str) -> Role {
        if is_lead(&self.leads, principal) {
            Role::Lead
        } else {
            Role::Analyst
        }
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The lead patterns, as written.
    pub fn leads(&self) -> impl Iterator<Item = &str> {
        self.leads.iter().map(String::as_str)
    }

    /// `[defaults]`, resolved: it applies to every proposal.
    pub fn defaults(&self) -> &Rule {
        &self.defaults
    }

    pub fn named_analysts(&self) -> impl Iterator<Item = &str> {
        self.analysts.iter().map(String::as_str)
    }

    /// The exact text this policy was read from (a file's bytes, or the
    /// built-in policy's embedded text).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// `sha256:` + hex of [`Policy::text`]: the name the audit log gives
    /// this policy, and every decision judged under it.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Where it was read from: a path, or `(built-in)`.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Every rule that matches an action at a risk tier, in file order.
    pub fn matching(&self, action: &ActionKind, risk: Risk) -> Vec<&Rule> {
        self.rules
            .iter()
            .filter(|r| {
                r.action.as_ref().is_none_or(|a| a == action) && r.risk.is_none_or(|k| k == risk)
            })
            .collect()
    }

    /// What an action at a risk tier requires. Every matching rule applies,
    /// `[defaults]` included (it matches everything), and each field takes
    /// its strictest value: the most approvals, `lead` over `analyst`, the
    /// shortest expiry, escalation and execution window. Policy approves
    /// alone only if there are matching rules and every one says `auto`
    /// (`auto` rules exist only for low risk; `[defaults]` never blocks it).
    /// A team can add a rule; it can never weaken another by accident.
    pub fn rule_for(&self, action: &ActionKind, risk: Risk) -> Rule {
        let matching = self.matching(action, risk);
        if matching.is_empty() {
            return self.defaults.clone();
        }
        combine(&matching, &self.defaults, action, risk)
    }
}

fn is_lead(leads: &BTreeSet<String>, principal: &str) -> bool {
    pattern::matches_list(leads.iter().map(String::as_str), principal)
}

/// The strictest of the matching rules and the defaults, field by field.
fn combine(matching: &[&Rule], defaults: &Rule, action: &ActionKind, risk: Risk) -> Rule {
    let auto = matching.iter().all(|r| r.auto);
    let rules: Vec<&Rule> = matching.iter().copied().chain([defaults]).collect();
    let demanding = || rules.iter().filter(|r| !r.auto);
    Rule {
        name: matching
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>()
            .join(" + "),
        action: Some(action.clone()),
        risk: Some(risk),
        approvals: if auto {
            0
        } else {
            demanding().map(|r| r.approvals).max().unwrap_or(1)
        },
        role: if !auto && demanding().any(|r| r.role == Role::Lead) {
            Role::Lead
        } else {
            Role::Analyst
        },
        auto,
        expiry_secs: rules.iter().map(|r| r.expiry_secs).min().unwrap_or(1),
        escalate_after_secs: rules.iter().filter_map(|r| r.escalate_after_secs).min(),
        execution_window_secs: rules
            .iter()
            .map(|r| r.execution_window_secs)
            .min()
            .unwrap_or(1),
        // The most any matching rule samples; the shortest window.
        sample: if auto {
            matching.iter().map(|r| r.sample).fold(0.0, f64::max)
        } else {
            0.0
        },
        sample_window_secs: rules
            .iter()
            .map(|r| r.sample_window_secs)
            .min()
            .unwrap_or(DEFAULT_SAMPLE_WINDOW_SECS),
        // The shortest containment any matching rule allows, on the kinds
        // that contain.
        contain_for_secs: matching
            .iter()
            .filter_map(|r| r.contain_for_secs)
            .min()
            .filter(|_| action.is_containment()),
        // Any rule asking for a hardware key asks it of every approval.
        hardware_key: !auto && demanding().any(|r| r.hardware_key),
    }
}

/// Levenshtein distance, for "did you mean".
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

fn check_rule(rule: &Rule) -> Result<(), String> {
    if !rule.auto && !(1..=MAX_APPROVALS).contains(&rule.approvals) {
        return Err(format!(
            "approvals must be from 1 to {MAX_APPROVALS} (use auto = true for policy approval)"
        ));
    }
    if rule.expiry_secs == 0 {
        return Err("expiry_secs must be positive".into());
    }
    if rule.execution_window_secs == 0 {
        return Err("execution_window_secs must be positive".into());
    }
    if rule.sample_window_secs == 0 {
        return Err("sample_window_secs must be positive".into());
    }
    if rule.escalate_after_secs == Some(0) {
        return Err("escalate_after_secs must be positive (leave it out to never escalate)".into());
    }
    Ok(())
}

mod meetable;
/// Why a proposal cannot be decided as one of a group, if it cannot: high
/// and critical risk, actions that run code or change access, and whatever
/// a rule wants two people for, are reviewed one by one.
pub fn group_refused(risk: Risk, action: &ActionKind, rule: &Rule) -> Option<String> {
    if risk >= Risk::High {
        return Some(format!(
            "a {risk}-risk proposal is decided on its own, not in a group"
        ));
    }
    if !action.groups_safely() {
        return Some(format!(
            "{action} runs code or changes access: each one is decided on its own, not in a group"
        ));
    }
    if rule.approvals >= 2 {
        return Some(format!(
            "rule \"{}\" needs two people: each proposal is reviewed on its own, not in a group",
            rule.name
        ));
    }
    None
}

pub use meetable::{LeadNeed, Problem, SignerLine, SignerSet, Where, Why, idle_leads, unmeetable};

#[cfg(test)]
mod tests;
