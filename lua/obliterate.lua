--[[
  Destroys a paused queue and all its jobs, a budget of jobs per call.
  Needs: common.lua, removal.lua.

  KEYS[1] meta
  ARGV[1] P
  ARGV[2] count: how many jobs this call may remove
  ARGV[3] '1' to remove active jobs too (force)
  Returns -1 when the queue is not paused, -2 when it has active jobs and
  force is off, 1 when the budget ran out (call again), 0 when done.
  Order: active (their locks too), delayed, job schedulers, completed, wait,
  legacy paused, prioritized, failed; then the queue's own keys. Left alone,
  as BullMQ does: waiting-children, limiter, dedup keys of other jobs.
]]
local P = ARGV[1]
local budget = tonumber(ARGV[2])

if rcall('HEXISTS', P .. 'meta', 'paused') == 0 then return -1 end

local activeKey = P .. 'active'
local active = rcall('LRANGE', activeKey, 0, budget - 1)
if #active > 0 and ARGV[3] ~= '1' then return -2 end

-- Removes up to `budget` jobs of a list or sorted set; returns the budget left.
local function removeSome(key, isList)
  local ids
  if isList then
    ids = rcall('LRANGE', key, 0, budget - 1)
  else
    ids = rcall('ZRANGE', key, 0, budget - 1)
  end
  for _, jobId in ipairs(ids) do
    removeJobHard(P, jobId)
  end
  if isList then
    rcall('LTRIM', key, #ids, -1)
  else
    callInSlices('ZREM', key, ids)
  end
  return budget - #ids
end

for _, jobId in ipairs(active) do
  rcall('DEL', P .. jobId .. ':lock')
end
budget = removeSome(activeKey, true)
if budget <= 0 then return 1 end

budget = removeSome(P .. 'delayed', false)
if budget <= 0 then return 1 end

local schedulers = rcall('ZRANGE', P .. 'repeat', 0, budget - 1)
for _, schedulerId in ipairs(schedulers) do
  rcall('DEL', P .. 'repeat:' .. schedulerId)
end
callInSlices('ZREM', P .. 'repeat', schedulers)
budget = budget - #schedulers
if budget <= 0 then return 1 end

local rest = {
  { 'completed', false }, { 'wait', true }, { 'paused', true },
  { 'prioritized', false }, { 'failed', false },
}
for _, entry in ipairs(rest) do
  budget = removeSome(P .. entry[1], entry[2])
  if budget <= 0 then return 1 end
end

rcall('DEL', P .. 'events', P .. 'delay', P .. 'stalled-check', P .. 'stalled', P .. 'id',
  P .. 'pc', P .. 'marker', P .. 'meta', P .. 'metrics:completed', P .. 'metrics:completed:data',
  P .. 'metrics:failed', P .. 'metrics:failed:data')
return 0
