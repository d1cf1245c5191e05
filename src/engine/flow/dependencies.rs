//! A parent's children, as BullMQ's Job reads and changes them: the values
//! of completed children (`:processed`), ignored failures (`:failed`),
//! children still pending (`:dependencies`), children that failed their
//! parent (`:unsuccessful`); pages and counts of those; and the moves that
//! change parent/child links.

use redis::Value;

use crate::engine::error::{EngineError, Result};
use crate::engine::queue::Queue;
use crate::engine::reply::{as_int, as_string, as_strings};

crate::lua_script!(
    /// Moves an active job to waiting-children while it has pending children.
    MOVE_TO_WAITING_CHILDREN => ["includes/common.lua", "moveToWaitingChildren.lua"]
);
crate::lua_script!(
    /// Detaches a pending child from its parent.
    REMOVE_CHILD_DEPENDENCY => ["includes/common.lua", "removeChildDependency.lua"]
);
crate::lua_script!(
    /// One step of paging through a set or hash of children.
    PAGINATE => ["includes/common.lua", "paginate.lua"]
);
crate::lua_script!(
    /// Removes a job's pending children, recursively.
    REMOVE_UNPROCESSED_CHILDREN => ["includes/common.lua", "removeUnprocessedChildren.lua"]
);

/// One page of a kind of children: from `cursor`, about `count` of them
/// (BullMQ's defaults: 0 and 20).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DependencyPage {
    pub cursor: Option<i64>,
    pub count: Option<i64>,
}

impl DependencyPage {
    fn cursor(&self) -> i64 {
        self.cursor.unwrap_or(0)
    }

    fn count(&self) -> i64 {
        self.count.unwrap_or(20)
    }
}

/// Which kinds of children `dependencies` pages through; none = all of every
/// kind at once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DependencyPages {
    pub processed: Option<DependencyPage>,
    pub unprocessed: Option<DependencyPage>,
    pub ignored: Option<DependencyPage>,
    pub failed: Option<DependencyPage>,
}

impl DependencyPages {
    fn is_empty(&self) -> bool {
        self.processed.is_none() && self.unprocessed.is_none() && self.ignored.is_none() && self.failed.is_none()
    }
}

/// What `getDependencies` gives: each kind read, and where its next page
/// starts (paged reads only). Child keys are full job keys; processed values
/// are the children's return values (JSON text), ignored ones their failure
/// reasons.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dependencies {
    pub processed: Option<Vec<(String, String)>>,
    pub next_processed_cursor: Option<i64>,
    pub unprocessed: Option<Vec<String>>,
    pub next_unprocessed_cursor: Option<i64>,
    pub ignored: Option<Vec<(String, String)>>,
    pub next_ignored_cursor: Option<i64>,
    pub failed: Option<Vec<String>>,
    pub next_failed_cursor: Option<i64>,
}

/// A page of one kind of children of a parent (Queue.getDependencies): each
/// child's key, with its stored value for completed children; the job hash
/// of each child, in the same order (empty when the child is gone); and how
/// many children of that kind there are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChildrenPage {
    pub items: Vec<(String, Option<String>)>,
    pub jobs: Vec<Vec<String>>,
    pub total: i64,
}

/// Scan steps of the paginate script per call, as BullMQ.
const PAGINATE_ITERATIONS: i64 = 5;

fn pairs(flat: Vec<String>) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(flat.len() / 2);
    let mut it = flat.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    out
}

/// A `SCAN`-family reply: the next cursor and the items.
fn scanned(v: &Value) -> Result<(i64, Vec<String>)> {
    match v {
        Value::Array(parts) if parts.len() == 2 => {
            let cursor = as_int(&parts[0]).ok_or_else(|| EngineError::other("unexpected scan reply"))?;
            Ok((cursor, as_strings(&parts[1])))
        }
        _ => Err(EngineError::other("unexpected scan reply")),
    }
}

fn check_id(id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(EngineError::invalid("job id must be a non-empty string"));
    }
    Ok(())
}

impl Queue {
    fn children_key(&self, id: &str, kind: &str) -> String {
        format!("{}:{kind}", self.keys.job(id))
    }

    /// The return values of the job's completed children, by child key.
    pub async fn children_values(&self, id: &str) -> Result<Vec<(String, String)>> {
        check_id(id)?;
        let flat: Vec<String> =
            redis::cmd("HGETALL").arg(self.children_key(id, "processed")).query_async(&mut self.cmd()).await?;
        Ok(pairs(flat))
    }

    /// The failure reasons of children whose failure the job ignored
    /// (ignoreDependencyOnFailure, continueParentOnFailure), by child key.
    pub async fn ignored_children_failures(&self, id: &str) -> Result<Vec<(String, String)>> {
        check_id(id)?;
        let flat: Vec<String> =
            redis::cmd("HGETALL").arg(self.children_key(id, "failed")).query_async(&mut self.cmd()).await?;
        Ok(pairs(flat))
    }

