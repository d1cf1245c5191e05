--[[
  Jobs of one or more states with their hashes (Queue.getJobs), read in one
  step so an id whose job is gone is never returned.
  Needs: common.lua.

  KEYS[1] meta
  ARGV[1] P
  ARGV[2] start   ARGV[3] end (inclusive; negative counts from the other end)
  ARGV[4] '1' ascending: oldest first (lists from the tail, sets by score
          ascending); '0' newest first
  ARGV[5..] state keys: 'wait', 'paused', 'active' (lists) or sorted sets
  Ids without a job hash (removed jobs, legacy "0:" markers) are skipped; for a
  range with both ends >= 0 the following ids fill their places, looking at
  most 5 windows ahead.
  Returns, per state, a flat array {jobId, {field, value, ...}, ...}.
]]
local P = ARGV[1]
local first = tonumber(ARGV[2])
local last = tonumber(ARGV[3])
local asc = ARGV[4] == '1'
local MAX_WINDOWS = 5

local function isList(state)
  return state == 'wait' or state == 'paused' or state == 'active'
end

-- List index of position k counted from the tail: -(k+1), never "-0"
-- (which Redis does not take as an integer).
local function fromTail(k)
  if k == -1 then return 0 end
  return -(k + 1)
end

-- Ids at positions from..to in the requested order.
local function window(key, list, from, to)
  if not list then
    if asc then return rcall('ZRANGE', key, from, to) end
    return rcall('ZREVRANGE', key, from, to)
  end
  if not asc then return rcall('LRANGE', key, from, to) end
  -- Oldest first: positions count from the tail.
  if from >= 0 and from >= rcall('LLEN', key) then return {} end
  local ids = rcall('LRANGE', key, fromTail(to), fromTail(from))
  local reversed = {}
  for i = #ids, 1, -1 do reversed[#reversed + 1] = ids[i] end
  return reversed
end

local function collect(state)
  local key = P .. state
  local list = isList(state)
  local out = {}
  local function add(jobId)
    local fields = rcall('HGETALL', P .. jobId)
    if #fields > 0 then
      out[#out + 1] = jobId
      out[#out + 1] = fields
    end
  end
  if first < 0 or last < 0 then
    for _, jobId in ipairs(window(key, list, first, last)) do add(jobId) end
    return out
  end
  local wanted = last - first + 1
  local cursor = first
  local windows = 0
  while #out / 2 < wanted and windows < MAX_WINDOWS do
    local ids = window(key, list, cursor, cursor + wanted - 1)
    if #ids == 0 then break end
    for _, jobId in ipairs(ids) do
      if #out / 2 >= wanted then break end
      add(jobId)
    end
    cursor = cursor + #ids
    windows = windows + 1
  end
  return out
end

local result = {}
for i = 5, #ARGV do
  result[#result + 1] = collect(ARGV[i])
end
return result
