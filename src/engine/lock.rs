//! Job locks (`{job}:lock`, value = the worker's token): extending one lock
//! (`job.extendLock`) or all locks of a worker in one call (the automatic
//! worker's renewal timer). Extending also takes the job off the stalled
//! candidates.

use super::error::{EngineError, Result};
use super::queue::Queue;
use super::reply::{as_int, as_strings};

crate::lua_script!(
    /// Extends the lock of one job.
    EXTEND_LOCK => ["includes/common.lua", "extendLock.lua"]
);
crate::lua_script!(
    /// Extends the locks of several jobs.
    EXTEND_LOCKS => ["includes/common.lua", "extendLocks.lua"]
);

fn check_duration(duration: i64) -> Result<()> {
    if duration <= 0 {
        return Err(EngineError::invalid(format!("lock duration must be a positive number of ms, got {duration}")));
    }
    Ok(())
}

impl Queue {
    /// Sets the lock's expiry to `duration` ms from now when `token` holds it.
    /// False when the lock is missing or held by another token.
    pub async fn extend_lock(&self, job_id: &str, token: &str, duration: i64) -> Result<bool> {
        check_duration(duration)?;
        let mut inv = self.script(&EXTEND_LOCK);
        inv.arg(job_id).arg(token).arg(duration);
        let reply: redis::Value = inv.invoke_async(&mut self.cmd()).await?;
        Ok(as_int(&reply) == Some(1))
    }

    /// Extends the locks of `(jobId, token)` pairs; returns the ids whose
    /// lock was missing or held by another token.
    pub async fn extend_locks(&self, locks: &[(String, String)], duration: i64) -> Result<Vec<String>> {
        check_duration(duration)?;
        if locks.is_empty() {
            return Ok(Vec::new());
        }
        let mut inv = self.script(&EXTEND_LOCKS);
        inv.arg(duration);
        for (id, token) in locks {
            inv.arg(id).arg(token);
        }
        let reply: redis::Value = inv.invoke_async(&mut self.cmd()).await?;
        Ok(as_strings(&reply))
    }

    /// Of `(jobId, token)` pairs, those whose lock is no longer held by
    /// their token (missing, or another token's).
    pub async fn locks_lost(&self, locks: &[(String, String)]) -> Result<Vec<(String, String)>> {
        if locks.is_empty() {
            return Ok(Vec::new());
        }
        let mut cmd = redis::cmd("MGET");
        for (id, _) in locks {
            cmd.arg(self.keys.lock(id));
        }
        let held: Vec<Option<String>> = cmd.query_async(&mut self.cmd()).await?;
        Ok(locks
            .iter()
            .zip(held)
            .filter(|((_, token), held)| held.as_deref() != Some(token.as_str()))
            .map(|(lock, _)| lock.clone())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::active::FetchSettings;
    use crate::engine::queue::now_ms;
    use crate::engine::test_support::{new_job, raw, test_queue};

    #[tokio::test]
    async fn only_the_holder_extends_a_lock() {
        let q = test_queue("lock").await;
        let job = new_job(serde_json::json!({}), now_ms());
        let added = q.add_jobs(&[job.clone(), job]).await.unwrap();
        let short = FetchSettings { lock_duration: 1000, ..FetchSettings::default() };
        q.move_to_active("a", &short, now_ms()).await.unwrap();
        q.move_to_active("b", &short, now_ms()).await.unwrap();
        let mut c = raw(&q).await;
        let _: () = redis::cmd("SADD")
            .arg(q.keys().key("stalled"))
            .arg(&added[0].id)
            .query_async(&mut c)
            .await
            .unwrap();

        assert!(q.extend_lock(&added[0].id, "a", 60_000).await.unwrap());
        assert!(!q.extend_lock(&added[0].id, "b", 60_000).await.unwrap());
        assert!(!q.extend_lock("missing", "a", 60_000).await.unwrap());
        let ttl: i64 = redis::cmd("PTTL").arg(q.keys().lock(&added[0].id)).query_async(&mut c).await.unwrap();
        assert!(ttl > 1000, "the lock now lasts the new duration (pttl {ttl})");
        let stalled: Vec<String> =
            redis::cmd("SMEMBERS").arg(q.keys().key("stalled")).query_async(&mut c).await.unwrap();
        assert!(stalled.is_empty());

        let failed = q
            .extend_locks(
                &[(added[0].id.clone(), "a".into()), (added[1].id.clone(), "a".into())],
                60_000,
            )
            .await
            .unwrap();
        assert_eq!(failed, vec![added[1].id.clone()]);
        assert!(q.extend_lock(&added[0].id, "a", 0).await.is_err());
    }
}
