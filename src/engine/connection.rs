//! Connections to Redis. One multiplexed, auto-reconnecting connection carries
//! all commands of a process's queues and workers with equal connection
//! options ([`Connection::shared`]); blocking commands (`BZPOPMIN`, `XREAD
//! BLOCK`) get a dedicated connection each so they never stall the others.
//!
//! Commands survive a lost connection the way ioredis' offline queue makes
//! them survive for BullMQ: a command that failed because the connection
//! dropped (killed client, restarted server) is sent again once the manager
//! has reconnected, for up to [`RETRY_WINDOW`]. As with ioredis, a command
//! whose reply was lost in flight may thus run twice.

use std::io;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{MultipleNodeRoutingInfo, ResponsePolicy, Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{AsyncConnectionConfig, Client, Cmd, Pipeline, RedisError, RedisFuture, Value};
use serde::Deserialize;

use super::error::{EngineError, ErrorKind, Result};

/// How long a command keeps being retried while Redis is unreachable.
pub const RETRY_WINDOW: Duration = Duration::from_secs(10);
/// First pause between retries; doubled up to [`MAX_RETRY_PAUSE`].
const FIRST_RETRY_PAUSE: Duration = Duration::from_millis(50);
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(1);

/// How often an idle connection checks that Redis still answers.
const HEALTH_CHECK_EVERY: Duration = Duration::from_secs(1);

/// Told once per outage, with what was lost and why.
pub type OutageListener = Box<dyn Fn(&str) + Send + Sync>;

/// Whether Redis answers on a connection, and who to tell when it stops.
///
/// An outage is reported once, when a command (or the idle check) fails
/// again after the connection was re-established or could not be: a drop
/// that the first reconnect repairs is not an outage. A later success ends
/// it, silently, so the next one is reported again.
struct Health {
    down: AtomicBool,
    /// When a command last succeeded, in ms since `epoch` (for the idle check).
    last_ok: AtomicU64,
    epoch: Instant,
    /// By the id of the [`Lease`] that registered them.
    listeners: Mutex<Vec<(u64, OutageListener)>>,
}

impl Default for Health {
    fn default() -> Self {
        Self { down: AtomicBool::new(false), last_ok: AtomicU64::new(0), epoch: Instant::now(), listeners: Mutex::default() }
    }
}

impl Health {
    fn up(&self) {
        // Plain stores: this runs on every command.
        if self.down.load(Ordering::Relaxed) {
            self.down.store(false, Ordering::SeqCst);
        }
        self.last_ok.store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn down(&self, message: &str) {
        if self.down.swap(true, Ordering::SeqCst) {
            return;
        }
        tracing::warn!(message, "Redis is unreachable");
        if let Ok(listeners) = self.listeners.lock() {
            for (_, l) in listeners.iter() {
                l(message);
            }
        }
    }

    /// Drops the listeners of a closed user of the connection.
    fn forget(&self, lease: u64) {
        if let Ok(mut listeners) = self.listeners.lock() {
            listeners.retain(|(id, _)| *id != lease);
        }
    }

    fn idle_for(&self, d: Duration) -> bool {
        let now = self.epoch.elapsed().as_millis() as u64;
        now.saturating_sub(self.last_ok.load(Ordering::Relaxed)) >= d.as_millis() as u64
    }
}

/// Checks an idle connection every [`HEALTH_CHECK_EVERY`] (a PING, only
/// when no command succeeded meanwhile), so an outage is noticed while
/// nothing is sent; ends with the connection.
async fn watch_health(inner: Weak<Inner>) {
    loop {
        tokio::time::sleep(HEALTH_CHECK_EVERY).await;
        let Some(inner) = inner.upgrade() else { return };
        if inner.closed.load(Ordering::SeqCst) {
            return;
        }
        if !inner.health.idle_for(HEALTH_CHECK_EVERY) {
            continue;
        }
        let Some(mut manager) = inner.backend() else { return };
        let address = inner.address.clone();
        let health = inner.health.clone();
        let ping = redis::cmd("PING");
        let pinged = match &mut manager {
            Backend::Single(m) => tokio::time::timeout(HEALTH_CHECK_EVERY * 2, ping.query_async::<()>(m)).await,
            Backend::Cluster(c) => tokio::time::timeout(HEALTH_CHECK_EVERY * 2, ping.query_async::<()>(c)).await,
        };
        let failure = match pinged {
            Ok(Ok(())) => None,
            Ok(Err(e)) if is_connection_error(&e) => Some(format!("Lost the connection to Redis at {address}: {e}")),
            Ok(Err(_)) => None,
            Err(_) => Some(format!("Lost the connection to Redis at {address}: no answer to PING")),
        };
        match failure {
            None => health.up(),
            Some(message) => {
                health.down(&message);
                // An idle Sentinel connection moves to a new master by itself too.
                inner.follow_master().await;
            }
        }
    }
}

/// What a BullMQ user passes as `connection`, normalized by the facade.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionOptions {
    /// A `redis://` or `rediss://` URL; when set, the address fields below are
    /// not used (the TLS certificate fields still are).
    pub url: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub db: Option<i64>,
    /// Use TLS.
    #[serde(default)]
    pub tls: bool,
    /// Skip certificate verification (`tls: { rejectUnauthorized: false }`).
    #[serde(default)]
    pub tls_insecure: bool,
    /// PEM certificates to trust instead of the system roots (`tls.ca`).
    pub tls_ca: Option<String>,
    /// PEM client certificate and key for mutual TLS (`tls.cert`, `tls.key`).
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
    /// Connect timeout in milliseconds (default 10000, as ioredis).
    pub connect_timeout: Option<u64>,
    /// Startup nodes of a Redis Cluster; when set, this is a cluster
    /// connection (the credentials and TLS fields apply to every node).
    pub cluster_nodes: Option<Vec<NodeAddress>>,
    /// Sentinels to ask for the master named `sentinel_name`; when set, the
    /// address fields are not used (credentials and TLS apply to the master).
    pub sentinels: Option<Vec<NodeAddress>>,
    /// The Sentinel group's name (ioredis' `name`; default `mymaster`).
    pub sentinel_name: Option<String>,
    /// Credentials of the sentinels themselves (ioredis' `sentinelUsername`,
    /// `sentinelPassword`).
    pub sentinel_username: Option<String>,
    pub sentinel_password: Option<String>,
}

/// A `host:port` of a cluster node or a sentinel.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Hash)]
pub struct NodeAddress {
    pub host: String,
    pub port: u16,
}

impl NodeAddress {
    pub fn label(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

fn encode_userinfo(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl ConnectionOptions {
    fn to_url(&self) -> String {
        if let Some(url) = &self.url {
            return url.clone();
        }
        let scheme = if self.tls { "rediss" } else { "redis" };
        let mut userinfo = String::new();
        if self.username.is_some() || self.password.is_some() {
            if let Some(u) = &self.username {
                userinfo.push_str(&encode_userinfo(u));
            }
            if let Some(p) = &self.password {
                userinfo.push(':');
                userinfo.push_str(&encode_userinfo(p));
            }
            userinfo.push('@');
        }
        let host = self.host.as_deref().unwrap_or("127.0.0.1");
        let host = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        let mut url = format!(
            "{scheme}://{userinfo}{host}:{}/{}",
            self.port.unwrap_or(6379),
            self.db.unwrap_or(0)
        );
        if self.tls && self.tls_insecure {
            url.push_str("#insecure");
        }
        url
    }

    /// A Redis Cluster connection.
    pub fn is_cluster(&self) -> bool {
        self.cluster_nodes.as_ref().is_some_and(|n| !n.is_empty())
    }

    /// A connection to the master of a Sentinel group.
    pub fn is_sentinel(&self) -> bool {
        !self.is_cluster() && self.sentinels.as_ref().is_some_and(|n| !n.is_empty())
    }

    fn nodes_label<'a>(&self, nodes: impl Iterator<Item = &'a NodeAddress>) -> String {
        nodes.map(NodeAddress::label).collect::<Vec<_>>().join(",")
    }

    /// The client of one server with these options' credentials and TLS.
    pub(crate) fn node_client(&self, host: &str, port: u16) -> Result<Client> {
        let node = ConnectionOptions {
            url: None,
            host: Some(host.to_string()),
            port: Some(port),
            cluster_nodes: None,
            sentinels: None,
            ..self.clone()
        };
        node.client()
    }

    /// The cluster client for `cluster_nodes`.
    fn cluster_client(&self) -> Result<ClusterClient> {
        if self.tls {
            install_crypto_provider();
        }
        let invalid = |e: RedisError| EngineError::invalid(format!("Invalid Redis Cluster options: {e}"));
        let urls: Vec<String> = self
            .cluster_nodes
            .iter()
            .flatten()
            .map(|n| {
                ConnectionOptions {
                    url: None,
                    host: Some(n.host.clone()),
                    port: Some(n.port),
                    db: None,
                    ..self.clone()
                }
                .to_url()
            })
            .collect();
        let mut builder = redis::cluster::ClusterClientBuilder::new(urls)
            .connection_timeout(self.connect_timeout())
            // Scripts may run for a while; a dead node is noticed by its
            // connection failing, and the retry window bounds the rest.
            .response_timeout(RETRY_WINDOW);
        if self.tls_ca.is_some() || self.tls_cert.is_some() {
            let client_tls = match (&self.tls_cert, &self.tls_key) {
                (Some(cert), Some(key)) => Some(redis::ClientTlsConfig {
                    client_cert: cert.clone().into_bytes(),
                    client_key: key.clone().into_bytes(),
                }),
                _ => None,
            };
            builder = builder.certs(redis::TlsCertificates {
                client_tls,
                root_cert: self.tls_ca.clone().map(String::into_bytes),
            });
        }
        builder.build().map_err(invalid)
    }

    fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout.unwrap_or(10_000))
    }

    pub(crate) fn client(&self) -> Result<Client> {
        if self.tls || self.url.as_deref().is_some_and(|u| u.starts_with("rediss:")) {
            install_crypto_provider();
        }
        let invalid = |e: RedisError| EngineError::invalid(format!("Invalid Redis connection options: {e}"));
        let url = self.to_url();
        if self.tls_ca.is_none() && self.tls_cert.is_none() && self.tls_key.is_none() {
            return Client::open(url).map_err(invalid);
        }
        if !url.starts_with("rediss://") {
            return Err(EngineError::invalid(
                "TLS certificates (tls.ca, tls.cert, tls.key) need a TLS connection",
            ));
        }
        let client_tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(redis::ClientTlsConfig {
                client_cert: cert.clone().into_bytes(),
                client_key: key.clone().into_bytes(),
            }),
            (None, None) => None,
            _ => return Err(EngineError::invalid("tls.cert and tls.key must be given together")),
        };
        let certs = redis::TlsCertificates {
            client_tls,
            root_cert: self.tls_ca.clone().map(String::into_bytes),
        };
        Client::build_with_tls(url, certs).map_err(invalid)
    }
}

