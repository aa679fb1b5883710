//! The advisory locks: the chain lock, which serialises the writers of
//! every replica, and the migrations'.

use crate::audit::chain::Head;
use std::sync::LazyLock;

/// The advisory lock that serialises writers (and migrations): public
/// for tests that hold it as another replica would.
pub const CHAIN_LOCK: i64 = 0x0063_6f75_6e74_6572; // "counter" in ASCII
pub(super) const MIGRATION_LOCK: i64 = 0x0063_6f75_6e74_6573;
/// Waits for the chain lock and takes it (simple protocol).
pub(super) static TAKE_CHAIN_LOCK: LazyLock<String> =
    LazyLock::new(|| format!("SELECT pg_advisory_xact_lock({CHAIN_LOCK})"));
/// The chain lock and the head (`locked`, `seq`, `hash`): waiting for the
/// lock (`true`), or only if it is free (`false`; schema 8).
pub(super) const CHAIN_HEAD: &str = "SELECT locked, seq, hash FROM countersign_chain_head($1, $2)";

/// The chain lock and the head, in one statement ([`CHAIN_HEAD`]): the
/// head when the lock is held (the genesis head of an empty chain).
pub(super) async fn chain_head<C: deadpool_postgres::GenericClient + Sync>(
    client: &C,
    wait: bool,
) -> Result<Option<Head>, tokio_postgres::Error> {
    let statement = client.prepare_cached(CHAIN_HEAD).await?;
    let row = client.query_one(&statement, &[&CHAIN_LOCK, &wait]).await?;
    if !row.try_get::<_, bool>("locked")? {
        return Ok(None);
    }
    let seq: Option<i64> = row.try_get("seq")?;
    let hash: Option<String> = row.try_get("hash")?;
    Ok(Some(match (seq, hash) {
        (Some(seq), Some(hash)) => Head { seq, hash },
        _ => Head::genesis(),
    }))
}
