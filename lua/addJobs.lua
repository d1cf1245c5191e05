--[[
  Adds one or more jobs in one call (Queue.add, and each chunk of addBulk).
  Needs: common.lua, dedup.lua.

  KEYS[1] meta
  ARGV[1] P
  ARGV[2] number of jobs N; then the N jobs, as groups of two kinds:
  - one job: flags, name, data (JSON), opts (stored-options JSON),
    timestamp, followed by the values its flags announce, in this order:
      'c' customId, 'd' delay (> 0), 'p' priority (not 0),
      'r' parentKey and parent (JSON of the `parent` hash field),
      'e' deduplication id, ttl and mode letters (see dedupOptions);
    and 'l' (no value) for lifo. Flags '' is a plain job: automatic id,
    delay 0, priority 0, FIFO, no parent.
  - a run of K plain jobs that share their name, opts and timestamp:
    '=', K, name, opts, timestamp, then the K data values.
  timestamp, delay and priority are integers in decimal text; they are
  stored as sent.
  Returns {base, i1, code1, i2, code2, ...}: base is the id counter before
  the call, then the (1-based) position and code of every job that was not
  simply added: 1 when a job with its custom id existed already (nothing was
  added), -5 missing parent, -7 child of another live parent, or {ownerId}
  when deduplicated (nothing was added). Every job but
  those with -5 took the next counter value, so a job without custom id has
  id base + (its rank among them).

  The whole call is one atomic step, so the work that does not depend on the
  job is done once per call: the meta hash is read once, the id counter is
  moved once, the ids go to `wait` with one LPUSH (and one RPUSH for lifo),
  the marker is set once and the events stream is trimmed once. The data
  left behind, and the events, are those of adding the jobs one by one.
]]
local P = ARGV[1]
local count = tonumber(ARGV[2])
local find = string.find
local fmt = string.format
local eventsKey = P .. 'events'
local waitKey = P .. 'wait'

-- Queue settings: the events stream's max length (default set when missing)
-- and whether the queue is paused or at its global concurrency.
local meta = rcall('HMGET', P .. 'meta', 'opts.maxLenEvents', 'paused', 'concurrency')
local maxEvents = meta[1]
if not maxEvents then
  maxEvents = 10000
  rcall('HSET', P .. 'meta', 'opts.maxLenEvents', maxEvents)
end
local pausedOrMaxed = meta[2] ~= false
if not pausedOrMaxed and meta[3] then
  pausedOrMaxed = rcall('LLEN', P .. 'active') >= tonumber(meta[3])
end

-- Every add attempt that passes the parent check takes the next counter
-- value; the counter is moved by N now and given back what was not used.
local counter = rcall('INCRBY', P .. 'id', count) - count
local used = 0

-- Ids to push on `wait`: head (FIFO) and tail (lifo), in add order.
local heads, tails = {}, {}
local nHeads, nTails = 0, 0
local ready = false
local delayedAdded = false
-- 'waiting' events added without MAXLEN.
local untrimmed = 0

local function pushAll(cmd, ids, n)
  for first = 1, n, 1000 do
    rcall(cmd, waitKey, unpack(ids, first, math.min(first + 999, n)))
  end
end

local function flushPushes()
  if nHeads > 0 then pushAll('LPUSH', heads, nHeads); heads, nHeads = {}, 0 end
  if nTails > 0 then pushAll('RPUSH', tails, nTails); tails, nTails = {}, 0 end
end

