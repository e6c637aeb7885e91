//! [`FileSink`]: audit records appended to a file as JSON lines by a
//! background thread, with size-based rotation.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;

use super::{AuditRecord, AuditSink};

/// How a [`FileSink`] queues and rotates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FileSinkConfig {
    /// Records that may wait for the writer (default 10,000; at least 1);
    /// more are dropped and counted.
    pub capacity: usize,
    /// Rotate before a record would take the file past this size (default
    /// 100 MiB); `None` never rotates.
    pub max_bytes: Option<u64>,
    /// Rotated files kept, `FILE.1` (newest) to `FILE.N` (default 5); the
    /// oldest beyond them is deleted. With 0, the file is cut off at
    /// rotation and its records discarded.
    pub keep: usize,
}

impl Default for FileSinkConfig {
    fn default() -> Self {
        Self {
            capacity: 10_000,
            max_bytes: Some(100 << 20),
            keep: 5,
        }
    }
}

impl FileSinkConfig {
    /// With a queue of `capacity` records.
    #[must_use]
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// Rotate at `max_bytes`.
    #[must_use]
    pub fn max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = Some(max_bytes);
        self
    }

    /// Never rotate.
    #[must_use]
    pub fn no_rotation(mut self) -> Self {
        self.max_bytes = None;
        self
    }

    /// Keep `keep` rotated files.
    #[must_use]
    pub fn keep(mut self, keep: usize) -> Self {
        self.keep = keep;
        self
    }
}

/// The audit file could not be opened, or its writer not started.
#[derive(Debug, thiserror::Error)]
#[error("audit file {}: {source}", path.display())]
pub struct FileSinkError {
    /// The file.
    pub path: PathBuf,
    /// What went wrong.
    #[source]
    pub source: io::Error,
}

enum Message {
    Record(Box<AuditRecord>),
    /// Write out what is buffered, sync it to disk, and answer.
    Flush(SyncSender<io::Result<()>>),
}

/// An [`AuditSink`] that appends each record as one line of JSON to a file.
///
/// The request path only puts the record in a bounded queue (never waits:
/// a full queue drops the record and counts it, [`dropped`](Self::dropped),
/// with a `warn` log); a background thread (no async runtime needed)
/// serializes and writes. It hands lines to the operating system whenever
/// the queue runs empty; [`flush`](Self::flush) also syncs them to disk.
///
/// **Rotation**: before a record would take the file past `max_bytes`, the
/// file becomes `FILE.1`, `FILE.1` becomes `FILE.2` and so on up to
/// `FILE.keep`, and a new `FILE` is started. Records are never split across
/// files; one larger than `max_bytes` gets a file of its own.
///
/// **Shutdown**: [`shutdown`](Self::shutdown) writes every queued record,
/// syncs the file and stops the writer; records arriving afterwards are
/// dropped and counted. Dropping the last clone of the sink (the layer
/// holds one) does the same, so a server that drops its layer on the way
/// out loses nothing queued; that drop waits for the writer, so drop the
/// layer off the request path. Clones share one queue, file and counters.
///
/// ```no_run
/// use tower_export_control::audit::{FileSink, FileSinkConfig};
/// use tower_export_control::{ExportControlLayer, Policy};
///
/// let sink = FileSink::open("audit.jsonl", FileSinkConfig::default().max_bytes(64 << 20).keep(10))?;
/// let layer = ExportControlLayer::new(Policy::embedded_default()).with_audit(sink.clone());
/// // … serve with `layer` …
/// sink.shutdown()?; // on the way out
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct FileSink {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    path: PathBuf,
    /// Read-locked to queue a record (readers do not wait for each
    /// other), write-locked only to close the queue.
    tx: RwLock<Option<SyncSender<Message>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    counters: Arc<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    dropped: AtomicU64,
    written: AtomicU64,
    write_errors: AtomicU64,
}

impl FileSink {
    /// Opens (creating if needed, appending if it exists) `path` and starts
    /// the writer thread.
    ///
    /// # Errors
    /// [`FileSinkError`] when the file cannot be opened or the thread not
    /// started.
    pub fn open(path: impl AsRef<Path>, config: FileSinkConfig) -> Result<Self, FileSinkError> {
        let path = path.as_ref().to_path_buf();
        let fail = |source| FileSinkError {
            path: path.clone(),
            source,
        };
        let file = open_append(&path).map_err(fail)?;
        let size = file.metadata().map_err(fail)?.len();
        let (tx, rx) = sync_channel(config.capacity.max(1));
        let counters = Arc::new(Counters::default());
        let writer = Writer {
            path: path.clone(),
            config,
            file: BufWriter::new(file),
            size,
            counters: Arc::clone(&counters),
        };
        let handle = std::thread::Builder::new()
            .name("audit-file-writer".into())
            .spawn(move || writer.run(&rx))
            .map_err(fail)?;
        Ok(Self {
            shared: Arc::new(Shared {
                path,
                tx: RwLock::new(Some(tx)),
                writer: Mutex::new(Some(handle)),
                counters,
            }),
        })
    }

    /// The file written to.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Records dropped because the queue was full or the sink shut down.
    pub fn dropped(&self) -> u64 {
        self.shared.counters.dropped.load(Ordering::Relaxed)
    }

    /// Records written to the file.
    pub fn written(&self) -> u64 {
        self.shared.counters.written.load(Ordering::Relaxed)
    }

