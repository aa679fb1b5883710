//! Wildcard patterns (`*` any run, `?` one character), as IAM reads action
//! names and ARNs: is every string pattern A matches also matched by B?
//!
//! The answer must never be a wrong "yes" (that would hide new access). A
//! dynamic programme over both patterns: B's `*` may absorb any run of A,
//! A's own `*` and `?` included; A's `*` is contained only by B's `*`.
//! (parliament's glob test is overlap, not containment: not copied.)

fn wild(c: char) -> bool {
    c == '*' || c == '?'
}

/// Does every string `a` matches also match `b`?
pub fn contains(a: &str, b: &str) -> bool {
    // Fast answers for the common shapes; the full programme below for the
    // rest. Each is exact, so none can say "yes" wrongly.
    if b == "*" || a == b {
        return true;
    }
    if !b.contains(wild) {
        // A literal B holds only itself.
        return false;
    }
    // B's literal prefix must start A's literal text (`s3:Get*` cannot hold
    // `ec2:…`): most pairs in a large policy part here.
    // (If A's own wildcard came first, it matches strings without B's
    // prefix: not contained either.)
    let b_lit = &b[..b.find(wild).unwrap_or(b.len())];
    let a_lit = &a[..a.find(wild).unwrap_or(a.len())];
    if !a_lit.starts_with(b_lit) {
        return false;
    }
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    // memo[i][j]: a[i..] within b[j..]
    let mut memo = vec![vec![None; b.len() + 1]; a.len() + 1];
    within(&a, &b, 0, 0, &mut memo)
}

fn within(a: &[char], b: &[char], i: usize, j: usize, memo: &mut Vec<Vec<Option<bool>>>) -> bool {
    if let Some(v) = memo[i][j] {
        return v;
    }
    let v = if j == b.len() {
        i == a.len()
    } else if b[j] == '*' {
        // B's star matches nothing more, or absorbs A's next symbol.
        within(a, b, i, j + 1, memo) || (i < a.len() && within(a, b, i + 1, j, memo))
    } else if i == a.len() {
        false
    } else {
        match (a[i], b[j]) {
            // A's star matches strings B's literal or `?` cannot all match.
            ('*', _) => false,
            ('?', '?') => within(a, b, i + 1, j + 1, memo),
            ('?', _) => false,
            (_, '?') => within(a, b, i + 1, j + 1, memo),
            (x, y) => x == y && within(a, b, i + 1, j + 1, memo),
        }
    };
    memo[i][j] = Some(v);
    v
}

/// Does the pattern match this exact string? (Also OpenSSH's
/// allowed_signers patterns and the policy's asset patterns.)
pub fn matches(pattern: &str, text: &str) -> bool {
    // ASCII (nearly always): bytes are characters, nothing to collect.
    if pattern.is_ascii() && text.is_ascii() {
        return glob(pattern.as_bytes(), text.as_bytes(), b'*', b'?');
    }
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    glob(&p, &t, '*', '?')
}

/// `*` any run, `?` one symbol: the classic backtracking matcher, linear
/// in practice (it returns to the last star only).
fn glob<T: PartialEq + Copy>(p: &[T], t: &[T], any_run: T, one: T) -> bool {
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == one || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == any_run {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == any_run {
        pi += 1;
    }
    pi == p.len()
}

/// An OpenSSH pattern list (allowed_signers principals, the policy's
/// leads): some pattern matches and no `!pattern` does.
pub fn matches_list<'a>(patterns: impl IntoIterator<Item = &'a str>, text: &str) -> bool {
    let mut any = false;
    for pat in patterns {
        if let Some(neg) = pat.strip_prefix('!') {
            if matches(neg, text) {
                return false;
            }
        } else if matches(pat, text) {
            any = true;
        }
    }
    any
}

