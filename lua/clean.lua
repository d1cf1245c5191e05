--[[
  Removes the jobs of one state that are older than a cutoff (Queue.clean).
  Needs: common.lua, removal.lua.

  KEYS[1] meta
  ARGV[1] P
  ARGV[2] state: 'wait', 'paused', 'active', 'delayed', 'prioritized', or a
          finished set ('completed', 'failed', 'waiting-children')
  ARGV[3] cutoff timestamp: jobs at or before it go
  ARGV[4] limit, the most jobs to remove (0 = no limit)
  How a job's age is read:
    finished sets   its score (ZRANGEBYSCORE 0..cutoff)
    delayed         processedOn, else timestamp
    prioritized     timestamp
    wait, paused    finishedOn, else processedOn, else timestamp, looking at the
                    `limit` oldest entries (the tail) or the whole list
    active          as wait, only jobs whose lock is gone
  A job without any of those fields counts as old. Pending scheduler
  iterations are kept (except in finished sets). Removal is hard.
  Emits one `cleaned` event with the count. Returns the removed ids.
]]
local P = ARGV[1]
local state = ARGV[2]
local cutoff = tonumber(ARGV[3])
local limit = tonumber(ARGV[4])
local key = P .. state
local removed = {}

-- The first of fields present on the job, as a number.
local function jobTime(jobKey, fields)
  local values = rcall('HMGET', jobKey, unpack(fields))
  for i = 1, #fields do
    if values[i] then return tonumber(values[i]) end
  end
  return nil
end

local function isOld(jobId, fields)
  local t = jobTime(P .. jobId, fields)
  return t == nil or t <= cutoff
end

if state == 'wait' or state == 'paused' or state == 'active' then
  local first = 0
  if limit > 0 then first = -limit end
  local ids = rcall('LRANGE', key, first, -1)
  local n = #ids
  local fields = { 'finishedOn', 'processedOn', 'timestamp' }
  for i, jobId in ipairs(ids) do
    if (state ~= 'active' or rcall('EXISTS', P .. jobId .. ':lock') == 0)
        and not isCurrentSchedulerIteration(P, jobId) and isOld(jobId, fields) then
      -- Blank the entry (by its distance from the tail); blanks go at the end.
      rcall('LSET', key, i - 1 - n, '')
      removeJobHard(P, jobId)
      removed[#removed + 1] = jobId
    end
  end
  if #removed > 0 then
    rcall('LREM', key, 0, '')
  end
else
  local ids
  local finished = state ~= 'delayed' and state ~= 'prioritized'
  local upTo = '+inf'
  if finished then upTo = ARGV[3] end
  if limit > 0 then
    ids = rcall('ZRANGEBYSCORE', key, 0, upTo, 'LIMIT', 0, limit)
  else
    ids = rcall('ZRANGEBYSCORE', key, 0, upTo)
  end
  local fields = { 'timestamp' }
  if state == 'delayed' then fields = { 'processedOn', 'timestamp' } end
  for _, jobId in ipairs(ids) do
    if finished or (not isCurrentSchedulerIteration(P, jobId) and isOld(jobId, fields)) then
      removeJobHard(P, jobId)
      removed[#removed + 1] = jobId
    end
  end
  callInSlices('ZREM', key, removed)
end

rcall('XADD', P .. 'events', '*', 'event', 'cleaned', 'count', #removed)
return removed
