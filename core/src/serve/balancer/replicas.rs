//! The ready set: which replicas take new requests, and the counts of those that
//! left while requests to them were still in flight.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use hyper::Uri;
use hyper::http::uri::{Authority, PathAndQuery, Scheme};

use super::Replica;
use super::inflight::{InFlight, Load};
use super::policy::Policy;

/// A ready replica, its URL parsed once.
#[derive(Debug)]
struct Target {
    id: u64,
    authority: Authority,
    /// The URL's path without its trailing `/` (usually empty): prefixed to every
    /// request's path.
    prefix: String,
    load: Arc<Load>,
}

/// The replica one attempt goes to, counted in flight while this lives.
#[derive(Debug)]
pub(super) struct Chosen {
    /// The replica's id.
    pub(super) id: u64,
    authority: Authority,
    prefix: String,
    /// Keeps the request counted; moved into the response body.
    pub(super) guard: InFlight,
}

impl Chosen {
    /// The URI on this replica for a request's path and query.
    pub(super) fn uri(&self, path: Option<&PathAndQuery>) -> Result<Uri, hyper::http::Error> {
        let path = path.map_or("/", PathAndQuery::as_str);
        let path_and_query = if self.prefix.is_empty() {
            path.to_string()
        } else {
            format!("{}{path}", self.prefix)
        };
        Uri::builder()
            .scheme(Scheme::HTTP)
            .authority(self.authority.clone())
            .path_and_query(path_and_query)
            .build()
    }
}

#[derive(Debug, Default)]
struct Inner {
    ready: Vec<Target>,
    /// Replicas that left the ready set with requests still in flight, kept until
    /// those finish (or until the replica comes back, counts and all).
    departed: Vec<(u64, Arc<Load>)>,
    cursor: usize,
}

/// The replicas of one service and the policy choosing among them.
#[derive(Debug)]
pub(super) struct Replicas {
    policy: Policy,
    inner: Mutex<Inner>,
}

impl Replicas {
    pub(super) fn new(policy: Policy) -> Replicas {
        Replicas {
            policy,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing panics while holding the lock; a poisoned one is still whole.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Replaces the ready set. A replica keeps its count across the change (and
    /// when it leaves and comes back), so requests already in flight stay counted
    /// exactly once. A replica whose URL is not `http://host:port[/path]` is left
    /// out, with a warning.
    pub(super) fn set(&self, replicas: Vec<Replica>) {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let mut known: HashMap<u64, Arc<Load>> = inner
            .ready
            .drain(..)
            .map(|target| (target.id, target.load))
            .chain(inner.departed.drain(..))
            .collect();
        let mut ready: Vec<Target> = Vec::with_capacity(replicas.len());
        for replica in replicas {
            if ready.iter().any(|target| target.id == replica.id) {
                tracing::warn!(
                    id = replica.id,
                    "replica listed twice; the first one is used"
                );
                continue;
            }
            let (authority, prefix) = match parse_url(&replica.url) {
                Ok(parsed) => parsed,
                Err(why) => {
                    tracing::warn!(id = replica.id, url = %replica.url, "replica left out: {why}");
                    continue;
                }
            };
            let load = known.remove(&replica.id).unwrap_or_default();
            ready.push(Target {
                id: replica.id,
                authority,
                prefix,
                load,
            });
        }
        inner.ready = ready;
        inner.departed = known
            .into_iter()
            .filter(|(_, load)| load.get() > 0)
            .collect();
    }

    /// Whether no replica is ready.
    pub(super) fn is_empty(&self) -> bool {
        self.lock().ready.is_empty()
    }

    /// Chooses a ready replica not in `exclude` and counts a request on it (under
    /// the same lock, so concurrent choices under least load see each other).
    pub(super) fn choose(&self, exclude: &[u64]) -> Option<Chosen> {
        let mut inner = self.lock();
        let Inner { ready, cursor, .. } = &mut *inner;
        let index = self.policy.pick(
            ready.len(),
            cursor,
            |i| !exclude.contains(&ready[i].id),
            |i| ready[i].load.get(),
        )?;
        let target = &ready[index];
        Some(Chosen {
            id: target.id,
            authority: target.authority.clone(),
            prefix: target.prefix.clone(),
            guard: InFlight::new(&target.load),
        })
    }

    /// Requests in flight per replica: every ready one, and every one that left
    /// with requests still in flight.
    pub(super) fn in_flight(&self) -> BTreeMap<u64, u64> {
        let mut inner = self.lock();
        // No guard can be made for a departed replica, so one at zero stays there.
        inner.departed.retain(|(_, load)| load.get() > 0);
        let departed = inner.departed.iter().map(|(id, load)| (*id, load.get()));
        let ready = inner
            .ready
            .iter()
            .map(|target| (target.id, target.load.get()));
        // A departed count cannot be zero here, and no id is both ready and departed.
        departed.chain(ready).collect()
    }
}

/// The authority and path prefix of a replica URL, which must be plain HTTP.
fn parse_url(url: &str) -> Result<(Authority, String), String> {
    let uri: Uri = url.parse().map_err(|e| format!("not a URL: {e}"))?;
    if uri.scheme() != Some(&Scheme::HTTP) {
        return Err("replicas are reached over plain http://".into());
    }
    let authority = uri.authority().ok_or("no host")?.clone();
    if uri.query().is_some() {
        return Err("a replica URL takes no query".into());
    }
    Ok((authority, uri.path().trim_end_matches('/').to_string()))
}
