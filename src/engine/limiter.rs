//! Moving an active job back to wait after a manual rate limit
//! (`job.moveToWait`); the limit itself is set by `Queue::rate_limit`
//! (control.rs).

use super::error::{EngineError, Result};
use super::queue::Queue;
use super::reply::as_int;

crate::lua_script!(
    /// Puts an active job back to wait after a manual rate limit.
    MOVE_JOB_FROM_ACTIVE_TO_WAIT => ["includes/common.lua", "moveJobFromActiveToWait.lua"]
);

impl Queue {
    /// Moves an active job back to wait (runs next); returns the limiter's
    /// remaining time in ms, 0 when not limited.
    pub async fn move_job_from_active_to_wait(&self, job_id: &str, token: &str) -> Result<i64> {
        let mut inv = self.script(&MOVE_JOB_FROM_ACTIVE_TO_WAIT);
        inv.arg(job_id).arg(token);
        let reply: redis::Value = inv.invoke_async(&mut self.cmd()).await?;
        let code = as_int(&reply).unwrap_or(0);
        if code < 0 {
            return Err(EngineError::from_code(code, job_id, "moveJobFromActiveToWait", "active"));
        }
        Ok(code)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::engine::active::FetchSettings;
    use crate::engine::job::NewJob;
    use crate::engine::queue::now_ms;
    use crate::engine::reply::Fetched;
    use crate::engine::test_support::{new_job, raw, test_queue};

    fn job(opts: serde_json::Value) -> NewJob {
        new_job(opts, now_ms())
    }

    #[tokio::test]
    async fn a_rate_limited_job_goes_back_to_the_tail_of_wait() {
        let q = test_queue("limit").await;
        let added = q.add_jobs(&[job(json!({})), job(json!({}))]).await.unwrap();
        let limited = FetchSettings { limiter_max: 10, limiter_duration: 60_000, ..FetchSettings::default() };
        let Fetched::Job(first) = q.move_to_active("tok", &limited, now_ms()).await.unwrap() else {
            panic!("expected a job")
        };
        q.rate_limit(60_000).await.unwrap();
        let ttl = q.move_job_from_active_to_wait(&first.id, "tok").await.unwrap();
        assert!(ttl > 50_000 && ttl <= 60_000, "remaining pttl, got {ttl}");
        let mut c = raw(&q).await;
        let wait: Vec<String> = redis::cmd("LRANGE").arg(q.keys().key("wait")).arg(0).arg(-1).query_async(&mut c).await.unwrap();
        // Runs next: at the tail, after the job that was behind it.
        assert_eq!(wait, vec![added[1].id.clone(), first.id.clone()]);
        let (atm, lock): (Option<String>, i64) = (
            redis::cmd("HGET").arg(q.keys().job(&first.id)).arg("atm").query_async(&mut c).await.unwrap(),
            redis::cmd("EXISTS").arg(q.keys().lock(&first.id)).query_async(&mut c).await.unwrap(),
        );
        assert_eq!((atm, lock), (None, 0));
        // The limit holds for workers with a limiter.
        match q.move_to_active("tok", &limited, now_ms()).await.unwrap() {
            Fetched::RateLimited(ms) => assert!(ms > 0),
            other => panic!("expected a rate limit, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_prioritized_job_returns_to_the_front_of_its_priority() {
        let q = test_queue("limit-prio").await;
        q.add_jobs(&[job(json!({"priority": 2})), job(json!({"priority": 2}))]).await.unwrap();
        let Fetched::Job(first) = q.move_to_active("tok", &FetchSettings::default(), now_ms()).await.unwrap() else {
            panic!("expected a job")
        };
        assert_eq!(q.move_job_from_active_to_wait(&first.id, "tok").await.unwrap(), 0);
        let mut c = raw(&q).await;
        let score: f64 = redis::cmd("ZSCORE").arg(q.keys().key("prioritized")).arg(&first.id).query_async(&mut c).await.unwrap();
        assert_eq!(score, 2.0 * 4294967296.0);
        let err = q.move_job_from_active_to_wait(&first.id, "other").await.unwrap_err();
        assert_eq!(err.message, format!("Missing lock for job {}. moveJobFromActiveToWait", first.id));
    }
}
