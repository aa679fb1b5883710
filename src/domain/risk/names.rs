//! A target as the systems that act on it read it: `SRV-PAY-01`,
//! ` srv-pay-01`, `corp\srv-pay-01`, `srv-pay-01@CORP`, `host:srv-pay-01`,
//! `srv-pay-01.corp.example` and `srv‐pay-01` (U+2010) all name the host
//! `srv-pay-01`. Patterns are matched against every spelling here; adding
//! a spelling can only make a match more likely, never less.

use unicode_normalization::UnicodeNormalization;

/// Dashes and hyphens that look like `-` (Unicode's confusables for
/// U+002D HYPHEN-MINUS).
const HYPHENS: &[char] = &[
    '\u{2010}', '\u{2011}', '\u{2012}', '\u{2013}', '\u{2014}', '\u{2015}', '\u{2043}', '\u{2212}',
    '\u{fe58}', '\u{fe63}', '\u{ff0d}', '\u{02d7}', '\u{06d4}', '\u{2e3a}', '\u{2e3b}',
];

/// Full stops that resolvers read as `.` (UTS-46).
const DOTS: &[char] = &['\u{3002}', '\u{ff0e}', '\u{ff61}'];

/// Prefixes that say what a name is (`host:ws-1`, `user=alice`).
const KIND_PREFIXES: &[&str] = &[
    "host",
    "hostname",
    "device",
    "computer",
    "machine",
    "server",
    "node",
    "endpoint",
    "user",
    "account",
    "principal",
    "sam",
    "upn",
    "sid",
    "process",
    "proc",
    "file",
    "path",
    "pid",
    "name",
];

/// One canonical form: NFKC, confusable hyphens and dots mapped, surrounding
/// whitespace trimmed, lower case.
pub fn canonical(s: &str) -> String {
    s.nfkc()
        .map(|c| {
            if HYPHENS.contains(&c) {
                '-'
            } else if DOTS.contains(&c) {
                '.'
            } else {
                c
            }
        })
        .collect::<String>()
        .trim()
        .to_lowercase()
}

/// [`canonical`], without the work for text that is canonical already
/// (lower-case visible ASCII: nearly every pattern).
pub fn canonical_cow(s: &str) -> std::borrow::Cow<'_, str> {
    if s.bytes()
        .all(|b| b.is_ascii_graphic() && !b.is_ascii_uppercase())
    {
        std::borrow::Cow::Borrowed(s)
    } else {
        std::borrow::Cow::Owned(canonical(s))
    }
}

/// A path as operating systems read it: `\` as `/`, `\\?\` and `\??\`
/// dropped, `%SystemRoot%` expanded, `.` and `..` resolved, repeated and
/// trailing separators dropped. Lower case (a canonical form already is).
pub fn path(canon: &str) -> Option<String> {
    let mut p = canon.replace('\\', "/");
    if let Some(rest) = p.strip_prefix("file://") {
        // `file:///c:/x` is `c:/x`; `file://host/c$/x` a share on host.
        p = match rest.strip_prefix('/') {
            Some(local) => local.to_owned(),
            None => format!("//{rest}"),
        };
    }
    for prefix in ["//?/unc/", "//?/", "/??/", "//./"] {
        if let Some(rest) = p.strip_prefix(prefix) {
            p = if prefix.ends_with("unc/") {
                format!("//{rest}")
            } else {
                rest.to_owned()
            };
            break;
        }
    }
    // An admin share names a drive: `\\host\c$\x` is `c:/x` on host.
    if let Some(rest) = p.strip_prefix("//")
        && let Some((_, share)) = rest.split_once('/')
        && share.len() >= 2
        && share.as_bytes()[1] == b'$'
        && share.as_bytes()[0].is_ascii_alphabetic()
    {
        p = format!("{}:{}", &share[..1], &share[2..]);
    }
    // The NT namespace: `\SystemRoot\`, `\Device\HarddiskVolume3\`.
    if let Some(rest) = p.strip_prefix("/systemroot") {
        p = format!("c:/windows{rest}");
    }
    if let Some(rest) = p.strip_prefix("/device/harddiskvolume") {
        let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
        p = format!("c:{rest}");
    }
    // A process's view of the root (`/proc/1/root/etc`) is the root.
    if let Some(rest) = p.strip_prefix("/proc/")
        && let Some((_, after)) = rest.split_once("/root")
        && (after.is_empty() || after.starts_with('/'))
    {
        p = format!("/{after}");
    }
    for (var, value) in [
        ("%systemroot%", "c:/windows"),
        ("%windir%", "c:/windows"),
        ("%systemdrive%", "c:"),
        ("%programfiles%", "c:/program files"),
        ("%programdata%", "c:/programdata"),
        ("$env:systemroot", "c:/windows"),
        ("$env:windir", "c:/windows"),
        ("$env:systemdrive", "c:"),
        ("$env:programfiles", "c:/program files"),
    ] {
        p = p.replace(var, value);
    }
    let drive = p.len() >= 2 && p.as_bytes()[1] == b':' && p.as_bytes()[0].is_ascii_alphabetic();
    if !(p.starts_with('/') || drive) {
        return None;
    }
    let (root, rest) = if drive {
        (p[..2].to_owned(), &p[2..])
    } else {
        (String::new(), p.as_str())
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in rest.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            x => parts.push(x),
        }
    }
    Some(format!("{root}/{}", parts.join("/")))
}

