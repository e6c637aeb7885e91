//! A policy that can be replaced while the layer serves: validated first,
//! then swapped; the last good one keeps serving.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

use super::{Policy, PolicyError};

/// A shared, replaceable policy. Each request decides on the policy current
/// when it arrived; a replacement takes effect for the next request.
///
/// ```
/// use tower_export_control::policy::PolicyHandle;
/// use tower_export_control::{ExportControlLayer, Policy};
///
/// let handle = PolicyHandle::new(Policy::embedded_default());
/// let layer = ExportControlLayer::new(handle.clone());
/// // Later, e.g. on SIGHUP: a bad file is reported and changes nothing.
/// assert!(handle.reload_from_path("no-such-policy.toml").is_err());
/// assert_eq!(layer.policy().name(), "ear-3a090-default");
/// ```
#[derive(Clone)]
pub struct PolicyHandle(Arc<RwLock<Arc<Policy>>>);

impl PolicyHandle {
    /// A handle serving `policy`.
    pub fn new(policy: impl Into<Arc<Policy>>) -> Self {
        Self(Arc::new(RwLock::new(policy.into())))
    }

    /// The policy in force now.
    pub fn current(&self) -> Arc<Policy> {
        // A poisoned lock still holds a complete, validated policy.
        Arc::clone(&self.0.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Puts `policy` in force; returns the one it replaces.
    pub fn replace(&self, policy: impl Into<Arc<Policy>>) -> Arc<Policy> {
        let mut slot = self.0.write().unwrap_or_else(PoisonError::into_inner);
        std::mem::replace(&mut *slot, policy.into())
    }

    /// Loads and validates a policy file, then puts it in force. On error
    /// the current policy stays.
    ///
    /// # Errors
    /// The [`PolicyError`] of the new file.
    pub fn reload_from_path(&self, path: impl AsRef<Path>) -> Result<Arc<Policy>, PolicyError> {
        let policy = Policy::from_path(path)?;
        Ok(self.replace(policy))
    }
}

impl From<Policy> for PolicyHandle {
    fn from(policy: Policy) -> Self {
        Self::new(policy)
    }
}

impl From<Arc<Policy>> for PolicyHandle {
    fn from(policy: Arc<Policy>) -> Self {
        Self::new(policy)
    }
}

impl fmt::Debug for PolicyHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PolicyHandle")
            .field(&self.current())
            .finish()
    }
}
