//! JavaScript-facing shapes of engine values.

use napi_derive::napi;

use crate::engine::connection::ConnectionOptions;
use crate::engine::job::RawJob;
use crate::engine::reply::Fetched;

/// Connection options after the facade normalized BullMQ's `connection`.
#[napi(object)]
#[derive(Default)]
pub struct BindingConnectionOptions {
    pub url: Option<String>,
    pub host: Option<String>,
    pub port: Option<u32>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub db: Option<i64>,
    pub tls: Option<bool>,
    pub tls_insecure: Option<bool>,
    /// PEM text of `tls.ca`, `tls.cert`, `tls.key`.
    pub tls_ca: Option<String>,
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
    pub connect_timeout: Option<u32>,
}

impl From<BindingConnectionOptions> for ConnectionOptions {
    fn from(o: BindingConnectionOptions) -> Self {
        ConnectionOptions {
            url: o.url,
            host: o.host,
            port: o.port.map(|p| p as u16),
            username: o.username,
            password: o.password,
            db: o.db,
            tls: o.tls.unwrap_or(false),
            tls_insecure: o.tls_insecure.unwrap_or(false),
            tls_ca: o.tls_ca,
            tls_cert: o.tls_cert,
            tls_key: o.tls_key,
            connect_timeout: o.connect_timeout.map(u64::from),
        }
    }
}

/// A job hash as a flat `[field, value, ...]` list, which JS turns into an
/// object cheaply.
#[napi(object)]
pub struct BindingRawJob {
    pub id: String,
    pub fields: Vec<String>,
}

impl From<RawJob> for BindingRawJob {
    fn from(job: RawJob) -> Self {
        let mut fields = Vec::with_capacity(job.fields.len() * 2);
        for (k, v) in job.fields {
            fields.push(k);
            fields.push(v);
        }
        BindingRawJob { id: job.id, fields }
    }
}

/// Result of a fetch: a job, or why there was none.
#[napi(object)]
pub struct BindingFetched {
    pub job: Option<BindingRawJob>,
    /// Milliseconds the rate limit still holds (0 = not limited).
    pub rate_limited: i64,
    /// Due time of the next delayed job (0 = none).
    pub next_delayed: i64,
}

impl From<Fetched> for BindingFetched {
    fn from(f: Fetched) -> Self {
        match f {
            Fetched::Job(job) => BindingFetched { job: Some(job.into()), rate_limited: 0, next_delayed: 0 },
            Fetched::RateLimited(ms) => BindingFetched { job: None, rate_limited: ms, next_delayed: 0 },
            Fetched::NextDelayed(ts) => BindingFetched { job: None, rate_limited: 0, next_delayed: ts },
            Fetched::Nothing => BindingFetched { job: None, rate_limited: 0, next_delayed: 0 },
        }
    }
}
