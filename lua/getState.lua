--[[
  The state of a job, looked up in BullMQ's order: completed, failed,
  delayed, prioritized, active, wait, the legacy paused list, then
  waiting-children.
  Needs: common.lua.

  KEYS[1] meta
  ARGV[1] P    ARGV[2] jobId
  Returns 'completed' | 'failed' | 'delayed' | 'prioritized' | 'active' |
  'waiting' | 'waiting-children' | 'unknown'.
]]
local P, jobId = ARGV[1], ARGV[2]
for _, set in ipairs({ 'completed', 'failed', 'delayed', 'prioritized' }) do
  if rcall('ZSCORE', P .. set, jobId) then return set end
end
if rcall('LPOS', P .. 'active', jobId) then return 'active' end
if rcall('LPOS', P .. 'wait', jobId) or rcall('LPOS', P .. 'paused', jobId) then
  return 'waiting'
end
if rcall('ZSCORE', P .. 'waiting-children', jobId) then return 'waiting-children' end
return 'unknown'
