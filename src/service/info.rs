use std::fmt;

/// A service's name and version, as `#[tower_ipc::service]` records them:
/// the server puts them in its answers to calls it cannot take (an unknown
/// method, params that do not fit), and a client's errors name both its own
/// and the server's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ServiceInfo {
    /// The trait's name.
    pub name: &'static str,
    /// The version: the `version = ".."` argument of the attribute, or else
    /// the version of the crate that defines the trait.
    pub version: &'static str,
}

impl fmt::Display for ServiceInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name, self.version)
    }
}
