//! `countersign token create|list|rotate|revoke`: works on the database
//! directly, so the server need not run (SQLite's WAL lets both share the
//! file). Tokens expire (`--ttl`, `[tokens] ttl`), rotate with a grace
//! for the old one, are revoked one at a time by id, and may carry a
//! scope (`--actions`, `--targets`). Stdout holds only a new token, so
//! `TOKEN=$(countersign token create …)` works; everything else goes to
//! stderr.

mod list;

use crate::config::FileConfig;
use crate::domain::machine::Millis;
use crate::domain::records::TokenRecord;
use crate::domain::scope::Scope;
use crate::domain::time::now_millis;
use crate::domain::types::TokenRole;
use crate::server::auth::new_token;
use crate::server::serve::{DbUrl, open_store};
use crate::server::store::ops::{ListTokens, RevokeToken, RotateToken};
use crate::server::store::{NewToken, Store};
use clap::{Args, Subcommand};
use std::process::ExitCode;
use std::sync::Arc;

use list::when;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token; prints it once on stdout. Only its hash is stored.
    Create(CreateArgs),
    /// List tokens in columns (never the secrets); `--json` for machines.
    List(ListArgs),
    /// Replace a token: prints a new one with the same name, role and
    /// scope; the old one keeps working for a grace period, then stops.
    Rotate(RotateArgs),
    /// Revoke one token, by id (see `token list`).
    Revoke(RevokeArgs),
}

