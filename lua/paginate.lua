--[[
  One step of paging through a set or a hash (the children of a parent:
  `:dependencies`, `:processed`), as BullMQ's Queue.getDependencies pages:
  SSCAN/HSCAN in steps of 100 from `cursor`, counting the members seen so far
  in `offset`, keeping those at positions start..end, for at most
  `maxIterations` steps. The caller calls again with the cursor and offset
  returned until the cursor is "0" or the page is full. Sets are unordered:
  a set changed between calls may repeat or skip members.
  Needs: common.lua.

  KEYS[1] meta
  ARGV[1] P
  ARGV[2] the key to page through, after P (e.g. "{parentId}:processed")
  ARGV[3] start   ARGV[4] end (inclusive; -1 = to the end)
  ARGV[5] cursor  ARGV[6] offset  ARGV[7] maxIterations
  ARGV[8] '1' to also return the job hash of each member (members are job keys)
  Returns {cursor, offset, items, total, jobs}: items are member names, or
  {field, value} pairs for a hash.
]]
local P = ARGV[1]
local key = P .. ARGV[2]
local kind = rcall('TYPE', key)['ok']
local scan, count
if kind == 'none' then
  return {0, 0, {}, 0, {}}
elseif kind == 'hash' then
  scan, count = 'HSCAN', 'HLEN'
elseif kind == 'set' then
  scan, count = 'SSCAN', 'SCARD'
else
  return redis.error_reply('Pagination is only supported for sets and hashes.')
end

local total = rcall(count, key)
local pageStart = tonumber(ARGV[3])
local pageEnd = tonumber(ARGV[4])
if pageEnd == -1 then pageEnd = total end
-- One past the last position of the page.
local pageStop = pageStart + (pageEnd - pageStart) + 1
local cursor = ARGV[5]
local offset = tonumber(ARGV[6])
local maxIterations = tonumber(ARGV[7])
local withJobs = ARGV[8] == '1'
local step = 1
if scan == 'HSCAN' then step = 2 end

local items, jobs = {}, {}
local iterations = 0
repeat
  local reply = rcall(scan, key, cursor, 'COUNT', 100)
  cursor = reply[1]
  local members = reply[2]
  if #members == 0 then break end
  local chunkStop = offset + #members / step
  if chunkStop < pageStart then
    offset = chunkStop
  elseif offset > pageStop then
    break
  else
    for i = 1, #members, step do
      if offset >= pageStop then
        return {cursor, offset, items, total, jobs}
      end
      if offset >= pageStart then
        if withJobs then jobs[#jobs + 1] = rcall('HGETALL', members[i]) end
        if step == 2 then
          items[#items + 1] = {members[i], members[i + 1]}
        else
          items[#items + 1] = members[i]
        end
      end
      offset = offset + 1
    end
  end
  iterations = iterations + 1
until cursor == '0' or iterations >= maxIterations
return {cursor, offset, items, total, jobs}
