/**
 * The Lua scripts of the shared pool: one script per decision, run atomically by Redis, so N
 * processes can never over-admit by reading a budget locally. Times are Redis's own clock (`TIME`),
 * so machines whose clocks disagree still share one schedule; replies give delays, not instants.
 */

/** Redis's clock in ms, first line of every script that needs it. */
const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/**
 * `cut`: the domain's cut per minute while fresh (set less than `ARGV[arg]` ms ago), else ''; after
 * NOW in RESERVE and CHECK.
 */
const freshCut = (arg: number) => `local cut = ''
if now - tonumber(redis.call('HGET', KEYS[1], 'cutAt') or '0') < tonumber(ARGV[${arg}]) then
  cut = redis.call('HGET', KEYS[1], 'cut') or ''
end`;

/**
 * A send slot in the domain's schedule (GCRA without a burst): the slot starts at the later of the
 * schedule's tail, now and the domain's pause; it is granted only if it starts within `maxAhead`.
 * After a loss pause (LOSS) the next slot is the domain's one probe, and until it is answered
 * (SERVED) or `probeMs` after its start no other slot is given: N processes probe a spent window
 * once between them, not N times. For `fresh` ms after a process ended the domain's slow start
 * (LOSS with a cut), no slot costs less than the cut's interval, and the reply carries the cut, so
 * a process still in slow start leaves it at once (its request in hand had been paced faster).
 * KEYS[1] the domain; ARGV cost ms, maxAhead ms, ttl ms, probeMs, retry ms while a probe is out,
 * fresh ms.
 * Reply: { granted 1|0, delay ms (granted: until the slot; refused: until one may be), slot start,
 * slots granted so far in the domain, 1 if the slot is the probe, the fresh cut per minute or '' }.
 */
export const RESERVE = `${NOW}
local cost = tonumber(ARGV[1])
local ahead = tonumber(ARGV[2])
local slots = tonumber(redis.call('HGET', KEYS[1], 'slots') or '0')
${freshCut(6)}
if cut ~= '' then cost = math.max(cost, math.ceil(60000 / tonumber(cut))) end
local probe = redis.call('HGET', KEYS[1], 'probe')
if probe == 'out' then
  local ends = tonumber(redis.call('HGET', KEYS[1], 'probeAt') or '0') + tonumber(ARGV[4])
  if now < ends then return { 0, math.min(tonumber(ARGV[5]), ends - now), 0, slots, 0, cut } end
  probe = 'wait'
end
local tat = tonumber(redis.call('HGET', KEYS[1], 'tat') or '0')
local paused = tonumber(redis.call('HGET', KEYS[1], 'paused') or '0')
local at = math.max(tat, now, paused)
if at - now > ahead then
  return { 0, at - now - ahead, at, slots, 0, cut }
end
redis.call('HSET', KEYS[1], 'tat', at + cost)
slots = redis.call('HINCRBY', KEYS[1], 'slots', 1)
local isProbe = 0
if probe == 'wait' then
  redis.call('HSET', KEYS[1], 'probe', 'out', 'probeAt', at)
  isProbe = 1
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return { 1, at - now, at, slots, isProbe, cut }`;

/**
 * A new loss event of observed pacing (a refusal with no word of when to retry) of a request whose
 * slot started at `at`. The run of losses is the domain's, over every process: a refusal of a
 * request sent more than `dedup` after the last counted (or of the probe) adds to it, and from the
 * second on the domain pauses for `base` doubling per loss (at least this process's own pause
 * `ms`), within `cap`; the next slot is then the probe. A refusal sent sooner is the same event,
 * seen by another process before it could know. A loss that ended slow start gives its ceiling
 * (`cut`, per minute): the domain's cut for RESERVE to hand on, the lowest of one loss event's.
 * KEYS[1] the domain; ARGV at, ms, base, cap, 1 if the probe, dedup ms, ttl, cut per minute or ''.
 * Reply: { the run, when it was last counted, ms until the pause ends }.
 */