/// rustls needs one process-wide crypto provider; without it the first TLS
/// handshake panics.
fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err means another provider is installed already, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// What the options connect to.
enum Target {
    /// One server.
    Single(Client),
    /// A Redis Cluster: commands go through the cluster client, which follows
    /// `MOVED`/`ASK` and failovers; dedicated connections go to the master
    /// of the slot they serve, looked up when they are opened.
    Cluster,
    /// The master of a Sentinel group, looked up again when it stops
    /// answering; the client of the master in use.
    Sentinel(RwLock<Client>),
}

/// The shared command connection of a [`Connection`].
#[derive(Clone)]
enum Backend {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

/// A live connection to Redis (one server, a cluster, or the master of a
/// Sentinel group), as one user (a Queue, a Worker, ...) holds it. Clones
/// are the same user; [`Connection::shared`] gives each user its own lease
/// of one command connection.
#[derive(Clone)]
pub struct Connection {
    lease: Arc<Lease>,
}

/// One user's hold on a command connection: closing it (or dropping the
/// last clone) ends this user's commands and listeners, and the connection
/// itself closes with its last user.
struct Lease {
    inner: Arc<Inner>,
    id: u64,
    closed: AtomicBool,
}

/// A process-wide unique id (of a connection, of a lease).
fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl Lease {
    fn new(inner: Arc<Inner>) -> Self {
        Self { inner, id: next_id(), closed: AtomicBool::new(false) }
    }

    /// A new lease on `inner`, unless its last user closed it for good.
    fn join(inner: &Arc<Inner>) -> Option<Self> {
        let joined = inner.users.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n > 0).then_some(n + 1));
        // Dropped, the lease gives the user back.
        joined.is_ok().then(|| Self::new(inner.clone()))
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst) || self.inner.closed.load(Ordering::SeqCst)
    }

    fn release(&self) {
        if self.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        self.inner.health.forget(self.id);
        if self.inner.users.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.inner.close();
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.release();
    }
}

