//! `token list`: aligned columns for people, one JSON array for machines.

use crate::domain::machine::Millis;
use crate::domain::records::TokenRecord;
use chrono::{DateTime, Utc};

const HEADER: [&str; 8] = [
    "ID",
    "NAME",
    "ROLE",
    "CREATED",
    "LAST USED",
    "EXPIRES",
    "SCOPE",
    "STATE",
];

/// A time as people read it: `2026-12-07 06:40:12 UTC`.
pub fn when(ms: Millis) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).map_or_else(
        || format!("{ms} ms since the epoch"),
        |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    )
}

/// The scope as the listing shows it; an unreadable one is said so (the
/// server refuses that token).
pub fn scope_text(t: &TokenRecord) -> String {
    match t.scope() {
        Ok(s) if s.is_any() => "any".to_owned(),
        Ok(s) => s.describe(),
        Err(_) => "UNREADABLE (refused)".to_owned(),
    }
}

/// `active`, `expired`, or `revoked at …`.
pub fn state(t: &TokenRecord, now: Millis) -> String {
    match t.revoked_at {
        Some(at) => format!("revoked at {}", when(at)),
        None if t.expired(now) => "expired".to_owned(),
        None => "active".to_owned(),
    }
}

fn row(t: &TokenRecord, now: Millis) -> [String; 8] {
    [
        t.id.clone(),
        t.name.clone(),
        t.role.to_string(),
        when(t.created_at),
        t.last_used_at.map_or_else(|| "never".to_owned(), when),
        t.expires_at.map_or_else(|| "never".to_owned(), when),
        scope_text(t),
        state(t, now),
    ]
}

/// The table: each column as wide as its widest cell, two spaces apart.
pub fn table(tokens: &[TokenRecord], now: Millis) -> String {
    let rows: Vec<[String; 8]> = std::iter::once(HEADER.map(str::to_owned))
        .chain(tokens.iter().map(|t| row(t, now)))
        .collect();
    let mut widths = [0usize; 8];
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for r in &rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            if i + 1 < r.len() {
                line.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            } else {
                line.push_str(cell);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// One token for `--json`: the record, its scope as an object (`null`:
/// any) and its state.
fn json(t: &TokenRecord, now: Millis) -> anyhow::Result<serde_json::Value> {
    let mut v = serde_json::to_value(t)?;
    let scope = match t.scope() {
        Ok(s) if s.is_any() => serde_json::Value::Null,
        Ok(s) => serde_json::to_value(s)?,
        Err(e) => serde_json::json!({ "unreadable": e.to_string() }),
    };
    let state = match t.revoked_at {
        Some(_) => "revoked",
        None if t.expired(now) => "expired",
        None => "active",
    };
    if let Some(o) = v.as_object_mut() {
        o.insert("scope".into(), scope);
        o.insert("state".into(), state.into());
    }
    Ok(v)
}

pub fn print(tokens: &[TokenRecord], as_json: bool, now: Millis) -> anyhow::Result<()> {
    if as_json {
        let all = tokens
            .iter()
            .map(|t| json(t, now))
            .collect::<anyhow::Result<Vec<_>>>()?;
        println!("{}", serde_json::to_string_pretty(&all)?);
    } else {
        print!("{}", table(tokens, now));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::types::TokenRole;

    fn token(name: &str) -> TokenRecord {
        TokenRecord {
            id: format!("id-{name}"),
            name: name.into(),
            role: TokenRole::Agent,
            created_at: 0,
            revoked_at: None,
            expires_at: None,
            last_used_at: None,
            scope: None,
        }
    }

    #[test]
    fn columns_line_up_and_states_read() {
        let mut expired = token("old");
        expired.expires_at = Some(1_000);
        let mut revoked = token("gone-bot");
        revoked.revoked_at = Some(0);
        let mut bad = token("bad");
        bad.scope = Some("{not json".into());
        let text = table(&[token("soar-bot"), expired, revoked, bad], 2_000);
        let lines: Vec<&str> = text.lines().collect();
        let col = |l: &str, name: &str| lines[0].find(name).map(|i| l[i..].to_owned());
        assert!(lines[0].starts_with("ID "));
        assert_eq!(
            col(lines[1], "NAME").unwrap().split_whitespace().next(),
            Some("soar-bot")
        );
        assert!(col(lines[2], "STATE").unwrap().starts_with("expired"));
        assert!(
            col(lines[3], "STATE")
                .unwrap()
                .starts_with("revoked at 1970-01-01")
        );
        assert!(col(lines[4], "SCOPE").unwrap().starts_with("UNREADABLE"));
        assert!(col(lines[1], "EXPIRES").unwrap().starts_with("never"));
    }
}
