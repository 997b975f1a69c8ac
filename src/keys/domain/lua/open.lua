--[[
  open: law.ts `initialState` with the configured limits, unless the domain is open already
  (MemoryStore.open).
  KEYS[1..3] the domain (includes/domain.lua).
  ARGV[1] the caller's now, ARGV[2] the clock, ARGV[3] rpm ('' when not set), ARGV[4] tpm (same).
  Reply: the status.
]]
--- @include "includes/domain"

local now = clockOf()
if redis.call('EXISTS', KEYS[1]) == 1 then
  touch()
  return reply(loadState(now), now, {})
end
local state = initialState(now, { rpm = tonumber(ARGV[3]), tpm = tonumber(ARGV[4]) })
saveState(state)
touch()
return reply(state, now, {})
