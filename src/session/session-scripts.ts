import { script } from './redis.provider';

// Every script touches only keys of one user ({u:<id>} hash tag), so each runs in one cluster slot.
// Session keys other than KEYS[...] are built from ARGV's key base: they share the same tag.

// A session in the index whose key is gone, or whose idle/absolute time has passed, is removed.
const PRUNE = `
local function expired(f, now, idle)
  return (not f[1]) or tonumber(f[1]) + idle <= now or tonumber(f[2]) <= now
end
`;

/** KEYS: session, user index. ARGV: hash, now, idleMs, maxPerUser, deviceId, keyBase, expiresAt, field/value... */
export const CREATE_SESSION = script(`${PRUNE}
local now, idle, max, device, base = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], ARGV[6]
local ended, live = {}, {}
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
for _, h in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local f = redis.call('HMGET', base .. h, 'a', 'x', 'd')
  if expired(f, now, idle) then
    redis.call('DEL', base .. h)
    redis.call('ZREM', KEYS[2], h)
  elseif device ~= '' and f[3] == device then
    redis.call('DEL', base .. h)
    redis.call('ZREM', KEYS[2], h)
    ended[#ended + 1] = h
  else
    live[#live + 1] = { h, tonumber(f[1]) }
  end
end
if max > 0 and #live >= max then
  table.sort(live, function(p, q) return p[2] < q[2] end)
  for i = 1, #live - max + 1 do
    redis.call('DEL', base .. live[i][1])
    redis.call('ZREM', KEYS[2], live[i][1])
    ended[#ended + 1] = live[i][1]
  end
end
local fields = {}
for i = 8, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('PEXPIREAT', KEYS[1], ARGV[7])
redis.call('ZADD', KEYS[2], ARGV[7], ARGV[1])
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[2], last[2])
return ended
`);

/** KEYS: session, user index. ARGV: hash, at, count, idleMs. Returns 0 when the session has ended. */
export const RECORD_ACTIVITY = script(`${PRUNE}
local at, idle = tonumber(ARGV[2]), tonumber(ARGV[4])
local f = redis.call('HMGET', KEYS[1], 'a', 'x')
if expired(f, at, idle) then return 0 end
redis.call('HINCRBY', KEYS[1], 'n', ARGV[3])
if at > tonumber(f[1]) then
  local exp = math.min(at + idle, tonumber(f[2]))
  redis.call('HSET', KEYS[1], 'a', at)
  redis.call('PEXPIREAT', KEYS[1], exp)
  redis.call('ZADD', KEYS[2], exp, ARGV[1])
  local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', KEYS[2], last[2])
end
return 1
`);

/** KEYS: session, user index. ARGV: hash. */
export const DESTROY_SESSION = script(`
local n = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return n
`);

/** KEYS: user index. ARGV: keyBase, exceptHash, deviceId. Returns the hashes it ended. */
export const DESTROY_FOR_USER = script(`
local ended = {}
for _, h in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if h ~= ARGV[2] then
    local key = ARGV[1] .. h
    if ARGV[3] == '' or redis.call('HGET', key, 'd') == ARGV[3] then
      if redis.call('DEL', key) == 1 then ended[#ended + 1] = h end
      redis.call('ZREM', KEYS[1], h)
    end
  end
end
return ended
`);

/** KEYS: user index. ARGV: keyBase, now, idleMs. Returns hash, fields, hash, fields... */
export const LIST_FOR_USER = script(`${PRUNE}
local now, idle = tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local out = {}
for _, h in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local fields = redis.call('HGETALL', ARGV[1] .. h)
  local t = {}
  for i = 1, #fields, 2 do t[fields[i]] = fields[i + 1] end
  if expired({ t.a, t.x }, now, idle) then
    redis.call('ZREM', KEYS[1], h)
  else
    out[#out + 1] = h
    out[#out + 1] = fields
  end
end
return out
`);
