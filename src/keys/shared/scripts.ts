/**
 * The Lua scripts of a shared pool's keys (the rate domains' law has its own, `domain/lua/`): a key's
 * state as one process found it, and the sync tick. Times are Redis's own clock (`TIME`), so
 * machines whose clocks disagree agree on when a cooling ends.
 */

/** Redis's clock in ms, first line of every script that needs it. */
const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/**
 * A key's new state. KEYS[1] the key; ARGV state (invalid | exhausted | denied | cooling), reason,
 * model (denied), cooling ms (cooling), ttl. A key out for good stays out (invalid beats exhausted).
 */
export const MARK = `${NOW}
local state = ARGV[1]
if state == 'denied' then
  redis.call('HSET', KEYS[1], 'denied:' .. ARGV[3], '1')
elseif state == 'cooling' then
  local ends = now + tonumber(ARGV[4])
  local cool = tonumber(redis.call('HGET', KEYS[1], 'cool') or '0')
  if ends > cool then redis.call('HSET', KEYS[1], 'cool', ends) end
else
  local old = redis.call('HGET', KEYS[1], 'state')
  if old ~= 'invalid' then redis.call('HSET', KEYS[1], 'state', state, 'reason', ARGV[2]) end
end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1`;

/**
 * One sync tick of a process: adds its counter deltas, refreshes the TTLs, and reads back every key
 * it uses.
 * KEYS: the salt, then n keys. ARGV: n, key ttl, salt ttl, then per key its deltas
 * (`field value field value …`, may be empty).
 * Reply: { now, salt or false, then per key its fields (HGETALL) }.
 */
export const SYNC = `${NOW}
local n = tonumber(ARGV[1])
local salt = redis.call('GET', KEYS[1])
if salt then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
local reply = { now, salt }
for i = 1, n do
  local key = KEYS[1 + i]
  local deltas = ARGV[3 + i]
  local wrote = false
  for field, value in string.gmatch(deltas, '(%S+) (%S+)') do
    redis.call('HINCRBYFLOAT', key, field, value)
    wrote = true
  end
  if wrote then redis.call('PEXPIRE', key, ARGV[2]) end
  reply[#reply + 1] = redis.call('HGETALL', key)
end
return reply`;
