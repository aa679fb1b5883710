//! WAL checkpoints, mostly off the writer's path.
//!
//! By default SQLite checkpoints inside the committing connection once the
//! WAL passes 1,000 pages: the writer thread then copies those pages into
//! the database file and waits for its fsync while every queued write waits
//! behind it. Here a thread with its own connection copies committed pages
//! in the background, after commits, at most every [`EVERY`].
//!
//! The WAL is reused from its start only by a write that begins when every
//! page in it has been copied; under steady writes a background copy never
//! quite catches up with the writer. So the writer still checkpoints, less
//! often ([`WRITER_CHECKPOINT_PAGES`]): by then the checkpointer has copied
//! all but the last moments' pages, the writer copies those, and its next
//! write starts the WAL over. Should readers keep it from starting over for
//! long, the checkpointer waits for them and truncates it
//! ([`TRUNCATE_PAGES`]).
//!
//! Durability is unchanged: a commit is durable once its WAL frames are
//! synced (`synchronous=FULL`); a checkpoint only copies committed frames
//! into the database file, and syncs it before the WAL may be reused.

use crate::server::store::{ChangeSet, StoreError};
use rusqlite::Connection;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};

/// Most often the checkpointer runs while writes go on: each run copies
/// the newest version of every page written since the last one, so runs
/// further apart copy a busy page once where runs close together copy it
/// each time; runs closer together leave the writer less to copy.
const EVERY: Duration = Duration::from_millis(50);

/// The WAL's length, in pages, at which the writer checkpoints after its
/// commit (SQLite's automatic checkpoint), which lets the next write start
/// the WAL over: 4 times SQLite's default, and most of the pages copied
/// already. Also the backstop, should the checkpointer stop.
pub(super) const WRITER_CHECKPOINT_PAGES: i64 = 4_000;

/// A WAL this many pages long after a passive checkpoint has not started
/// over for a long while (readers held old snapshots whenever the writer
/// could have): the checkpointer then waits for readers, up to
/// [`TRUNCATE_WAIT`], and truncates it.
const TRUNCATE_PAGES: i64 = 4 * WRITER_CHECKPOINT_PAGES;

/// How long a truncating checkpoint waits for readers and the writer
/// (new writes wait while it does); if they are still busy, it gives up
/// and tries again on its next run.
const TRUNCATE_WAIT: Duration = Duration::from_millis(200);

/// Starts the checkpointer for the database at `path` (migrated, in WAL
/// mode), woken by `changes` (sent after commits). It stops when every
/// sender of `changes` is gone, that is, when the store is.
pub(super) fn start(
    path: &Path,
    changes: broadcast::Receiver<Arc<ChangeSet>>,
) -> Result<(), StoreError> {
    let conn = Connection::open(path)
        .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
    conn.busy_timeout(TRUNCATE_WAIT)?;
    // The database file is synced before the WAL is reused, as the writer's.
    conn.pragma_update(None, "synchronous", "FULL")?;
    std::thread::Builder::new()
        .name("sqlite-checkpt".into())
        .spawn(move || run(&conn, changes))
        .map_err(|e| StoreError::Internal(format!("cannot start checkpoint thread: {e}")))?;
    Ok(())
}

fn run(conn: &Connection, mut changes: broadcast::Receiver<Arc<ChangeSet>>) {
    let mut last = Instant::now();
    loop {
        match changes.blocking_recv() {
            Ok(_) | Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return,
        }
        // Commits arriving meanwhile are taken by this run.
        std::thread::sleep(EVERY.saturating_sub(last.elapsed()));
        loop {
            match changes.try_recv() {
                Ok(_) | Err(TryRecvError::Lagged(_)) => {}
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Closed) => return,
            }
        }
        last = Instant::now();
        if let Err(e) = checkpoint(conn) {
            // Nothing is lost: the WAL holds every commit, and the next run
            // (or the writer's own checkpoint) copies it.
            tracing::warn!("WAL checkpoint failed: {e}");
        }
    }
}

/// One passive checkpoint (never waits for readers or the writer), and a
/// truncating one when the WAL has grown long all the same.
fn checkpoint(conn: &Connection) -> rusqlite::Result<()> {
    let pages = wal_checkpoint(conn, "PASSIVE")?;
    if pages >= TRUNCATE_PAGES {
        wal_checkpoint(conn, "TRUNCATE")?;
    }
    Ok(())
}

/// Runs `PRAGMA wal_checkpoint(mode)`; returns the WAL's length in pages.
fn wal_checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<i64> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
        r.get::<_, i64>(1)
    })
}