export const LOSS = `${NOW}
local at = tonumber(ARGV[1])
local isProbe = ARGV[5] == '1'
local run = tonumber(redis.call('HGET', KEYS[1], 'run') or '0')
local lossAt = tonumber(redis.call('HGET', KEYS[1], 'lossAt') or '0')
local same = true
if isProbe or at > lossAt + tonumber(ARGV[6]) then
  run = run + 1
  lossAt = now
  same = false
  redis.call('HSET', KEYS[1], 'run', run, 'lossAt', lossAt)
end
if ARGV[8] ~= '' then
  local cut = tonumber(redis.call('HGET', KEYS[1], 'cut') or '0')
  if not same or cut <= 0 or tonumber(ARGV[8]) < cut then
    redis.call('HSET', KEYS[1], 'cut', ARGV[8], 'cutAt', now)
  end
end
local len = tonumber(ARGV[2])
if run >= 2 then len = math.max(len, tonumber(ARGV[3]) * 2 ^ (run - 2)) end
len = math.floor(math.min(len, tonumber(ARGV[4])))
local paused = tonumber(redis.call('HGET', KEYS[1], 'paused') or '0')
if len > 0 then
  if now + len > paused then
    paused = now + len
    redis.call('HSET', KEYS[1], 'paused', paused)
  end
  if isProbe or redis.call('HGET', KEYS[1], 'probe') ~= 'out' then redis.call('HSET', KEYS[1], 'probe', 'wait') end
end
redis.call('PEXPIRE', KEYS[1], ARGV[7])
return { run, lossAt, math.max(0, paused - now) }`;

/**
 * A request whose slot started at `at` was served: sent after the last loss, the domain's run of
 * losses is over; the probe (1), the domain sends again. KEYS[1] the domain; ARGV at, 1 if the probe.
 */
export const SERVED = `if ARGV[2] == '1' and redis.call('HGET', KEYS[1], 'probe') == 'out' then
  redis.call('HDEL', KEYS[1], 'probe', 'probeAt')
end
if tonumber(ARGV[1]) > tonumber(redis.call('HGET', KEYS[1], 'lossAt') or '0') then
  redis.call('HDEL', KEYS[1], 'run')
end
return 1`;

/**
 * Gives back a slot not used (the request was cancelled before it went): only when it is still the
 * schedule's last, so no other process's slot moves. A probe not sent is given back too: the next
 * slot is the probe again, so the domain does not wait out `probeMs` for an answer that cannot come.
 * KEYS[1] the domain; ARGV slot start, cost, 1 if the probe. Reply: 1 refunded, 0 not.
 */
export const REFUND = `local at = tonumber(ARGV[1])
if ARGV[3] == '1' and redis.call('HGET', KEYS[1], 'probe') == 'out'
  and tonumber(redis.call('HGET', KEYS[1], 'probeAt') or '-1') == at then
  redis.call('HSET', KEYS[1], 'probe', 'wait')
end
local tat = tonumber(redis.call('HGET', KEYS[1], 'tat') or '0')
if tat == at + tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], 'tat', at)
  return 1
end
return 0`;

/**
 * A slot about to go, reserved a while ago: whether the domain was paused meanwhile (a loss in
 * another process), and its fresh cut (see RESERVE). KEYS[1] the domain; ARGV fresh ms.
 * Reply: { ms until the pause ends (0: not paused), the fresh cut per minute or '' }.
 */
export const CHECK = `${NOW}
local paused = tonumber(redis.call('HGET', KEYS[1], 'paused') or '0')
${freshCut(1)}
return { math.max(0, paused - now), cut }`;

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
 * One sync tick of a process: adds its counter deltas, publishes what its pacers learned, refreshes
 * the TTLs, and reads back every key and domain it uses.
 * KEYS: the salt, then n keys, then m domains. ARGV: n, m, key ttl, domain ttl, salt ttl, then per
 * key its deltas (`field value field value …`, may be empty), then per domain its learned limits
 * (JSON, may be empty).
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
  local learned = ARGV[5 + n + j]
  if learned ~= '' then
    redis.call('HSET', key, 'learned', learned)
    redis.call('PEXPIRE', key, ARGV[4])
  end
  reply[#reply + 1] = redis.call('HGETALL', key)
end
return reply`;