    /// The job's children by kind. Without pages, every child of every kind;
    /// with pages, the kinds asked for, each from its cursor, with BullMQ's
    /// reads: SCANs for processed, pending and ignored children (their next
    /// cursor, 0 at the end), and for failed ones the ranks `cursor` to
    /// `count - 1` of the failure set (the next cursor `cursor + count`).
    pub async fn dependencies(&self, id: &str, pages: &DependencyPages) -> Result<Dependencies> {
        check_id(id)?;
        let (processed, pending) = (self.children_key(id, "processed"), self.children_key(id, "dependencies"));
        let (ignored, failed) = (self.children_key(id, "failed"), self.children_key(id, "unsuccessful"));
        if pages.is_empty() {
            let (p, u, i, f): (Vec<String>, Vec<String>, Vec<String>, Vec<String>) = redis::pipe()
                .cmd("HGETALL")
                .arg(&processed)
                .cmd("SMEMBERS")
                .arg(&pending)
                .cmd("HGETALL")
                .arg(&ignored)
                .cmd("ZRANGE")
                .arg(&failed)
                .arg(0)
                .arg(-1)
                .query_async(&mut self.cmd())
                .await?;
            return Ok(Dependencies {
                processed: Some(pairs(p)),
                unprocessed: Some(u),
                ignored: Some(pairs(i)),
                failed: Some(f),
                ..Dependencies::default()
            });
        }
        let mut pipe = redis::pipe();
        let scan = |pipe: &mut redis::Pipeline, cmd: &str, key: &str, page: &DependencyPage| {
            pipe.cmd(cmd).arg(key).arg(page.cursor()).arg("COUNT").arg(page.count());
        };
        if let Some(page) = &pages.processed {
            scan(&mut pipe, "HSCAN", &processed, page);
        }
        if let Some(page) = &pages.unprocessed {
            scan(&mut pipe, "SSCAN", &pending, page);
        }
        if let Some(page) = &pages.ignored {
            scan(&mut pipe, "HSCAN", &ignored, page);
        }
        if let Some(page) = &pages.failed {
            pipe.cmd("ZRANGE").arg(&failed).arg(page.cursor()).arg(page.count() - 1);
        }
        let replies: Vec<Value> = pipe.query_async(&mut self.cmd()).await?;
        let mut replies = replies.iter();
        let mut next = || replies.next().ok_or_else(|| EngineError::other("unexpected reply"));
        let mut out = Dependencies::default();
        if pages.processed.is_some() {
            let (cursor, flat) = scanned(next()?)?;
            out.processed = Some(pairs(flat));
            out.next_processed_cursor = Some(cursor);
        }
        if pages.unprocessed.is_some() {
            let (cursor, keys) = scanned(next()?)?;
            out.unprocessed = Some(keys);
            out.next_unprocessed_cursor = Some(cursor);
        }
        if pages.ignored.is_some() {
            let (cursor, flat) = scanned(next()?)?;
            out.ignored = Some(pairs(flat));
            out.next_ignored_cursor = Some(cursor);
        }
        if let Some(page) = &pages.failed {
            let keys = as_strings(next()?);
            // BullMQ leaves the kind out when its next cursor is 0.
            let cursor = page.cursor() + page.count();
            if cursor != 0 {
                out.failed = Some(keys);
                out.next_failed_cursor = Some(cursor);
            }
        }
        Ok(out)
    }

    /// Children `start..=end` (`end` -1: all) of the parent `parent_id`:
    /// completed ones (`processed`) or pending ones. As BullMQ pages them:
    /// script calls that SCAN on from where the last one stopped, until the
    /// page is full or the scan is done. Sets are unordered, so which
    /// children make a page is only stable while they do not change.
    pub async fn children_page(&self, parent_id: &str, processed: bool, start: i64, end: i64) -> Result<ChildrenPage> {
        check_id(parent_id)?;
        let kind = if processed { "processed" } else { "dependencies" };
        let wanted = if end >= 0 { Some(end - start + 1) } else { None };
        let (mut cursor, mut offset) = ("0".to_string(), 0i64);
        let mut page = ChildrenPage::default();
        loop {
            let mut inv = self.script(&PAGINATE);
            inv.arg(format!("{parent_id}:{kind}"))
                .arg(start + page.items.len() as i64)
                .arg(end)
                .arg(&cursor)
                .arg(offset)
                .arg(PAGINATE_ITERATIONS)
                .arg("1");
            let reply: Vec<Value> = inv.invoke_async(&mut self.cmd()).await?;
            let [next, at, items, total, jobs] = reply.as_slice() else {
                return Err(EngineError::other("unexpected reply from the paginate script"));
            };
            cursor = as_string(next).unwrap_or_else(|| "0".into());
            offset = as_int(at).unwrap_or(0);
            page.total = as_int(total).unwrap_or(0);
            if let Value::Array(items) = items {
                for item in items {
                    match item {
                        Value::Array(pair) => {
                            let key = pair.first().and_then(as_string).unwrap_or_default();
                            page.items.push((key, Some(pair.get(1).and_then(as_string).unwrap_or_default())));
                        }
                        other => page.items.push((as_string(other).unwrap_or_default(), None)),
                    }
                }
            }
            if let Value::Array(jobs) = jobs {
                page.jobs.extend(jobs.iter().map(as_strings));
            }
            if cursor == "0" || wanted.is_some_and(|n| page.items.len() as i64 >= n) {
                return Ok(page);
            }
        }
    }