/// The process's command connections, by their options, for
/// [`Connection::shared`]. Each slot's async lock makes users that open at
/// once (a Queue and a Worker built in one tick) wait for one connect.
type Pool = Mutex<HashMap<ConnectionOptions, Arc<tokio::sync::Mutex<Weak<Inner>>>>>;
static POOL: LazyLock<Pool> = LazyLock::new(Pool::default);

struct Inner {
    options: ConnectionOptions,
    /// `host:port` of the server (the nodes or sentinels otherwise), for
    /// error messages.
    address: Arc<str>,
    target: Target,
    /// The shared command connection; `None` once closed.
    manager: RwLock<Option<Backend>>,
    closed: Arc<AtomicBool>,
    health: Arc<Health>,
    /// Serializes master lookups after a Sentinel failover.
    following: tokio::sync::Mutex<()>,
    /// Open leases; 0 means closed for good (never raised again).
    users: AtomicUsize,
    /// Tells this connection from the process's others (see [`Connection::id`]).
    id: u64,
}

/// A connection manager on `client` that reconnects by itself.
async fn manage(client: &Client, timeout: Duration, address: &str) -> Result<ConnectionManager> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(None)
        .set_number_of_retries(6)
        .set_max_delay(Duration::from_secs(2));
    ConnectionManager::new_with_config(client.clone(), config)
        .await
        .map_err(|e| connect_error(address, e))
}

/// Connects once and PINGs: the first connect fails fast with a clear error
/// instead of retrying silently.
async fn probe(client: &Client, timeout: Duration, address: &str) -> Result<()> {
    let probe_config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout));
    let mut probe = client
        .get_multiplexed_async_connection_with_config(&probe_config)
        .await
        .map_err(|e| connect_error(address, e))?;
    redis::cmd("PING")
        .query_async::<()>(&mut probe)
        .await
        .map_err(|e| connect_error(address, e))
}

