--[[
  Job schedulers (BullMQ 6.x): the `repeat` sorted set (scheduler id ->
  millis of its pending iteration), the hash `repeat:{id}` that defines a
  scheduler, and its iterations, jobs with id `repeat:{id}:{millis}` and
  field `rjk` = the scheduler id.
  Needs: common.lua, removal.lua.
]]

-- The time of an `every` scheduler's next iteration, and the offset within
-- the interval that it keeps: the first one (no previous) at startDate (not
-- before now), else at the next offset-aligned slot when an offset is set,
-- else now; later ones one interval after the previous, or, when that is
-- past, at the first aligned slot after now.
local function everyNextMillis(prevMillis, every, now, offset, startDate)
  offset = tonumber(offset)
  local nextMillis
  if not prevMillis then
    if startDate then
      nextMillis = tonumber(startDate)
      if nextMillis < now then nextMillis = now end
    elseif offset and offset > 0 then
      nextMillis = math.floor(now / every) * every + offset
      if nextMillis <= now then nextMillis = nextMillis + every end
    else
      nextMillis = now
    end
  else
    nextMillis = prevMillis + every
    if nextMillis < now then
      local aligned = math.floor(now / every) * every + (offset or 0)
      if aligned <= now then
        nextMillis = aligned + every
      else
        nextMillis = aligned
      end
    end
  end
  if not offset or offset == 0 then
    offset = nextMillis - math.floor(nextMillis / every) * every
  end
  return math.floor(nextMillis), math.floor(offset)
end

-- Stores an iteration job and enqueues it: delayed when `delay` > 0, else
-- by its priority / lifo, with BullMQ's events. `optsJson`: the job's stored
-- options, completed here with `delay` and `jobId`.
local function addIteration(P, jobId, name, data, optsJson, timestamp, schedulerId, delay, maxEvents)
  local opts = cjson.decode(optsJson)
  opts['delay'] = delay
  opts['jobId'] = jobId
  local priority = tonumber(opts['priority']) or 0
  local jobKey = P .. jobId
  local fields = { 'name', name, 'data', data, 'opts', cjson.encode(opts), 'timestamp', timestamp,
    'delay', delay, 'priority', priority, 'rjk', schedulerId }
  local dedup = opts['de']
  if type(dedup) == 'table' and dedup['id'] then
    fields[#fields + 1] = 'deid'
    fields[#fields + 1] = dedup['id']
  end
  rcall('HSET', jobKey, unpack(fields))
  rcall('XADD', P .. 'events', '*', 'event', 'added', 'jobId', jobId, 'name', name)
  if delay ~= 0 then
    local score, due = getDelayedScore(P, tonumber(timestamp), delay)
    rcall('ZADD', P .. 'delayed', score, jobId)
    rcall('XADD', P .. 'events', 'MAXLEN', '~', maxEvents, '*', 'event', 'delayed', 'jobId', jobId, 'delay', due)
    addDelayMarkerIfNeeded(P)
  else
    local pushCmd = 'LPUSH'
    if opts['lifo'] then pushCmd = 'RPUSH' end
    enqueueReady(P, jobId, priority, pushCmd, isPausedOrMaxed(P))
    rcall('XADD', P .. 'events', 'MAXLEN', '~', maxEvents, '*', 'event', 'waiting', 'jobId', jobId)
  end
end

-- Removes a scheduler's pending iteration that is still waiting to run
-- (delayed, prioritized, or in wait or the legacy paused list), without
-- events; true when it was removed. Active or finished iterations stay.
local function removeWaitingIteration(P, jobId)
  local removed = rcall('ZREM', P .. 'delayed', jobId) == 1 or
    rcall('ZREM', P .. 'prioritized', jobId) == 1 or
    rcall('LREM', P .. 'wait', 1, jobId) > 0 or
    rcall('LREM', P .. 'paused', 1, jobId) > 0
  if removed then removeJobHard(P, jobId) end
  return removed
end
