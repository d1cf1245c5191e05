//! Connections to Redis. One multiplexed, auto-reconnecting connection carries
//! all commands of a queue or worker; blocking commands (`BZPOPMIN`, `XREAD
//! BLOCK`) get a dedicated connection each so they never stall the others.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Client};
use serde::Deserialize;

use super::error::{EngineError, ErrorKind, Result};

/// What a BullMQ user passes as `connection`, normalized by the facade.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionOptions {
    /// A `redis://` or `rediss://` URL; when set it wins over the fields below
    /// except those given explicitly.
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
    /// `host:port`, for error messages that name the address.
    pub fn address(&self) -> String {
        if let Some(url) = &self.url {
            if let Some(rest) = url.split("://").nth(1) {
                let authority = rest.split('/').next().unwrap_or(rest);
                let hostport = authority.rsplit('@').next().unwrap_or(authority);
                return hostport.to_string();
            }
            return url.clone();
        }
        format!("{}:{}", self.host.as_deref().unwrap_or("127.0.0.1"), self.port.unwrap_or(6379))
    }

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
        Client::open(self.to_url()).map_err(|e| {
            EngineError::invalid(format!("Invalid Redis connection options: {e}"))
        })
    }
}

/// A live connection to one Redis server.
#[derive(Clone)]
pub struct Connection {
    options: ConnectionOptions,
    client: Client,
    manager: ConnectionManager,
}

impl Connection {
    /// Connects, failing (instead of retrying forever) when Redis is unreachable
    /// or rejects the credentials, with a message that names the address.
    pub async fn open(options: ConnectionOptions) -> Result<Self> {
        let client = options.client()?;
        // Fail fast on the first connect: a clear error beats a silent retry loop.
        let probe_config =
            AsyncConnectionConfig::new().set_connection_timeout(Some(options.connect_timeout()));
        let mut probe = client
            .get_multiplexed_async_connection_with_config(&probe_config)
            .await
            .map_err(|e| connect_error(&options, e))?;
        redis::cmd("PING")
            .query_async::<()>(&mut probe)
            .await
            .map_err(|e| connect_error(&options, e))?;
        drop(probe);
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.connect_timeout()))
            .set_response_timeout(None)
            .set_number_of_retries(6)
            .set_max_delay(Duration::from_secs(2));
        let manager = ConnectionManager::new_with_config(client.clone(), config)
            .await
            .map_err(|e| connect_error(&options, e))?;
        Ok(Self { options, client, manager })
    }

    /// The multiplexed command connection (cheap to clone).
    pub fn manager(&self) -> ConnectionManager {
        self.manager.clone()
    }

    pub fn options(&self) -> &ConnectionOptions {
        &self.options
    }

    /// A dedicated connection for blocking commands, named with `CLIENT SETNAME`
    /// so dashboards (`getWorkers`) can see it.
    pub async fn open_blocking(&self, client_name: Option<&str>) -> Result<MultiplexedConnection> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.options.connect_timeout()))
            .set_response_timeout(None);
        let mut conn = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| connect_error(&self.options, e))?;
        if let Some(name) = client_name {
            redis::cmd("CLIENT")
                .arg("SETNAME")
                .arg(name)
                .query_async::<()>(&mut conn)
                .await?;
        }
        Ok(conn)
    }

    /// A dedicated pub/sub connection (subscriptions take a connection over).
    pub async fn open_pubsub(&self) -> Result<redis::aio::PubSub> {
        let connect = self.client.get_async_pubsub();
        match tokio::time::timeout(self.options.connect_timeout(), connect).await {
            Ok(Ok(pubsub)) => Ok(pubsub),
            Ok(Err(e)) => Err(connect_error(&self.options, e)),
            Err(_) => Err(EngineError {
                kind: ErrorKind::Redis,
                code: 0,
                message: format!("Could not connect to Redis at {}: timed out", self.options.address()),
            }),
        }
    }
}

fn connect_error(options: &ConnectionOptions, err: redis::RedisError) -> EngineError {
    EngineError {
        kind: ErrorKind::Redis,
        code: 0,
        message: format!("Could not connect to Redis at {}: {err}", options.address()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(o.address(), "localhost:6380");
        let u = ConnectionOptions { url: Some("redis://u:p@h:1/0".into()), ..Default::default() };
        assert_eq!(u.address(), "h:1");
    }
}
