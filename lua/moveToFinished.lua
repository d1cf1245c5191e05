--[[
  Completes or finally fails an active job (BullMQ's moveToFinished), then
  optionally fetches the next job with the same token.
  Needs: common.lua, fetch.lua, finish.lua.

  KEYS[1] meta
  ARGV[1] P            ARGV[2] jobId        ARGV[3] timestamp
  ARGV[4] target: 'completed' | 'failed'
  ARGV[5] value: returnvalue JSON (completed) or failedReason (failed)
  ARGV[6] fetchNext '1' | '0'
  ARGV[7] token
  ARGV[8] keep count (-1 = keep all, 0 = remove)
  ARGV[9] keep age in seconds (0 = no age limit)
  ARGV[10] age removal limit per call
  ARGV[11] attempts (the job's opts.attempts)
  ARGV[12] lockDuration   ARGV[13] limiter max   ARGV[14] limiter duration
  ARGV[15] worker name
  ARGV[16] stacktrace JSON ('' = leave as is)
  Returns 0, a negative code, or the fetch result of the next job.
]]
local P, jobId, timestamp, target, value = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local fetchNext, token = ARGV[6] == '1', ARGV[7]
local keepCount, keepAge, keepLimit = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local attempts = tonumber(ARGV[11]) or 0
local jobKey = P .. jobId

if rcall('EXISTS', jobKey) == 0 then return -1 end
if target == 'completed' then
  if rcall('SCARD', jobKey .. ':dependencies') ~= 0 then return -4 end
  if rcall('ZCARD', jobKey .. ':unsuccessful') ~= 0 then return -9 end
end

local fields = nil
if ARGV[16] ~= '' then fields = { 'failedReason', value, 'stacktrace', ARGV[16] } end
local left = leaveActive(P, jobKey, jobId, token, fields)
if left < 0 then return left end

local maxEvents = getMaxEvents(P)
rcall('XTRIM', P .. 'events', 'MAXLEN', '~', maxEvents)

releaseDeduplication(P, jobKey, jobId)
if target == 'completed' then
  updateParentOnCompletion(jobKey, value, timestamp)
end

local attemptsMade = rcall('HINCRBY', jobKey, 'atm', 1)

if keepCount == 0 then
  removeJobQuietly(P, jobId, timestamp)
else
  rcall('ZADD', P .. target, timestamp, jobId)
  if target == 'completed' then
    rcall('HSET', jobKey, 'returnvalue', value, 'finishedOn', timestamp)
  else
    rcall('HSET', jobKey, 'failedReason', value, 'finishedOn', timestamp)
    rcall('HDEL', jobKey, 'defa')
  end
  if keepAge > 0 then
    removeJobsByMaxAge(P, target, timestamp, keepAge, keepLimit)
  end
  if keepCount > 0 then
    removeJobsByMaxCount(P, target, timestamp, keepCount)
  end
end

if target == 'completed' then
  rcall('XADD', P .. 'events', '*', 'event', 'completed', 'jobId', jobId, 'returnvalue', value, 'prev', 'active')
else
  rcall('XADD', P .. 'events', '*', 'event', 'failed', 'jobId', jobId, 'failedReason', value, 'prev', 'active')
  if attemptsMade >= attempts then
    rcall('XADD', P .. 'events', '*', 'event', 'retries-exhausted', 'jobId', jobId, 'attemptsMade', attemptsMade)
  end
end

if fetchNext then
  local next = fetchNextJob(P, timestamp, token, tonumber(ARGV[12]), tonumber(ARGV[13]),
    tonumber(ARGV[14]), ARGV[15])
  -- A job, a rate limit, a delayed hint, or a paused/maxed queue: returned
  -- as is, without the drained check (a paused queue is not drained).
  if next[1] ~= 0 or next[3] ~= 0 or next[4] ~= 0 or isPausedOrMaxed(P) then return next end
end

if rcall('LLEN', P .. 'wait') == 0 and rcall('LLEN', P .. 'active') == 0 and
    rcall('ZCARD', P .. 'prioritized') == 0 then
  rcall('XADD', P .. 'events', '*', 'event', 'drained')
end
return 0
