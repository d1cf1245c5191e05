--[[
  Fetches up to n jobs for a worker in one call: n fetches as by moveToActive
  (one per token, in order), stopping at the first that finds no job. Keys,
  fields and events are those of n separate moveToActive calls.
  Needs: common.lua, fetch.lua.

  KEYS[1] meta
  ARGV[1] P
  ARGV[2] timestamp
  ARGV[3] lockDuration (ms)
  ARGV[4] worker limiter max (0 = none)
  ARGV[5] worker limiter duration (ms)
  ARGV[6] worker name ('' = none)
  ARGV[7..] one lock token per job wanted
  Returns the fetch results in order, each {jobFields | 0, jobId | 0,
  rateLimitedForMs, nextDelayedTs}: one per job found, then, when fewer jobs
  than tokens were found, the result of the fetch that found none. jobFields
  is the job hash as JSON text: a flat [field, value, ...] array (one string
  per job costs Redis less to reply and the client less to read).
]]
local P, timestamp, lockDuration, workerName = ARGV[1], ARGV[2], ARGV[3], ARGV[6]
local st = newFetchState(P, toInteger(ARGV[4]), toInteger(ARGV[5]))
local results = {}
for i = 7, #ARGV do
  local fetched = fetchJob(P, st, timestamp, ARGV[i], lockDuration, workerName)
  results[#results + 1] = fetched
  if fetched[1] == 0 then break end
  fetched[1] = cjson.encode(fetched[1])
end
return results
