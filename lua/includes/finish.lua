--[[
  Finishing active jobs (BullMQ's moveToFinished): retention of finished jobs
  (removeOnComplete / removeOnFail), the parent update, the finish step of one
  job, its fetch-next and the drained event.
  Needs: common.lua, fetch.lua, dedup.lua, parent.lua.
]]

-- Removes finished jobs older than maxAge seconds, at most limit of them.
local function removeJobsByMaxAge(P, target, timestamp, maxAge, limit)
  local cutoff = timestamp - maxAge * 1000
  local ids = rcall('ZRANGEBYSCORE', P .. target, '0', cutoff, 'LIMIT', '0', limit)
  for _, id in ipairs(ids) do
    removeJobQuietly(P, id, timestamp)
  end
  if #ids > 0 then
    rcall('ZREM', P .. target, unpack(ids))
  end
end

-- Keeps only the newest maxCount finished jobs.
local function removeJobsByMaxCount(P, target, timestamp, maxCount)
  local ids = rcall('ZREVRANGE', P .. target, maxCount, '-1')
  for _, id in ipairs(ids) do
    removeJobQuietly(P, id, timestamp)
  end
  if #ids > 0 then
    rcall('ZREMRANGEBYRANK', P .. target, '0', -(maxCount + 1))
  end
end

-- Records a finished child in its parent and releases the parent when it was
-- the last pending child. `parentKey`: the child's parentKey field when the
-- caller read it already (false = none).
local function updateParentOnCompletion(jobKey, value, timestamp, parentKey)
  if parentKey == nil then parentKey = rcall('HGET', jobKey, 'parentKey') end
  if not parentKey then return end
  if rcall('SREM', parentKey .. ':dependencies', jobKey) == 1 then
    rcall('HSET', parentKey .. ':processed', jobKey, value)
    if rcall('SCARD', parentKey .. ':dependencies') == 0 then
      releaseParent(parentKey, timestamp)
    end
  end
end

-- What a script finishing several jobs writes once for all of them: the ids
-- to take off the stalled set and to add to completed / failed (with the
-- call's timestamp). Nothing in the finish and fetch steps reads those keys,
-- except retention, which flushes first.
local function newFinishBatch()
  return { unstalled = {}, completed = {}, failed = {}, metrics = { completed = 0, failed = 0 } }
end

-- BullMQ's per-minute metrics of finished jobs (`metrics:{target}` with
-- count, prevTS and prevCount, and the `:data` list of per-minute counts,
-- newest first, at most maxDataPoints long), for n jobs finished at
-- timestamp: what n single updates leave (only the first can add points).
local function collectMetrics(P, target, maxDataPoints, timestamp, n)
  local metaKey = P .. 'metrics:' .. target
  local count = rcall('HINCRBY', metaKey, 'count', n) - n
  local prevTS = rcall('HGET', metaKey, 'prevTS')
  if not prevTS then
    rcall('HSET', metaKey, 'prevTS', timestamp, 'prevCount', 0)
    return
  end
  local points = math.min(math.floor(timestamp / 60000) - math.floor(prevTS / 60000), maxDataPoints)
  if points > 0 then
    local dataKey = metaKey .. ':data'
    local delta = count - (tonumber(rcall('HGET', metaKey, 'prevCount')) or 0)
    -- The delta first, then zeros for the minutes without a finish: the
    -- zeros end up nearest the head.
    rcall('LPUSH', dataKey, delta)
    for from = 2, points, 1000 do
      local zeros = {}
      for k = from, math.min(from + 999, points) do zeros[#zeros + 1] = 0 end
      rcall('LPUSH', dataKey, unpack(zeros))
    end
    rcall('LTRIM', dataKey, 0, maxDataPoints - 1)
    rcall('HSET', metaKey, 'prevCount', count, 'prevTS', timestamp)
  end
end

local function flushFinishBatch(P, batch, timestamp)
  local unstalled = batch.unstalled
  for from = 1, #unstalled, 1000 do
    rcall('SREM', P .. 'stalled', unpack(unstalled, from, math.min(from + 999, #unstalled)))
  end
  batch.unstalled = {}
  for _, target in ipairs({ 'completed', 'failed' }) do
    local ids = batch[target]
    for from = 1, #ids, 1000 do
      local args = {}
      for i = from, math.min(from + 999, #ids) do
        args[#args + 1] = timestamp
        args[#args + 1] = ids[i]
      end
      rcall('ZADD', P .. target, unpack(args))
    end
    batch[target] = {}
    local finished = batch.metrics[target]
    if finished > 0 then
      collectMetrics(P, target, batch.maxDataPoints, timestamp, finished)
      batch.metrics[target] = 0
    end
  end
end

-- The keys of a queue that finishing uses, built once per script call.
-- maxDataPoints: the worker's metrics.maxDataPoints (0 = no metrics);
-- maxEvents: the meta hash's opts.maxLenEvents when the caller read it
-- (false: missing, or not read).
local function finishKeys(P, maxDataPoints, maxEvents)
  return {
    P = P,
    maxDataPoints = maxDataPoints,
    maxEvents = maxEvents,
    events = P .. 'events',
    active = P .. 'active',
    completed = P .. 'completed',
    failed = P .. 'failed',
  }
end

-- attemptsMade after this finish (HINCRBY atm 1, written together with the
-- outcome), as a number and as the text to store.
local function nextAttemptsMade(atm)
  if not atm then return 1, '1' end
  local n = (tonumber(atm) or 0) + 1
  return n, tostring(n)
end

-- The fields a finish stores as the job leaves active: a failure's reason
-- and stacktrace when a stacktrace is given, else none.
local function failureFields(value, stacktrace)
  if stacktrace == '' then return nil end
  return { 'failedReason', value, 'stacktrace', stacktrace }
end

-- What a finish does once the job has left active: trims the events stream
-- (with trim), releases the deduplication id (adding the job kept by
-- keepLastIfActive), updates the parent, stores the
-- outcome (or removes the job) with retention, and adds the events. `attrs`:
-- the job's HMGET ats, atm, deid, parentKey. Returns 0.
local function completeFinish(Q, jobKey, jobId, target, value, attrs, keepCount, keepAge, keepLimit,
                              attempts, timestamp, trim, batch)
  local P = Q.P
  if trim then
    rcall('XTRIM', Q.events, 'MAXLEN', '~', Q.maxEvents or getMaxEvents(P))
  end

  if attrs[3] then finishDeduplication(P, jobId, attrs[3], timestamp) end
  if target == 'completed' then
    updateParentOnCompletion(jobKey, value, timestamp, attrs[4])
  else
    updateParentOnFailure(jobKey, value, timestamp, attrs[4])
  end

  local attemptsMade, atm = nextAttemptsMade(attrs[2])

  if keepCount == 0 then
    removeJobQuietly(P, jobId, timestamp, attrs[4])
  else
    local retention = keepAge > 0 or keepCount > 0
    if batch and not retention then
      batch[target][#batch[target] + 1] = jobId
    else
      if batch then flushFinishBatch(P, batch, timestamp) end
      rcall('ZADD', Q[target], timestamp, jobId)
    end
    if target == 'completed' then
      rcall('HSET', jobKey, 'atm', atm, 'returnvalue', value, 'finishedOn', timestamp)
    else
      rcall('HSET', jobKey, 'atm', atm, 'failedReason', value, 'finishedOn', timestamp)
      rcall('HDEL', jobKey, 'defa')
    end
    if keepAge > 0 then
      removeJobsByMaxAge(P, target, timestamp, keepAge, keepLimit)
    end
    if keepCount > 0 then
      removeJobsByMaxCount(P, target, timestamp, keepCount)
    end
  end

  if Q.maxDataPoints > 0 then
    if batch then
      batch.maxDataPoints = Q.maxDataPoints
      batch.metrics[target] = batch.metrics[target] + 1
    else
      collectMetrics(P, target, Q.maxDataPoints, timestamp, 1)
    end
  end

  if target == 'completed' then
    rcall('XADD', Q.events, '*', 'event', 'completed', 'jobId', jobId, 'returnvalue', value, 'prev', 'active')
  else
    rcall('XADD', Q.events, '*', 'event', 'failed', 'jobId', jobId, 'failedReason', value, 'prev', 'active')
    if attemptsMade >= attempts then
      rcall('XADD', Q.events, '*', 'event', 'retries-exhausted', 'jobId', jobId, 'attemptsMade', atm)
    end
  end
  return 0
end

-- Completes or finally fails one active job held by token: what BullMQ's
-- moveToFinished does before its fetch-next. Q: finishKeys. With trim, the
-- events stream is trimmed before the job's events (once per script call).
-- With a batch (newFinishBatch), some writes are left to flushFinishBatch.
-- Returns 0 or a negative code (-1 missing, -2 no lock, -3 not active,
-- -4 pending children, -6 lock mismatch, -9 failed children).
local function finishJob(Q, jobId, token, target, value, stacktrace, keepCount, keepAge, keepLimit,
                         attempts, timestamp, trim, batch)
  local P = Q.P
  local jobKey = P .. jobId
  -- Every fetched job has `ats`; without it the hash may not exist.
  local attrs = rcall('HMGET', jobKey, 'ats', 'atm', 'deid', 'parentKey')
  if not attrs[1] and rcall('EXISTS', jobKey) == 0 then return -1 end
  if target == 'completed' and
      rcall('EXISTS', jobKey .. ':dependencies', jobKey .. ':unsuccessful') > 0 then
    if rcall('EXISTS', jobKey .. ':dependencies') == 1 then return -4 end
    return -9
  end

  local left = leaveActive(P, jobKey, jobId, token, failureFields(value, stacktrace), batch and batch.unstalled)
  if left < 0 then return left end

  return completeFinish(Q, jobKey, jobId, target, value, attrs, keepCount, keepAge, keepLimit,
    attempts, timestamp, trim, batch)
end

-- The fetch-next after a finish: the fetch result to return (a job, a rate
-- limit, a delayed hint, or nothing on a paused/maxed queue, which is not
-- drained), or nil when the queue had nothing to offer.
local function fetchAfterFinish(P, st, timestamp, token, lockDuration, workerName)
  local next = fetchJob(P, st, timestamp, token, lockDuration, workerName)
  if next[1] ~= 0 or next[3] ~= 0 or next[4] ~= 0 or fetchBlocked(P, st) then return next end
  return nil
end

-- BullMQ's `drained` after a finish that fetched nothing: wait, active and
-- prioritized are all empty.
local function addDrainedEventIfEmpty(P)
  if rcall('LLEN', P .. 'wait') == 0 and rcall('LLEN', P .. 'active') == 0 and
      rcall('ZCARD', P .. 'prioritized') == 0 then
    rcall('XADD', P .. 'events', '*', 'event', 'drained')
  end
end