impl Connection {
    /// Connects, failing (instead of retrying forever) when Redis is unreachable
    /// or rejects the credentials, with a message that names the address.
    pub async fn open(options: ConnectionOptions) -> Result<Self> {
        let timeout = options.connect_timeout();
        let (address, target, backend): (Arc<str>, Target, Backend) = if options.is_cluster() {
            let address: Arc<str> = options.nodes_label(options.cluster_nodes.iter().flatten()).into();
            let client = options.cluster_client()?;
            let connect = client.get_async_connection();
            let mut conn = match tokio::time::timeout(timeout, connect).await {
                Ok(r) => r.map_err(|e| connect_error(&address, e))?,
                Err(_) => return Err(connect_error(&address, io::Error::from(io::ErrorKind::TimedOut).into())),
            };
            redis::cmd("PING").query_async::<()>(&mut conn).await.map_err(|e| connect_error(&address, e))?;
            (address, Target::Cluster, Backend::Cluster(conn))
        } else if options.is_sentinel() {
            let address: Arc<str> = format!(
                "the master \"{}\" of the sentinels {}",
                options.sentinel_name.as_deref().unwrap_or("mymaster"),
                options.nodes_label(options.sentinels.iter().flatten())
            )
            .into();
            let (host, port) = super::sentinel::find_master(&options, timeout).await.map_err(|e| EngineError {
                kind: ErrorKind::Redis,
                code: 0,
                message: format!("Could not connect to Redis at {address}: {e}"),
            })?;
            let client = options.node_client(&host, port)?;
            let manager = manage(&client, timeout, &address).await?;
            (address, Target::Sentinel(RwLock::new(client)), Backend::Single(manager))
        } else {
            let client = options.client()?;
            let address: Arc<str> = client.get_connection_info().addr().to_string().into();
            probe(&client, timeout, &address).await?;
            let manager = manage(&client, timeout, &address).await?;
            (address, Target::Single(client), Backend::Single(manager))
        };
        let health = Arc::new(Health::default());
        health.up();
        let inner = Arc::new(Inner {
            options,
            address,
            target,
            manager: RwLock::new(Some(backend)),
            closed: Arc::new(AtomicBool::new(false)),
            health,
            following: tokio::sync::Mutex::new(()),
            users: AtomicUsize::new(1),
            id: next_id(),
        });
        tokio::spawn(watch_health(Arc::downgrade(&inner)));
        Ok(Self { lease: Arc::new(Lease::new(inner)) })
    }

    /// A lease of the process's command connection for `options`, opened by
    /// the first user and closed with the last. BullMQ opens one per object;
    /// nothing a user sees depends on it (blocking reads, the named
    /// connections `getWorkers` lists and subscriptions stay per object),
    /// and one connection is one idle check instead of one per object.
    /// Connections must be used from one runtime: engine tests, each on a
    /// runtime of its own, use [`Self::open`].
    pub async fn shared(options: ConnectionOptions) -> Result<Self> {
        let slot = {
            let mut pool = super::guard::lock(&POOL);
            // Forget the slots of connections closed meanwhile.
            pool.retain(|_, slot| slot.try_lock().map_or(true, |weak| weak.strong_count() > 0));
            pool.entry(options.clone()).or_default().clone()
        };
        let mut current = slot.lock().await;
        if let Some(lease) = current.upgrade().and_then(|inner| Lease::join(&inner)) {
            lease.inner.check().await?;
            return Ok(Self { lease: Arc::new(lease) });
        }
        let conn = Self::open(options).await?;
        *current = Arc::downgrade(&conn.lease.inner);
        Ok(conn)
    }

    fn inner(&self) -> &Arc<Inner> {
        &self.lease.inner
    }

    /// Which command connection of the process this is: equal for the
    /// users of one shared connection.
    pub fn id(&self) -> u64 {
        self.inner().id
    }

    /// A lease of its own on this connection, for a process-wide helper
    /// that outlives the user that started it; closed (failing every
    /// command) when this connection is closed for good.
    pub fn share(&self) -> Connection {
        let lease = Lease::join(self.inner()).unwrap_or_else(|| {
            let lease = Lease::new(self.inner().clone());
            // Nothing to give back on release.
            lease.closed.store(true, Ordering::SeqCst);
            lease
        });
        Connection { lease: Arc::new(lease) }
    }

    /// Calls `listener` once per outage of Redis (see `Health`), until this
    /// user closes: BullMQ's `error` event for a lost connection.
    pub fn on_outage(&self, listener: OutageListener) {
        if let Ok(mut l) = self.inner().health.listeners.lock() {
            l.push((self.lease.id, listener));
        }
    }

    /// Reports an outage seen on a dedicated connection (a blocking read
    /// that failed again after reconnecting).
    pub fn report_outage(&self, message: &str) {
        self.inner().health.down(message);
    }

    /// The shared command connection (cheap to clone). Commands that fail
    /// because the connection dropped are retried after reconnecting. On a
    /// cluster, keyless commands go to a random node: use [`Self::commands_for`].
    pub fn manager(&self) -> Commands {
        self.commands(None)
    }

    /// The command connection for the keys of one queue (`key` is one of
    /// them): on a cluster every command, keyless ones too (`CLIENT LIST`,
    /// `INFO`, `SCAN`, `PUBLISH`), goes to the master of its slot.
    pub fn commands_for(&self, key: &str) -> Commands {
        let slot = self.is_cluster().then(|| super::cluster::key_slot(key.as_bytes()));
        self.commands(slot)
    }

    fn commands(&self, slot: Option<u16>) -> Commands {
        let backend = if self.lease.is_closed() { None } else { self.inner().backend() };
        Commands { backend, lease: self.lease.clone(), slot }
    }

