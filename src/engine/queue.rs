//! A queue handle: its keys and the shared command connection. Producer
//! operations live here; operations on active jobs are in `active.rs`.

use std::sync::Arc;

use redis::Value;

use super::connection::{Commands, Connection};
use super::dedup::deduplicated_owner;
use super::error::{EngineError, Result};
use super::job::{JobToAdd, NewJob, RawJob, StoredOpts};
use super::keys::QueueKeys;
use super::reply::as_int;
use super::scripts::{self, Script, ScriptCall, ServerScripts};

/// Jobs per call of the add script: a long addBulk becomes several calls
/// (sent together), so that Redis never runs one script for long.
pub const ADD_CHUNK: usize = 1000;

/// Result of adding one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    pub id: String,
    /// The custom id existed already; nothing was added.
    pub duplicated: bool,
}

#[derive(Clone)]
pub struct Queue {
    pub(crate) conn: Connection,
    pub(crate) keys: QueueKeys,
    /// How the server runs our scripts (shared by all queues on it).
    scripts: Arc<ServerScripts>,
}

/// Current client time in milliseconds, the clock BullMQ scores with.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Queue {
    pub fn new(conn: Connection, prefix: &str, name: &str) -> Self {
        tracing::debug!(prefix, queue = name, "queue opened");
        let scripts = ServerScripts::of(conn.address());
        Self { conn, keys: QueueKeys::new(prefix, name), scripts }
    }

    /// This queue with its scripts run as `scripts` says instead of as
    /// the server's shared state does (tests of one path).
    #[cfg(test)]
    pub(crate) fn with_scripts(mut self, scripts: Arc<ServerScripts>) -> Self {
        self.scripts = scripts;
        self
    }

    /// A queue on `conn`, refused on a Redis Cluster when its keys would not
    /// share one hash slot.
    pub fn checked(conn: Connection, prefix: &str, name: &str) -> Result<Self> {
        if conn.is_cluster() {
            super::cluster::check_queue_slot(prefix, name)?;
        }
        Ok(Self::new(conn, prefix, name))
    }

    pub fn keys(&self) -> &QueueKeys {
        &self.keys
    }

    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    pub(crate) fn cmd(&self) -> Commands {
        self.conn.commands_for(&self.keys.key("meta"))
    }

    /// A call of one of our scripts with the queue's routing key and base
    /// prefix as the first key and argument.
    pub(crate) fn script(&self, script: &'static Script) -> ScriptCall {
        self.script_sized(script, 8, 64)
    }

    /// As [`Queue::script`], with room for `args` more arguments of
    /// `bytes` bytes in all, written into one buffer.
    pub(crate) fn script_sized(&self, script: &'static Script, args: usize, bytes: usize) -> ScriptCall {
        ScriptCall::new(script, self.scripts.clone(), &self.keys.key("meta"), self.keys.base(), args, bytes)
    }

    /// Adds jobs (options given in their public form); the result is in input
    /// order.
    pub async fn add_jobs(&self, jobs: &[NewJob]) -> Result<Vec<Added>> {
        let opts = jobs.iter().map(NewJob::stored_opts).collect::<Result<Vec<_>>>()?;
        let to_add: Vec<JobToAdd<'_>> =
            jobs.iter().zip(&opts).map(|(j, o)| JobToAdd::new(&j.name, &j.data, j.now, o)).collect();
        self.add(&to_add).await
    }

    /// Adds jobs with one script call per [`ADD_CHUNK`] jobs, the calls sent
    /// together in one pipeline; the result is in input order. Like BullMQ's
    /// addBulk, each call is atomic and the whole is not. The first job that
    /// could not be added (missing parent, parent that cannot be replaced)
    /// makes the result an error; the others are added all the same.
    pub async fn add(&self, jobs: &[JobToAdd<'_>]) -> Result<Vec<Added>> {
        self.add_each(jobs).await?.into_iter().collect()
    }

    /// As [`Queue::add`], with what became of each job: its id, or the error
    /// that kept it out. The outer error is a failed call (Redis, connection).
    pub async fn add_each(&self, jobs: &[JobToAdd<'_>]) -> Result<Vec<Result<Added>>> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let calls: Vec<ScriptCall> = jobs.chunks(ADD_CHUNK).map(|chunk| self.add_call(chunk)).collect();
        let replies = ScriptCall::invoke_all(&calls, &mut self.cmd()).await?;
        let mut out = Vec::with_capacity(jobs.len());
        for (chunk, reply) in jobs.chunks(ADD_CHUNK).zip(replies) {
            let unexpected = || EngineError::invalid("unexpected reply from the add script");
            let Value::Array(items) = reply.extract_error()? else {
                return Err(unexpected());
            };
            let base = items.first().and_then(as_int).ok_or_else(unexpected)?;
            let mut marks = items[1..].chunks(2).map(|m| (as_int(&m[0]), m.get(1)));
            let mut next_mark = marks.next();
            let mut taken = 0;
            for (i, job) in chunk.iter().enumerate() {
                let mark = match next_mark {
                    Some((Some(at), Some(mark))) if at == i as i64 + 1 => {
                        next_mark = marks.next();
                        Some(mark)
                    }
                    _ => None,
                };
                let code = mark.and_then(as_int).unwrap_or(0);
                if code != -5 {
                    taken += 1;
                }
                if let Some(owner) = mark.and_then(deduplicated_owner) {
                    // Deduplicated: BullMQ answers with the owner's id.
                    out.push(Ok(Added { id: owner, duplicated: false }));
                    continue;
                }
                if code < 0 {
                    out.push(Err(EngineError::from_code(code, &job.opts.parent_key, "addJob", "")));
                    continue;
                }
                let id = if job.opts.custom_id.is_empty() {
                    (base + taken).to_string()
                } else {
                    job.opts.custom_id.clone()
                };
                out.push(Ok(Added { id, duplicated: code == 1 }));
            }
        }
        Ok(out)
    }

    /// Makes sure the server has the add script (or the library), so that
    /// adds sent together are not sent again out of order.
    pub async fn load_add_script(&self) -> Result<()> {
        self.scripts.prepare(&scripts::ADD_JOBS, &mut self.cmd()).await?;
        Ok(())
    }

    /// The add script's call for one chunk of jobs, written straight into
    /// one command buffer (see lua/addJobs.lua for the layout). Plain jobs
    /// next to each other that share their name, options and timestamp (an
    /// addBulk of one kind of job) go as one run: their shared values once,
    /// then one data argument per job, as each argument costs Redis a
    /// parse and a copy into the script.
    fn add_call(&self, jobs: &[JobToAdd<'_>]) -> ScriptCall {
        let mut bytes = 0;
        for j in jobs {
            let o = j.opts;
            bytes += 48 + j.name.len() + j.data.len() + o.json.len();
            bytes += o.custom_id.len() + o.parent_key.len() + o.parent.len();
            if let Some(d) = &o.dedup {
                bytes += 32 + d.id.len();
            }
        }
        let mut call = self.script_sized(&scripts::ADD_JOBS, 1 + jobs.len() * 6, bytes);
        call.arg(jobs.len());
        let mut at = 0;
        while at < jobs.len() {
            let run = plain_run(&jobs[at..]);
            if run >= 2 {
                let j = &jobs[at];
                call.arg("=").arg(run).arg(j.name).arg(&j.opts.json).arg(j.timestamp);
                for j in &jobs[at..at + run] {
                    call.arg(j.data);
                }
                at += run;
            } else {
                add_job_args(&mut call, &jobs[at]);
                at += 1;
            }
        }
        call
    }

    /// The job hash, or `None` when the job does not exist.
    pub async fn get_job(&self, id: &str) -> Result<Option<RawJob>> {
        if super::keys::is_reserved_job_id(id) {
            return Ok(None);
        }
        let flat: Vec<String> =
            redis::cmd("HGETALL").arg(self.keys.job(id)).query_async(&mut self.cmd()).await?;
        if flat.is_empty() {
            return Ok(None);
        }
        Ok(Some(RawJob::from_flat(id.to_string(), flat)))
    }
}

/// How many jobs from the first on are plain (automatic id, no delay,
/// priority, parent, deduplication or lifo) and share the first one's
/// name, options and timestamp.
fn plain_run(jobs: &[JobToAdd<'_>]) -> usize {
    let first = &jobs[0];
    jobs.iter()
        .take_while(|j| {
            is_plain(j) && j.name == first.name && j.timestamp == first.timestamp && j.opts.json == first.opts.json
        })
        .count()
}

/// A plain job is one without flags.
fn is_plain(j: &JobToAdd<'_>) -> bool {
    add_flags(j.opts).1 == 0
}

/// The add script's flags of a job (see lua/addJobs.lua): the first `n`
/// bytes.
fn add_flags(o: &StoredOpts) -> ([u8; 6], usize) {
    let mut flags = [0u8; 6];
    let mut n = 0;
    for (on, flag) in [
        (!o.custom_id.is_empty(), b'c'),
        (o.delay > 0, b'd'),
        (o.priority != 0, b'p'),
        (!o.parent_key.is_empty(), b'r'),
        (o.dedup.is_some(), b'e'),
        (o.lifo, b'l'),
    ] {
        if on {
            flags[n] = flag;
            n += 1;
        }
    }
    (flags, n)
}

/// One job with its flags and the values they announce.
fn add_job_args(call: &mut ScriptCall, j: &JobToAdd<'_>) {
    let o = j.opts;
    let (flags, n) = add_flags(o);
    call.arg(&flags[..n]).arg(j.name).arg(j.data).arg(&o.json).arg(j.timestamp);
    if !o.custom_id.is_empty() {
        call.arg(&o.custom_id);
    }
    if o.delay > 0 {
        call.arg(o.delay);
    }
    if o.priority != 0 {
        call.arg(o.priority);
    }
    if !o.parent_key.is_empty() {
        call.arg(&o.parent_key).arg(&o.parent);
    }
    if let Some(d) = &o.dedup {
        call.arg(&d.id).arg(d.ttl).arg(&d.mode);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::engine::active::FetchSettings;
    use crate::engine::reply::Fetched;
    use crate::engine::test_support::{add_both_ways, dump, new_job, raw, test_queue};

    fn job(opts: serde_json::Value) -> NewJob {
        new_job(opts, 1_700_000_000_000)
    }

    async fn zrange_with_scores(
        c: &mut crate::engine::connection::Commands,
        key: &str,
    ) -> Vec<(String, f64)> {
        redis::cmd("ZRANGE").arg(key).arg(0).arg(-1).arg("WITHSCORES").query_async(c).await.unwrap()
    }

    #[tokio::test]
    async fn delayed_jobs_get_fifo_scores_within_one_millisecond() {
        let q = test_queue("scores").await;
        let added = q.add_jobs(&[job(json!({"delay": 1000})), job(json!({"delay": 1000}))]).await.unwrap();
        let mut c = raw(&q).await;
        let scores = zrange_with_scores(&mut c, &q.keys().key("delayed")).await;
        let base = (1_700_000_000_000i64 + 1000) as f64 * 4096.0;
        assert_eq!(scores, vec![(added[0].id.clone(), base), (added[1].id.clone(), base + 1.0)]);
        let marker = zrange_with_scores(&mut c, &q.keys().key("marker")).await;
        assert_eq!(marker, vec![("1".to_string(), 1_700_000_001_000.0)]);
    }

    #[tokio::test]
    async fn prioritized_jobs_score_priority_times_two_pow_32_plus_counter() {
        let q = test_queue("prio").await;
        let added = q.add_jobs(&[job(json!({"priority": 3})), job(json!({"priority": 1}))]).await.unwrap();
        let mut c = raw(&q).await;
        let scores = zrange_with_scores(&mut c, &q.keys().key("prioritized")).await;
        assert_eq!(
            scores,
            vec![
                (added[1].id.clone(), 4294967296.0 + 2.0),
                (added[0].id.clone(), 3.0 * 4294967296.0 + 1.0)
            ]
        );
        // The lowest score runs first.
        let fetched = q.move_to_active("tok", &FetchSettings::default(), 1).await.unwrap();
        let Fetched::Job(j) = fetched else { panic!("expected a job, got {fetched:?}") };
        assert_eq!(j.id, added[1].id);
    }

    #[tokio::test]
    async fn an_existing_custom_id_adds_nothing() {
        let q = test_queue("dup").await;
        let first = q.add_jobs(&[job(json!({"jobId": "a"}))]).await.unwrap();
        let second = q.add_jobs(&[job(json!({"jobId": "a"}))]).await.unwrap();
        assert!(!first[0].duplicated);
        assert!(second[0].duplicated);
        let mut c = raw(&q).await;
        let len: i64 = redis::cmd("LLEN").arg(q.keys().key("wait")).query_async(&mut c).await.unwrap();
        assert_eq!(len, 1);
    }

    fn mixed_jobs() -> Vec<NewJob> {
        [
            json!({}),
            json!({"lifo": true}),
            json!({"priority": 3}),
            json!({"delay": 1000}),
            json!({"jobId": "c1", "attempts": 2}),
            json!({"jobId": "c1"}),
            json!({"removeOnComplete": true}),
            json!({"lifo": true}),
            json!({"priority": 1}),
            json!({"delay": 1000}),
            json!({}),
        ]
        .into_iter()
        .enumerate()
        .map(|(i, o)| NewJob { name: format!("j{i}"), data: format!("{{\"i\":{i}}}"), ..job(o) })
        .collect()
    }

    #[tokio::test]
    async fn one_call_leaves_what_adding_one_by_one_leaves() {
        let ((bulk, together), (single, one_by_one)) = add_both_ways("same", &mixed_jobs()).await;
        assert_eq!(together, one_by_one);
        assert_eq!(together[5], Added { id: "c1".into(), duplicated: true });
        assert_eq!(dump(&bulk).await, dump(&single).await);
    }

    /// Plain jobs in runs that share name, options and timestamp, broken by
    /// each of the three, by a lone plain job and by jobs that are not plain.
    fn jobs_in_runs() -> Vec<NewJob> {
        let t = 1_700_000_000_000;
        let named = |name: &str, now: i64, opts: serde_json::Value, i: usize| NewJob {
            name: name.into(),
            data: format!("{{\"i\":{i}}}"),
            ..new_job(opts, now)
        };
        vec![
            named("a", t, json!({}), 0),
            named("a", t, json!({}), 1),
            named("a", t, json!({}), 2),
            named("b", t, json!({}), 3),
            named("b", t + 1, json!({}), 4),
            named("b", t + 1, json!({}), 5),
            named("b", t + 1, json!({"attempts": 2}), 6),
            named("b", t + 1, json!({"attempts": 2}), 7),
            named("b", t + 1, json!({"jobId": "x"}), 8),
            named("b", t + 1, json!({}), 9),
            named("b", t + 1, json!({}), 10),
            named("b", t + 1, json!({"lifo": true}), 11),
            named("b", t + 1, json!({}), 12),
        ]
    }

    #[tokio::test]
    async fn runs_of_plain_jobs_leave_what_single_adds_leave() {
        let ((bulk, together), (single, one_by_one)) = add_both_ways("runs", &jobs_in_runs()).await;
        assert_eq!(together, one_by_one);
        assert_eq!(together[8].id, "x");
        assert_eq!(dump(&bulk).await, dump(&single).await);
    }

    #[tokio::test]
    async fn runs_of_plain_jobs_send_their_shared_values_once() {
        let q = test_queue("run-args").await;
        let jobs = jobs_in_runs();
        let opts: Vec<_> = jobs.iter().map(|j| j.stored_opts().unwrap()).collect();
        let to_add: Vec<JobToAdd<'_>> =
            jobs.iter().zip(&opts).map(|(j, o)| JobToAdd::new(&j.name, &j.data, j.now, o)).collect();
        let args: Vec<String> =
            q.add_call(&to_add).args_after_base().into_iter().map(|a| String::from_utf8(a).unwrap()).collect();
        let data = |i: usize| jobs[i].data.clone();
        let t = |dt: i64| (1_700_000_000_000i64 + dt).to_string();
        let plain = opts[0].json.clone();
        let two = opts[6].json.clone();
        let mut expected: Vec<String> = vec!["13".into()];
        let mut push = |items: &[&str]| expected.extend(items.iter().map(|s| s.to_string()));
        push(&["=", "3", "a", &plain, &t(0), &data(0), &data(1), &data(2)]);
        push(&["", "b", &data(3), &plain, &t(0)]);
        push(&["=", "2", "b", &plain, &t(1), &data(4), &data(5)]);
        push(&["=", "2", "b", &two, &t(1), &data(6), &data(7)]);
        push(&["c", "b", &data(8), &opts[8].json, &t(1), "x"]);
        push(&["=", "2", "b", &plain, &t(1), &data(9), &data(10)]);
        push(&["l", "b", &data(11), &opts[11].json, &t(1)]);
        push(&["", "b", &data(12), &plain, &t(1)]);
        assert_eq!(args, expected);
    }

    #[tokio::test]
    async fn long_adds_are_split_into_calls_and_keep_the_input_order() {
        let q = test_queue("long").await;
        let n = ADD_CHUNK * 2 + 7;
        let jobs: Vec<NewJob> = (0..n).map(|_| job(json!({}))).collect();
        // Flushed scripts are loaded again, for every call of the pipeline.
        let mut c = raw(&q).await;
        redis::cmd("SCRIPT").arg("FLUSH").query_async::<()>(&mut c).await.unwrap();
        redis::cmd("FUNCTION").arg("FLUSH").query_async::<()>(&mut c).await.unwrap();
        let added = q.add_jobs(&jobs).await.unwrap();
        let ids: Vec<String> = added.iter().map(|a| a.id.clone()).collect();
        assert_eq!(ids, (1..=n).map(|i| i.to_string()).collect::<Vec<_>>());
        let wait: Vec<String> =
            redis::cmd("LRANGE").arg(q.keys().key("wait")).arg(0).arg(-1).query_async(&mut c).await.unwrap();
        assert_eq!(wait, ids.iter().rev().cloned().collect::<Vec<_>>());
        let counter: i64 = redis::cmd("GET").arg(q.keys().key("id")).query_async(&mut c).await.unwrap();
        assert_eq!(counter, n as i64);
    }

    #[tokio::test]
    async fn a_job_with_a_missing_parent_fails_the_add_and_takes_no_id() {
        let q = test_queue("orphan").await;
        let parent = json!({"id": "nope", "queue": q.keys().qualified_name()});
        let err = q.add_jobs(&[job(json!({})), job(json!({"parent": parent})), job(json!({}))]).await.unwrap_err();
        assert_eq!(err.code, -5);
        assert_eq!(err.message, format!("Missing key for parent job {}:nope. addJob", q.keys().qualified_name()));
        // The other jobs are added, with consecutive ids.
        let mut c = raw(&q).await;
        let wait: Vec<String> =
            redis::cmd("LRANGE").arg(q.keys().key("wait")).arg(0).arg(-1).query_async(&mut c).await.unwrap();
        assert_eq!(wait, vec!["2", "1"]);
        let counter: i64 = redis::cmd("GET").arg(q.keys().key("id")).query_async(&mut c).await.unwrap();
        assert_eq!(counter, 2);
    }

    #[tokio::test]
    async fn the_events_stream_is_trimmed_as_after_each_event() {
        let q = test_queue("trim").await;
        let mut c = raw(&q).await;
        let events = q.keys().key("events");
        // A stream far over a lowered limit: more than one XTRIM can remove.
        let mut fill = redis::pipe();
        for i in 0..30_000 {
            fill.cmd("XADD").arg(&events).arg("*").arg("f").arg(i).ignore();
        }
        fill.query_async::<()>(&mut c).await.unwrap();
        redis::cmd("HSET").arg(q.keys().key("meta")).arg("opts.maxLenEvents").arg(1000).query_async::<()>(&mut c).await.unwrap();
        let jobs: Vec<NewJob> = (0..10).map(|_| job(json!({}))).collect();
        q.add_jobs(&jobs).await.unwrap();
        let len: usize = redis::cmd("XLEN").arg(&events).query_async(&mut c).await.unwrap();
        // Whole nodes of 100 entries go: between the limit and one node more.
        assert!((1000..1100).contains(&len), "{len} events left");
        let last: Vec<(String, Vec<String>)> =
            redis::cmd("XREVRANGE").arg(&events).arg("+").arg("-").arg("COUNT").arg(1).query_async(&mut c).await.unwrap();
        assert_eq!(last[0].1, vec!["event", "waiting", "jobId", "10"]);
    }
}