local result = { counter }
local function mark(i, code)
  result[#result + 1] = i
  result[#result + 1] = code
end

local a = 3
local i = 1
while i <= count do
  local flags = ARGV[a]
  if flags == '=' or flags == '' then
    -- Plain jobs (automatic id, no delay, priority, parent or lifo), the
    -- common case: the general path below with its branches left out. A
    -- run's K data values start at `first`; a lone job is a run of one.
    local k, name, opts, timestamp, first
    if flags == '=' then
      k, name, opts, timestamp, first = tonumber(ARGV[a + 1]), ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], a + 5
      a = a + 5 + k
    else
      k, name, opts, timestamp, first = 1, ARGV[a + 1], ARGV[a + 3], ARGV[a + 4], a + 2
      a = a + 5
    end
    for d = first, first + k - 1 do
      used = used + 1
      local jobId = fmt('%d', counter + used)
      rcall('HSET', P .. jobId, 'name', name, 'data', ARGV[d], 'opts', opts, 'timestamp', timestamp,
        'delay', '0', 'priority', '0')
      rcall('XADD', eventsKey, '*', 'event', 'added', 'jobId', jobId, 'name', name)
      nHeads = nHeads + 1
      heads[nHeads] = jobId
      rcall('XADD', eventsKey, '*', 'event', 'waiting', 'jobId', jobId)
    end
    untrimmed = untrimmed + k
    ready = true
    i = i + k
  else
    local name, data, opts, timestamp = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
    a = a + 5
    local customId, delay, delayText, priority, priorityText = '', 0, '0', 0, '0'
    local lifo, parentKey, parent = false, '', ''
    if find(flags, 'c', 1, true) then customId = ARGV[a]; a = a + 1 end
    if find(flags, 'd', 1, true) then delayText = ARGV[a]; delay = tonumber(delayText); a = a + 1 end
    if find(flags, 'p', 1, true) then priorityText = ARGV[a]; priority = tonumber(priorityText); a = a + 1 end
    if find(flags, 'r', 1, true) then parentKey, parent = ARGV[a], ARGV[a + 1]; a = a + 2 end
    lifo = find(flags, 'l', 1, true) ~= nil
    local dedup = nil
    if find(flags, 'e', 1, true) then dedup = dedupOptions(ARGV[a], ARGV[a + 1], ARGV[a + 2]); a = a + 3 end

    if parentKey ~= '' and rcall('EXISTS', parentKey) == 0 then
      mark(i, -5)
    else
      used = used + 1
      local jobId = customId
      if jobId == '' then jobId = fmt('%d', counter + used) end
      local jobKey = P .. jobId

      local existingParent = false
      if customId ~= '' and parentKey ~= '' then
        existingParent = rcall('HGET', jobKey, 'parentKey')
      end
      if existingParent and existingParent ~= parentKey and rcall('EXISTS', existingParent) == 1 then
        -- Already a child of another live parent.
        mark(i, -7)
      elseif customId ~= '' and rcall('EXISTS', jobKey) == 1 then
        if parentKey ~= '' then
          if rcall('ZSCORE', P .. 'completed', jobId) then
            local value = rcall('HGET', jobKey, 'returnvalue') or 'null'
            rcall('HSET', parentKey .. ':processed', jobKey, value)
            if rcall('SCARD', parentKey .. ':dependencies') == 0 then
              -- The parent may go to this very wait list: keep the order.
              flushPushes()
              releaseParent(parentKey, tonumber(timestamp))
            end
          else
            rcall('SADD', parentKey .. ':dependencies', jobKey)
          end
          rcall('HSET', jobKey, 'parentKey', parentKey, 'parent', parent)
        end
        rcall('XADD', eventsKey, 'MAXLEN', '~', maxEvents, '*', 'event', 'duplicated', 'jobId', jobId)
        mark(i, 1)
      elseif dedup and deduplicateAdd(P, dedup, jobId, { name = name, data = data, opts = opts,
          parentKey = parentKey, parent = parent }, delay, tonumber(timestamp), maxEvents) then
        mark(i, { dedup.owner })
      else
        storeNewJob(P, jobKey, jobId, name, data, opts, timestamp, delayText, priorityText, parentKey, parent)
        if dedup then rcall('HSET', jobKey, 'deid', dedup.id) end

        if delay > 0 then
          local score, due = getDelayedScore(P, tonumber(timestamp), delay)
          rcall('ZADD', P .. 'delayed', score, jobId)
          rcall('XADD', eventsKey, 'MAXLEN', '~', maxEvents, '*', 'event', 'delayed', 'jobId', jobId, 'delay', due)
          delayedAdded = true
        else
          if priority > 0 then
            addToPrioritized(P, jobId, priority)
          elseif lifo then
            nTails = nTails + 1
            tails[nTails] = jobId
          else
            nHeads = nHeads + 1
            heads[nHeads] = jobId
          end
          ready = true
          -- Trimmed once at the end (see below).
          rcall('XADD', eventsKey, '*', 'event', 'waiting', 'jobId', jobId)
          untrimmed = untrimmed + 1
        end

        if parentKey ~= '' then
          rcall('SADD', parentKey .. ':dependencies', jobKey)
        end
      end
    end
    i = i + 1
  end
end

flushPushes()
if used < count then rcall('DECRBY', P .. 'id', count - used) end
-- Approximate trimming removes whole nodes from the head while what stays is
-- at least maxEvents; done once after the appends it leaves what trimming
-- after each of them leaves. Each XTRIM stops after a bounded number of
-- entries, so it is repeated (as often as the trims it stands for).
for _ = 1, untrimmed do
  if rcall('XTRIM', eventsKey, 'MAXLEN', '~', maxEvents) == 0 then break end
end
if ready then addBaseMarkerIfNeeded(P, pausedOrMaxed) end
if delayedAdded then addDelayMarkerIfNeeded(P) end
return result
