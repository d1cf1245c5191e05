--[[
  Moves an active job to delayed (BullMQ's moveToDelayed): a retry with
  backoff (counts the attempt, may fetch the next job) or the manual
  `job.moveToDelayed(timestamp, token)` (skips the attempt).
  Needs: common.lua, fetch.lua.

  KEYS[1] meta
  ARGV[1] P            ARGV[2] jobId        ARGV[3] timestamp
  ARGV[4] token
  ARGV[5] delay in ms from timestamp (the job is due at timestamp + delay)
  ARGV[6] '1' skips the attempt (manual move: attemptsMade unchanged)
  ARGV[7] failedReason ARGV[8] stacktrace JSON   (both stored when ARGV[9] is '1')
  ARGV[9] '1' to store the failure fields
  ARGV[10] fetchNext '1' | '0'
  ARGV[11] lockDuration   ARGV[12] limiter max   ARGV[13] limiter duration
  ARGV[14] worker name
  Returns 0, a negative code, or the fetch result of the next job (only when
  it holds a job).
]]
local P, jobId, timestamp, token = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local delay = tonumber(ARGV[5])
local jobKey = P .. jobId

if rcall('EXISTS', jobKey) == 0 then return -1 end

local fields = nil
if ARGV[9] == '1' then fields = { 'failedReason', ARGV[7], 'stacktrace', ARGV[8] } end
local left = leaveActive(P, jobKey, jobId, token, fields)
if left < 0 then return left end

local score, due = getDelayedScore(P, timestamp, delay)
if ARGV[6] ~= '1' then
  rcall('HINCRBY', jobKey, 'atm', 1)
end
rcall('HSET', jobKey, 'delay', delay)
rcall('ZADD', P .. 'delayed', score, jobId)
rcall('XADD', P .. 'events', 'MAXLEN', '~', getMaxEvents(P), '*',
  'event', 'delayed', 'jobId', jobId, 'delay', due)

if ARGV[10] == '1' then
  local next = fetchNextJob(P, timestamp, token, tonumber(ARGV[11]), tonumber(ARGV[12]),
    tonumber(ARGV[13]), ARGV[14])
  if next[1] ~= 0 then return next end
end

addDelayMarkerIfNeeded(P)
return 0