    /// Records lost because writing or rotating failed (each also logged).
    pub fn write_errors(&self) -> u64 {
        self.shared.counters.write_errors.load(Ordering::Relaxed)
    }

    /// Waits until every record queued before the call is written and
    /// synced to disk. Blocks: call it off the request path.
    ///
    /// # Errors
    /// The error of writing or syncing, or [`io::ErrorKind::BrokenPipe`]
    /// after [`shutdown`](Self::shutdown).
    pub fn flush(&self) -> io::Result<()> {
        let tx = self.shared.sender();
        let Some(tx) = tx else {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the audit file sink is shut down",
            ));
        };
        let (reply, answer) = sync_channel(1);
        tx.send(Message::Flush(reply))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the audit writer stopped"))?;
        answer
            .recv()
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the audit writer stopped"))?
    }

    /// Writes every queued record, syncs the file and stops the writer.
    /// Later records are dropped and counted. Calling it again does nothing.
    ///
    /// # Errors
    /// The error of the final write or sync.
    pub fn shutdown(&self) -> io::Result<()> {
        let result = match self.shared.sender() {
            Some(_) => self.flush(),
            None => Ok(()),
        };
        self.shared.stop();
        result
    }
}

impl Shared {
    fn sender(&self) -> Option<SyncSender<Message>> {
        self.tx
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Queues `record` without waiting; false when full or closed.
    fn try_queue(&self, record: AuditRecord) -> bool {
        let tx = self.tx.read().unwrap_or_else(PoisonError::into_inner);
        tx.as_ref()
            .is_some_and(|tx| tx.try_send(Message::Record(Box::new(record))).is_ok())
    }

    /// Closes the queue and waits for the writer to drain it.
    fn stop(&self) {
        drop(
            self.tx
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let handle = self
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(handle) = handle {
            // The writer does not panic; if it did, its records are lost
            // either way.
            let _ = handle.join();
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.stop();
    }
}

impl AuditSink for FileSink {
    fn record(&self, record: AuditRecord) {
        let id = record.decision_id;
        if !self.shared.try_queue(record) {
            let total = self.shared.counters.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            crate::metrics::audit_dropped();
            tracing::warn!(
                target: "tower_export_control::audit",
                decision_id = %id,
                dropped_total = total,
                file = %self.shared.path.display(),
                "audit record dropped: file queue full or shut down"
            );
        }
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// The background thread's state.
struct Writer {
    path: PathBuf,
    config: FileSinkConfig,
    file: BufWriter<File>,
    size: u64,
    counters: Arc<Counters>,
}

impl Writer {
    fn run(mut self, rx: &Receiver<Message>) {
        let mut line = Vec::with_capacity(1024);
        // Block for one message, then take whatever else is queued before
        // handing the batch to the operating system.
        while let Ok(first) = rx.recv() {
            let mut next = Some(first);
            while let Some(message) = next {
                match message {
                    Message::Record(record) => self.write(&record, &mut line),
                    Message::Flush(reply) => {
                        let result = self.file.flush().and_then(|()| sync(self.file.get_ref()));
                        let _ = reply.send(result);
                    }
                }
                next = rx.try_recv().ok();
            }
            if let Err(e) = self.file.flush() {
                self.error("writing", &e);
            }
        }
        // The queue is closed and drained.
        if let Err(e) = self.file.flush().and_then(|()| sync(self.file.get_ref())) {
            self.error("syncing", &e);
        }
    }

    fn write(&mut self, record: &AuditRecord, line: &mut Vec<u8>) {
        line.clear();
        if let Err(e) = serde_json::to_writer(&mut *line, record) {
            self.error("serializing", &io::Error::other(e));
            return;
        }
        line.push(b'\n');
        let len = line.len() as u64;
        let full = self
            .config
            .max_bytes
            .is_some_and(|max| self.size > 0 && self.size.saturating_add(len) > max);
        if full && let Err(e) = self.rotate() {
            // Better a file over its size than a lost record.
            tracing::warn!(
                target: "tower_export_control::audit",
                file = %self.path.display(),
                "rotating the audit file failed, still writing to it: {e}"
            );
        }
        match self.file.write_all(line) {
            Ok(()) => {
                self.size = self.size.saturating_add(len);
                self.counters.written.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => self.error("writing", &e),
        }
    }

    /// FILE.(keep-1) → FILE.keep, …, FILE → FILE.1, and a new FILE.
    fn rotate(&mut self) -> io::Result<()> {
        self.file.flush()?;
        let keep = self.config.keep;
        if keep == 0 {
            self.file.get_ref().set_len(0)?;
        } else {
            for n in (1..keep).rev() {
                let from = numbered(&self.path, n);
                if from.exists() {
                    std::fs::rename(&from, numbered(&self.path, n + 1))?;
                }
            }
            std::fs::rename(&self.path, numbered(&self.path, 1))?;
            self.file = BufWriter::new(open_append(&self.path)?);
        }
        self.size = 0;
        Ok(())
    }

    fn error(&self, doing: &str, e: &io::Error) {
        let total = self.counters.write_errors.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::warn!(
            target: "tower_export_control::audit",
            file = %self.path.display(),
            errors_total = total,
            "audit record lost: {doing} the audit file failed: {e}"
        );
    }
}

/// Syncs `file` to disk; a file that cannot be synced (a pipe) only needed
/// the flush before.
fn sync(file: &File) -> io::Result<()> {
    match file.sync_data() {
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => Ok(()),
        other => other,
    }
}

/// `FILE.n`.
fn numbered(path: &Path, n: usize) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}