    pub fn options(&self) -> &ConnectionOptions {
        &self.inner().options
    }

    /// Whether this is a Redis Cluster connection.
    pub fn is_cluster(&self) -> bool {
        matches!(self.inner().target, Target::Cluster)
    }

    /// `host:port` of the server.
    pub fn address(&self) -> &str {
        &self.inner().address
    }

    pub fn is_closed(&self) -> bool {
        self.lease.is_closed()
    }

    /// Ends this user's hold: its later commands fail with "Connection is
    /// closed.", and the command connection closes, once no command is in
    /// flight, if no other user holds it.
    pub fn close(&self) {
        self.lease.release();
    }

    /// The client of the server that dedicated connections for `key` go to:
    /// the server, the master of `key`'s slot, or the Sentinel master.
    async fn dedicated_client(&self, key: &str) -> Result<Client> {
        match &self.inner().target {
            Target::Single(client) => Ok(client.clone()),
            Target::Sentinel(_) => {
                // A dedicated connection is (re)opened at start or after it
                // was lost, which after a failover means a new master.
                self.inner().follow_master().await;
                Ok(self.inner().sentinel_client().ok_or_else(|| EngineError::closed("Connection is closed."))?)
            }
            Target::Cluster => {
                let Some(Backend::Cluster(mut conn)) = self.inner().backend() else {
                    return Err(EngineError::closed("Connection is closed."));
                };
                let slot = super::cluster::key_slot(key.as_bytes());
                let timeout = self.inner().options.connect_timeout();
                let found = tokio::time::timeout(timeout, super::cluster::slot_master(&mut conn, slot)).await;
                let (host, port) = match found {
                    Ok(r) => r.map_err(|e| connect_error(&self.inner().address, e))?,
                    Err(_) => {
                        return Err(connect_error(&self.inner().address, io::Error::from(io::ErrorKind::TimedOut).into()))
                    }
                };
                self.inner().options.node_client(&host, port)
            }
        }
    }

    /// A dedicated connection for blocking commands on `key` (on a cluster,
    /// to the master of its slot), named with `CLIENT SETNAME` so dashboards
    /// (`getWorkers`) can see it.
    pub async fn open_blocking(&self, client_name: Option<&str>, key: &str) -> Result<MultiplexedConnection> {
        if self.is_closed() {
            return Err(EngineError::closed("Connection is closed."));
        }
        let client = self.dedicated_client(key).await?;
        let address = client.get_connection_info().addr().to_string();
        let timeout = self.inner().options.connect_timeout();
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(None);
        let mut conn = client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| connect_error(&address, e))?;
        if let Some(name) = client_name {
            let setname = redis::cmd("CLIENT").arg("SETNAME").arg(name).to_owned();
            let named = match tokio::time::timeout(timeout, setname.query_async::<()>(&mut conn)).await {
                Ok(r) => r,
                Err(_) => Err(io::Error::from(io::ErrorKind::TimedOut).into()),
            };
            named.map_err(|e| EngineError {
                kind: ErrorKind::Redis,
                code: 0,
                message: format!("Could not name the connection to Redis at {address} \"{name}\": {e}"),
            })?;
        }
        Ok(conn)
    }

    /// A dedicated pub/sub connection (subscriptions take a connection over),
    /// to the server that serves `key` (cluster pub/sub reaches every node).
    pub async fn open_pubsub(&self, key: &str) -> Result<redis::aio::PubSub> {
        if self.is_closed() {
            return Err(EngineError::closed("Connection is closed."));
        }
        let client = self.dedicated_client(key).await?;
        let address = client.get_connection_info().addr().to_string();
        let connect = client.get_async_pubsub();
        match tokio::time::timeout(self.inner().options.connect_timeout(), connect).await {
            Ok(Ok(pubsub)) => Ok(pubsub),
            Ok(Err(e)) => Err(connect_error(&address, e)),
            Err(_) => Err(connect_error(&address, io::Error::from(io::ErrorKind::TimedOut).into())),
        }
    }
}

