--[[
  Job ids of one or more states (Queue.getRanges), without reading the jobs.
  Needs: common.lua.

  KEYS[1] meta
  ARGV[1] P
  ARGV[2] start   ARGV[3] end (inclusive; negative counts from the other end)
  ARGV[4] '1' ascending: oldest first (lists from the tail, sets by score
          ascending); '0' newest first
  ARGV[5..] state keys: 'wait', 'paused', 'active' (lists) or sorted sets
  A legacy "0:" marker at the tail of wait/paused is dropped first, as BullMQ
  6.7 drops it, so it never counts as a position.
  Returns, per state, its ids in the order asked for.
]]
local P = ARGV[1]
local first = tonumber(ARGV[2])
local last = tonumber(ARGV[3])
local asc = ARGV[4] == '1'

-- List index of position k counted from the tail: -(k+1), never "-0"
-- (which Redis does not take as an integer).
local function fromTail(k)
  if k == -1 then return 0 end
  return -(k + 1)
end

local function listRange(key)
  if not asc then return rcall('LRANGE', key, first, last) end
  local ids = rcall('LRANGE', key, fromTail(last), fromTail(first))
  local reversed = {}
  for i = #ids, 1, -1 do reversed[#reversed + 1] = ids[i] end
  return reversed
end

local result = {}
for i = 5, #ARGV do
  local state = ARGV[i]
  local key = P .. state
  if state == 'wait' or state == 'paused' or state == 'active' then
    if state ~= 'active' then
      local tail = rcall('LINDEX', key, -1)
      if tail and string.sub(tail, 1, 2) == '0:' then rcall('RPOP', key) end
    end
    result[#result + 1] = listRange(key)
  elseif asc then
    result[#result + 1] = rcall('ZRANGE', key, first, last)
  else
    result[#result + 1] = rcall('ZREVRANGE', key, first, last)
  end
end
return result
