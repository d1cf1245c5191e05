--[[
  Removes the keys of candidate job ids that no state of the queue holds
  (Queue.removeOrphanedJobs); the caller finds candidates by SCAN. Each
  candidate is checked and removed within this one call.
  Needs: common.lua.

  KEYS[1] meta
  ARGV[1] P
  ARGV[2] n, then n state key suffixes (lists, sorted sets and sets are
          searched; keys of other types are not)
  then m, then m job sub-key suffixes deleted with the job (logs, lock, ...)
  then the candidate job ids
  Returns the number of candidates removed.
]]
local P = ARGV[1]
local n = tonumber(ARGV[2])
local states = {}
for i = 1, n do
  local key = P .. ARGV[2 + i]
  local kind = rcall('TYPE', key)['ok']
  if kind == 'list' or kind == 'zset' or kind == 'set' then
    states[#states + 1] = {key, kind}
  end
end
local m = tonumber(ARGV[3 + n])
local subKeys = {}
for i = 1, m do subKeys[i] = ARGV[3 + n + i] end

local function held(jobId)
  for _, state in ipairs(states) do
    local key, kind = state[1], state[2]
    if kind == 'list' then
      if rcall('LPOS', key, jobId) then return true end
    elseif kind == 'zset' then
      if rcall('ZSCORE', key, jobId) then return true end
    elseif rcall('SISMEMBER', key, jobId) == 1 then
      return true
    end
  end
  return false
end

local removed = 0
for c = 4 + n + m, #ARGV do
  local jobId = ARGV[c]
  if not held(jobId) then
    local jobKey = P .. jobId
    local doomed = {jobKey}
    for _, suffix in ipairs(subKeys) do doomed[#doomed + 1] = jobKey .. ':' .. suffix end
    rcall('DEL', unpack(doomed))
    removed = removed + 1
  end
end
return removed
