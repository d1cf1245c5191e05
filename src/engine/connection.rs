//! Connections to Redis. One multiplexed, auto-reconnecting connection carries
//! all commands of a queue or worker; blocking commands (`BZPOPMIN`, `XREAD
//! BLOCK`) get a dedicated connection each so they never stall the others.
//!
//! Commands survive a lost connection the way ioredis' offline queue makes
//! them survive for BullMQ: a command that failed because the connection
//! dropped (killed client, restarted server) is sent again once the manager
//! has reconnected, for up to [`RETRY_WINDOW`]. As with ioredis, a command
//! whose reply was lost in flight may thus run twice.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
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
    listeners: Mutex<Vec<OutageListener>>,
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
            for l in listeners.iter() {
                l(message);
            }
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
        let Some(mut manager) = inner.manager.read().ok().and_then(|m| m.clone()) else { return };
        let address = inner.address.clone();
        let health = inner.health.clone();
        drop(inner);
        let ping = redis::cmd("PING");
        match tokio::time::timeout(HEALTH_CHECK_EVERY * 2, ping.query_async::<()>(&mut manager)).await {
            Ok(Ok(())) => health.up(),
            Ok(Err(e)) if is_connection_error(&e) => {
                health.down(&format!("Lost the connection to Redis at {address}: {e}"))
            }
            Ok(Err(_)) => health.up(),
            Err(_) => health.down(&format!("Lost the connection to Redis at {address}: no answer to PING")),
        }
    }
}

