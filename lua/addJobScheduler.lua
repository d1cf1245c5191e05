--[[
  Creates or updates a job scheduler and its pending iteration (BullMQ's
  addJobScheduler). Upserting an existing scheduler replaces its waiting
  iteration (keeping its time when an `every` scheduler keeps its
  interval), so an id never has two pending iterations.
  Needs: common.lua, removal.lua, scheduler.lua.

  KEYS[1] meta
  ARGV[1] P
  ARGV[2] scheduler id
  ARGV[3] next millis computed by the client for a pattern ('' for every)
  ARGV[4] timestamp (now)
  ARGV[5] template data (JSON)
  ARGV[6] template options (stored-options JSON; '{}' = none)
  ARGV[7] the iteration's stored options (JSON, without delay and jobId)
  ARGV[8..15] the scheduler's fields, '' = absent:
    name, tz, limit, pattern, startDate, endDate, every, offset
  Returns {iteration job id, delay}, or -10 (pattern: the iteration's id is
  taken), -11 (every: 32 slots in a row are taken).
]]
local P, schedulerId = ARGV[1], ARGV[2]
local now = tonumber(ARGV[4])
local templateData, templateOpts, iterationOpts = ARGV[5], ARGV[6], ARGV[7]
local function opt(i)
  if ARGV[i] == '' then return nil end
  return ARGV[i]
end
local name, tz, limit, pattern = ARGV[8], opt(9), opt(10), opt(11)
local startDate, endDate, every, givenOffset = opt(12), opt(13), tonumber(opt(14)), opt(15)

local repeatKey = P .. 'repeat'
local schedulerKey = repeatKey .. ':' .. schedulerId
local maxEvents = getMaxEvents(P)

local prevMillis = rcall('ZSCORE', repeatKey, schedulerId)
if prevMillis then prevMillis = tonumber(prevMillis) end

local nextMillis = ARGV[3]
local offset = givenOffset
local iterationRepeat = cjson.decode(iterationOpts)['repeat']
if not offset and type(iterationRepeat) == 'table' then offset = iterationRepeat['offset'] end
offset = offset or 0
local newOffset = offset
local everyChanged = false
if every then
  local millis = prevMillis
  if prevMillis and tonumber(rcall('HGET', schedulerKey, 'every')) ~= every then
    millis = nil
    everyChanged = true
  end
  nextMillis, newOffset = everyNextMillis(millis, every, now, offset, startDate)
end

local replaced = false
if prevMillis then
  local currentId = 'repeat:' .. schedulerId .. ':' .. prevMillis
  if rcall('EXISTS', P .. currentId) == 1 then
    replaced = removeWaitingIteration(P, currentId)
  end
end

local storedOffset = givenOffset
if replaced then
  if every and not everyChanged then nextMillis = prevMillis end
else
  storedOffset = newOffset
end

local jobId = 'repeat:' .. schedulerId .. ':' .. nextMillis
local taken = false
if rcall('EXISTS', P .. jobId) == 1 then
  if every then
    local scans, exists = 0, 1
    repeat
      nextMillis = nextMillis + every
      jobId = 'repeat:' .. schedulerId .. ':' .. nextMillis
      scans = scans + 1
      exists = rcall('EXISTS', P .. jobId)
    until exists == 0 or scans >= 32
    if exists == 1 then return -11 end
  else
    taken = true
  end
end
if taken and not replaced then return -10 end

local delay = tonumber(nextMillis) - now
if delay < 0 then delay = 0 end

-- The scheduler's hash is written anew (its iteration count kept).
rcall('ZADD', repeatKey, nextMillis, schedulerId)
local fields = { 'name', name }
local function put(field, value)
  if value then
    fields[#fields + 1] = field
    fields[#fields + 1] = value
  end
end
put('tz', tz)
put('limit', limit)
put('pattern', pattern)
put('startDate', startDate)
put('endDate', endDate)
put('every', opt(14))
if storedOffset then
  put('offset', storedOffset)
else
  put('offset', rcall('HGET', schedulerKey, 'offset'))
end
if templateOpts ~= '{}' then put('opts', templateOpts) end
if templateData ~= '{}' then put('data', templateData) end
put('ic', rcall('HGET', schedulerKey, 'ic') or 1)
rcall('DEL', schedulerKey)
rcall('HSET', schedulerKey, unpack(fields))

rcall('INCR', P .. 'id')
addIteration(P, jobId, name, templateData, iterationOpts, now, schedulerId, delay, maxEvents)
return { jobId, delay }
