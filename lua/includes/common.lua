--[[
  Helpers shared by every script. Under EVAL, each script is this file (and
  any other include it needs) followed by its own body; in the Functions
  library, the includes come once and each body is a function (see
  src/engine/scripts.rs). Either way `rcall` is bound to redis.call there,
  since a library may not read redis.call while it loads.

  Conventions of all bullmq-native scripts:
    KEYS[1]  the queue's meta key, declared so Redis Cluster routes the call
             (all keys of one queue share a hash slot through the prefix)
    ARGV[1]  P, the queue base "{prefix}:{queueName}:"; every other key is P..suffix
  Timestamps are the client's milliseconds, as in BullMQ.
]]

-- A decimal integer argument as a number. tonumber on a string runs strtod
-- (twice, in Redis' Lua), which costs as much as a small command; the values
-- most arguments have are compared first (strings compare by reference).
local function toInteger(s)
  if s == '0' then return 0 end
  if s == '1' then return 1 end
  if s == '-1' then return -1 end
  return tonumber(s)
end

-- Max length of the events stream; set to the default when missing.
local function getMaxEvents(P)
  local maxEvents = rcall('HGET', P .. 'meta', 'opts.maxLenEvents')
  if not maxEvents then
    maxEvents = 10000
    rcall('HSET', P .. 'meta', 'opts.maxLenEvents', maxEvents)
  end
  return maxEvents
end

-- True when the queue is paused or its global concurrency is used up.
local function isPausedOrMaxed(P)
  local meta = rcall('HMGET', P .. 'meta', 'paused', 'concurrency')
  if meta[1] then return true end
  if meta[2] then
    return rcall('LLEN', P .. 'active') >= tonumber(meta[2])
  end
  return false
end

-- Wakes one blocked worker: member "0" at score 0 means "jobs available now".
local function addBaseMarkerIfNeeded(P, pausedOrMaxed)
  if not pausedOrMaxed then
    rcall('ZADD', P .. 'marker', '0', '0')
  end
end

-- Member "1" carries the due time of the earliest delayed job.
local function addDelayMarkerIfNeeded(P)
  local first = rcall('ZRANGE', P .. 'delayed', '0', '0', 'WITHSCORES')
  if first[2] then
    rcall('ZADD', P .. 'marker', math.floor(tonumber(first[2]) / 4096), '1')
  end
end

-- Score in "delayed": due * 4096 plus a sequence keeping FIFO order among jobs
-- due in the same millisecond.
local function getDelayedScore(P, timestamp, delay)
  local due = timestamp
  if delay > 0 then due = timestamp + delay end
  local base = due * 4096
  local top = rcall('ZREVRANGEBYSCORE', P .. 'delayed', base + 4095, base, 'WITHSCORES', 'LIMIT', '0', '1')
  if top[2] then
    local score = tonumber(top[2]) + 1
    if score > base + 4095 then score = base + 4095 end
    return score, due
  end
  return base, due
end

local function addToPrioritized(P, jobId, priority)
  local counter = rcall('INCR', P .. 'pc')
  rcall('ZADD', P .. 'prioritized', priority * 4294967296 + counter % 4294967296, jobId)
end

-- Makes a job runnable: prioritized when it has a priority, else pushed on
-- "wait" with pushCmd (LPUSH = end of the line, RPUSH = runs next).
local function enqueueReady(P, jobId, priority, pushCmd, pausedOrMaxed)
  if priority > 0 then
    addToPrioritized(P, jobId, priority)
  else
    rcall(pushCmd, P .. 'wait', jobId)
  end
  addBaseMarkerIfNeeded(P, pausedOrMaxed)
end

-- Moves up to 1000 due delayed jobs to wait/prioritized; returns how many.
local function promoteDelayedJobs(P, timestamp, pausedOrMaxed)
  -- Arguments as text: Redis writes each Lua number argument with
  -- snprintf("%.17g"), which costs more than this whole command on a small
  -- set. ('%.0f' is exact for these integers, below 2^53.)
  local due = rcall('ZRANGEBYSCORE', P .. 'delayed', '0', string.format('%.0f', (timestamp + 1) * 4096 - 1),
    'LIMIT', '0', '1000')
  if #due == 0 then return 0 end
  for _, jobId in ipairs(due) do
    rcall('ZREM', P .. 'delayed', jobId)
    local jobKey = P .. jobId
    local priority = tonumber(rcall('HGET', jobKey, 'priority')) or 0
    if priority > 0 then
      addToPrioritized(P, jobId, priority)
    else
      rcall('LPUSH', P .. 'wait', jobId)
    end
    rcall('XADD', P .. 'events', '*', 'event', 'waiting', 'jobId', jobId, 'prev', 'delayed')
    rcall('HSET', jobKey, 'delay', 0)
  end
  addBaseMarkerIfNeeded(P, pausedOrMaxed)
  return #due
end

-- Deletes every key of a job (the lock is not one of them, as in BullMQ).
local function removeJobKeys(jobKey)
  rcall('DEL', jobKey, jobKey .. ':logs', jobKey .. ':dependencies', jobKey .. ':processed',
    jobKey .. ':failed', jobKey .. ':unsuccessful')
end

-- Whether token holds a lock whose value is `held` (false = no lock): 0, or
-- -2 (missing) / -6 (held by another token).
local function lockCheck(held, token)
  if held == token then return 0 end
  if held then return -6 end
  return -2
end

-- Releases the lock held by token. Returns 0, or -2 (missing) / -6 (mismatch).
-- Token "0" is BullMQ's lockless mode. With `unstalled` (a list), the job id
-- is appended to it for the caller to take off the stalled set later.
local function releaseLock(P, jobKey, jobId, token, unstalled)
  if token == '0' then return 0 end
  local lockKey = jobKey .. ':lock'
  local checked = lockCheck(rcall('GET', lockKey), token)
  if checked == 0 then
    rcall('DEL', lockKey)
    if unstalled then
      unstalled[#unstalled + 1] = jobId
    else
      rcall('SREM', P .. 'stalled', jobId)
    end
  end
  return checked
end

-- Stores `fields` (a flat field/value table, or nil) and removes the job from
-- the active list `activeKey`. Returns 0, or -3 when it was not active.
local function takeOffActive(activeKey, jobKey, jobId, fields)
  if fields then
    rcall('HSET', jobKey, unpack(fields))
  end
  if rcall('LREM', activeKey, '-1', jobId) == 0 then return -3 end
  return 0
end

-- The common start of every move out of active: releases the lock held by
-- token, stores `fields` (a flat field/value table, or nil) and removes the
-- job from active. Returns 0, or -2 / -6 (lock) / -3 (not active).
-- `unstalled`: see releaseLock.
local function leaveActive(P, jobKey, jobId, token, fields, unstalled)
  local released = releaseLock(P, jobKey, jobId, token, unstalled)
  if released < 0 then return released end
  return takeOffActive(P .. 'active', jobKey, jobId, fields)
end

-- Splits a full job key "{prefix}:{queue}:{id}" into the queue base and the id.
local function splitJobKey(jobKey)
  local base, id = string.match(jobKey, '^(.*:)([^:]*)$')
  return base, id
end

-- Makes a parent that left waiting-children runnable in its own queue (PP
-- its queue base): delayed when it has a delay, else prioritized or at the
-- tail of wait (it runs next).
local function moveParentToWait(PP, parentKey, parentId, timestamp)
  local fields = rcall('HMGET', parentKey, 'delay', 'priority')
  local delay = tonumber(fields[1]) or 0
  local priority = tonumber(fields[2]) or 0
  if delay > 0 then
    local due = timestamp + delay
    rcall('ZADD', PP .. 'delayed', due * 4096, parentId)
    rcall('XADD', PP .. 'events', '*', 'event', 'delayed', 'jobId', parentId, 'delay', due)
    addDelayMarkerIfNeeded(PP)
  else
    local pausedOrMaxed = isPausedOrMaxed(PP)
    if priority > 0 then
      addToPrioritized(PP, parentId, priority)
      addBaseMarkerIfNeeded(PP, pausedOrMaxed)
    else
      rcall('RPUSH', PP .. 'wait', parentId)
      addBaseMarkerIfNeeded(PP, pausedOrMaxed)
    end
    rcall('XADD', PP .. 'events', '*', 'event', 'waiting', 'jobId', parentId, 'prev', 'waiting-children')
  end
end

-- "Move parent to wait" once a parent's last child is done: only a parent
-- that still exists and waits for its children.
local function releaseParentOf(PP, parentKey, parentId, timestamp)
  if rcall('EXISTS', parentKey) == 0 then return end
  if rcall('ZREM', PP .. 'waiting-children', parentId) == 0 then return end
  moveParentToWait(PP, parentKey, parentId, timestamp)
end

local function releaseParent(parentKey, timestamp)
  local PP, parentId = splitJobKey(parentKey)
  if PP then releaseParentOf(PP, parentKey, parentId, timestamp) end
end

-- Detaches a removed job from its parent (`parentKey`, else the job's
-- parentKey field); a parent left with nothing pending goes to the tail of
-- its wait list.
local function detachFromParent(jobKey, timestamp, parentKey)
  parentKey = parentKey or rcall('HGET', jobKey, 'parentKey')
  if not parentKey then return end
  if rcall('SREM', parentKey .. ':dependencies', jobKey) == 1 and
      rcall('SCARD', parentKey .. ':dependencies') == 0 then
    local PP, parentId = splitJobKey(parentKey)
    if PP and rcall('ZREM', PP .. 'waiting-children', parentId) == 1 then
      rcall('RPUSH', PP .. 'wait', parentId)
      addBaseMarkerIfNeeded(PP, isPausedOrMaxed(PP))
      rcall('XADD', PP .. 'events', '*', 'event', 'waiting', 'jobId', parentId, 'prev', 'waiting-children')
    end
  end
end

-- Removes a job from the queue's bookkeeping for good (no events), as done by
-- the retention of finished jobs. `parentKey`: the job's parentKey field
-- when the caller read it already (false = none; nil = read it here).
local function removeJobQuietly(P, jobId, timestamp, parentKey)
  local jobKey = P .. jobId
  if parentKey ~= false then detachFromParent(jobKey, timestamp, parentKey) end
  removeJobKeys(jobKey)
end

-- Writes a new job's hash (parentKey '' = no parent; delay and priority as
-- text) and its `added` event.
local function storeNewJob(P, jobKey, jobId, name, data, opts, timestamp, delay, priority, parentKey, parent)
  if parentKey ~= '' then
    rcall('HSET', jobKey, 'name', name, 'data', data, 'opts', opts, 'timestamp', timestamp,
      'delay', delay, 'priority', priority, 'parentKey', parentKey, 'parent', parent)
  else
    rcall('HSET', jobKey, 'name', name, 'data', data, 'opts', opts, 'timestamp', timestamp,
      'delay', delay, 'priority', priority)
  end
  rcall('XADD', P .. 'events', '*', 'event', 'added', 'jobId', jobId, 'name', name)
end

-- Takes a job out of whichever state it is in (Q its queue base); returns
-- the state's key suffix, or 'unknown'.
local function removeFromAnyState(Q, id)
  for _, set in ipairs({ 'completed', 'waiting-children', 'delayed', 'failed', 'prioritized' }) do
    if rcall('ZREM', Q .. set, id) == 1 then return set end
  end
  for _, list in ipairs({ 'wait', 'paused', 'active' }) do
    if rcall('LREM', Q .. list, 1, id) == 1 then return list end
  end
  return 'unknown'
end

-- Deletes the job's deduplication key when it still names this job, together
-- with the keep-last payload stored for that deduplication id.
local function clearDeduplicationOnRemoval(P, jobKey, jobId)
  local deid = rcall('HGET', jobKey, 'deid')
  if not deid then return end
  local dedupKey = P .. 'de:' .. deid
  if rcall('GET', dedupKey) == jobId then
    rcall('DEL', dedupKey, P .. 'dn:' .. deid)
  end
end

-- Removes job `id` of queue base Q (key jobKey) from its state, with its keys
-- and its deduplication id; the `removed` event names the state it left and
-- is only sent when the job hash existed.
local function removeJobWithEvent(Q, jobKey, id)
  local prev = removeFromAnyState(Q, id)
  clearDeduplicationOnRemoval(Q, jobKey, id)
  local existed = rcall('EXISTS', jobKey) == 1
  removeJobKeys(jobKey)
  if existed then
    rcall('XADD', Q .. 'events', 'MAXLEN', '~', getMaxEvents(Q), '*',
      'event', 'removed', 'jobId', id, 'prev', prev)
  end
end

-- True when jobId is the pending iteration of a job scheduler
-- ("repeat:{schedulerId}:{millis}" with millis the scheduler's score): remove
-- refuses it, drain and clean leave it alone.
local function isCurrentSchedulerIteration(P, jobId)
  local schedulerId = rcall('HGET', P .. jobId, 'rjk')
  if not schedulerId then return false end
  local millis = rcall('ZSCORE', P .. 'repeat', schedulerId)
  return millis ~= false and jobId == 'repeat:' .. schedulerId .. ':' .. millis
end

-- A retried child is pending again for its parent (the parent's own state
-- does not change).
local function relinkToParent(jobKey, finishedState)
  local parentKey = rcall('HGET', jobKey, 'parentKey')
  if not parentKey or rcall('EXISTS', parentKey) == 0 then return end
  local wasRecorded
  if finishedState == 'failed' then
    wasRecorded = rcall('ZREM', parentKey .. ':unsuccessful', jobKey) == 1 or
      rcall('HDEL', parentKey .. ':failed', jobKey) == 1
  else
    wasRecorded = rcall('HDEL', parentKey .. ':processed', jobKey) == 1
  end
  if wasRecorded then
    rcall('SADD', parentKey .. ':dependencies', jobKey)
  end
end
