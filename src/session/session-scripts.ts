import { script } from './redis.provider';

// Every script touches only keys of one user (the {u:<id>} hash tag), so each runs in one cluster
// slot. Session keys other than KEYS[...] are built from ARGV's key base and share that tag.

// A session whose key is gone, or whose idle or absolute time has passed, is over.
const EXPIRED = `
local function expired(a, x, now, idle)
  return (not a) or tonumber(a) + idle <= now or tonumber(x) <= now
end
`;

/**
 * KEYS: session, user index, user record. ARGV: hash, now, idleMs, maxPerUser, deviceId, keyBase,
 * expiresAt, userVersion, field/value... Returns {created (0/1), ended hashes...}.
 */
export const CREATE_SESSION = script(`${EXPIRED}
local now, idle, max, device, base = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], ARGV[6]
if redis.call('HGET', KEYS[3], 'v') ~= ARGV[8] or redis.call('HGET', KEYS[3], 'disabled') == '1' then
  return { 0 }
end
local out, live = { 1 }, {}
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
-- Read the user's other sessions only when a device or the limit needs them.
local walk = device ~= '' or (max > 0 and redis.call('ZCARD', KEYS[2]) >= max)
for _, h in ipairs(walk and redis.call('ZRANGE', KEYS[2], 0, -1) or {}) do
  local f = redis.call('HMGET', base .. h, 'a', 'x', 'd')
  if expired(f[1], f[2], now, idle) then
    redis.call('DEL', base .. h)
    redis.call('ZREM', KEYS[2], h)
  elseif device ~= '' and f[3] == device then
    redis.call('DEL', base .. h)
    redis.call('ZREM', KEYS[2], h)
    out[#out + 1] = h
  else
    live[#live + 1] = { h, tonumber(f[1]) }
  end
end
if max > 0 and #live >= max then
  table.sort(live, function(p, q) return p[2] < q[2] end)
  for i = 1, #live - max + 1 do
    redis.call('DEL', base .. live[i][1])
    redis.call('ZREM', KEYS[2], live[i][1])
    out[#out + 1] = live[i][1]
  end
end
local fields = {}
for i = 9, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('PEXPIREAT', KEYS[1], ARGV[7])
redis.call('ZADD', KEYS[2], ARGV[7], ARGV[1])
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[2], last[2])
return out
`);

/**
 * KEYS: session, user index. ARGV: hash, at, count, idleMs.
 * Returns {roles, absolute deadline} when the session is alive (and was updated), false when it has ended.
 */
export const RECORD_ACTIVITY = script(`${EXPIRED}
local at, idle = tonumber(ARGV[2]), tonumber(ARGV[4])
local f = redis.call('HMGET', KEYS[1], 'a', 'x', 'r')
if expired(f[1], f[2], at, idle) then return false end
redis.call('HINCRBY', KEYS[1], 'n', ARGV[3])
if at > tonumber(f[1]) then
  local exp = math.min(at + idle, tonumber(f[2]))
  redis.call('HSET', KEYS[1], 'a', at)
  redis.call('PEXPIREAT', KEYS[1], exp)
  redis.call('ZADD', KEYS[2], exp, ARGV[1])
  local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', KEYS[2], last[2])
end
return { f[3], f[2] }
`);

/**
 * KEYS: activity shard, its capped set. ARGV: public ids. Removes each from both; returns those
 * this call removed from either, so that of several sweepers exactly one reports each expiry.
 */
export const UNINDEX_EXPIRED = script(`
local removed = {}
for _, id in ipairs(ARGV) do
  local a = redis.call('ZREM', KEYS[1], id)
  local c = redis.call('ZREM', KEYS[2], id)
  if a + c > 0 then removed[#removed + 1] = id end
end
return removed
`);

/** KEYS: session, user index. ARGV: hash. Returns the ended session's roles, or false. */
export const DESTROY_SESSION = script(`
local roles = redis.call('HGET', KEYS[1], 'r')
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return roles
`);

/** KEYS: user index. ARGV: keyBase, exceptHash, deviceId. Returns hash, roles, hash, roles... */
export const DESTROY_FOR_USER = script(`
local ended = {}
for _, h in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if h ~= ARGV[2] then
    local key = ARGV[1] .. h
    local f = redis.call('HMGET', key, 'r', 'd')
    if ARGV[3] == '' or f[2] == ARGV[3] then
      if f[1] then
        ended[#ended + 1] = h
        ended[#ended + 1] = f[1]
      end
      redis.call('DEL', key)
      redis.call('ZREM', KEYS[1], h)
    end
  end
end
return ended
`);

/** KEYS: user index. ARGV: keyBase, now, idleMs. Returns hash, fields, hash, fields... */
export const LIST_FOR_USER = script(`${EXPIRED}
local now, idle = tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local out = {}
for _, h in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local fields = redis.call('HGETALL', ARGV[1] .. h)
  local t = {}
  for i = 1, #fields, 2 do t[fields[i]] = fields[i + 1] end
  if expired(t.a, t.x, now, idle) then
    redis.call('ZREM', KEYS[1], h)
  else
    out[#out + 1] = h
    out[#out + 1] = fields
  end
end
return out
`);

/**
 * KEYS: activity shard, its capped set. ARGV: public id, absolute deadline. Marks the session as
 * ending at its absolute deadline only while it is still indexed, so a session ended meanwhile
 * leaves nothing behind for the sweeper to report as expired.
 */
export const MARK_CAPPED = script(`
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
end
return 1
`);
