--[[
  Deduplication (BullMQ's `deduplication` job option): whether an add is
  deduplicated, and what finishing the job that owns a deduplication id does.
  Needs: common.lua.

  Keys, for deduplication id X:
    P..'de:'..X  the id of the job that owns X, optionally with an expiry (ttl)
    P..'dn:'..X  keepLastIfActive: the latest add made while the owner ran
                 (fields name, data, opts, jid, and pk, pd, pdk, rjk when set),
                 added as a new job when the owner finishes
  Only jobs with a deduplication id reach this code: a plain add or finish
  pays nothing for it.
]]

-- The deduplication options of one add, from the add script's arguments:
-- id, ttl in ms (0 = none) and mode letters: 'x' extend, 'r' replace,
-- 's' reschedule, 'k' keepLastIfActive.
local function dedupOptions(id, ttl, mode)
  return {
    id = id,
    ttl = tonumber(ttl) or 0,
    extend = string.find(mode, 'x', 1, true) ~= nil,
    replace = string.find(mode, 'r', 1, true) ~= nil,
    reschedule = string.find(mode, 's', 1, true) ~= nil,
    keepLast = string.find(mode, 'k', 1, true) ~= nil,
  }
end

-- Makes jobId the owner: with the ttl as expiry, except with keepLastIfActive
-- (the key must outlive the owner's run, so it never expires).
local function setDedupOwner(dedupKey, jobId, ttl, keepLast)
  if ttl > 0 and not keepLast then
    rcall('SET', dedupKey, jobId, 'PX', ttl)
  else
    rcall('SET', dedupKey, jobId)
  end
end

local function addDeduplicatedEvent(P, maxEvents, jobId, dedupId, deduplicatedJobId)
  rcall('XADD', P .. 'events', 'MAXLEN', '~', maxEvents, '*', 'event', 'deduplicated',
    'jobId', jobId, 'deduplicationId', dedupId, 'deduplicatedJobId', deduplicatedJobId)
end

-- A key without expiry whose owner no longer exists (its release was lost)
-- would deduplicate for ever: it is dropped, with its keep-last payload, and
-- the incoming job becomes the owner. Returns true when that happened.
local function recoverStaleOwner(P, d, dedupKey, owner, jobId)
  if rcall('PTTL', dedupKey) ~= -1 or rcall('EXISTS', P .. owner) == 1 then return false end
  rcall('DEL', dedupKey, P .. 'dn:' .. d.id)
  setDedupOwner(dedupKey, jobId, d.ttl, d.keepLast)
  return true
end

-- keepLastIfActive while the owner is active: the incoming job is kept (in
-- place of any kept before) to be added when the owner finishes, and the key
-- stops expiring meanwhile. Returns true when kept.
local function keepLastWhileActive(P, d, dedupKey, owner, jobId, job, maxEvents)
  if not d.keepLast or not rcall('LPOS', P .. 'active', owner) then return false end
  local nextKey = P .. 'dn:' .. d.id
  local fields = { 'name', job.name, 'data', job.data, 'opts', job.opts, 'jid', jobId }
  if job.parentKey ~= '' then
    fields[#fields + 1] = 'pk'
    fields[#fields + 1] = job.parentKey
    fields[#fields + 1] = 'pd'
    fields[#fields + 1] = job.parent
    fields[#fields + 1] = 'pdk'
    fields[#fields + 1] = job.parentKey .. ':dependencies'
  end
  if job.rjk and job.rjk ~= '' then
    fields[#fields + 1] = 'rjk'
    fields[#fields + 1] = job.rjk
  end
  rcall('DEL', nextKey)
  rcall('HSET', nextKey, unpack(fields))
  rcall('PERSIST', dedupKey)
  addDeduplicatedEvent(P, maxEvents, owner, d.id, jobId)
  return true
end

-- replace: a delayed owner is removed and the incoming job takes its place.
-- Returns the owner's id when the add is deduplicated, nil to go on with it.
local function replaceDelayedOwner(P, d, dedupKey, jobId, job, maxEvents)
  local owner = rcall('GET', dedupKey)
  if not owner then
    setDedupOwner(dedupKey, jobId, d.ttl, d.keepLast)
    return nil
  end
  if rcall('ZREM', P .. 'delayed', owner) == 1 then
    removeJobKeys(P .. owner)
    rcall('XADD', P .. 'events', '*', 'event', 'removed', 'jobId', owner, 'prev', 'delayed')
    addDeduplicatedEvent(P, maxEvents, jobId, d.id, owner)
    -- What was kept for the replaced job must not come back after this one.
    rcall('DEL', P .. 'dn:' .. d.id)
    if d.ttl > 0 and not d.extend and not d.keepLast then
      -- The throttle window goes on: the expiry stays as it was.
      rcall('SET', dedupKey, jobId, 'KEEPTTL')
    else
      setDedupOwner(dedupKey, jobId, d.ttl, d.keepLast)
    end
    return nil
  end
  if recoverStaleOwner(P, d, dedupKey, owner, jobId) then return nil end
  keepLastWhileActive(P, d, dedupKey, owner, jobId, job, maxEvents)
  return owner
end

-- Without replace: the owner stays. With ttl and extend, a hit renews the
-- owner's expiry. Returns the owner's id when the add is deduplicated.
local function keepOwner(P, d, dedupKey, jobId, job, maxEvents)
  local owner
  if d.ttl > 0 and d.extend then
    owner = rcall('GET', dedupKey)
    if not owner then
      setDedupOwner(dedupKey, jobId, d.ttl, d.keepLast)
      return nil
    end
  else
    local px = d.ttl > 0 and not d.keepLast
    local set
    if px then
      set = rcall('SET', dedupKey, jobId, 'PX', d.ttl, 'NX')
    else
      set = rcall('SET', dedupKey, jobId, 'NX')
    end
    if set then return nil end
    owner = rcall('GET', dedupKey)
  end
  if recoverStaleOwner(P, d, dedupKey, owner, jobId) then return nil end
  if keepLastWhileActive(P, d, dedupKey, owner, jobId, job, maxEvents) then return owner end
  if d.ttl > 0 and d.extend then
    setDedupOwner(dedupKey, owner, d.ttl, d.keepLast)
  end
  addDeduplicatedEvent(P, maxEvents, owner, d.id, jobId)
  return owner
end

-- reschedule: a delayed owner is due again `delay` ms after the incoming
-- add's timestamp (its id and data stay).
local function rescheduleDelayedOwner(P, owner, delay, timestamp, maxEvents)
  if not rcall('ZSCORE', P .. 'delayed', owner) then return end
  rcall('HSET', P .. owner, 'delay', delay)
  local score, due = getDelayedScore(P, timestamp, delay)
  rcall('ZADD', P .. 'delayed', score, owner)
  rcall('XADD', P .. 'events', 'MAXLEN', '~', maxEvents, '*', 'event', 'delayed', 'jobId', owner, 'delay', due)
  addDelayMarkerIfNeeded(P)
end

-- Deduplication of an add that got id jobId (after the custom-id check).
-- `d`: dedupOptions; `job`: name, data, opts (stored JSON), parentKey and
-- parent ('' = none), rjk (optional). Returns true when the add is
-- deduplicated (nothing is stored then; d.owner is the owner's id), false
-- when the job is to be added.
local function deduplicateAdd(P, d, jobId, job, delay, timestamp, maxEvents)
  local dedupKey = P .. 'de:' .. d.id
  local owner
  if d.replace then
    owner = replaceDelayedOwner(P, d, dedupKey, jobId, job, maxEvents)
  else
    owner = keepOwner(P, d, dedupKey, jobId, job, maxEvents)
    if owner and d.reschedule then
      rescheduleDelayedOwner(P, owner, delay, timestamp, maxEvents)
    end
  end
  d.owner = owner
  return owner ~= nil
end

-- Adds the job kept by keepLastIfActive once its owner finished: the id it
-- was given when added (the counter moves all the same), the finish's
-- timestamp, enqueued by its options; it owns the deduplication id.
local function addKeptLast(P, dedupId, timestamp)
  local nextKey = P .. 'dn:' .. dedupId
  if rcall('EXISTS', nextKey) == 0 then return end
  local kept = rcall('HMGET', nextKey, 'name', 'data', 'opts', 'pk', 'pd', 'pdk', 'rjk', 'jid')
  local counter = rcall('INCR', P .. 'id')
  local jobId = kept[8] or string.format('%d', counter)
  local jobKey = P .. jobId
  local opts = cjson.decode(kept[3])
  local de = type(opts['de']) == 'table' and opts['de'] or {}
  setDedupOwner(P .. 'de:' .. dedupId, jobId, tonumber(de['ttl']) or 0, de['keepLastIfActive'] == true)

  local delay = tonumber(opts['delay']) or 0
  local priority = tonumber(opts['priority']) or 0
  local fields = { 'name', kept[1], 'data', kept[2], 'opts', kept[3], 'timestamp', timestamp,
    'delay', delay, 'priority', priority }
  if kept[4] then
    fields[#fields + 1] = 'parentKey'
    fields[#fields + 1] = kept[4]
    fields[#fields + 1] = 'parent'
    fields[#fields + 1] = kept[5]
  end
  if kept[7] then
    fields[#fields + 1] = 'rjk'
    fields[#fields + 1] = kept[7]
  end
  if de['id'] then
    fields[#fields + 1] = 'deid'
    fields[#fields + 1] = de['id']
  end
  rcall('HSET', jobKey, unpack(fields))
  local events = P .. 'events'
  rcall('XADD', events, '*', 'event', 'added', 'jobId', jobId, 'name', kept[1])
  local maxEvents = getMaxEvents(P)
  if delay ~= 0 then
    local score, due = getDelayedScore(P, tonumber(timestamp), delay)
    rcall('ZADD', P .. 'delayed', score, jobId)
    rcall('XADD', events, 'MAXLEN', '~', maxEvents, '*', 'event', 'delayed', 'jobId', jobId, 'delay', due)
    addDelayMarkerIfNeeded(P)
  else
    local pushCmd = 'LPUSH'
    if opts['lifo'] then pushCmd = 'RPUSH' end
    enqueueReady(P, jobId, priority, pushCmd, isPausedOrMaxed(P))
    rcall('XADD', events, 'MAXLEN', '~', maxEvents, '*', 'event', 'waiting', 'jobId', jobId)
  end
  if kept[6] then
    rcall('SADD', kept[6], jobKey)
  end
  rcall('DEL', nextKey)
end

-- Finishing (completed or failed) a job with deduplication id dedupId: the
-- key is released when it has no expiry left and still names the job (a ttl
-- runs its course), then the job kept by keepLastIfActive, if any, is added.
local function finishDeduplication(P, jobId, dedupId, timestamp)
  local dedupKey = P .. 'de:' .. dedupId
  local pttl = rcall('PTTL', dedupKey)
  if pttl == 0 or (pttl == -1 and rcall('GET', dedupKey) == jobId) then
    rcall('DEL', dedupKey)
  end
  addKeptLast(P, dedupId, timestamp)
end