impl Inner {
    /// What opening checks, for a user joining an open connection: Redis
    /// answers with these options now (the same error as a first connect
    /// otherwise, at once, instead of retrying on the shared connection).
    async fn check(&self) -> Result<()> {
        let timeout = self.options.connect_timeout();
        if let Target::Single(client) = &self.target {
            return probe(client, timeout, &self.address).await;
        }
        let ping = redis::cmd("PING");
        // A Sentinel master that failed over before the shared connection
        // noticed: the sentinels are asked, as a first connect would, once.
        let mut lookups = if matches!(self.target, Target::Sentinel(_)) { 1 } else { 0 };
        loop {
            let Some(mut backend) = self.backend() else {
                return Err(EngineError::closed("Connection is closed."));
            };
            let err = match tokio::time::timeout(timeout, send(&mut backend, None, Request::One(&ping))).await {
                Ok(Ok(_)) => return Ok(()),
                Ok(Err(e)) => e,
                Err(_) => io::Error::from(io::ErrorKind::TimedOut).into(),
            };
            if lookups == 0 {
                return Err(connect_error(&self.address, err));
            }
            lookups -= 1;
            self.follow_master().await;
        }
    }

    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        if let Ok(mut m) = self.manager.write() {
            m.take();
        }
    }

    fn backend(&self) -> Option<Backend> {
        self.manager.read().map(|m| m.clone()).unwrap_or(None)
    }

    fn sentinel_client(&self) -> Option<Client> {
        match &self.target {
            Target::Sentinel(c) => c.read().ok().map(|c| c.clone()),
            _ => None,
        }
    }

    /// After a failure on a Sentinel master: asks the sentinels which server
    /// is master now and, when another one, moves the command connection
    /// there. Does nothing for other targets, or when the lookup fails (the
    /// caller retries).
    async fn follow_master(&self) {
        let Target::Sentinel(current) = &self.target else { return };
        let _one_at_a_time = self.following.lock().await;
        if self.closed.load(Ordering::SeqCst) {
            return;
        }
        let timeout = self.options.connect_timeout().min(Duration::from_secs(2));
        let (host, port) = match super::sentinel::find_master(&self.options, timeout).await {
            Ok(found) => found,
            Err(e) => {
                tracing::debug!(error = %e, "no master from the sentinels yet");
                return;
            }
        };
        let same = current.read().is_ok_and(|c| {
            let addr = c.get_connection_info().addr().to_string();
            addr == format!("{host}:{port}")
        });
        if same {
            return;
        }
        let Ok(client) = self.options.node_client(&host, port) else { return };
        let manager = match manage(&client, timeout, &self.address).await {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(error = %e.message, "could not connect to the new master yet");
                return;
            }
        };
        tracing::info!(master = %format!("{host}:{port}"), "following the new Sentinel master");
        if let Ok(mut c) = current.write() {
            *c = client;
        }
        if let Ok(mut m) = self.manager.write() {
            if m.is_some() && !self.closed.load(Ordering::SeqCst) {
                *m = Some(Backend::Single(manager));
            }
        }
    }
}

fn connect_error(address: &str, err: RedisError) -> EngineError {
    EngineError {
        kind: ErrorKind::Redis,
        code: 0,
        message: format!("Could not connect to Redis at {address}: {err}"),
    }
}

/// Whether a failed command should be sent again after reconnecting: the
/// connection dropped or could not be re-established, or Redis is loading.
pub fn is_connection_error(err: &RedisError) -> bool {
    err.is_io_error()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || matches!(err.retry_method(), redis::RetryMethod::WaitAndRetry)
}

/// Whether a failed command on a Sentinel master means it may no longer be
/// the master: it stopped answering, or it was demoted (`READONLY`).
fn may_be_failover(err: &RedisError) -> bool {
    is_connection_error(err) || err.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly)
}

/// Whether a reply on a cluster says the command met a slot that is being
/// moved to another node: TRYAGAIN (its keys are split for now), or a script
/// that reached a key already moved ("non local key": our scripts name one
/// key and reach the queue's others by name). Sent again until the move is
/// over. Redis keeps what such a script wrote before it met the moved key.
fn meets_slot_move(reply: &Value) -> bool {
    match reply {
        Value::ServerError(e) => {
            e.kind() == Some(redis::ServerErrorKind::TryAgain) || e.details().is_some_and(|d| d.contains("non local key"))
        }
        _ => false,
    }
}

/// The command connection handed to callers: a [`ConnectionManager`] (or
/// the cluster client) that retries commands lost to a dropped connection,
/// and refuses work once the connection was closed.
#[derive(Clone)]
pub struct Commands {
    backend: Option<Backend>,
    lease: Arc<Lease>,
    /// On a cluster: the slot whose master gets every command.
    slot: Option<u16>,
}

fn closed_error() -> RedisError {
    io::Error::new(io::ErrorKind::NotConnected, "Connection is closed.").into()
}

