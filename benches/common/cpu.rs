//! Where the machine's CPU went over a stretch of a benchmark, from
//! `/proc` (Linux): this process's threads by name, PostgreSQL's backends
//! by database, everything else, and idle. Sampled before and after each
//! slice, summed per figure, shown per write.

use std::collections::BTreeMap;
use std::ops::AddAssign;

/// Clock ticks, by what spent them.
#[derive(Clone, Default, Debug)]
pub struct Ticks(pub BTreeMap<String, i64>);

impl Ticks {
    fn add(&mut self, what: &str, n: i64) {
        *self.0.entry(what.to_owned()).or_default() += n;
    }

    /// What was spent between `before` and `self`.
    pub fn since(&self, before: &Ticks) -> Ticks {
        let mut d = self.clone();
        for (k, v) in &before.0 {
            d.add(k, -v);
        }
        d
    }

    pub fn get(&self, what: &str) -> i64 {
        self.0.get(what).copied().unwrap_or(0)
    }
}

impl AddAssign<&Ticks> for Ticks {
    fn add_assign(&mut self, other: &Ticks) {
        for (k, v) in &other.0 {
            self.add(k, *v);
        }
    }
}

/// utime + stime of a `/proc/…/stat` line (fields 14 and 15), and its
/// name.
fn stat_of(path: &str) -> Option<(String, i64)> {
    let s = std::fs::read_to_string(path).ok()?;
    let open = s.find('(')?;
    let close = s.rfind(')')?;
    let name = s[open + 1..close].to_owned();
    let rest: Vec<&str> = s[close + 2..].split(' ').collect();
    let utime: i64 = rest.get(11)?.parse().ok()?;
    let stime: i64 = rest.get(12)?.parse().ok()?;
    Some((name, utime + stime))
}

/// Now: `idle` and `busy` for the whole machine; `this: NAME` for this
/// process's threads (the number at the end of a name dropped);
/// `postgres: DB` for backends serving database DB, `postgres` for the
/// rest of PostgreSQL; `others` for every other process.
pub fn sample() -> Ticks {
    let mut t = Ticks::default();
    if let Ok(s) = std::fs::read_to_string("/proc/stat")
        && let Some(line) = s.lines().next()
    {
        let f: Vec<i64> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|v| v.parse().ok())
            .collect();
        let idle = f.get(3).copied().unwrap_or(0) + f.get(4).copied().unwrap_or(0);
        t.add("idle", idle);
        t.add("busy", f.iter().take(8).sum::<i64>() - idle);
    }
    let me = std::process::id();
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            let path = format!("{}/stat", task.path().display());
            if let Some((name, n)) = stat_of(&path) {
                let name = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-');
                t.add(&format!("this: {name}"), n);
            }
        }
    }
    if let Ok(procs) = std::fs::read_dir("/proc") {
        for p in procs.flatten() {
            let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if pid == me {
                continue;
            }
            let Some((name, n)) = stat_of(&format!("/proc/{pid}/stat")) else {
                continue;
            };
            if name != "postgres" {
                t.add("others", n);
                continue;
            }
            // "postgres: USER DB HOST(PORT) STATE" for a backend.
            let cmd = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let words: Vec<&str> = cmd.split([' ', '\0']).collect();
            match words.get(2) {
                Some(db) if words.first() == Some(&"postgres:") && words.len() > 4 => {
                    t.add(&format!("postgres: {db}"), n)
                }
                _ => t.add("postgres", n),
            }
        }
    }
    t
}

/// Microseconds per write of `ticks` (/proc counts in USER_HZ, 100 a
/// second on Linux).
pub fn per_write(ticks: i64, writes: u64) -> f64 {
    ticks as f64 * 10_000.0 / writes.max(1) as f64
}

/// Microseconds of the whole machine's busy CPU per write.
pub fn busy_per_write(t: &Ticks, writes: u64) -> f64 {
    per_write(t.get("busy"), writes)
}

/// Busy CPU per write split into what every write costs and what every
/// transaction costs (shared by its writes), from two figures of the same
/// work at two batch sizes: `(per write, writes per commit)` each.
/// `busy = per_write + per_transaction / writes_per_commit`. `None` when
/// the batch sizes are too close to tell the two apart.
pub fn per_write_and_transaction(a: (f64, f64), b: (f64, f64)) -> Option<(f64, f64)> {
    let ((ca, na), (cb, nb)) = (a, b);
    let spread = 1.0 / nb.max(1e-9) - 1.0 / na.max(1e-9);
    if spread.abs() < 0.01 {
        return None;
    }
    let per_transaction = (cb - ca) / spread;
    Some((ca - per_transaction / na, per_transaction))
}
