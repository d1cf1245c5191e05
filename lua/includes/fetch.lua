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
]]

-- limiterMax/limiterDuration: the worker's limiter (0 when none).
local function newFetchState(P, limiterMax, limiterDuration)
  local meta = rcall('HMGET', P .. 'meta', 'paused', 'concurrency', 'max', 'duration')
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
  }
end

-- True when the queue is paused or its global concurrency is used up.
local function fetchBlocked(P, st)
  if st.paused then return true end
  if st.concurrency then
    return rcall('LLEN', P .. 'active') >= st.concurrency
  end
  return false
end

local function prepareJobForProcessing(P, st, jobId, timestamp, token, lockDuration, workerName)
  local jobKey = P .. jobId
  if st.maxJobs and rcall('HEXISTS', jobKey, 'defa') == 0 then
    local count = rcall('INCR', P .. 'limiter')
    if count == 1 then
      rcall('PEXPIRE', P .. 'limiter', math.floor(math.abs(st.duration)))
    end
  end
  if token ~= '0' then
    rcall('SET', jobKey .. ':lock', token, 'PX', lockDuration)
  end
  rcall('XADD', P .. 'events', '*', 'event', 'active', 'jobId', jobId, 'prev', 'waiting')
  if workerName and workerName ~= '' then
    rcall('HSET', jobKey, 'processedOn', timestamp, 'pb', workerName)
  else
    rcall('HSET', jobKey, 'processedOn', timestamp)
  end
  rcall('HINCRBY', jobKey, 'ats', 1)
  -- Cascade wake-up: the next idle worker tries too.
  if not st.marked then
    rcall('ZADD', P .. 'marker', 0, '0')
    st.marked = true
  end
  return { rcall('HGETALL', jobKey), jobId, 0, 0 }
end

-- One fetch with the script's fetch state.
local function fetchJob(P, st, timestamp, token, lockDuration, workerName)
  local pausedOrMaxed = fetchBlocked(P, st)

  if st.promote then
    st.promote = promoteDelayedJobs(P, timestamp, pausedOrMaxed) >= 1000
  end

  if st.maxJobs then
    local used = tonumber(rcall('GET', P .. 'limiter')) or 0
    if used >= st.maxJobs then
      local ttl = rcall('PTTL', P .. 'limiter')
      if ttl == 0 then
        rcall('DEL', P .. 'limiter')
      elseif ttl > 0 then
        return { 0, 0, ttl, 0 }
      end
    end
  end

  if pausedOrMaxed then return { 0, 0, 0, 0 } end

  local jobId = rcall('RPOPLPUSH', P .. 'wait', P .. 'active')
  if jobId and string.sub(jobId, 1, 2) == '0:' then
    -- A marker entry of old BullMQ versions, not a job.
    rcall('LREM', P .. 'active', 1, jobId)
    jobId = rcall('RPOPLPUSH', P .. 'wait', P .. 'active')
  end
  if not jobId then
    local popped = rcall('ZPOPMIN', P .. 'prioritized')
    if popped[1] then
      jobId = popped[1]
      rcall('LPUSH', P .. 'active', jobId)
    else
      rcall('DEL', P .. 'pc')
    end
  end

  if jobId then
    return prepareJobForProcessing(P, st, jobId, timestamp, token, lockDuration, workerName)
  end

  local first = rcall('ZRANGE', P .. 'delayed', 0, 0, 'WITHSCORES')
  if first[2] then
    return { 0, 0, 0, math.floor(tonumber(first[2]) / 4096) }
  end
  return { 0, 0, 0, 0 }
end

-- A single fetch (the script's only one).
local function fetchNextJob(P, timestamp, token, lockDuration, limiterMax, limiterDuration, workerName)
  return fetchJob(P, newFetchState(P, limiterMax, limiterDuration), timestamp, token, lockDuration, workerName)
end
