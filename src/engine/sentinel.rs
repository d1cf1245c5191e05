//! Redis Sentinel: which server is the master of a named group right now.
//!
//! The sentinels are asked in turn (`SENTINEL GET-MASTER-ADDR-BY-NAME`), and
//! the server they name must call itself master (`ROLE`): during a failover
//! a sentinel may still name the old master for a moment. The connection to
//! the master is then built from the user's options (credentials, TLS), so
//! it behaves as a direct connection would.

use std::time::Duration;

use redis::AsyncConnectionConfig;

use super::connection::{ConnectionOptions, NodeAddress};

/// What asking the sentinels gave: the master's address, or why none.
pub(crate) type Found = std::result::Result<(String, u16), String>;

/// The current master of `options.sentinel_name`, asking each sentinel of
/// `options.sentinels` until one names a server that is master.
pub(crate) async fn find_master(options: &ConnectionOptions, timeout: Duration) -> Found {
    let name = options.sentinel_name.as_deref().unwrap_or("mymaster");
    let mut last = String::from("no sentinel given");
    for sentinel in options.sentinels.iter().flatten() {
        match ask(options, sentinel, name, timeout).await {
            Ok(Some((host, port))) => match is_master(options, &host, port, timeout).await {
                Ok(true) => return Ok((host, port)),
                Ok(false) => last = format!("{host}:{port}, named by {}, is not a master", sentinel.label()),
                Err(e) => last = format!("master {host}:{port}: {e}"),
            },
            Ok(None) => last = format!("sentinel {} does not know the master \"{name}\"", sentinel.label()),
            Err(e) => last = format!("sentinel {}: {e}", sentinel.label()),
        }
    }
    Err(last)
}

async fn ask(
    options: &ConnectionOptions,
    sentinel: &NodeAddress,
    name: &str,
    timeout: Duration,
) -> std::result::Result<Option<(String, u16)>, String> {
    let sentinel_options = ConnectionOptions {
        host: Some(sentinel.host.clone()),
        port: Some(sentinel.port),
        username: options.sentinel_username.clone(),
        password: options.sentinel_password.clone(),
        ..Default::default()
    };
    let client = sentinel_options.client().map_err(|e| e.message)?;
    let mut conn = client.get_multiplexed_async_connection_with_config(&config(timeout)).await.map_err(|e| e.to_string())?;
    redis::cmd("SENTINEL")
        .arg("GET-MASTER-ADDR-BY-NAME")
        .arg(name)
        .query_async(&mut conn)
        .await
        .map_err(|e| e.to_string())
}

async fn is_master(options: &ConnectionOptions, host: &str, port: u16, timeout: Duration) -> std::result::Result<bool, String> {
    let client = options.node_client(host, port).map_err(|e| e.message)?;
    let mut conn = client.get_multiplexed_async_connection_with_config(&config(timeout)).await.map_err(|e| e.to_string())?;
    let role: Vec<redis::Value> = redis::cmd("ROLE").query_async(&mut conn).await.map_err(|e| e.to_string())?;
    Ok(matches!(role.first(), Some(redis::Value::BulkString(b)) if b == b"master"))
}

fn config(timeout: Duration) -> AsyncConnectionConfig {
    AsyncConnectionConfig::new().set_connection_timeout(Some(timeout)).set_response_timeout(Some(timeout))
}
