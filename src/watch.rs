//! [`PolicyWatcher`]: reloads a gate's policy when its file changes.
//!
//! It polls the file's metadata instead of subscribing to file-system
//! events: polling needs no platform code, sees a file replaced by a
//! rename (how most editors and configuration tools save) as well as one
//! rewritten in place, and works on network and container-mounted volumes
//! where events are not delivered.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime};

use crate::Gate;
use crate::gate::WeakGate;

/// How a [`PolicyWatcher`] polls its file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WatchOptions {
    /// How often the file's metadata is read. Default 250 ms.
    pub poll_interval: Duration,
    /// How long a change must hold still before the file is read, so an
    /// editor's truncate-then-write or write-then-rename is read once, when
    /// it is complete. Default 100 ms.
    pub settle: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_millis(250),
            settle: Duration::from_millis(100),
        }
    }
}

impl WatchOptions {
    /// With another poll interval.
    #[must_use]
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// With another settle time.
    #[must_use]
    pub fn with_settle(mut self, settle: Duration) -> Self {
        self.settle = settle;
        self
    }
}

/// Reloads a [`Gate`]'s policy from a file whenever the file changes, on a
/// background thread, until dropped (or until the gate is).
///
/// A file that fails validation changes nothing: the last good policy keeps
/// serving, every diagnostic is logged (`tracing` at `error`), and the
/// failure is counted in [`Gate::reload_stats`]. Only the policy file is
/// watched: files it names (IP tables, keys) are read again when the policy
/// file changes, so `touch policy.toml` reloads them.
///
/// ```no_run
/// use tower_export_control::{Gate, Policy};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let gate = Gate::new(Policy::from_path("policy.toml")?);
/// let _watcher = gate.watch_file("policy.toml"); // keep it alive while serving
/// # Ok(())
/// # }
/// ```
pub struct PolicyWatcher {
    path: PathBuf,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl PolicyWatcher {
    pub(crate) fn start(gate: &Gate, path: PathBuf, options: WatchOptions) -> Self {
        let (stop, stopped) = mpsc::channel();
        let weak = gate.downgrade();
        let watched = path.clone();
        let thread = thread::Builder::new()
            .name("policy-watcher".into())
            .spawn(move || run(&weak, &watched, options, &stopped))
            .map_err(|e| tracing::error!(error = %e, "cannot start the policy watcher thread"))
            .ok();
        Self {
            path,
            stop: Some(stop),
            thread,
        }
    }

    /// The file watched.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops watching and waits for the watcher thread to end.
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for PolicyWatcher {
    fn drop(&mut self) {
        self.shut_down();
    }
}

impl fmt::Debug for PolicyWatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyWatcher")
            .field("path", &self.path)
            .field("running", &self.thread.is_some())
            .finish()
    }
}

/// What identifies one version of the file without reading it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    Some(Stamp {
        len: meta.len(),
        modified: meta.modified().ok(),
        inode,
    })
}

fn run(weak: &WeakGate, path: &Path, options: WatchOptions, stopped: &mpsc::Receiver<()>) {
    let mut seen = stamp(path);
    // Returns false when the watcher is stopped (sender dropped).
    let wait = |d: Duration| matches!(stopped.recv_timeout(d), Err(RecvTimeoutError::Timeout));
    loop {
        if !wait(options.poll_interval) {
            return;
        }
        let now = stamp(path);
        // A missing file is an editor between delete and rename: wait.
        if now.is_none() || now == seen {
            continue;
        }
        if !wait(options.settle) {
            return;
        }
        let settled = stamp(path);
        if settled != now {
            continue; // still being written: look again next poll
        }
        seen = settled;
        let Some(gate) = weak.upgrade() else {
            return; // the gate is gone; nothing left to reload
        };
        reload(&gate, path);
    }
}

fn reload(gate: &Gate, path: &Path) {
    match gate.reload_from_path(path) {
        Ok(_) => tracing::info!(
            path = %path.display(),
            policy = gate.policy().digest(),
            "policy reloaded"
        ),
        Err(e) => log_failure(path, &e),
    }
}

/// Logs a failed reload: one line per diagnostic.
fn log_failure(path: &Path, error: &crate::PolicyError) {
    let diagnostics = error.diagnostics();
    if diagnostics.is_empty() {
        tracing::error!(path = %path.display(), error = %error, "policy not reloaded; the last good policy serves");
    }
    for d in diagnostics {
        tracing::error!(path = %path.display(), diagnostic = %d, "policy not reloaded; the last good policy serves");
    }
}
