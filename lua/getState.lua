--[[
  The state of one job (Queue.getJobState, Job.getState).
  Needs: common.lua.

  KEYS[1] meta
  ARGV[1] P
  ARGV[2] jobId
  Looks in BullMQ's order: completed, failed, delayed, prioritized, active,
  wait, the legacy paused list (both 'waiting'), waiting-children.
  Returns the state name, or 'unknown'.
]]
local P = ARGV[1]
local jobId = ARGV[2]

-- LPOS needs Redis 6.0.6; older servers get a scan of the list.
local function inList(key)
  local pos = redis.pcall('LPOS', key, jobId)
  if type(pos) == 'table' and pos.err then
    for _, id in ipairs(rcall('LRANGE', key, 0, -1)) do
      if id == jobId then return true end
    end
    return false
  end
  return pos ~= false
end

local function inSet(name)
  return rcall('ZSCORE', P .. name, jobId) ~= false
end

if inSet('completed') then return 'completed' end
if inSet('failed') then return 'failed' end
if inSet('delayed') then return 'delayed' end
if inSet('prioritized') then return 'prioritized' end
if inList(P .. 'active') then return 'active' end
if inList(P .. 'wait') or inList(P .. 'paused') then return 'waiting' end
if inSet('waiting-children') then return 'waiting-children' end
return 'unknown'