/// Every spelling of a target to match patterns against, the canonical
/// form first.
pub fn spellings(target: &str) -> Vec<String> {
    let canon = canonical(target);
    let quotes: &[char] = &[
        '"', '\'', '`', '\u{201c}', '\u{201d}', '\u{2018}', '\u{2019}',
    ];
    let unquoted = canon.trim_matches(quotes).trim();
    if unquoted != canon && !unquoted.is_empty() {
        let mut out = vec![canon.clone()];
        out.extend(spellings(unquoted).into_iter().filter(|s| *s != canon));
        return out;
    }
    let mut out = vec![canon.clone()];
    let mut add = |s: &str| {
        let s = s.trim();
        if !s.is_empty() && !out.iter().any(|o| o == s) {
            out.push(s.to_owned());
        }
    };
    // `host:name`, `user=name`, `pid 1`
    let mut bare = canon.as_str();
    for k in KIND_PREFIXES {
        if let Some(rest) = bare.strip_prefix(k)
            && let Some(rest) = rest.strip_prefix([':', '=', ' ', '/'])
            && !rest.starts_with('/')
        {
            bare = rest.trim();
            break;
        }
    }
    add(bare);
    if let Some(p) = path(bare) {
        add(&p);
        if let Some(base) = p.rsplit('/').next() {
            add(base);
            add(base.strip_suffix(".exe").unwrap_or(base));
        }
        return out;
    }
    // A directory's distinguished name (`cn=administrator,cn=users,…`)
    // and canonical name (`corp.example/users/administrator`).
    let mut name = bare;
    if let Some(rest) = name.strip_prefix("cn=") {
        name = rest.split(',').next().unwrap_or(rest);
        add(name);
    } else if let Some((_, last)) = name.rsplit_once('/') {
        name = last;
        add(name);
    }
    // A computer account (`dc01$`) is its host.
    if let Some(host) = name.strip_suffix('$') {
        add(host);
    }
    // `DOMAIN\name`, `name@realm`, and a host's FQDN against its short name.
    if let Some((_, n)) = name.rsplit_once('\\') {
        name = n;
        add(name);
    }
    if let Some((n, _)) = name.split_once('@') {
        name = n;
        add(name);
    }
    if !name.contains(':')
        && !name.contains('/')
        && name.parse::<std::net::IpAddr>().is_err()
        && let Some((short, _)) = name.split_once('.')
    {
        add(short);
    }
    add(name.strip_suffix(".exe").unwrap_or(name));
    out
}

/// Does the pattern (as `[assets]` writes it: `*`, `?`) match any spelling
/// of the target? The pattern is read in canonical form too.
pub fn matches(pattern: &str, spellings: &[String]) -> bool {
    let p = canonical_cow(pattern);
    let p = p.as_ref();
    spellings
        .iter()
        .any(|s| crate::domain::permissions::pattern::matches(p, s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_host_many_spellings() {
        for t in [
            "SRV-PAY-01",
            " srv-pay-01",
            "corp\\srv-pay-01",
            "srv-pay-01@CORP.EXAMPLE",
            "host:srv-pay-01",
            "srv\u{2010}pay-01",
            "srv-pay-01.corp.example",
            "ｓｒｖ－ｐａｙ－０１",
        ] {
            assert!(
                matches("srv-pay-*", &spellings(t)),
                "{t}: {:?}",
                spellings(t)
            );
        }
        assert!(!matches("srv-pay-*", &spellings("srv-payroll")));
    }

    #[test]
    fn paths_and_processes() {
        let s = spellings("C:\\Windows\\System32\\..\\System32\\NTOSKRNL.EXE");
        assert!(
            s.contains(&"c:/windows/system32/ntoskrnl.exe".to_owned()),
            "{s:?}"
        );
        assert!(s.contains(&"ntoskrnl".to_owned()), "{s:?}");
        assert_eq!(path("/"), Some("/".into()));
        assert_eq!(path("//etc//./passwd/"), Some("/etc/passwd".into()));
        assert_eq!(
            path("%systemroot%\\system32"),
            Some("c:/windows/system32".into())
        );
        assert!(spellings("PID 1").contains(&"1".to_owned()));
        assert!(spellings("pid:1").contains(&"1".to_owned()));
        assert!(spellings("lsass.exe").contains(&"lsass".to_owned()));
    }
}
