//! Revocation lists that change while serving: `revoked_file`, re-read
//! when its modification time or length changes, and `revoked_url`,
//! polled. Both hold one license id (`jti`) a line, `#` starting a
//! comment line.
//!
//! The last good copy is used while the source cannot be read, up to the
//! maximum staleness; past that, and before a `revoked_url` is first
//! fetched, every license is refused (`license_invalid`): a list that
//! cannot be trusted to be current could let a revoked license through.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;

use super::config::LicenseConfig;
use super::error::LicenseConfigError;
use super::live::{self, LiveSource, Poller, Schedule, Signal, Slot, Started};
use super::outcome::LicenseDenial;
use super::remote::{self, Client};

/// The license ids in a revocation list's text.
pub(crate) fn parse(text: &str) -> HashSet<Box<str>> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(Box::from)
        .collect()
}

/// A `revoked_file` or `revoked_url`, as a trust names it.
pub(crate) struct LiveRevocations {
    origin: Origin,
    schedule: Schedule,
    /// The file's list when the policy was loaded, used until a verifier
    /// attaches the live copy.
    loaded: Option<Arc<HashSet<Box<str>>>>,
    key: String,
    slot: Slot<RevocationCell>,
}

#[derive(Clone)]
enum Origin {
    File(PathBuf),
    Url(String),
}

/// What requests read.
pub(crate) struct RevocationCell {
    state: ArcSwap<State>,
}

enum State {
    /// Not fetched yet.
    Pending,
    Fresh(Arc<HashSet<Box<str>>>),
    /// Past the maximum staleness: every license fails closed.
    Expired(String),
}

impl LiveRevocations {
    /// The `revoked_file` at `path`, read now (a missing file fails the
    /// load).
    pub(crate) fn file(config: &LicenseConfig, path: PathBuf) -> Result<Self, LicenseConfigError> {
        let text = std::fs::read_to_string(&path).map_err(|source| LicenseConfigError::Read {
            what: "revocation list",
            path: path.clone(),
            source,
        })?;
        let schedule = schedule(config)?;
        Ok(Self {
            key: format!("revoked_file\0{}\0{schedule:?}", path.display()),
            origin: Origin::File(path),
            schedule,
            loaded: Some(Arc::new(parse(&text))),
            slot: Slot::new(),
        })
    }

    /// The `revoked_url` `url`, fetched once a verifier attaches it.
    pub(crate) fn url(config: &LicenseConfig, url: &str) -> Result<Self, LicenseConfigError> {
        remote::check_url("[license]", "revoked_url", url)?;
        let schedule = schedule(config)?;
        remote::require_feature("[license]", "revoked_url")?;
        Ok(Self {
            key: format!("revoked_url\0{url}\0{schedule:?}"),
            origin: Origin::Url(url.to_owned()),
            schedule,
            loaded: None,
            slot: Slot::new(),
        })
    }

    /// `Err` when the list names `jti` (`license_revoked`) or cannot be
    /// trusted to be current (`license_invalid`).
    pub(crate) fn check(&self, jti: &str) -> Result<(), LicenseDenial> {
        let revoked = match self.slot.get() {
            Some(cell) => match &**cell.state.load() {
                State::Fresh(list) => list.contains(jti),
                State::Pending => {
                    return Err(LicenseDenial::invalid(
                        "the revocation list (revoked_url) has not been fetched yet",
                    ));
                }
                State::Expired(reason) => {
                    return Err(LicenseDenial::invalid(format!(
                        "the revocation list is stale: {reason}"
                    )));
                }
            },
            None => match &self.loaded {
                Some(list) => list.contains(jti),
                None => {
                    return Err(LicenseDenial::invalid(
                        "the revocation list (revoked_url) is not being fetched",
                    ));
                }
            },
        };
        if revoked {
            return Err(LicenseDenial::revoked(jti));
        }
        Ok(())
    }

