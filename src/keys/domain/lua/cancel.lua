--[[
  cancel: law.ts `cancelled`: a request given up before its answer frees its place in flight.
  KEYS[1..3] the domain (includes/domain.lua).
  ARGV[1] '' (no clock is read), ARGV[2] the clock, ARGV[3] the request's seq.
  Reply: {} when the domain is not open (nothing changes), else the status.
]]
--- @include "includes/domain"

if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
local state = loadState(0)
cancelled(state, tonumber(ARGV[3]))
saveState(state)
touch()
return reply(state, 0, {})
