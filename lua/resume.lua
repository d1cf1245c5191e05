--[[
  Resumes a paused queue, moving a legacy `paused` list (written by BullMQ
  5.x) back into wait.
  Needs: common.lua.

  KEYS[1] meta
  ARGV[1] P
  ARGV[2] '1' to emit `resumed` (the first call), '0' for the follow-ups
  Legacy migration: the `paused` list becomes `wait` when wait does not exist;
  otherwise up to 7000 of its ids move per call, in order, to wait's tail (so
  they run before the jobs already waiting). Then the marker is set as for
  newly runnable jobs, or for the earliest delayed job.
  Returns how many ids are still in the legacy list (call again while > 0).
]]
local P = ARGV[1]
local waitKey, pausedKey = P .. 'wait', P .. 'paused'
local remaining = 0

rcall('HDEL', P .. 'meta', 'paused')

if rcall('EXISTS', pausedKey) == 1 then
  if rcall('EXISTS', waitKey) == 0 then
    rcall('RENAME', pausedKey, waitKey)
  else
    local ids = rcall('LRANGE', pausedKey, 0, 6999)
    callInSlices('RPUSH', waitKey, ids)
    rcall('LTRIM', pausedKey, #ids, -1)
    remaining = rcall('LLEN', pausedKey)
  end
end

if rcall('LLEN', waitKey) + rcall('ZCARD', P .. 'prioritized') > 0 then
  rcall('ZADD', P .. 'marker', 0, '0')
else
  addDelayMarkerIfNeeded(P)
end

if ARGV[2] == '1' then
  rcall('XADD', P .. 'events', '*', 'event', 'resumed')
end
return remaining
