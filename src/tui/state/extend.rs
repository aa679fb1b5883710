//! Keeping a containment longer: the dialog a person signs an `extend` in
//! (the executed containment, until when it holds now, how much longer,
//! the reason), and how its times read on screen.

use chrono::{DateTime, FixedOffset, Offset, Utc};
use tui_textarea::TextArea;

/// How much longer an extension may keep the containment, in hours from
/// the time it holds until now: Tab cycles through them.
pub const STEPS_H: [i64; 4] = [1, 4, 8, 24];

const HOUR_MS: i64 = 3_600_000;

/// An extension being written: the executed proposal as shown when it
/// opened, how much longer, and the reason that is signed.
pub struct ExtendForm {
    /// The executed proposal.
    pub proposal_id: String,
    /// "isolate_host → ws-0412": what holds.
    pub what: String,
    /// The executed proposal's digest as shown: the extension is signed
    /// over it.
    pub digest: String,
    /// Until when it holds, as shown when the dialog opened (ms).
    pub from: i64,
    /// Which of [`STEPS_H`] is chosen.
    pub step: usize,
    pub editor: TextArea<'static>,
    pub error: Option<String>,
    /// When Enter starts to count: [`ARM_MS`](super::ARM_MS) after the
    /// dialog was first drawn; `None` until it has been.
    pub armed_at: Option<i64>,
}

impl ExtendForm {
    /// Hours added to [`from`](Self::from).
    pub fn hours(&self) -> i64 {
        STEPS_H[self.step % STEPS_H.len()]
    }

    /// Until when the containment would hold, signed as `contain_until`.
    pub fn until(&self) -> i64 {
        self.from.saturating_add(self.hours() * HOUR_MS)
    }

    /// The next step, wrapping around.
    pub fn cycle(&mut self) {
        self.step = (self.step + 1) % STEPS_H.len();
    }

    /// Whether Enter, read at `now`, may sign: the dialog on screen for
    /// [`ARM_MS`](super::ARM_MS).
    pub fn armed(&self, now: i64) -> bool {
        self.armed_at.is_some_and(|a| now >= a)
    }
}

/// `at` as a person's clock reads it, `offset_s` east of UTC: "23:40" on
/// the day of `now`, "Tue 8 Dec 23:40" on another.
pub fn local_time(at: i64, now: i64, offset_s: i32) -> String {
    let zone = FixedOffset::east_opt(offset_s).unwrap_or_else(|| Utc.fix());
    let local = |ms| DateTime::<Utc>::from_timestamp_millis(ms).map(|d| d.with_timezone(&zone));
    match (local(at), local(now)) {
        (Some(a), Some(n)) if a.date_naive() == n.date_naive() => a.format("%H:%M").to_string(),
        (Some(a), _) => a.format("%a %-d %b %H:%M").to_string(),
        (None, _) => "?".into(),
    }
}

/// How far ahead `at` is, a started minute counted whole: "7h 12m",
/// "25m", "2d 3h"; "now" once passed.
pub fn time_left(at: i64, now: i64) -> String {
    let m = (at - now).saturating_add(59_999).div_euclid(60_000);
    match m {
        ..=0 => "now".into(),
        1..60 => format!("{m}m"),
        60..1440 => format!("{}h {}m", m / 60, m % 60),
        _ => format!("{}d {}h", m / 1440, m % 1440 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_a_clock_and_a_distance() {
        // 2027-01-15 08:00:00 UTC.
        let now = 1_800_000_000_000 - 1_800_000_000_000 % HOUR_MS;
        let later = now + 7 * HOUR_MS + 12 * 60_000;
        assert_eq!(local_time(later, now, 0), "15:12");
        assert_eq!(local_time(later, now, 3600), "16:12");
        assert_eq!(local_time(now + 24 * HOUR_MS, now, 0), "Sat 16 Jan 08:00");
        assert_eq!(time_left(later, now), "7h 12m");
        assert_eq!(time_left(now + 25 * 60_000, now), "25m");
        assert_eq!(time_left(now + 51 * HOUR_MS, now), "2d 3h");
        assert_eq!(time_left(later - 600, now), "7h 12m");
        assert_eq!(time_left(now - 1, now), "now");
    }
}
