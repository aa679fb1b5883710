//! The embedded SQLite backend: WAL, `synchronous=FULL`, and group commit.
//!
//! One writer thread owns the write connection. Requests queue up while a
//! commit is in flight; the writer then runs every queued request in one
//! transaction and pays one fsync for all of them. Should one of them
//! refuse or fail, the batch is rolled back and run again with each request
//! in its own savepoint, so one refusal rolls back only itself. Nobody hears
//! "ok" before that commit returns. Reads use a small pool of read-only connections, which WAL
//! lets run beside the writer.

mod checkpoint;
mod engine;
pub(crate) mod tx;

use super::op::{Job, Lane};
use super::{ChangeSet, Routes, SinkRoute, Store, StoreError, WriteStats};
use async_trait::async_trait;
use rusqlite::Connection;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use tokio::sync::broadcast;
use tx::SqliteTx;

pub struct SqliteStore {
    path: PathBuf,
    jobs: mpsc::Sender<Box<dyn Job>>,
    /// Idle read connections, each with when it was last used.
    readers: Mutex<Vec<(Connection, std::time::Instant)>>,
    /// At most this many reads at once (and so at most this many read
    /// connections and blocking threads): a burst queues, it does not
    /// open a file per request.
    read_slots: tokio::sync::Semaphore,
    changes: broadcast::Sender<Arc<ChangeSet>>,
    stats: Arc<Counters>,
    /// Where writes hand their events ([`Store::route_events`]).
    routes: Routes,
}

#[derive(Default)]
struct Counters {
    commits: AtomicU64,
    writes: AtomicU64,
}

#[async_trait]
impl Store for SqliteStore {
    /// Writes queue for the writer thread's next group commit; reads run
    /// on a pooled read connection (in a snapshot when they ask for one),
    /// point reads on the caller's thread when one is free.
    async fn run_job(&self, job: Box<dyn Job>) -> Result<(), StoreError> {
        if job.lane() != Lane::Read {
            return self
                .jobs
                .send(job)
                .map_err(|_| StoreError::Unavailable("the database writer has stopped".into()));
        }
        let point = job.point();
        let run = move |c: &mut Connection| {
            let mut job = job;
            let ran = if job.snapshot() {
                engine::in_snapshot(c, |c| {
                    job.run_sqlite(&mut SqliteTx::new(c), &mut Vec::new());
                })
            } else {
                job.run_sqlite(&mut SqliteTx::new(c), &mut Vec::new());
                Ok(())
            };
            job.answer(&ran.map_err(|e| e.to_string()));
            Ok(())
        };
        if point {
            self.read_here(run).await
        } else {
            self.read(run).await
        }
    }

    fn route_events(&self, routes: Arc<Vec<SinkRoute>>) {
        self.routes.set(routes);
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<ChangeSet>> {
        self.changes.subscribe()
    }

    fn write_stats(&self) -> WriteStats {
        WriteStats {
            commits: self.stats.commits.load(Ordering::Relaxed),
            writes: self.stats.writes.load(Ordering::Relaxed),
            replays: 0,
            lock_waits: 0,
        }
    }
}
