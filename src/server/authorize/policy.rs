use std::{fmt, sync::Arc};

use crate::transport::PeerInfo;

/// Who may talk to a server: a rule over the [`PeerInfo`] of a connection.
///
/// Every rule refuses a peer whose identity the transport could not tell
/// (TCP peers have no uid; a Windows peer whose process the server may not
/// look into has no SID): an unknown peer is never allowed by default.
///
/// ```
/// use tower_ipc::server::authorize::PeerPolicy;
/// use tower_ipc::transport::PeerInfo;
///
/// let only_pid_42 = PeerPolicy::predicate(|peer: &PeerInfo| peer.pid() == Some(42));
/// assert!(only_pid_42.allows(&PeerInfo::new().with_pid(42)));
/// assert!(!only_pid_42.allows(&PeerInfo::new()));
/// ```
#[derive(Clone)]
pub struct PeerPolicy {
    rule: Rule,
}

#[derive(Clone)]
enum Rule {
    #[cfg(unix)]
    SameUser(u32),
    /// `None` when this process's own user could not be read: nobody matches.
    #[cfg(windows)]
    SameUser(Option<Arc<str>>),
    #[cfg(unix)]
    Uids(Arc<[u32]>),
    #[cfg(unix)]
    Gids(Arc<[u32]>),
    Predicate(Arc<dyn Fn(&PeerInfo) -> bool + Send + Sync>),
}

impl PeerPolicy {
    /// Allows peers running as the same user as this server.
    ///
    /// On Unix that is the server's effective uid, compared with the uid the
    /// kernel recorded for the peer. Root is another user: a server that
    /// should also serve root says so with `uids` or
    /// [`predicate`](Self::predicate).
    ///
    /// On Windows that is the user SID of the server process, compared with
    /// the SID of the client's process, read when the connection was
    /// accepted. The default pipe descriptor already keeps other users out
    /// (except SYSTEM); this policy matters when
    /// [`BindOptions`](crate::transport::BindOptions) let them connect, and it
    /// refuses SYSTEM too. A client whose process the server may not open
    /// (another user's, as a rule) has no SID and is refused.
    pub fn same_user() -> Self {
        #[cfg(unix)]
        let rule = Rule::SameUser(crate::sys::unix::effective_uid());
        #[cfg(windows)]
        let rule = Rule::SameUser(match crate::sys::windows::current_user_sid() {
            Ok(sid) => Some(sid.into()),
            Err(err) => {
                tracing::warn!(error = %err, "this process's user is unknown: the same-user policy refuses everyone");
                None
            }
        });
        Self { rule }
    }

    /// Allows peers whose effective uid is one of `uids`.
    #[cfg(unix)]
    #[cfg_attr(docsrs, doc(cfg(unix)))]
    pub fn uids(uids: impl IntoIterator<Item = u32>) -> Self {
        Self {
            rule: Rule::Uids(uids.into_iter().collect()),
        }
    }

    /// Allows peers whose effective (primary) gid is one of `gids`.
    ///
    /// The kernel reports the peer's primary group only, not its
    /// supplementary groups: to admit a group's members whatever their
    /// primary group, give the socket to the group with
    /// [`BindOptions::group`](crate::transport::BindOptions::group) instead.
    #[cfg(unix)]
    #[cfg_attr(docsrs, doc(cfg(unix)))]
    pub fn gids(gids: impl IntoIterator<Item = u32>) -> Self {
        Self {
            rule: Rule::Gids(gids.into_iter().collect()),
        }
    }

    /// Allows the peers for which `allow` returns `true`. It is called once
    /// per connection, on the task that accepts connections: keep it quick.
    ///
    /// Policies combine in a predicate:
    ///
    /// ```
    /// # #[cfg(unix)] {
    /// use tower_ipc::server::authorize::PeerPolicy;
    ///
    /// let me = PeerPolicy::same_user();
    /// let root = PeerPolicy::uids([0]);
    /// let me_or_root = PeerPolicy::predicate(move |peer| me.allows(peer) || root.allows(peer));
    /// # }
    /// ```
    pub fn predicate<F>(allow: F) -> Self
    where
        F: Fn(&PeerInfo) -> bool + Send + Sync + 'static,
    {
        Self {
            rule: Rule::Predicate(Arc::new(allow)),
        }
    }

    /// Whether this policy allows `peer`.
    ///
    /// [`AuthorizeLayer`](super::AuthorizeLayer) asks it once per connection;
    /// a protocol that answers refusals itself (a JSON-RPC error response per
    /// call, say) asks it directly.
    pub fn allows(&self, peer: &PeerInfo) -> bool {
        match &self.rule {
            #[cfg(unix)]
            Rule::SameUser(uid) => peer.uid() == Some(*uid),
            #[cfg(windows)]
            Rule::SameUser(sid) => sid
                .as_deref()
                .is_some_and(|sid| peer.user_sid() == Some(sid)),
            #[cfg(unix)]
            Rule::Uids(uids) => peer.uid().is_some_and(|uid| uids.contains(&uid)),
            #[cfg(unix)]
            Rule::Gids(gids) => peer.gid().is_some_and(|gid| gids.contains(&gid)),
            Rule::Predicate(allow) => allow(peer),
        }
    }
}

impl fmt::Debug for PeerPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut policy = f.debug_tuple("PeerPolicy");
        match &self.rule {
            #[cfg(unix)]
            Rule::SameUser(uid) => policy.field(&format_args!("same user (uid {uid})")),
            #[cfg(windows)]
            Rule::SameUser(Some(sid)) => policy.field(&format_args!("same user ({sid})")),
            #[cfg(windows)]
            Rule::SameUser(None) => policy.field(&format_args!("same user (unknown: nobody)")),
            #[cfg(unix)]
            Rule::Uids(uids) => policy.field(&format_args!("uids {uids:?}")),
            #[cfg(unix)]
            Rule::Gids(gids) => policy.field(&format_args!("gids {gids:?}")),
            Rule::Predicate(_) => policy.field(&format_args!("predicate")),
        };
        policy.finish()
    }
}
