--[[
  Milliseconds the queue's rate limit still holds (Queue.getRateLimitTtl).
  Needs: common.lua.

  KEYS[1] meta
  ARGV[1] P
  ARGV[2] maxJobs, or '0' to use the queue's global max (meta.max)
  With a max: the limiter's PTTL when the limiter counted at least max jobs,
  else 0 (a limiter left without expiry is deleted). Without any max: the
  raw PTTL of the limiter (-2 when absent, -1 without expiry).
]]
local P = ARGV[1]
local limiterKey = P .. 'limiter'
local maxJobs = tonumber(ARGV[2])
if maxJobs == 0 then
  maxJobs = tonumber(rcall('HGET', P .. 'meta', 'max'))
  if not maxJobs then return rcall('PTTL', limiterKey) end
end

if (tonumber(rcall('GET', limiterKey)) or 0) >= maxJobs then
  local ttl = rcall('PTTL', limiterKey)
  if ttl == 0 then rcall('DEL', limiterKey) end
  if ttl > 0 then return ttl end
end
return 0
