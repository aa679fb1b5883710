//! The policy is evidence: the log records every policy put in force
//! (`policy_loaded`, with its digest and full text), every proposal with
//! what its requirement was computed from (action, effective risk, the
//! policy's digest) and each decision with the digest it was judged
//! under. [`Replay`] reads a log entry by entry and re-checks, from the
//! log alone, that every proposal that reached `approved` had what the
//! policy it names required: enough distinct approvers, a lead among them
//! where the rule wants one (leads from that policy's `[roles]`, matched
//! against the signing principal), and approval by policy only where every
//! matching rule says `auto`. `policy test` replays the same proposals
//! under another policy.
//!
//! Entries written before the policy was recorded name no digest: they
//! are counted as not re-checked, never failed.

use super::chain::ChainBreak;
use crate::domain::policy::{Policy, Rule, policy_digest};
use crate::domain::types::{ActionKind, Risk, Role};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// A requirement the recorded approvals do not meet, or a decision naming
/// a policy the log does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmet {
    pub seq: i64,
    pub proposal_id: Option<String>,
    pub problem: String,
}

/// What a proposal needed, as recorded or as a policy computes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    pub approvals: u32,
    pub role: Role,
    pub auto: bool,
}

impl Needs {
    pub fn of(rule: &Rule) -> Self {
        Needs {
            approvals: rule.approvals,
            role: rule.role,
            auto: rule.auto,
        }
    }

    fn from_entry(v: &Value) -> Option<Self> {
        Some(Needs {
            approvals: u32::try_from(v["approvals"].as_u64()?).ok()?,
            role: serde_json::from_value(v["role"].clone()).ok()?,
            auto: v["auto"].as_bool()?,
        })
    }
}

impl std::fmt::Display for Needs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.auto {
            return f.write_str("approval by policy alone");
        }
        write!(
            f,
            "{} approval{} from distinct people, at least one {}",
            self.approvals,
            if self.approvals == 1 { "" } else { "s" },
            self.role
        )
    }
}

/// The key a verified signature on an entry was made with.
#[derive(Debug, Clone, Copy)]
pub struct KeyUsed<'a> {
    pub fingerprint: &'a str,
    /// A touched FIDO security key.
    pub hardware: bool,
}

/// A proposal as the log has recorded it so far.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub id: String,
    pub action: ActionKind,
    /// The effective risk the policy ran on.
    pub risk: Risk,
    /// The requirement recorded with it (absent in older logs).
    pub needs: Option<Needs>,
    /// The digest of the policy it was judged under when received.
    pub policy: Option<String>,
    /// Approvals counted towards its current digest.
    approvals: Vec<Approver>,
}

#[derive(Debug, Clone)]
struct Approver {
    principal: String,
    /// Fingerprint of the signing key: one key is one person.
    key: Option<String>,
    /// Signed with a touched security key.
    hardware: bool,
    /// The policy that approval was judged under.
    policy: Option<String>,
}

/// A recorded policy: parsed, or why it could not be.
type Parsed = Result<Policy, String>;

/// Reads a log entry by entry (see the module docs).
#[derive(Default)]
pub struct Replay {
    policies: HashMap<String, Parsed>,
    proposals: HashMap<String, Recorded>,
    /// Proposal ids in the order they were first recorded.
    order: Vec<String>,
    /// Which agent proposed each proposal (the actor of its alert entry).
    agents: HashMap<String, String>,
    /// The freezes in force at this point of the log: agent (or `*`) →
    /// the entry that put it in force.
    frozen: HashMap<String, i64>,
    /// Proposals that reached `approved` whose requirement was re-checked.
    pub rechecked: usize,
    /// Proposals that reached `approved` under no recorded policy (entries
    /// written before the policy was recorded).
    pub not_rechecked: usize,
    pub unmet: Vec<Unmet>,
}

/// A digest to name in a message: its prefix and 12 hex digits (by
/// characters: the text comes from the log, and may be anything).
fn short(digest: &str) -> String {
    let prefix = if digest.starts_with("sha256:") { 7 } else { 0 };
    digest.chars().take(prefix + 12).collect()
}

