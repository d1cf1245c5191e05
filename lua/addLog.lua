--[[
  Appends one line to a job's log, keeping only the newest keepLogs lines
  when a limit is given (BullMQ's addLog).
  Needs: common.lua.

  KEYS[1] meta
  ARGV[1] P    ARGV[2] jobId    ARGV[3] log line
  ARGV[4] keepLogs ('' = keep every line)
  Returns the number of lines the log now holds, or -1 when the job does
  not exist.
]]
local jobKey = ARGV[1] .. ARGV[2]
if rcall('EXISTS', jobKey) == 0 then return -1 end

local logsKey = jobKey .. ':logs'
local count = rcall('RPUSH', logsKey, ARGV[3])
local keep = tonumber(ARGV[4])
if keep and keep > 0 then
  rcall('LTRIM', logsKey, -keep, -1)
  if count > keep then count = keep end
end
return count
