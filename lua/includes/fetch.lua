--[[
  Moving jobs from wait/prioritized to active (BullMQ's moveToActive), used by
  the fetch scripts and by the finishing scripts' fetch-next.
  Needs: common.lua.
  Each fetch returns the 4-element result BullMQ's clients expect:
    {jobFields (flat HGETALL) | 0, jobId | 0, rateLimitedForMs, nextDelayedTs}

  A script that fetches several times keeps one fetch state (newFetchState):
  the queue's meta is read once (no step of our scripts changes `paused`,
  `concurrency` or the rate limit settings), due delayed jobs are promoted by
  the first fetch only (a later fetch with the same timestamp finds none due,
  unless that promotion stopped at its limit of 1000), and the marker is set
  once. What the fetches leave is what separate calls leave.

  Timestamps and the lock duration may be given as the client's decimal text:
  Redis gets them as they are (a Lua number passed to redis.call is formatted
  again on every call).
]]

-- limiterMax/limiterDuration: the worker's limiter (0 when none). The state
-- also holds the queue's keys, built once per script call. `meta`: the
-- meta hash's paused, concurrency, max and duration when the caller read
-- them already.
local function newFetchState(P, limiterMax, limiterDuration, meta)
  meta = meta or rcall('HMGET', P .. 'meta', 'paused', 'concurrency', 'max', 'duration')
  local maxJobs = tonumber(meta[3])
  if not maxJobs and limiterMax > 0 then maxJobs = limiterMax end
  -- The worker's duration wins over the queue's, as in BullMQ.
  local duration = limiterDuration
  if duration <= 0 then duration = tonumber(meta[4]) or 0 end
  return {
    paused = meta[1] ~= false,
    concurrency = tonumber(meta[2]),
    maxJobs = maxJobs,
    duration = duration,
    promote = true,
    marked = false,
    wait = P .. 'wait',
    active = P .. 'active',
    events = P .. 'events',
    limiter = P .. 'limiter',
    -- Set by a finishing script whose lock deletions are deferred
    -- (finish.lua): called with a lock key before that key is written.
    beforeLock = nil,
  }
end

-- True when the queue is paused or its global concurrency is used up.
local function fetchBlocked(P, st)
  if st.paused then return true end
  if st.concurrency then
    return rcall('LLEN', st.active) >= st.concurrency
  end
  return false
end

-- The job's hash as it is after `processedOn` (and `pb`) are set and `ats`
-- is incremented: read before the write, which then is one HSET, and patched
-- here. Fields keep their places; new ones come last, in the order the
-- separate writes would have added them (processedOn, pb, ats).
local function markJobStarted(jobKey, timestamp, workerName)
  timestamp = tostring(timestamp)
  local fields = rcall('HGETALL', jobKey)
  local named = workerName and workerName ~= ''
  local atProcessedOn, atPb, atAts = nil, nil, nil
  for i = 1, #fields, 2 do
    local f = fields[i]
    if f == 'ats' then atAts = i
    elseif f == 'processedOn' then atProcessedOn = i
    elseif f == 'pb' then atPb = i end
  end
  local ats = '1'
  if atAts then
    local old = fields[atAts + 1]
    if old ~= '0' then ats = tostring(tonumber(old) + 1) end
  end
  if named then
    rcall('HSET', jobKey, 'processedOn', timestamp, 'pb', workerName, 'ats', ats)
  else
    rcall('HSET', jobKey, 'processedOn', timestamp, 'ats', ats)
  end
  local n = #fields
  if atProcessedOn then fields[atProcessedOn + 1] = timestamp
  else fields[n + 1] = 'processedOn'; fields[n + 2] = timestamp; n = n + 2 end
  if named then
    if atPb then fields[atPb + 1] = workerName
    else fields[n + 1] = 'pb'; fields[n + 2] = workerName; n = n + 2 end
  end
  if atAts then fields[atAts + 1] = ats
  else fields[n + 1] = 'ats'; fields[n + 2] = ats end
  return fields
end

local function prepareJobForProcessing(P, st, jobId, timestamp, token, lockDuration, workerName)
  local jobKey = P .. jobId
  if st.maxJobs and rcall('HEXISTS', jobKey, 'defa') == 0 then
    local count = rcall('INCR', st.limiter)
    if count == 1 then
      rcall('PEXPIRE', st.limiter, math.floor(math.abs(st.duration)))
    end
  end
  if token ~= '0' then
    local lockKey = jobKey .. ':lock'
    if st.beforeLock then st.beforeLock(lockKey) end
    rcall('SET', lockKey, token, 'PX', lockDuration)
  end
  rcall('XADD', st.events, '*', 'event', 'active', 'jobId', jobId, 'prev', 'waiting')
  local fields = markJobStarted(jobKey, timestamp, workerName)
  -- Cascade wake-up: the next idle worker tries too.
  if not st.marked then
    rcall('ZADD', P .. 'marker', '0', '0')
    st.marked = true
  end
  return { fields, jobId, 0, 0 }
end

-- True for an entry of "wait" that is a marker of old BullMQ versions ("0:...").
local function isOldMarker(jobId)
  local a, b = string.byte(jobId, 1, 2)
  return a == 48 and b == 58
end

-- One fetch with the script's fetch state.
local function fetchJob(P, st, timestamp, token, lockDuration, workerName)
  local pausedOrMaxed = fetchBlocked(P, st)

  if st.promote then
    st.promote = promoteDelayedJobs(P, timestamp, pausedOrMaxed) >= 1000
  end

  if st.maxJobs then
    local used = tonumber(rcall('GET', st.limiter)) or 0
    if used >= st.maxJobs then
      local ttl = rcall('PTTL', st.limiter)
      if ttl == 0 then
        rcall('DEL', st.limiter)
      elseif ttl > 0 then
        return { 0, 0, ttl, 0 }
      end
    end
  end

  if pausedOrMaxed then return { 0, 0, 0, 0 } end

  local jobId = rcall('RPOPLPUSH', st.wait, st.active)
  if jobId and isOldMarker(jobId) then
    rcall('LREM', st.active, 1, jobId)
    jobId = rcall('RPOPLPUSH', st.wait, st.active)
  end
  if not jobId then
    local popped = rcall('ZPOPMIN', P .. 'prioritized')
    if popped[1] then
      jobId = popped[1]
      rcall('LPUSH', st.active, jobId)
    else
      rcall('DEL', P .. 'pc')
    end
  end

  if jobId then
    return prepareJobForProcessing(P, st, jobId, timestamp, token, lockDuration, workerName)
  end

  local first = rcall('ZRANGE', P .. 'delayed', '0', '0', 'WITHSCORES')
  if first[2] then
    return { 0, 0, 0, math.floor(tonumber(first[2]) / 4096) }
  end
  return { 0, 0, 0, 0 }
end

-- A single fetch (the script's only one).
local function fetchNextJob(P, timestamp, token, lockDuration, limiterMax, limiterDuration, workerName)
  return fetchJob(P, newFetchState(P, limiterMax, limiterDuration), timestamp, token, lockDuration, workerName)
end
