//! Test support for engine tests: a real Redis (REDIS_URL, or a redis-server
//! started on a free port for this test binary and stopped when it exits) and
//! queues with unique names.

use std::net::TcpListener;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::connection::{Connection, ConnectionOptions};
use super::queue::Queue;

fn start_server() -> String {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = std::env::temp_dir().join(format!("bullmq-native-cargo-{port}"));
    std::fs::create_dir_all(&dir).unwrap();
    // A watchdog shell stops the server once this test process is gone.
    let script = format!(
        "redis-server --port {port} --bind 127.0.0.1 --save '' --appendonly no --dir {dir} >/dev/null & \
         R=$!; while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; kill $R; wait $R; rm -rf {dir}",
        dir = dir.display(),
        pid = std::process::id()
    );
    // The watchdog outlives this process on purpose; it is never waited for.
    #[allow(clippy::zombie_processes)]
    std::process::Command::new("sh").arg("-c").arg(script).spawn().expect("start redis-server");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start on port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    format!("redis://127.0.0.1:{port}")
}

/// The URL of the Redis under test.
pub fn redis_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| std::env::var("REDIS_URL").unwrap_or_else(|_| start_server())).clone()
}

pub async fn connect() -> Connection {
    Connection::open(ConnectionOptions { url: Some(redis_url()), ..Default::default() })
        .await
        .expect("connect to the test Redis")
}

/// A queue with a name no other test uses.
pub async fn test_queue(label: &str) -> Queue {
    let name = format!("{label}-{}", &uuid::Uuid::new_v4().to_string()[..8]);
    Queue::new(connect().await, "bull", &name)
}

/// A plain command connection for inspecting keys.
pub async fn raw(queue: &Queue) -> super::connection::Commands {
    queue.connection().manager()
}

/// A job named `n` with data `{}`, the given public options, added at `now`.
pub fn new_job(opts: serde_json::Value, now: i64) -> super::job::NewJob {
    super::job::NewJob {
        name: "n".into(),
        data: "{}".into(),
        opts: opts.as_object().cloned().unwrap_or_default(),
        now,
    }
}

/// Adds `jobs` with one call on a new queue and one by one on another (named
/// after it); the two queues and what each add gave, for tests that the
/// add script's batch leaves what single adds leave.
pub async fn add_both_ways(
    label: &str,
    jobs: &[super::job::NewJob],
) -> ((Queue, Vec<super::queue::Added>), (Queue, Vec<super::queue::Added>)) {
    let bulk = test_queue(label).await;
    let single = Queue::new(bulk.connection().clone(), "bull", &format!("{}-1", bulk.keys().name()));
    let together = bulk.add_jobs(jobs).await.unwrap();
    let mut one_by_one = Vec::new();
    for j in jobs {
        one_by_one.extend(single.add_jobs(std::slice::from_ref(j)).await.unwrap());
    }
    ((bulk, together), (single, one_by_one))
}

/// Every entry of the queue's events stream, as its flat field/value list.
pub async fn stream_entries(queue: &Queue) -> Vec<Vec<String>> {
    let entries: Vec<(String, Vec<String>)> = redis::cmd("XRANGE")
        .arg(queue.keys().key("events"))
        .arg("-")
        .arg("+")
        .query_async(&mut raw(queue).await)
        .await
        .expect("read the events stream");
    entries.into_iter().map(|(_, fields)| fields).collect()
}

/// Every key of the queue with its content, the queue's name replaced by
/// `Q` (in keys and values) so two queues can be compared; stream
/// entries without their ids, string keys with whether they expire.
pub async fn dump(q: &Queue) -> Vec<(String, Vec<String>)> {
    let mut c = raw(q).await;
    let base = q.keys().base().to_string();
    let name = base.trim_end_matches(':').rsplit(':').next().unwrap().to_string();
    let norm = |s: &str| s.replace(&name, "Q");
    let mut keys: Vec<String> =
        redis::cmd("KEYS").arg(format!("{base}*")).query_async(&mut c).await.unwrap();
    keys.sort();
    let mut out = Vec::new();
    for key in keys {
        let kind: String = redis::cmd("TYPE").arg(&key).query_async(&mut c).await.unwrap();
        let mut content: Vec<String> = match kind.as_str() {
            "hash" => {
                let mut pairs: Vec<(String, String)> =
                    redis::cmd("HGETALL").arg(&key).query_async(&mut c).await.unwrap();
                pairs.sort();
                pairs.into_iter().flat_map(|(k, v)| [k, v]).collect()
            }
            "list" => redis::cmd("LRANGE").arg(&key).arg(0).arg(-1).query_async(&mut c).await.unwrap(),
            "zset" => redis::cmd("ZRANGE").arg(&key).arg(0).arg(-1).arg("WITHSCORES").query_async(&mut c).await.unwrap(),
            "set" => {
                let mut m: Vec<String> = redis::cmd("SMEMBERS").arg(&key).query_async(&mut c).await.unwrap();
                m.sort();
                m
            }
            "string" => {
                let v: String = redis::cmd("GET").arg(&key).query_async(&mut c).await.unwrap();
                let ttl: i64 = redis::cmd("PTTL").arg(&key).query_async(&mut c).await.unwrap();
                vec![v, (ttl > 0).to_string()]
            }
            "stream" => {
                let entries: Vec<(String, Vec<String>)> =
                    redis::cmd("XRANGE").arg(&key).arg("-").arg("+").query_async(&mut c).await.unwrap();
                entries.into_iter().map(|(_, f)| f.join(" ")).collect()
            }
            other => panic!("unexpected type {other}"),
        };
        content.iter_mut().for_each(|v| *v = norm(v));
        out.push((norm(&key), content));
    }
    out
}
