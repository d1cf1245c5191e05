--[[
  Fetches the next job for a worker (BullMQ's moveToActive).
  Needs: common.lua, fetch.lua.

  KEYS[1] meta
  ARGV[1] P
  ARGV[2] timestamp
  ARGV[3] token (lock owner; '0' = no lock)
  ARGV[4] lockDuration (ms)
  ARGV[5] worker limiter max (0 = none)
  ARGV[6] worker limiter duration (ms)
  ARGV[7] worker name ('' = none)
  Returns {jobFields | 0, jobId | 0, rateLimitedForMs, nextDelayedTs}.
]]
return fetchNextJob(ARGV[1], ARGV[2], ARGV[3], ARGV[4],
  tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7])
