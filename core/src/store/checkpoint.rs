//! WAL checkpoints off the write path.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses its threshold:
//! that writer copies ~1,000 pages into the main file and syncs it before its commit
//! returns. A [`Checkpointer`] takes that work to its own thread and connection: the
//! writer turns `wal_autocheckpoint` off and nudges the checkpointer after commits; the
//! checkpointer runs `PASSIVE` checkpoints (they never block the writer or readers) at
//! most every `interval`, and a `RESTART` when the log has grown past `max_frames`
//! anyway (readers kept it from being reset), so the WAL stays bounded.
//!
//! Durability does not change: a commit is durable when its WAL frames are synced
//! (`synchronous=FULL`); a checkpoint copies what is already durable.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

/// A background checkpoint thread for one database file; dropping it stops the thread.
#[derive(Debug)]
pub struct Checkpointer {
    nudge: Nudger,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Tells a [`Checkpointer`] that a commit happened; cheap to clone, never blocks.
#[derive(Debug, Clone)]
pub struct Nudger(SyncSender<()>);

impl Nudger {
    /// A commit happened.
    pub fn nudge(&self) {
        let _ = self.0.try_send(());
    }
}

impl Checkpointer {
    /// Start checkpointing `path` (already in WAL mode) on a thread named `name`.
    /// The writer must set `PRAGMA wal_autocheckpoint=0` itself.
    pub fn start(
        path: &Path,
        name: &str,
        interval: Duration,
        max_frames: i64,
    ) -> rusqlite::Result<Checkpointer> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(5))?;
        let (tx, rx) = mpsc::sync_channel::<()>(1);
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let mut last = Instant::now();
                // Woken by a nudge, or every second anyway (admin writes do not nudge).
                while let Ok(()) | Err(RecvTimeoutError::Timeout) =
                    rx.recv_timeout(Duration::from_secs(1))
                {
                    if stopping.load(Ordering::Acquire) {
                        break;
                    }
                    // Gather commits: one checkpoint copies a page written by many of
                    // them once.
                    let since = last.elapsed();
                    if since < interval {
                        std::thread::sleep(interval - since);
                    }
                    last = Instant::now();
                    if let Err(e) = checkpoint(&conn, max_frames) {
                        tracing::warn!(error = %e, "background checkpoint failed; will retry");
                    }
                }
                // The writer folds the rest in on close.
            })
            .map_err(|e| {
                rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                    Some(format!("checkpoint thread: {e}")),
                )
            })?;
        Ok(Checkpointer {
            nudge: Nudger(tx),
            stop,
            thread: Some(thread),
        })
    }

    /// A handle for the writer to nudge with.
    pub fn nudger(&self) -> Nudger {
        self.nudge.clone()
    }

    /// Stop the thread (after the checkpoint it may be running).
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.nudge.nudge();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One checkpoint: passive, or restart when the log is past `max_frames`.
fn checkpoint(conn: &Connection, max_frames: i64) -> rusqlite::Result<()> {
    let (_busy, log, _done): (i64, i64, i64) =
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    if log > max_frames {
        conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pages of the main database file (not the WAL).
    fn main_file_pages(path: &Path) -> u64 {
        std::fs::metadata(path).map(|m| m.len() / 4096).unwrap_or(0)
    }

    #[test]
    fn commits_reach_the_main_file_without_the_writer_checkpointing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let w = Connection::open(&path).unwrap();
        w.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))
            .unwrap();
        w.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        // What is measured is where pages go, not durability: no fsync per insert.
        w.pragma_update(None, "synchronous", "OFF").unwrap();
        w.execute_batch("CREATE TABLE t (x BLOB)").unwrap();
        let mut ck =
            Checkpointer::start(&path, "test-ckpt", Duration::from_millis(10), 1 << 20).unwrap();
        // Stop the thread from checkpointing before the writes land: measure what the
        // writer alone leaves in the main file first.
        ck.stop();
        for _ in 0..300 {
            w.execute("INSERT INTO t VALUES (zeroblob(8000))", [])
                .unwrap();
        }
        let before = main_file_pages(&path);
        assert!(
            before < 10,
            "the writer checkpointed by itself: {before} pages"
        );
        let ck =
            Checkpointer::start(&path, "test-ckpt", Duration::from_millis(10), 1 << 20).unwrap();
        ck.nudger().nudge();
        // Wait (bounded) for the background checkpoint to copy the ~600 pages.
        let mut pages = 0;
        for _ in 0..500 {
            pages = main_file_pages(&path);
            if pages >= 600 {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(pages >= 600, "main file has {pages} pages");
        drop(ck);
        // Everything is still readable through the writer.
        let n: i64 = w
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 300);
    }
}
