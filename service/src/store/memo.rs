//! The read path's rows in memory: API keys (by id, with the hash), tenants
//! (with the operator's grants) and profiles, so a warm secret read runs no SQL.
//!
//! How it stays right:
//! - Every write the store makes announces what it changed ([`Change`]). The
//!   announcing replica drops the row from memory before the write call returns.
//! - On PostgreSQL the change also goes out as `NOTIFY auth_service_changes`
//!   (sent after the write commits). Every replica listens
//!   ([`Store::listen_for_changes`]) and drops the row when the note arrives,
//!   normally within milliseconds.
//! - The listener proves itself with a heartbeat note every second. While it
//!   has not heard its own heartbeat for [`TRUST_WINDOW`] (connection lost,
//!   a stalled network), the replica trusts nothing in memory: every lookup
//!   goes to the database, and memory starts empty when the listener is back.
//!   A revoked key therefore stops working on every replica within about a
//!   second, or the replica is reading the database itself.
//! - A row is kept at most [`MAX_STALENESS`] anyway, a safety net for a
//!   change written by something other than this service.
//! - A lookup that raced a change never stores what it read (a generation
//!   count is compared under a lock).
//!
//! SQLite is one process: memory is always trusted there.

use std::future::Future;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use moka::sync::Cache;

use super::{ApiKeyAuth, ProfileRow, TenantRow};
use crate::domain::{ProfileName, TenantId};

/// The PostgreSQL channel the replicas tell each other of changes on.
pub const CHANNEL: &str = "auth_service_changes";
/// The longest a row stays in memory without being read again from the database.
pub const MAX_STALENESS: Duration = Duration::from_secs(10);
/// How long memory is trusted after the listener last heard its own heartbeat.
pub const TRUST_WINDOW: Duration = Duration::from_secs(4);
/// How long a key id found missing is answered missing from memory.
pub const MISSING_FOR: Duration = Duration::from_secs(30);
/// How often the listener sends its heartbeat.
pub const HEARTBEAT: Duration = Duration::from_secs(1);

/// What a write changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// An API key (created or revoked).
    Key(String),
    /// A tenant's row (its grants).
    Tenant(TenantId),
    /// One profile (created, replaced, tested, deleted).
    Profile(TenantId, ProfileName),
}

impl Change {
    /// The note sent on [`CHANNEL`]. Ids and names never hold a tab.
    pub fn encode(&self) -> String {
        match self {
            Change::Key(id) => format!("k\t{id}"),
            Change::Tenant(t) => format!("t\t{t}"),
            Change::Profile(t, p) => format!("p\t{t}\t{p}"),
        }
    }

    /// Read a note back; None for anything else (like a heartbeat).
    pub fn decode(note: &str) -> Option<Change> {
        let mut parts = note.split('\t');
        let change = match (parts.next()?, parts.next(), parts.next()) {
            ("k", Some(id), None) => Change::Key(id.to_string()),
            ("t", Some(t), None) => Change::Tenant(TenantId::parse(t).ok()?),
            ("p", Some(t), Some(p)) => Change::Profile(TenantId::parse(t).ok()?, ProfileName::parse(p).ok()?),
            _ => return None,
        };
        parts.next().is_none().then_some(change)
    }
}

/// The three caches, the race guard and the trust state.
pub struct Memo {
    keys: Cache<String, Arc<ApiKeyAuth>>,
    /// Key ids recently looked up and not found, so a stream of made-up keys
    /// does not cost a database query each (bounded; kept [`MISSING_FOR`]).
    missing_keys: Cache<String, ()>,
    tenants: Cache<TenantId, Arc<TenantRow>>,
    profiles: Cache<(TenantId, ProfileName), Arc<ProfileRow>>,
    /// Bumped by every change; a lookup stores what it read only if this did not move.
    generation: AtomicU64,
    guard: Mutex<()>,
    /// Whether other writers exist whose changes come through the listener (PostgreSQL).
    shared: bool,
    /// Whether the listener is connected and subscribed.
    listening: AtomicBool,
    /// When the listener last heard its own heartbeat.
    heard: Mutex<Option<Instant>>,
}

fn bounded<K, V>(capacity: u64) -> Cache<K, V>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    Cache::builder().max_capacity(capacity).time_to_live(MAX_STALENESS).build()
}