#[derive(Debug, Args)]
pub struct DbArg {
    /// Database URL (as for `serve --db`)
    #[arg(long, env = "COUNTERSIGN_DB")]
    pub db: Option<String>,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Identity the token acts as (the agent's name, e.g. soar-bot)
    #[arg(long)]
    pub name: String,
    /// agent: submits proposals; reviewer: reads the queue
    #[arg(long, default_value = "agent")]
    pub role: TokenRole,
    /// How long it works: 90s, 30m, 12h, 30d, or `never` (default: the
    /// config's `[tokens] ttl`, else 90d)
    #[arg(long)]
    pub ttl: Option<String>,
    /// The action kinds it may propose, comma-separated
    /// (isolate_host,block_indicator); default any
    #[arg(long)]
    pub actions: Option<String>,
    /// The targets it may propose actions on, comma-separated patterns
    /// ('ws-*,10.0.0.0/8'); default any
    #[arg(long)]
    pub targets: Option<String>,
    #[command(flatten)]
    pub db: DbArg,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// One JSON array, for machines
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub db: DbArg,
}

#[derive(Debug, Args)]
#[group(id = "which", required = true, multiple = false, args = ["name", "id"])]
pub struct RotateArgs {
    /// Rotate the active token(s) with this name
    #[arg(long)]
    pub name: Option<String>,
    /// Rotate the token with this id
    #[arg(long)]
    pub id: Option<String>,
    /// How long the old token keeps working (default: the config's
    /// `[tokens] rotate_grace`, else 24h)
    #[arg(long)]
    pub grace: Option<String>,
    /// The new token's lifetime, as for `create`
    #[arg(long)]
    pub ttl: Option<String>,
    #[command(flatten)]
    pub db: DbArg,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The token's id (see `token list`)
    #[arg(value_name = "ID", conflicts_with_all = ["id", "name"])]
    pub token: Option<String>,
    /// The same, as a flag
    #[arg(long, conflicts_with = "name")]
    pub id: Option<String>,
    /// The token with this name, only if exactly one is active
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    pub db: DbArg,
}

/// The database in force, and whether anything named it (`--db`,
/// `COUNTERSIGN_DB` or `[server] db`) rather than the built-in default.
fn database(flag: Option<String>, file: &FileConfig) -> anyhow::Result<(DbUrl, bool)> {
    let named = flag.is_some() || file.server.db.is_some();
    Ok((super::db_url(flag, file)?, named))
}

async fn open(flag: Option<String>, file: &FileConfig) -> anyhow::Result<Arc<dyn Store>> {
    Ok(open_store(&database(flag, file)?.0).await?)
}

/// A database URL fit to print: a PostgreSQL password is hidden.
fn shown(db: &DbUrl) -> String {
    let text = db.to_string();
    let DbUrl::Postgres(_) = db else {
        return text;
    };
    let Some((scheme, rest)) = text.split_once("://") else {
        return text;
    };
    match rest.rsplit_once('@') {
        Some((user, host)) if user.contains(':') => {
            let name = user.split(':').next().unwrap_or_default();
            format!("{scheme}://{name}:***@{host}")
        }
        _ => text,
    }
}

/// Says on stderr where a new token was written, so one written to the
/// wrong database is noticed now, not at its first 401.
fn tell_database(db: &DbUrl, named: bool) {
    if named {
        eprintln!("written to {}", shown(db));
    } else {
        eprintln!(
            "written to the default database {} (no --db, COUNTERSIGN_DB or [server] db named \
             one); a server started with another --db does not know this token: pass the \
             server's --db (or set COUNTERSIGN_DB) to write it there",
            shown(db)
        );
    }
}

/// When a token with this lifetime made `now` expires, and how to say so.
fn expiry(ttl: Option<i64>, now: Millis) -> (Option<Millis>, String) {
    match ttl {
        Some(ms) => {
            let at = now.saturating_add(ms);
            (Some(at), format!("it expires at {}", when(at)))
        }
        None => (None, "it never expires".to_owned()),
    }
}

/// `--ttl never` is allowed, but said loudly: such a token works until
/// someone remembers to revoke it.
fn warn_never(ttl: Option<i64>) {
    if ttl.is_none() {
        eprintln!(
            "WARNING: this token NEVER EXPIRES; a leaked copy works until it is revoked \
             (countersign token revoke ID). Prefer a --ttl and `token rotate`."
        );
    }
}

pub async fn run(cmd: TokenCommand, file: &FileConfig) -> anyhow::Result<ExitCode> {
    match cmd {
        TokenCommand::Create(args) => create(args, file).await?,
        TokenCommand::List(args) => {
            let store = open(args.db.db, file).await?;
            list::print(&store.run(ListTokens).await?, args.json, now_millis())?;
        }
        TokenCommand::Rotate(args) => rotate(args, file).await?,
        TokenCommand::Revoke(args) => revoke(args, file).await?,
    }
    Ok(ExitCode::SUCCESS)
}

async fn create(args: CreateArgs, file: &FileConfig) -> anyhow::Result<()> {
    anyhow::ensure!(
        crate::domain::limits::valid_agent_name(&args.name),
        "--name must be 1-64 characters of letters, digits, - _ . @"
    );
    let ttl = file
        .tokens
        .ttl_ms(args.ttl.as_deref())
        .map_err(anyhow::Error::msg)?;
    let scope = Scope::parse(args.actions.as_deref(), args.targets.as_deref())?;
    anyhow::ensure!(
        scope.is_any() || args.role == TokenRole::Agent,
        "--actions and --targets limit what an agent may propose; a {} token proposes nothing",
        args.role
    );
    let (db, named) = database(args.db.db, file)?;
    let store = open_store(&db).await?;
    let now = now_millis();
    let (expires_at, expires) = expiry(ttl, now);
    let (token, hash) = new_token();
    let rec = store
        .run(NewToken {
            name: args.name,
            role: args.role,
            hash,
            created_at: now,
            expires_at,
            scope: scope.clone(),
        })
        .await?;
    println!("{token}");
    eprintln!(
        "created {} token `{}` (id {}); {expires}; scope: {}; it is shown only now",
        rec.role,
        rec.name,
        rec.id,
        list::scope_text(&rec)
    );
    warn_never(ttl);
    tell_database(&db, named);
    Ok(())
}

/// Active: neither revoked nor expired at `now`.
fn active(t: &TokenRecord, now: Millis) -> bool {
    t.revoked_at.is_none() && !t.expired(now)
}

fn ids(tokens: &[&TokenRecord]) -> String {
    tokens
        .iter()
        .map(|t| t.id.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The active tokens a rotation replaces: the one with `--id`, or every
/// one with `--name` (they must agree on role and scope: the new token
/// takes them over).
fn to_rotate<'a>(
    tokens: &'a [TokenRecord],
    args: &RotateArgs,
    now: Millis,
) -> anyhow::Result<Vec<&'a TokenRecord>> {
    let old: Vec<&TokenRecord> = match (&args.id, &args.name) {
        (Some(id), _) => {
            let t = tokens
                .iter()
                .find(|t| &t.id == id)
                .ok_or_else(|| anyhow::anyhow!("no token with id {id} (see `token list`)"))?;
            anyhow::ensure!(
                active(t, now),
                "token {id} no longer works (it is {}); create a new one with `token create`",
                list::state(t, now)
            );
            vec![t]
        }
        (None, Some(name)) => tokens
            .iter()
            .filter(|t| &t.name == name && active(t, now))
            .collect(),
        (None, None) => anyhow::bail!("name the token to rotate: --name NAME or --id ID"),
    };
    let Some(first) = old.first() else {
        anyhow::bail!(
            "no active token named `{}`; create one with `token create`",
            args.name.as_deref().unwrap_or_default()
        );
    };
    if old
        .iter()
        .any(|t| t.role != first.role || t.scope != first.scope)
    {
        anyhow::bail!(
            "the active tokens named `{}` differ in role or scope (ids {}); rotate one with --id",
            first.name,
            ids(&old)
        );
    }
    Ok(old)
}

async fn rotate(args: RotateArgs, file: &FileConfig) -> anyhow::Result<()> {
    let ttl = file
        .tokens
        .ttl_ms(args.ttl.as_deref())
        .map_err(anyhow::Error::msg)?;
    let grace = file
        .tokens
        .grace_ms(args.grace.as_deref())
        .map_err(anyhow::Error::msg)?;
    let (db, named) = database(args.db.db.clone(), file)?;
    let store = open_store(&db).await?;
    let now = now_millis();
    let tokens = store.run(ListTokens).await?;
    let old = to_rotate(&tokens, &args, now)?;
    let Some(template) = old.last() else {
        anyhow::bail!("nothing to rotate");
    };
    // Fail closed: an unreadable scope is not copied as "any".
    let scope = template.scope().map_err(|e| {
        anyhow::anyhow!("{e}; create a new token with --actions and --targets instead")
    })?;
    let until = now.saturating_add(grace);
    let (expires_at, expires) = expiry(ttl, now);
    let (token, hash) = new_token();
    let rec = store
        .run(RotateToken {
            old: old.iter().map(|t| t.id.clone()).collect(),
            old_until: until,
            new: NewToken {
                name: template.name.clone(),
                role: template.role,
                hash,
                created_at: now,
                expires_at,
                scope,
            },
        })
        .await?;
    println!("{token}");
    eprintln!(
        "rotated {} token `{}`: the new one (id {}) is shown only now; {expires}; scope: {}",
        rec.role,
        rec.name,
        rec.id,
        list::scope_text(&rec)
    );
    for t in &old {
        let stops = t.expires_at.map_or(until, |at| at.min(until));
        eprintln!(
            "the old token {} keeps working until {}, then stops",
            t.id,
            when(stops)
        );
    }
    warn_never(ttl);
    tell_database(&db, named);
    Ok(())
}

async fn revoke(args: RevokeArgs, file: &FileConfig) -> anyhow::Result<()> {
    let store = open(args.db.db, file).await?;
    let now = now_millis();
    let id = match (args.token.or(args.id), args.name) {
        (Some(id), _) => id,
        (None, Some(name)) => one_by_name(&store.run(ListTokens).await?, &name, now)?,
        (None, None) => anyhow::bail!(
            "name the token to revoke by its id: `countersign token revoke ID` (see `token list`)"
        ),
    };
    if store
        .run(RevokeToken {
            id: id.clone(),
            now,
        })
        .await?
    {
        eprintln!("revoked token {id}; it stops working now");
        return Ok(());
    }
    let tokens = store.run(ListTokens).await?;
    match tokens.iter().find(|t| t.id == id) {
        Some(t) => anyhow::bail!("token {id} is already {}", list::state(t, now)),
        None => anyhow::bail!("no token with id {id} (see `token list`)"),
    }
}

/// The id of the one active token named `name`; never picks among several.
fn one_by_name(tokens: &[TokenRecord], name: &str, now: Millis) -> anyhow::Result<String> {
    let named: Vec<&TokenRecord> = tokens
        .iter()
        .filter(|t| t.name == name && active(t, now))
        .collect();
    match named.as_slice() {
        [one] => Ok(one.id.clone()),
        [] => anyhow::bail!("no active token named `{name}` (see `token list`)"),
        many => anyhow::bail!(
            "{} active tokens are named `{name}` (ids {}); revoke one by its id: \
             `countersign token revoke ID`",
            many.len(),
            ids(many)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_postgresql_password_is_not_shown() {
        let db: DbUrl = "postgres://bot:s3cret@db.example:5432/gate"
            .parse()
            .unwrap();
        assert_eq!(shown(&db), "postgres://bot:***@db.example:5432/gate");
        let db: DbUrl = "postgres://bot@db.example/gate".parse().unwrap();
        assert_eq!(shown(&db), "postgres://bot@db.example/gate");
        let db: DbUrl = "sqlite:gate.db".parse().unwrap();
        assert_eq!(shown(&db), "sqlite:gate.db");
    }
}
