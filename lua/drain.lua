--[[
  Removes every job that waits to run: wait, the legacy paused list,
  prioritized and, when asked, delayed. Active, finished and waiting-children
  jobs stay; so do the pending iterations of job schedulers.
  Needs: common.lua, removal.lua.

  KEYS[1] meta
  ARGV[1] P
  ARGV[2] '1' to remove delayed jobs too
  Removal is hard (a parent of this queue left without children goes too).
  No events; markers and the priority counter are untouched. Returns 0.
]]
local P = ARGV[1]

-- Removes the jobs of a list or sorted set, keeping scheduler iterations.
local function drainKey(key, isList)
  local ids
  if isList then
    ids = rcall('LRANGE', key, 0, -1)
  else
    ids = rcall('ZRANGE', key, 0, -1)
  end
  local kept, removed = {}, {}
  for _, jobId in ipairs(ids) do
    if isCurrentSchedulerIteration(P, jobId) then
      kept[#kept + 1] = jobId
    else
      removeJobHard(P, jobId)
      removed[#removed + 1] = jobId
    end
  end
  if isList then
    if #removed > 0 then
      rcall('DEL', key)
      callInSlices('RPUSH', key, kept)
    end
  else
    callInSlices('ZREM', key, removed)
  end
end

drainKey(P .. 'wait', true)
drainKey(P .. 'paused', true)
if ARGV[2] == '1' then
  drainKey(P .. 'delayed', false)
end
drainKey(P .. 'prioritized', false)
return 0
