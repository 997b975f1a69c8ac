/**
 * The Lua scripts of the shared pool: one script per decision, run atomically by Redis, so N
 * processes can never over-admit by reading a budget locally. Times are Redis's own clock (`TIME`),
 * so machines whose clocks disagree still share one schedule; replies give delays, not instants.
 */

/** Redis's clock in ms, first line of every script that needs it. */
const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/**
 * A send slot in the domain's schedule (GCRA without a burst): the slot starts at the later of the
 * schedule's tail, now and the domain's pause; it is granted only if it starts within `maxAhead`.
 * KEYS[1] the domain; ARGV cost ms, maxAhead ms, ttl ms.
 * Reply: { granted 1|0, delay ms (granted: until the slot; refused: until one may be), slot start }.
 */
export const RESERVE = `${NOW}
local cost = tonumber(ARGV[1])
local ahead = tonumber(ARGV[2])
local tat = tonumber(redis.call('HGET', KEYS[1], 'tat') or '0')
local paused = tonumber(redis.call('HGET', KEYS[1], 'paused') or '0')
local at = math.max(tat, now, paused)
if at - now > ahead then
  return { 0, at - now - ahead, at }
end
redis.call('HSET', KEYS[1], 'tat', at + cost)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return { 1, at - now, at }`;

/**
 * Gives back a slot not used (the request was cancelled before it went): only when it is still the
 * schedule's last, so no other process's slot moves.
 * KEYS[1] the domain; ARGV slot start, cost. Reply: 1 refunded, 0 not.
 */
export const REFUND = `local at = tonumber(ARGV[1])
local tat = tonumber(redis.call('HGET', KEYS[1], 'tat') or '0')
if tat == at + tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], 'tat', at)
  return 1
end
return 0`;

/** Pauses the domain for `ms` (a retry-after, a run of losses). KEYS[1] the domain; ARGV ms, ttl. */
export const PAUSE = `${NOW}
local ends = now + tonumber(ARGV[1])
local paused = tonumber(redis.call('HGET', KEYS[1], 'paused') or '0')
if ends > paused then redis.call('HSET', KEYS[1], 'paused', ends) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return ends - now`;

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
 * One sync tick of a process: adds its counter deltas, refreshes
 * the TTLs, and reads back every key and domain it uses.
 * KEYS: the salt, then n keys, then m domains. ARGV: n, m, key ttl, domain ttl, salt ttl, then per
 * key its deltas (`field value field value …`, may be empty).
 * Reply: { now, salt or false, then per key its fields (HGETALL), then per domain its fields }.
 */
export const SYNC = `${NOW}
local n = tonumber(ARGV[1])
local m = tonumber(ARGV[2])
local salt = redis.call('GET', KEYS[1])
if salt then redis.call('PEXPIRE', KEYS[1], ARGV[5]) end
local reply = { now, salt }
for i = 1, n do
  local key = KEYS[1 + i]
  local deltas = ARGV[5 + i]
  local wrote = false
  for field, value in string.gmatch(deltas, '(%S+) (%S+)') do
    redis.call('HINCRBYFLOAT', key, field, value)
    wrote = true
  end
  if wrote then redis.call('PEXPIRE', key, ARGV[3]) end
  reply[#reply + 1] = redis.call('HGETALL', key)
end
for j = 1, m do
  local key = KEYS[1 + n + j]
  reply[#reply + 1] = redis.call('HGETALL', key)
end
return reply`;