impl Replay {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many distinct policies the log recorded.
    pub fn policies(&self) -> usize {
        self.policies.len()
    }

    /// Every proposal recorded, in the order first received.
    pub fn proposals(&self) -> impl Iterator<Item = &Recorded> {
        self.order.iter().filter_map(|id| self.proposals.get(id))
    }

    /// A recorded policy by digest.
    pub fn policy(&self, digest: &str) -> Option<&Parsed> {
        self.policies.get(digest)
    }

    fn unmet(&mut self, seq: i64, proposal: Option<&str>, problem: String) {
        self.unmet.push(Unmet {
            seq,
            proposal_id: proposal.map(str::to_owned),
            problem,
        });
    }

    /// One entry (already checked for its place in the chain). `key` is
    /// the fingerprint of the key that signed it, if it carries a verified
    /// signature. A policy entry whose text does not hash to the digest it
    /// states is a broken record; a rule not met is an [`Unmet`].
    pub fn entry(
        &mut self,
        seq: i64,
        body: &Value,
        key: Option<KeyUsed<'_>>,
    ) -> Result<(), ChainBreak> {
        let kind = body["kind"].as_str().unwrap_or_default();
        let data = &body["data"];
        let proposal_id = body["proposal_id"].as_str();
        if kind == "policy_loaded" {
            return self.policy_loaded(seq, data);
        }
        let named = data["policy"].as_str();
        if let Some(d) = named
            && !self.policies.contains_key(d)
        {
            self.unmet(
                seq,
                proposal_id,
                format!(
                    "`{kind}` names policy {}, which no earlier policy_loaded entry records",
                    short(d)
                ),
            );
        }
        let agent = body["actor"]["name"]
            .as_str()
            .filter(|_| body["actor"]["kind"] == "agent");
        match kind {
            "alert_received" => self.received(&data["proposals"], false, agent),
            "alert_revised" => {
                self.received(&data["revised"], true, agent);
                self.received(&data["added"], false, agent);
            }
            // Narrowed as approved: judged again (the stricter requirement's
            // risk), and approvals of the proposed document dismissed.
            "amended" => {
                if let Some(p) = proposal_id.and_then(|id| self.proposals.get_mut(id)) {
                    if let Ok(risk) = serde_json::from_value::<Risk>(data["risk"].clone()) {
                        p.risk = risk;
                    }
                    p.approvals.clear();
                }
            }
            "agent_frozen" => {
                if let Some(a) = data["agent"].as_str() {
                    self.frozen.insert(a.to_owned(), seq);
                }
            }
            "agent_unfrozen" => {
                if let Some(a) = data["agent"].as_str() {
                    self.frozen.remove(a);
                }
            }
            "approval_counted" | "approved" if body["actor"]["kind"] == "person" => {
                let Some(id) = proposal_id else {
                    return Ok(());
                };
                let approver = Approver {
                    principal: body["actor"]["principal"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    key: key.map(|k| k.fingerprint.to_owned()),
                    hardware: key.is_some_and(|k| k.hardware),
                    policy: named.map(str::to_owned),
                };
                if let Some(p) = self.proposals.get_mut(id) {
                    p.approvals.push(approver);
                }
                if kind == "approved" {
                    self.approved(seq, id, named);
                }
            }
            "approved_by_policy" => {
                if let Some(id) = proposal_id {
                    self.approved_by_policy(seq, id, named);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn policy_loaded(&mut self, seq: i64, data: &Value) -> Result<(), ChainBreak> {
        let (Some(digest), Some(text)) = (data["digest"].as_str(), data["text"].as_str()) else {
            return Err(ChainBreak {
                seq,
                problem: "policy_loaded entry without a digest and a text".into(),
            });
        };
        if policy_digest(text) != digest {
            return Err(ChainBreak {
                seq,
                problem: format!(
                    "the recorded policy text does not hash to the digest it states ({})",
                    short(digest)
                ),
            });
        }
        let parsed =
            Policy::from_toml(text, &format!("recorded at entry {seq}")).map_err(|e| e.to_string());
        self.policies.insert(digest.to_owned(), parsed);
        Ok(())
    }

    /// Proposals as an alert entry lists them; `revised` ones lose the
    /// approvals counted so far (as the server dismisses them).
    fn received(&mut self, list: &Value, revised: bool, agent: Option<&str>) {
        for p in list.as_array().into_iter().flatten() {
            let Some(id) = p["id"].as_str() else { continue };
            if let Some(agent) = agent {
                self.agents.insert(id.to_owned(), agent.to_owned());
            }
            let action = p
                .get("action")
                .or_else(|| p["document"].get("action"))
                .and_then(|a| serde_json::from_value::<ActionKind>(a.clone()).ok());
            let risk = serde_json::from_value::<Risk>(p["risk"].clone()).ok();
            let (Some(action), Some(risk)) = (action, risk) else {
                continue;
            };
            let approvals = match self.proposals.remove(id) {
                Some(old) if !revised => old.approvals,
                Some(_) => Vec::new(),
                None => {
                    self.order.push(id.to_owned());
                    Vec::new()
                }
            };
            self.proposals.insert(
                id.to_owned(),
                Recorded {
                    id: id.to_owned(),
                    action,
                    risk,
                    needs: Needs::from_entry(&p["needs"]),
                    policy: p["policy"].as_str().map(str::to_owned),
                    approvals,
                },
            );
        }
    }

    /// The policy a decision names, parsed; `None` (and counted as not
    /// re-checked) when it names none.
    fn judged_under(
        &mut self,
        seq: i64,
        id: &str,
        named: Option<&str>,
    ) -> Option<(Policy, Recorded)> {
        let Some(digest) = named else {
            self.not_rechecked += 1;
            return None;
        };
        let Some(p) = self.proposals.get(id).cloned() else {
            self.unmet(
                seq,
                Some(id),
                format!("proposal {id} was approved but the log never received it"),
            );
            return None;
        };
        match self.policies.get(digest) {
            // Named but not recorded: already reported.
            None => None,
            Some(Err(e)) => {
                let problem = format!("policy {} does not parse: {e}", short(digest));
                self.unmet(seq, Some(id), problem);
                None
            }
            Some(Ok(policy)) => Some((policy.clone(), p)),
        }
    }

    fn approved(&mut self, seq: i64, id: &str, named: Option<&str>) {
        let Some((policy, p)) = self.judged_under(seq, id, named) else {
            return;
        };
        self.rechecked += 1;
        let need = policy.rule_for(&p.action, p.risk);
        let digest = named.unwrap_or_default();
        // Distinct people: one principal, or one key, is one person.
        let mut names = HashSet::new();
        let mut keys = HashSet::new();
        let mut people: Vec<&Approver> = Vec::new();
        for a in &p.approvals {
            let new_key = a.key.as_ref().is_none_or(|k| !keys.contains(k));
            if !names.contains(&a.principal) && new_key {
                names.insert(a.principal.clone());
                keys.extend(a.key.clone());
                people.push(a);
            }
        }
        let who = people
            .iter()
            .map(|a| a.principal.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let under = format!(
            "policy {} requires {} for {} at {} risk (rule \"{}\")",
            short(digest),
            Needs::of(&need),
            p.action,
            p.risk,
            need.name
        );
        if need.hardware_key {
            let soft: Vec<&str> = people
                .iter()
                .filter(|a| !a.hardware)
                .map(|a| a.principal.as_str())
                .collect();
            if !soft.is_empty() {
                let problem = format!(
                    "approved by {} with a key that is no touched security key, but rule \"{}\" of policy {} wants hardware_key",
                    soft.join(", "),
                    need.name,
                    short(digest)
                );
                self.unmet(seq, Some(id), problem);
                return;
            }
        }
        if (people.len() as u32) < need.approvals {
            let problem = format!(
                "approved with {} distinct approver{} ({who}) but {under}",
                people.len(),
                if people.len() == 1 { "" } else { "s" },
            );
            self.unmet(seq, Some(id), problem);
            return;
        }
        if need.role == Role::Lead {
            let lead = people.iter().any(|a| {
                // Each approval's role as the policy it was judged under
                // says (the server judged it then); the final one's for
                // approvals recorded before policies were.
                let theirs = a
                    .policy
                    .as_deref()
                    .and_then(|d| self.policies.get(d))
                    .and_then(|r| r.as_ref().ok())
                    .unwrap_or(&policy);
                theirs.role_of(&a.principal) == Role::Lead
            });
            if !lead {
                let problem = format!("approved by {who}, none of them a lead, but {under}");
                self.unmet(seq, Some(id), problem);
            }
        }
    }

    fn approved_by_policy(&mut self, seq: i64, id: &str, named: Option<&str>) {
        let agent = self.agents.get(id).cloned().unwrap_or_default();
        let freeze = [agent.as_str(), crate::domain::freeze::ALL_AGENTS]
            .iter()
            .find_map(|a| self.frozen.get(*a).map(|at| (a.to_string(), *at)));
        if let Some((frozen, at)) = freeze {
            let problem = format!(
                "approved by policy while {} was frozen (entry {at}): a freeze lets policy approve nothing",
                if frozen == crate::domain::freeze::ALL_AGENTS {
                    "every agent".to_owned()
                } else {
                    format!("agent {frozen}")
                }
            );
            self.unmet(seq, Some(id), problem);
        }
        let Some((policy, p)) = self.judged_under(seq, id, named) else {
            return;
        };
        self.rechecked += 1;
        let need = policy.rule_for(&p.action, p.risk);
        if !need.auto {
            let problem = format!(
                "approved by policy alone, but policy {} requires {} for {} at {} risk (not every matching rule says auto)",
                short(named.unwrap_or_default()),
                Needs::of(&need),
                p.action,
                p.risk
            );
            self.unmet(seq, Some(id), problem);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_digest() {
        assert_eq!(short("sha256:0123456789abcdef"), "sha256:0123456789ab");
        assert_eq!(short("sha256:01"), "sha256:01");
        assert_eq!(short("x"), "x");
        assert_eq!(short("sha256:ééééééééééééééé"), "sha256:éééééééééééé");
    }

    #[test]
    fn a_hardware_key_rule_is_rechecked_against_the_key_that_signed() {
        let text = "[defaults]\napprovals = 1\nhardware_key = true\n";
        let digest = policy_digest(text);
        let entries = |replay: &mut Replay, hardware: bool| {
            let loaded = serde_json::json!({"kind": "policy_loaded",
                "data": {"digest": digest, "text": text}});
            replay.entry(1, &loaded, None).unwrap();
            let alert = serde_json::json!({"kind": "alert_received", "actor": {"kind": "agent", "name": "bot"},
                "data": {"policy": digest, "proposals": [{"id": "p1", "action": "isolate_host", "risk": "medium"}]}});
            replay.entry(2, &alert, None).unwrap();
            let approved = serde_json::json!({"kind": "approved", "proposal_id": "p1",
                "actor": {"kind": "person", "principal": "alice"}, "data": {"policy": digest}});
            let key = KeyUsed {
                fingerprint: "SHA256:alice",
                hardware,
            };
            replay.entry(3, &approved, Some(key)).unwrap();
        };
        let mut soft = Replay::new();
        entries(&mut soft, false);
        assert_eq!(soft.unmet.len(), 1, "{:?}", soft.unmet);
        assert!(soft.unmet[0].problem.contains("hardware_key"));
        let mut touched = Replay::new();
        entries(&mut touched, true);
        assert!(touched.unmet.is_empty(), "{:?}", touched.unmet);
        assert_eq!(touched.rechecked, 1);
    }
}