/// One request: a command, or a pipeline slice.
#[derive(Clone, Copy)]
enum Request<'a> {
    One(&'a Cmd),
    Many(&'a Pipeline, usize, usize),
}

enum Reply {
    One(Value),
    Many(Vec<Value>),
}

async fn send(backend: &mut Backend, slot: Option<u16>, req: Request<'_>) -> redis::RedisResult<Reply> {
    match (backend, req) {
        (Backend::Single(m), Request::One(cmd)) => m.req_packed_command(cmd).await.map(Reply::One),
        (Backend::Single(m), Request::Many(p, offset, count)) => {
            m.req_packed_commands(p, offset, count).await.map(Reply::Many)
        }
        (Backend::Cluster(c), Request::One(cmd)) if is_script_load(cmd) => {
            // On every node that answers, replicas too: while a slot's master
            // fails over, the call that follows may reach its replica (the
            // client's fallback) or the replica just promoted, which may not
            // be listed as a master yet. Replicas do not receive loads made
            // on their master, and a node that is down must not fail it.
            let all = MultipleNodeRoutingInfo::AllNodes;
            c.route_command(cmd.clone(), RoutingInfo::MultiNode((all, Some(ResponsePolicy::OneSucceeded))))
                .await
                .map(Reply::One)
        }
        (Backend::Cluster(c), req) => {
            let Some(slot) = slot else {
                return match req {
                    Request::One(cmd) => c.req_packed_command(cmd).await.map(Reply::One),
                    Request::Many(p, offset, count) => c.req_packed_commands(p, offset, count).await.map(Reply::Many),
                };
            };
            let node = SingleNodeRoutingInfo::SpecificNode(Route::new(slot, SlotAddr::Master));
            match req {
                Request::One(cmd) => c.route_command(cmd.clone(), RoutingInfo::SingleNode(node)).await.map(Reply::One),
                Request::Many(p, offset, count) => c.route_pipeline(p.clone(), offset, count, node).await.map(Reply::Many),
            }
        }
    }
}

/// `SCRIPT LOAD ...` or `FUNCTION LOAD ...`. Functions reach a replica by
/// replication too, but only once its master has them; loading everywhere
/// keeps one rule for both kinds (replicas refuse the load, which is fine).
fn is_script_load(cmd: &Cmd) -> bool {
    let mut args = cmd.args_iter().filter_map(|a| match a {
        redis::Arg::Simple(b) => Some(b),
        _ => None,
    });
    matches!((args.next(), args.next()), (Some(a), Some(b))
        if (a.eq_ignore_ascii_case(b"SCRIPT") || a.eq_ignore_ascii_case(b"FUNCTION")) && b.eq_ignore_ascii_case(b"LOAD"))
}

impl Commands {
    /// [`Self::send_until_connected`], and on a cluster, the commands met by a
    /// slot move sent again (alone, the others' replies kept) until it is
    /// over or the retry window is.
    async fn send_with_retry(&mut self, req: Request<'_>) -> redis::RedisResult<Reply> {
        let mut reply = self.send_until_connected(req).await?;
        if !matches!(self.lease.inner.target, Target::Cluster) {
            return Ok(reply);
        }
        let deadline = Instant::now() + RETRY_WINDOW;
        let mut pause = FIRST_RETRY_PAUSE;
        loop {
            let moved: Vec<usize> = match &reply {
                Reply::One(v) => if meets_slot_move(v) { vec![0] } else { vec![] },
                // A transaction's commands stand or fall together.
                Reply::Many(_) if matches!(req, Request::Many(p, ..) if p.is_transaction()) => vec![],
                Reply::Many(vs) => (0..vs.len()).filter(|&i| meets_slot_move(&vs[i])).collect(),
            };
            if moved.is_empty() || Instant::now() + pause >= deadline {
                return Ok(reply);
            }
            tracing::debug!(commands = moved.len(), "the queue's slot is moving; sending again");
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_RETRY_PAUSE);
            match (&mut reply, req) {
                (Reply::One(v), Request::One(_)) => {
                    if let Reply::One(again) = self.send_until_connected(req).await? {
                        *v = again;
                    }
                }
                (Reply::Many(vs), Request::Many(p, offset, _)) => {
                    let all: Vec<&Cmd> = p.cmd_iter().skip(offset).collect();
                    let mut again = redis::pipe();
                    for &i in &moved {
                        if let Some(cmd) = all.get(i) {
                            again.add_command((*cmd).clone());
                        }
                    }
                    let Reply::Many(fresh) = self.send_until_connected(Request::Many(&again, 0, again.len())).await? else {
                        return Ok(reply);
                    };
                    for (i, v) in moved.into_iter().zip(fresh) {
                        vs[i] = v;
                    }
                }
                _ => return Ok(reply),
            }
        }
    }

    /// Sends `req` until it succeeds, fails for another reason than the
    /// connection, or the retry window is over.
    async fn send_until_connected(&mut self, req: Request<'_>) -> redis::RedisResult<Reply> {
        let lease = self.lease.clone();
        let inner = &lease.inner;
        let closed = || lease.is_closed();
        if closed() {
            return Err(closed_error());
        }
        let sentinel = matches!(inner.target, Target::Sentinel(_));
        let retryable = |e: &RedisError| if sentinel { may_be_failover(e) } else { is_connection_error(e) };
        let Some(backend) = self.backend.as_mut() else {
            return Err(closed_error());
        };
        let mut last = match send(backend, self.slot, req).await {
            Err(e) if retryable(&e) => e,
            other => {
                inner.health.up();
                return other;
            }
        };
        let deadline = Instant::now() + RETRY_WINDOW;
        let mut pause = FIRST_RETRY_PAUSE;
        loop {
            tracing::debug!(error = %last, "command failed on a lost connection; retrying");
            if Instant::now() + pause >= deadline || closed() {
                break;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_RETRY_PAUSE);
            if closed() {
                break;
            }
            if sentinel {
                inner.follow_master().await;
                match inner.backend() {
                    Some(b) => self.backend = Some(b),
                    None => break,
                }
            }
            let Some(backend) = self.backend.as_mut() else { break };
            let remaining = deadline.saturating_duration_since(Instant::now());
            // The manager may be waiting on a reconnect; never past the window.
            match tokio::time::timeout(remaining, send(backend, self.slot, req)).await {
                Ok(Err(e)) if retryable(&e) => {
                    // Failing again after a reconnect: an outage, not a drop.
                    inner.health.down(&format!("Lost the connection to Redis at {}: {e}", inner.address));
                    last = e;
                }
                Ok(result) => {
                    inner.health.up();
                    return result;
                }
                Err(_) => break,
            }
        }
        if closed() {
            return Err(closed_error());
        }
        Err(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            format!(
                "Lost the connection to Redis at {} and could not reconnect: {last}",
                inner.address
            ),
        )
        .into())
    }
}

