--[[
  Deletes a deduplication key while it still names the given job
  (job.removeDeduplicationKey): a key another job owns by now stays.
  Needs: common.lua.

  KEYS[1] meta
  ARGV[1] P    ARGV[2] deduplication id    ARGV[3] jobId
  Returns 1 when deleted, else 0.
]]
local dedupKey = ARGV[1] .. 'de:' .. ARGV[2]
if rcall('GET', dedupKey) == ARGV[3] then
  return rcall('DEL', dedupKey)
end
return 0