/// What a BullMQ user passes as `connection`, normalized by the facade.
#[derive(Debug, Clone, Default, Deserialize)]
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

    fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout.unwrap_or(10_000))
    }

    fn client(&self) -> Result<Client> {
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

/// A live connection to one Redis server. Clones share the same connections.
#[derive(Clone)]
pub struct Connection {
    inner: Arc<Inner>,
}

struct Inner {
    options: ConnectionOptions,
    /// `host:port`, for error messages.
    address: Arc<str>,
    client: Client,
    /// The shared command connection; `None` once closed.
    manager: RwLock<Option<ConnectionManager>>,
    closed: Arc<AtomicBool>,
    health: Arc<Health>,
}

impl Connection {
    /// Connects, failing (instead of retrying forever) when Redis is unreachable
    /// or rejects the credentials, with a message that names the address.
    pub async fn open(options: ConnectionOptions) -> Result<Self> {
        let client = options.client()?;
        let address: Arc<str> = client.get_connection_info().addr().to_string().into();
        let timeout = options.connect_timeout();
        // Fail fast on the first connect: a clear error beats a silent retry loop.
        let probe_config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout));
        let mut probe = client
            .get_multiplexed_async_connection_with_config(&probe_config)
            .await
            .map_err(|e| connect_error(&address, e))?;
        redis::cmd("PING")
            .query_async::<()>(&mut probe)
            .await
            .map_err(|e| connect_error(&address, e))?;
        drop(probe);
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(None)
            .set_number_of_retries(6)
            .set_max_delay(Duration::from_secs(2));
        let manager = ConnectionManager::new_with_config(client.clone(), config)
            .await
            .map_err(|e| connect_error(&address, e))?;
        let health = Arc::new(Health::default());
        health.up();
        let inner = Arc::new(Inner {
            options,
            address,
            client,
            manager: RwLock::new(Some(manager)),
            closed: Arc::new(AtomicBool::new(false)),
            health,
        });
        tokio::spawn(watch_health(Arc::downgrade(&inner)));
        Ok(Self { inner })
    }

    /// Calls `listener` once per outage of Redis (see `Health`): BullMQ's
    /// `error` event for a lost connection.
    pub fn on_outage(&self, listener: OutageListener) {
        if let Ok(mut l) = self.inner.health.listeners.lock() {
            l.push(listener);
        }
    }

    /// Reports an outage seen on a dedicated connection (a blocking read
    /// that failed again after reconnecting).
    pub fn report_outage(&self, message: &str) {
        self.inner.health.down(message);
    }


    /// The shared command connection (cheap to clone). Commands that fail
    /// because the connection dropped are retried after reconnecting.
    pub fn manager(&self) -> Commands {
        let manager = self.inner.manager.read().map(|m| m.clone()).unwrap_or(None);
        Commands {
            manager,
            address: self.inner.address.clone(),
            closed: self.inner.closed.clone(),
            db: self.inner.options.db.unwrap_or(0),
            health: self.inner.health.clone(),
        }
    }

    pub fn options(&self) -> &ConnectionOptions {
        &self.inner.options
    }

    /// `host:port` of the server.
    pub fn address(&self) -> &str {
        &self.inner.address
    }

    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::SeqCst)
    }

    /// Drops the command connection: it closes once no command is in flight.
    /// Later commands fail with "Connection is closed.".
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        if let Ok(mut m) = self.inner.manager.write() {
            m.take();
        }
    }

    /// A dedicated connection for blocking commands, named with `CLIENT SETNAME`
    /// so dashboards (`getWorkers`) can see it.
    pub async fn open_blocking(&self, client_name: Option<&str>) -> Result<MultiplexedConnection> {
        if self.is_closed() {
            return Err(EngineError::closed("Connection is closed."));
        }
        let timeout = self.inner.options.connect_timeout();
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(None);
        let address = &self.inner.address;
        let mut conn = self
            .inner
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| connect_error(address, e))?;
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

    /// A dedicated pub/sub connection (subscriptions take a connection over).
    pub async fn open_pubsub(&self) -> Result<redis::aio::PubSub> {
        if self.is_closed() {
            return Err(EngineError::closed("Connection is closed."));
        }
        let address = &self.inner.address;
        let connect = self.inner.client.get_async_pubsub();
        match tokio::time::timeout(self.inner.options.connect_timeout(), connect).await {
            Ok(Ok(pubsub)) => Ok(pubsub),
            Ok(Err(e)) => Err(connect_error(address, e)),
            Err(_) => Err(connect_error(address, io::Error::from(io::ErrorKind::TimedOut).into())),
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

/// The command connection handed to callers: a [`ConnectionManager`] that
/// retries commands lost to a dropped connection, and refuses work once the
/// connection was closed.
#[derive(Clone)]
pub struct Commands {
    manager: Option<ConnectionManager>,
    address: Arc<str>,
    closed: Arc<AtomicBool>,
    db: i64,
    health: Arc<Health>,
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

async fn send(manager: &mut ConnectionManager, req: Request<'_>) -> redis::RedisResult<Reply> {
    match req {
        Request::One(cmd) => manager.req_packed_command(cmd).await.map(Reply::One),
        Request::Many(p, offset, count) => {
            manager.req_packed_commands(p, offset, count).await.map(Reply::Many)
        }
    }
}

impl Commands {
    /// Sends `req` until it succeeds, fails for another reason than the
    /// connection, or the retry window is over.
    async fn send_with_retry(&mut self, req: Request<'_>) -> redis::RedisResult<Reply> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(closed_error());
        }
        let Some(manager) = self.manager.as_mut() else {
            return Err(closed_error());
        };
        let mut last = match send(manager, req).await {
            Err(e) if is_connection_error(&e) => e,
            other => {
                self.health.up();
                return other;
            }
        };
        let deadline = Instant::now() + RETRY_WINDOW;
        let mut pause = FIRST_RETRY_PAUSE;
        loop {
            tracing::debug!(error = %last, "command failed on a lost connection; retrying");
            if Instant::now() + pause >= deadline || self.closed.load(Ordering::SeqCst) {
                break;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_RETRY_PAUSE);
            if self.closed.load(Ordering::SeqCst) {
                break;
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            // The manager may be waiting on a reconnect; never past the window.
            match tokio::time::timeout(remaining, send(manager, req)).await {
                Ok(Err(e)) if is_connection_error(&e) => {
                    // Failing again after a reconnect: an outage, not a drop.
                    self.health.down(&format!("Lost the connection to Redis at {}: {e}", self.address));
                    last = e;
                }
                Ok(result) => {
                    self.health.up();
                    return result;
                }
                Err(_) => break,
            }
        }
        if self.closed.load(Ordering::SeqCst) {
            return Err(closed_error());
        }
        Err(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            format!(
                "Lost the connection to Redis at {} and could not reconnect: {last}",
                self.address
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
        self.manager.as_ref().map(|m| m.get_db()).unwrap_or(self.db)
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
}
