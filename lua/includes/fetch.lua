--[[
  Moving jobs from wait/prioritized to active (BullMQ's moveToActive), used by
  the fetch script and by the finishing scripts' fetch-next.
  Needs: common.lua.
  Returns the 4-element result BullMQ's clients expect:
    {jobFields (flat HGETALL) | 0, jobId | 0, rateLimitedForMs, nextDelayedTs}
]]

local function prepareJobForProcessing(P, jobId, timestamp, token, lockDuration,
                                       maxJobs, limiterDuration, workerName)
  local jobKey = P .. jobId
  if maxJobs and rcall('HEXISTS', jobKey, 'defa') == 0 then
    local count = rcall('INCR', P .. 'limiter')
    if count == 1 then
      rcall('PEXPIRE', P .. 'limiter', math.floor(math.abs(limiterDuration)))
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
  rcall('ZADD', P .. 'marker', 0, '0')
  return { rcall('HGETALL', jobKey), jobId, 0, 0 }
end

-- limiterMax/limiterDuration: the worker's limiter (0 when none).
local function fetchNextJob(P, timestamp, token, lockDuration, limiterMax, limiterDuration, workerName)
  local meta = rcall('HMGET', P .. 'meta', 'paused', 'concurrency', 'max', 'duration')
  local pausedOrMaxed = meta[1] ~= false
  if not pausedOrMaxed and meta[2] then
    pausedOrMaxed = rcall('LLEN', P .. 'active') >= tonumber(meta[2])
  end

  promoteDelayedJobs(P, timestamp, pausedOrMaxed)

  local maxJobs = tonumber(meta[3])
  if not maxJobs and limiterMax > 0 then maxJobs = limiterMax end
  -- The worker's duration wins over the queue's, as in BullMQ.
  local duration = limiterDuration
  if duration <= 0 then duration = tonumber(meta[4]) or 0 end
  if maxJobs then
    local used = tonumber(rcall('GET', P .. 'limiter')) or 0
    if used >= maxJobs then
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
    return prepareJobForProcessing(P, jobId, timestamp, token, lockDuration, maxJobs, duration, workerName)
  end

  local first = rcall('ZRANGE', P .. 'delayed', 0, 0, 'WITHSCORES')
  if first[2] then
    return { 0, 0, 0, math.floor(tonumber(first[2]) / 4096) }
  end
  return { 0, 0, 0, 0 }
end