    /// Ids in the list as last read (0 when it is not current).
    pub(crate) fn len(&self) -> usize {
        match self.slot.get() {
            Some(cell) => match &**cell.state.load() {
                State::Fresh(list) => list.len(),
                State::Pending | State::Expired(_) => 0,
            },
            None => self.loaded.as_ref().map_or(0, |l| l.len()),
        }
    }
}

fn schedule(config: &LicenseConfig) -> Result<Schedule, LicenseConfigError> {
    live::schedule(
        "[license]",
        [
            ("revoked_refresh_seconds", config.revoked_refresh_seconds),
            (
                "revoked_max_stale_seconds",
                config.revoked_max_stale_seconds,
            ),
            // Nothing asks for an early fetch; the floor for `max-age`.
            ("revoked_refresh_seconds", 1),
        ],
    )
}

impl LiveSource for LiveRevocations {
    type Cell = RevocationCell;

    fn key(&self) -> &str {
        &self.key
    }

    fn slot(&self) -> &Slot<RevocationCell> {
        &self.slot
    }

    fn start(&self) -> Started<RevocationCell> {
        let state = match &self.loaded {
            Some(list) => State::Fresh(Arc::clone(list)),
            None => State::Pending,
        };
        let cell = Arc::new(RevocationCell {
            state: ArcSwap::from_pointee(state),
        });
        let signal = Arc::new(Signal::default());
        let thread_signal = Arc::clone(&signal);
        let schedule = self.schedule;
        let seeded = self.loaded.is_some();
        let poller = match &self.origin {
            Origin::File(path) => ListPoller::File {
                describe: format!("revoked_file {}", path.display()),
                path: path.clone(),
                seen: None,
            },
            Origin::Url(url) => ListPoller::Url {
                describe: format!("revoked_url {url}"),
                url: url.clone(),
                client: Client::new(),
            },
        };
        let work = Box::new(move |weak: Weak<RevocationCell>| {
            live::run(weak, thread_signal, poller, schedule, seeded);
        });
        (cell, signal, work)
    }
}

impl fmt::Debug for LiveRevocations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let origin = match &self.origin {
            Origin::File(path) => path.display().to_string(),
            Origin::Url(url) => url.clone(),
        };
        f.debug_struct("LiveRevocations")
            .field("origin", &origin)
            .field("schedule", &self.schedule)
            .field("len", &self.len())
            .finish()
    }
}

enum ListPoller {
    File {
        describe: String,
        path: PathBuf,
        /// Modification time and length when last read.
        seen: Option<(SystemTime, u64)>,
    },
    Url {
        describe: String,
        url: String,
        client: Client,
    },
}

impl Poller for ListPoller {
    const KIND: &'static str = "revocations";
    type Cell = RevocationCell;

    fn poll(&mut self, cell: &RevocationCell) -> Result<Option<Duration>, String> {
        match self {
            Self::File { path, seen, .. } => {
                let stamp = stamp(path)?;
                if *seen != Some(stamp) {
                    let text = std::fs::read_to_string(&*path).map_err(|e| e.to_string())?;
                    store(cell, parse(&text));
                    *seen = Some(stamp);
                }
                Ok(None)
            }
            Self::Url { url, client, .. } => {
                let fetched = client.get(url)?;
                let text = std::str::from_utf8(&fetched.body)
                    .map_err(|_| "the revocation list is not UTF-8 text".to_owned())?;
                store(cell, parse(text));
                Ok(fetched.max_age)
            }
        }
    }

    fn expire(&self, cell: &RevocationCell, reason: &str) {
        cell.state
            .store(Arc::new(State::Expired(reason.to_owned())));
    }

    fn describe(&self) -> &str {
        match self {
            Self::File { describe, .. } | Self::Url { describe, .. } => describe,
        }
    }
}

fn store(cell: &RevocationCell, list: HashSet<Box<str>>) {
    cell.state.store(Arc::new(State::Fresh(Arc::new(list))));
}

/// What tells a changed file: its modification time and length.
fn stamp(path: &Path) -> Result<(SystemTime, u64), String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    let modified = meta.modified().map_err(|e| e.to_string())?;
    Ok((modified, meta.len()))
}