/// A snapshot of the generation, taken before a database read.
#[derive(Clone, Copy)]
pub struct Ticket(u64);

impl Memo {
    /// Empty memory; `shared` for a database other replicas write to.
    pub fn new(shared: bool) -> Self {
        Self {
            keys: bounded(100_000),
            missing_keys: Cache::builder().max_capacity(100_000).time_to_live(MISSING_FOR).build(),
            tenants: bounded(10_000),
            profiles: bounded(100_000),
            generation: AtomicU64::new(0),
            guard: Mutex::new(()),
            shared,
            listening: AtomicBool::new(false),
            heard: Mutex::new(None),
        }
    }

    /// Whether memory may answer now.
    pub fn trusted(&self) -> bool {
        if !self.shared {
            return true;
        }
        self.listening.load(Ordering::Acquire)
            && self.heard.lock().ok().and_then(|h| *h).is_some_and(|at| at.elapsed() < TRUST_WINDOW)
    }

    /// Take before reading the database.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.generation.load(Ordering::Acquire))
    }

    /// Apply a change: drop what it touched.
    pub fn apply(&self, change: &Change) {
        let _held = self.guard.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        match change {
            Change::Key(id) => {
                self.keys.invalidate(id);
                self.missing_keys.invalidate(id);
            }
            Change::Tenant(t) => self.tenants.invalidate(t),
            Change::Profile(t, p) => self.profiles.invalidate(&(t.clone(), p.clone())),
        }
    }

    /// Forget everything (the listener lost or regained its connection).
    pub fn clear(&self) {
        let _held = self.guard.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.keys.invalidate_all();
        self.missing_keys.invalidate_all();
        self.tenants.invalidate_all();
        self.profiles.invalidate_all();
    }

    /// The listener is subscribed (true) or lost its connection (false).
    pub fn set_listening(&self, on: bool) {
        self.clear();
        self.listening.store(on, Ordering::Release);
        if !on && let Ok(mut h) = self.heard.lock() {
            *h = None;
        }
    }

    /// The listener heard its own heartbeat.
    pub fn heartbeat_heard(&self) {
        if let Ok(mut h) = self.heard.lock() {
            *h = Some(Instant::now());
        }
    }

    /// Store `value` read from the database under `ticket`, unless a change came in between.
    fn keep<K, V>(&self, cache: &Cache<K, Arc<V>>, ticket: Ticket, key: K, value: &Arc<V>)
    where
        K: std::hash::Hash + Eq + Send + Sync + 'static,
        V: Send + Sync + 'static,
    {
        let _held = self.guard.lock();
        if self.generation.load(Ordering::Acquire) == ticket.0 && self.trusted() {
            cache.insert(key, value.clone());
        }
    }

    /// The value in `cache` at `key` when memory may answer; else `fetch` it from the
    /// database and keep it, unless a change came in meanwhile.
    async fn through<K, V, E>(
        &self,
        cache: &Cache<K, Arc<V>>,
        key: K,
        fetch: impl Future<Output = Result<Option<V>, E>>,
    ) -> Result<Option<Arc<V>>, E>
    where
        K: std::hash::Hash + Eq + Send + Sync + 'static,
        V: Send + Sync + 'static,
    {
        if self.trusted()
            && let Some(hit) = cache.get(&key)
        {
            return Ok(Some(hit));
        }
        let ticket = self.ticket();
        let value = fetch.await?.map(Arc::new);
        if let Some(value) = &value {
            self.keep(cache, ticket, key, value);
        }
        Ok(value)
    }

    /// An API key by id, through memory; an id found missing a moment ago is
    /// answered missing without a query.
    pub async fn key<E>(
        &self,
        id: &str,
        fetch: impl Future<Output = Result<Option<ApiKeyAuth>, E>>,
    ) -> Result<Option<Arc<ApiKeyAuth>>, E> {
        if self.trusted() && self.missing_keys.contains_key(id) {
            return Ok(None);
        }
        let ticket = self.ticket();
        let found = self.through(&self.keys, id.to_string(), fetch).await?;
        if found.is_none() {
            let _held = self.guard.lock();
            if self.generation.load(Ordering::Acquire) == ticket.0 && self.trusted() {
                self.missing_keys.insert(id.to_string(), ());
            }
        }
        Ok(found)
    }

    /// A tenant, through memory.
    pub async fn tenant<E>(
        &self,
        id: &TenantId,
        fetch: impl Future<Output = Result<Option<TenantRow>, E>>,
    ) -> Result<Option<Arc<TenantRow>>, E> {
        self.through(&self.tenants, id.clone(), fetch).await
    }

    /// A profile, through memory.
    pub async fn profile<E>(
        &self,
        tenant: &TenantId,
        name: &ProfileName,
        fetch: impl Future<Output = Result<Option<ProfileRow>, E>>,
    ) -> Result<Option<Arc<ProfileRow>>, E> {
        self.through(&self.profiles, (tenant.clone(), name.clone()), fetch).await
    }

    /// Rows in memory, for the metrics: (keys, tenants, profiles).
    pub fn sizes(&self) -> (u64, u64, u64) {
        self.keys.run_pending_tasks();
        self.tenants.run_pending_tasks();
        self.profiles.run_pending_tasks();
        (self.keys.entry_count(), self.tenants.entry_count(), self.profiles.entry_count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str) -> ApiKeyAuth {
        ApiKeyAuth {
            tenant_id: TenantId::parse("t").expect("tenant"),
            key_id: id.into(),
            name: "n".into(),
            scopes: vec!["read".into()],
            secret_sha256: [0; 32],
        }
    }

    #[test]
    fn notes_round_trip_and_anything_else_is_ignored() {
        let t = TenantId::parse("acme").expect("tenant");
        let p = ProfileName::parse("db").expect("name");
        for c in [Change::Key("0123456789abcdef".into()), Change::Tenant(t.clone()), Change::Profile(t, p)] {
            assert_eq!(Change::decode(&c.encode()), Some(c));
        }
        for junk in ["", "hb\tx", "k", "p\tacme", "p\tacme\tdb\textra", "t\tNOT VALID"] {
            assert_eq!(Change::decode(junk), None, "{junk:?}");
        }
    }

    /// What memory answers for key `id` now (None: it would read the database).
    fn served(memo: &Memo, id: &str) -> Option<Arc<ApiKeyAuth>> {
        if memo.trusted() { memo.keys.get(id) } else { None }
    }

    /// A lookup of `id` whose database read returns `value`.
    async fn look_up(memo: &Memo, id: &str, value: Option<ApiKeyAuth>) -> Option<Arc<ApiKeyAuth>> {
        memo.key(id, async { Ok::<_, ()>(value) }).await.expect("no error")
    }

    #[tokio::test]
    async fn a_change_drops_the_row_and_a_read_that_raced_it_is_not_kept() {
        let memo = Memo::new(false);
        look_up(&memo, "a", Some(key("a"))).await;
        assert!(served(&memo, "a").is_some());
        assert!(look_up(&memo, "a", None).await.is_some(), "answered from memory, not the database");
        memo.apply(&Change::Key("a".into()));
        assert!(served(&memo, "a").is_none(), "dropped at once");
        // A read that started before the change must not put the old row back.
        let raced = async {
            memo.apply(&Change::Key("b".into()));
            Ok::<_, ()>(Some(key("a")))
        };
        assert!(memo.key("a", raced).await.expect("no error").is_some(), "the reader gets what it read");
        assert!(served(&memo, "a").is_none(), "raced a change: not kept");
    }

    #[tokio::test]
    async fn shared_memory_is_trusted_only_while_the_listener_hears_its_heartbeat() {
        let memo = Memo::new(true);
        look_up(&memo, "a", Some(key("a"))).await;
        assert!(served(&memo, "a").is_none(), "not listening yet: nothing kept, nothing served");
        memo.set_listening(true);
        assert!(!memo.trusted(), "subscribed but no heartbeat heard yet");
        memo.heartbeat_heard();
        assert!(memo.trusted());
        look_up(&memo, "a", Some(key("a"))).await;
        assert!(served(&memo, "a").is_some());
        memo.set_listening(false);
        assert!(!memo.trusted());
        memo.set_listening(true);
        memo.heartbeat_heard();
        assert!(served(&memo, "a").is_none(), "memory starts empty after the listener comes back");
    }
}