    /// How many children of each kind (`processed`, `unprocessed`,
    /// `ignored`, anything else = `failed`), in the order asked for.
    pub async fn dependency_counts(&self, id: &str, kinds: &[String]) -> Result<Vec<i64>> {
        check_id(id)?;
        let mut pipe = redis::pipe();
        for kind in kinds {
            match kind.as_str() {
                "processed" => pipe.cmd("HLEN").arg(self.children_key(id, "processed")),
                "unprocessed" => pipe.cmd("SCARD").arg(self.children_key(id, "dependencies")),
                "ignored" => pipe.cmd("HLEN").arg(self.children_key(id, "failed")),
                _ => pipe.cmd("ZCARD").arg(self.children_key(id, "unsuccessful")),
            };
        }
        if kinds.is_empty() {
            return Ok(Vec::new());
        }
        Ok(pipe.query_async(&mut self.cmd()).await?)
    }

    /// Moves an active job held by `token` to waiting-children while it has
    /// a pending child (`child_key`, or any). `false` when it has none, so
    /// it stays active.
    pub async fn move_to_waiting_children(
        &self,
        id: &str,
        token: &str,
        child_key: Option<&str>,
        timestamp: i64,
    ) -> Result<bool> {
        check_id(id)?;
        let mut inv = self.script(&MOVE_TO_WAITING_CHILDREN);
        inv.arg(id).arg(timestamp).arg(token).arg(child_key.unwrap_or(""));
        let code: i64 = inv.invoke_async(&mut self.cmd()).await?;
        if code < 0 {
            return Err(EngineError::from_code(code, id, "moveToWaitingChildren", "active"));
        }
        Ok(code == 0)
    }

    /// Detaches a pending child from `parent_key`: `false` when it was not
    /// pending for that parent.
    pub async fn remove_child_dependency(&self, id: &str, parent_key: &str, timestamp: i64) -> Result<bool> {
        check_id(id)?;
        let mut inv = self.script(&REMOVE_CHILD_DEPENDENCY);
        inv.arg(id).arg(parent_key).arg(timestamp);
        let code: i64 = inv.invoke_async(&mut self.cmd()).await?;
        match code {
            0 => Ok(true),
            1 => Ok(false),
            -5 => Err(EngineError::from_code(code, parent_key, "removeChildDependency", "")),
            _ => Err(EngineError::from_code(code, id, "removeChildDependency", "")),
        }
    }

    /// Removes the job's pending children (not locked, not failed), with
    /// their own pending children.
    pub async fn remove_unprocessed_children(&self, id: &str, timestamp: i64) -> Result<()> {
        check_id(id)?;
        let mut inv = self.script(&REMOVE_UNPROCESSED_CHILDREN);
        inv.arg(id).arg(timestamp);
        let _: Value = inv.invoke_async(&mut self.cmd()).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::test_support::{raw, test_queue};

    #[tokio::test]
    async fn children_pages_cover_every_child_once() {
        let q = test_queue("children-page").await;
        let mut c = raw(&q).await;
        // More members than one SCAN step returns, so pages take several steps.
        let kids: Vec<String> = (0..250).map(|i| q.keys().job(&format!("kid-{i}"))).collect();
        let pending = format!("{}:dependencies", q.keys().job("p"));
        let _: () = redis::cmd("SADD").arg(&pending).arg(&kids).query_async(&mut c).await.unwrap();
        let _: () = redis::cmd("HSET").arg(&kids[0]).arg("name").arg("k0").query_async(&mut c).await.unwrap();

        let all = q.children_page("p", false, 0, -1).await.unwrap();
        assert_eq!(all.total, 250);
        assert!(all.items.iter().all(|(_, v)| v.is_none()), "pending children have no value");
        let mut ids: Vec<&str> = all.items.iter().map(|(id, _)| id.as_str()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 250);
        assert_eq!(all.jobs.len(), 250);
        let k0 = all.items.iter().position(|(id, _)| id == &kids[0]).unwrap();
        assert_eq!(all.jobs[k0], vec!["name".to_string(), "k0".to_string()]);

        let page = q.children_page("p", false, 100, 109).await.unwrap();
        assert_eq!(page.items, all.items[100..110].to_vec());
        assert!(q.children_page("p", true, 0, -1).await.unwrap().items.is_empty());

        let _: () = redis::cmd("HSET")
            .arg(format!("{}:processed", q.keys().job("p")))
            .arg(&kids[1])
            .arg("{\"v\":1}")
            .query_async(&mut c)
            .await
            .unwrap();
        let done = q.children_page("p", true, 0, -1).await.unwrap();
        assert_eq!(done.items, vec![(kids[1].clone(), Some("{\"v\":1}".to_string()))]);
        assert_eq!(done.jobs, vec![Vec::<String>::new()], "the child's hash is gone");
    }
}
