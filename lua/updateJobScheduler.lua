--[[
  Adds a scheduler's next iteration when its current one was fetched
  (BullMQ's updateJobScheduler). Only the current iteration produces the
  next: `producerId` must be `repeat:{id}:{score in repeat}`, so a stale or
  repeated call adds nothing. The name and data come from the scheduler.
  Needs: common.lua, removal.lua, scheduler.lua.

  KEYS[1] meta
  ARGV[1] P
  ARGV[2] scheduler id
  ARGV[3] next millis computed by the client for a pattern ('' for every)
  ARGV[4] timestamp (now)
  ARGV[5] the iteration's stored options (JSON, without delay and jobId)
  ARGV[6] producer id (the fetched iteration's job id)
  Returns the next iteration's id, or nil when none was added (the
  scheduler is gone, the producer is not its current iteration, or the next
  iteration exists already: `duplicated` event).
]]
local P, schedulerId, timestamp, iterationOpts, producerId = ARGV[1], ARGV[2], ARGV[4], ARGV[5], ARGV[6]
local repeatKey = P .. 'repeat'

local prevMillis = rcall('ZSCORE', repeatKey, schedulerId)
if not prevMillis then return nil end
prevMillis = tonumber(prevMillis)

local schedulerKey = repeatKey .. ':' .. schedulerId
local scheduler = rcall('HMGET', schedulerKey, 'name', 'data', 'every', 'startDate', 'offset')
local now = tonumber(timestamp)
local nextMillis = tonumber(ARGV[3])

local every = tonumber(scheduler[3])
local repeatOpts = cjson.decode(iterationOpts)['repeat']
if type(repeatOpts) ~= 'table' then repeatOpts = {} end
if not every and repeatOpts['every'] then every = tonumber(repeatOpts['every']) end
if every then
  local offset = scheduler[5] or repeatOpts['offset'] or 0
  nextMillis = everyNextMillis(prevMillis, every, now, offset, scheduler[4])
end

if producerId ~= 'repeat:' .. schedulerId .. ':' .. prevMillis then return nil end

local nextId = 'repeat:' .. schedulerId .. ':' .. nextMillis
local maxEvents = getMaxEvents(P)
if rcall('EXISTS', P .. nextId) == 1 then
  rcall('XADD', P .. 'events', 'MAXLEN', '~', maxEvents, '*', 'event', 'duplicated', 'jobId', nextId)
  return nil
end

rcall('ZADD', repeatKey, nextMillis, schedulerId)
rcall('HINCRBY', schedulerKey, 'ic', 1)
rcall('INCR', P .. 'id')
local delay = nextMillis - now
if delay < 0 then delay = 0 end
addIteration(P, nextId, scheduler[1], scheduler[2] or '{}', iterationOpts, timestamp, schedulerId, delay, maxEvents)
return nextId
