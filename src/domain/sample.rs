//! Sampled review of what policy approved (a person on the loop).
//!
//! An `auto` rule with `sample = 0.1` sends that share of its approvals,
//! drawn at random when policy approves, to people who confirm or flag them
//! afterwards with a signed decision. A flag never undoes what ran: it is a
//! finding on the rule. A sampled approval nobody reviewed within the
//! rule's window is recorded as unreviewed, never as confirmed. Pure, like
//! the state machine: the draw comes from a [`Sampler`] the caller owns.

use super::machine::{Millis, Refusal, reason_ok};
use super::types::Verdict;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::sync::Mutex;

/// A policy approval drawn for review, and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Sample {
    /// The rule's share when it was drawn.
    pub rate: f64,
    /// Review it before this, or it counts as unreviewed.
    #[serde(with = "super::time::rfc3339")]
    #[schema(schema_with = crate::domain::schema::timestamp)]
    pub review_by: Millis,
    /// `None` while it waits.
    pub outcome: Option<SampleOutcome>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SampleOutcome {
    /// A person looked and agrees with what policy did.
    Confirmed {
        principal: String,
        #[serde(with = "super::time::rfc3339")]
        #[schema(schema_with = crate::domain::schema::timestamp)]
        at: Millis,
    },
    /// A person looked and says policy should not have approved it alone.
    Flagged {
        principal: String,
        reason: String,
        #[serde(with = "super::time::rfc3339")]
        #[schema(schema_with = crate::domain::schema::timestamp)]
        at: Millis,
    },
    /// The window passed with nobody looking.
    Unreviewed {
        #[serde(with = "super::time::rfc3339")]
        #[schema(schema_with = crate::domain::schema::timestamp)]
        at: Millis,
    },
}

impl Sample {
    /// Waiting for a person (and still in its window at `now`).
    pub fn open_at(&self, now: Millis) -> bool {
        self.outcome.is_none() && now < self.review_by
    }

    /// When the sampled view should drop it unless reviewed: `None` once
    /// it has an outcome.
    pub fn due(&self) -> Option<Millis> {
        self.outcome.is_none().then_some(self.review_by)
    }
}

/// Draws which policy approvals are sampled. One per server; a fixed seed
/// makes the draws repeatable (tests, benchmarks).
#[derive(Debug)]
pub struct Sampler(Mutex<StdRng>);

impl Sampler {
    pub fn from_os() -> Self {
        Sampler(Mutex::new(StdRng::from_os_rng()))
    }

    pub fn seeded(seed: u64) -> Self {
        Sampler(Mutex::new(StdRng::seed_from_u64(seed)))
    }

    /// Whether one approval under a rule sampling `rate` is drawn.
    pub fn draw(&self, rate: f64) -> bool {
        if rate <= 0.0 || rate.is_nan() {
            return false;
        }
        if rate >= 1.0 {
            return true;
        }
        // A poisoned lock still holds a usable generator.
        let mut rng = self.0.lock().unwrap_or_else(|e| e.into_inner());
        rng.random::<f64>() < rate
    }
}

impl Default for Sampler {
    fn default() -> Self {
        Self::from_os()
    }
}

/// A sample drawn at `now` under a rule sampling `rate` for `window_secs`.
pub fn drawn(rate: f64, now: Millis, window_secs: u64) -> Sample {
    let window = i64::try_from(window_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    Sample {
        rate,
        review_by: now.saturating_add(window),
        outcome: None,
    }
}

/// The window passed unreviewed: the outcome to record, if due at `now`.
pub fn due(sample: &Sample, now: Millis) -> Option<Sample> {
    (sample.outcome.is_none() && now >= sample.review_by).then(|| Sample {
        outcome: Some(SampleOutcome::Unreviewed { at: now }),
        ..sample.clone()
    })
}

/// A person's `confirm` or `flag` on a sampled approval. Call [`due`]
/// first: a review after the window is refused, and the sample stays
/// unreviewed.
pub fn review(
    sample: Option<&Sample>,
    verdict: Verdict,
    principal: &str,
    reason: &str,
    now: Millis,
) -> Result<Sample, Refusal> {
    let Some(sample) = sample else {
        return Err(Refusal::NotSampled);
    };
    if let Some(done) = &sample.outcome {
        return Err(Refusal::SampleClosed(match done {
            SampleOutcome::Unreviewed { .. } => "its review window passed",
            _ => "it was already reviewed",
        }));
    }
    if now >= sample.review_by {
        return Err(Refusal::SampleClosed("its review window passed"));
    }
    let outcome = match verdict {
        Verdict::Confirm => SampleOutcome::Confirmed {
            principal: principal.to_owned(),
            at: now,
        },
        Verdict::Flag if !reason_ok(reason) => return Err(Refusal::ReasonRequired(verdict)),
        Verdict::Flag => SampleOutcome::Flagged {
            principal: principal.to_owned(),
            reason: reason.trim().to_owned(),
            at: now,
        },
        _ => return Err(Refusal::NotSampled),
    };
    Ok(Sample {
        outcome: Some(outcome),
        ..sample.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_edges_never_draw_at_random() {
        let s = Sampler::seeded(1);
        assert!((0..1000).all(|_| !s.draw(0.0)));
        assert!((0..1000).all(|_| s.draw(1.0)));
        assert!((0..1000).all(|_| !s.draw(f64::NAN)));
    }

    #[test]
    fn the_same_seed_draws_the_same() {
        let (a, b) = (Sampler::seeded(7), Sampler::seeded(7));
        let da: Vec<bool> = (0..200).map(|_| a.draw(0.3)).collect();
        let db: Vec<bool> = (0..200).map(|_| b.draw(0.3)).collect();
        assert_eq!(da, db);
    }

    #[test]
    fn review_confirms_flags_and_refuses() {
        let s = drawn(0.1, 1_000, 60);
        assert_eq!(s.review_by, 61_000);
        let ok = review(Some(&s), Verdict::Confirm, "alice", "", 2_000).unwrap();
        assert!(matches!(ok.outcome, Some(SampleOutcome::Confirmed { .. })));
        assert_eq!(
            review(Some(&ok), Verdict::Flag, "bob", "too broad", 3_000),
            Err(Refusal::SampleClosed("it was already reviewed"))
        );
        assert_eq!(
            review(Some(&s), Verdict::Flag, "bob", "x", 2_000),
            Err(Refusal::ReasonRequired(Verdict::Flag))
        );
        let flagged = review(Some(&s), Verdict::Flag, "bob", " blocks a CDN ", 2_000).unwrap();
        assert_eq!(
            flagged.outcome,
            Some(SampleOutcome::Flagged {
                principal: "bob".into(),
                reason: "blocks a CDN".into(),
                at: 2_000
            })
        );
        assert_eq!(
            review(None, Verdict::Confirm, "alice", "", 2_000),
            Err(Refusal::NotSampled)
        );
        // Late: refused, and the sweep records it as unreviewed.
        assert_eq!(
            review(Some(&s), Verdict::Confirm, "alice", "", 61_000),
            Err(Refusal::SampleClosed("its review window passed"))
        );
        assert!(due(&s, 60_999).is_none());
        let late = due(&s, 61_000).unwrap();
        assert_eq!(late.outcome, Some(SampleOutcome::Unreviewed { at: 61_000 }));
        assert!(due(&late, 99_000).is_none());
        assert_eq!(late.due(), None);
    }
}