/// Is there a string both patterns match?
pub fn overlaps(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    // memo[i][j]: some string matches both a[i..] and b[j..]
    let mut memo = vec![vec![None; b.len() + 1]; a.len() + 1];
    meet(&a, &b, 0, 0, &mut memo)
}

fn meet(a: &[char], b: &[char], i: usize, j: usize, memo: &mut Vec<Vec<Option<bool>>>) -> bool {
    if let Some(v) = memo[i][j] {
        return v;
    }
    let v = match (a.get(i), b.get(j)) {
        (None, None) => true,
        // A star matches nothing more, or one more symbol of the other.
        (Some('*'), _) => meet(a, b, i + 1, j, memo) || (j < b.len() && meet(a, b, i, j + 1, memo)),
        (_, Some('*')) => meet(a, b, i, j + 1, memo) || (i < a.len() && meet(a, b, i + 1, j, memo)),
        (Some(x), Some(y)) => (*x == '?' || *y == '?' || x == y) && meet(a, b, i + 1, j + 1, memo),
        _ => false,
    };
    memo[i][j] = Some(v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn examples() {
        assert!(contains("s3:GetObject", "s3:Get*"));
        assert!(contains("s3:Get*", "s3:*"));
        assert!(!contains("s3:*", "s3:Get*"));
        assert!(contains("*", "*"));
        assert!(!contains("*", "a*"));
        assert!(contains("a*b", "a*"));
        assert!(contains("a?c", "a*"));
        assert!(!contains("a*", "a?"));
        assert!(contains("arn:aws:iam::*:role/x", "arn:aws:iam::*:role/*"));
        assert!(!contains(
            "arn:aws:iam::*:role/*",
            "arn:aws:iam::111:role/*"
        ));
    }

    /// Every string over {a, b} up to `n` long.
    fn strings(n: usize) -> Vec<String> {
        let mut out = vec![String::new()];
        let mut frontier = vec![String::new()];
        for _ in 0..n {
            let next: Vec<String> = frontier
                .iter()
                .flat_map(|s| ["a", "b"].map(|c| format!("{s}{c}")))
                .collect();
            out.extend(next.iter().cloned());
            frontier = next;
        }
        out
    }

    #[test]
    fn lists_and_overlaps() {
        assert!(matches_list(
            ["*@soc.example", "!mallory@soc.example"],
            "bob@soc.example"
        ));
        assert!(!matches_list(
            ["*@soc.example", "!mallory@soc.example"],
            "mallory@soc.example"
        ));
        assert!(
            !matches_list(["!mallory"], "bob"),
            "negations alone match nobody"
        );
        assert!(overlaps("c*", "*@soc.example"));
        assert!(overlaps("*", "alice"));
        assert!(!overlaps("carol", "*@soc.example"));
        assert!(!overlaps("a?", "abc*d"));
    }

    proptest! {
        /// Overlap agrees with brute force: a shared string exists exactly
        /// when one this short does (each symbol of it is some pattern's
        /// non-star symbol).
        #[test]
        fn overlap_agrees_with_brute_force(a in "[ab*?]{0,4}", b in "[ab*?]{0,4}") {
            let brute = strings(8).iter().any(|s| matches(&a, s) && matches(&b, s));
            prop_assert_eq!(overlaps(&a, &b), brute, "{} and {}", a, b);
        }

        /// Containment agrees with brute force: a "yes" is never wrong, and
        /// over short patterns a "no" has a witness string.
        #[test]
        fn agrees_with_brute_force(a in "[ab*?]{0,4}", b in "[ab*?]{0,4}") {
            let all = strings(7);
            let brute = all.iter().all(|s| !matches(&a, s) || matches(&b, s));
            let ours = contains(&a, &b);
            if ours {
                prop_assert!(brute, "{a} within {b} but a witness escapes");
            }
            if brute && !ours {
                // Strings longer than 7 could still escape; only patterns
                // without `*` in A are fully decided by the sample.
                prop_assert!(a.contains('*'), "{a} within {b} missed");
            }
        }
    }
}