impl ConnectionLike for Commands {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            match self.send_with_retry(Request::One(cmd)).await? {
                Reply::One(v) => Ok(v),
                Reply::Many(v) => Ok(Value::Array(v)),
            }
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            match self.send_with_retry(Request::Many(pipeline, offset, count)).await? {
                Reply::Many(v) => Ok(v),
                Reply::One(v) => Ok(vec![v]),
            }
        })
    }

    fn get_db(&self) -> i64 {
        match &self.backend {
            Some(Backend::Single(m)) => m.get_db(),
            _ => self.lease.inner.options.db.unwrap_or(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::test_support::redis_url;

    #[test]
    fn builds_urls_from_fields() {
        let o = ConnectionOptions {
            host: Some("localhost".into()),
            port: Some(6380),
            password: Some("p@ss".into()),
            db: Some(2),
            ..Default::default()
        };
        assert_eq!(o.to_url(), "redis://:p%40ss@localhost:6380/2");
        let tls = ConnectionOptions {
            host: Some("h".into()),
            tls: true,
            tls_insecure: true,
            ..Default::default()
        };
        assert_eq!(tls.to_url(), "rediss://h:6379/0#insecure");
    }

    #[test]
    fn certificates_need_tls() {
        let o = ConnectionOptions { tls_ca: Some("x".into()), ..Default::default() };
        let err = o.client().err().map(|e| e.message).unwrap_or_default();
        assert!(err.contains("need a TLS connection"), "{err}");
    }

    #[tokio::test]
    async fn an_unreachable_server_fails_with_its_address() {
        // A port nothing listens on: bind, read the port, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(1);
        let o = ConnectionOptions { port: Some(port), ..Default::default() };
        let err = Connection::open(o).await.err().map(|e| e.message).unwrap_or_default();
        assert!(err.starts_with(&format!("Could not connect to Redis at 127.0.0.1:{port}: ")), "{err}");
    }

    #[tokio::test]
    async fn commands_survive_a_killed_connection() {
        let conn = Connection::open(ConnectionOptions { url: Some(redis_url()), ..Default::default() })
            .await
            .unwrap();
        let mut c = conn.manager();
        let key = format!("conn-test-{}", uuid::Uuid::new_v4());
        let id: i64 = redis::cmd("CLIENT").arg("ID").query_async(&mut c).await.unwrap();
        // Kill our own connection from another one.
        let other = Connection::open(ConnectionOptions { url: Some(redis_url()), ..Default::default() })
            .await
            .unwrap();
        let killed: i64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("ID")
            .arg(id)
            .query_async(&mut other.manager())
            .await
            .unwrap();
        assert_eq!(killed, 1);
        let n: i64 = redis::cmd("INCR").arg(&key).query_async(&mut c).await.unwrap();
        assert_eq!(n, 1);
        let id2: i64 = redis::cmd("CLIENT").arg("ID").query_async(&mut c).await.unwrap();
        assert_ne!(id, id2, "a new connection was opened");
        conn.close();
        // Neither a handle taken before close nor a fresh one works any more.
        for mut handle in [c, conn.manager()] {
            let err = redis::cmd("GET").arg(&key).query_async::<Option<String>>(&mut handle).await;
            assert_eq!(err.err().map(|e| e.to_string()), Some("Connection is closed.".to_string()));
        }
    }

    #[tokio::test]
    async fn users_with_equal_options_share_one_command_connection() {
        let options = ConnectionOptions { url: Some(redis_url()), db: Some(5), ..Default::default() };
        let a = Connection::shared(options.clone()).await.unwrap();
        let b = Connection::shared(options.clone()).await.unwrap();
        let other = Connection::shared(ConnectionOptions { db: Some(6), ..options.clone() }).await.unwrap();
        assert_eq!(a.id(), b.id());
        assert_ne!(a.id(), other.id());
        let client_id = |c: &Connection| {
            let mut commands = c.manager();
            async move { redis::cmd("CLIENT").arg("ID").query_async::<i64>(&mut commands).await }
        };
        assert_eq!(client_id(&a).await.unwrap(), client_id(&b).await.unwrap());
        // One user's close ends its own commands only.
        a.close();
        assert_eq!(client_id(&a).await.err().map(|e| e.to_string()), Some("Connection is closed.".to_string()));
        assert!(client_id(&b).await.is_ok());
        // A new user joins the connection still open.
        let c = Connection::shared(options.clone()).await.unwrap();
        assert_eq!(c.id(), b.id());
        // Closed by its last user, the next one opens a new connection.
        b.close();
        c.close();
        let d = Connection::shared(options).await.unwrap();
        assert_ne!(d.id(), b.id());
        assert!(client_id(&d).await.is_ok());
        d.close();
        other.close();
    }
}
