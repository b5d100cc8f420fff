import { script } from '../redis/redis-scripts';

// Every script touches the keys of one hash tag only, so each runs in one cluster slot: a user's
// sessions hash and user record ({u:<id>}), or one activity shard and its capped set.
// A session is one field of its user's sessions hash, packed as session-codec.ts describes; the
// field `~u` holds the user's name and roles.

// state(value): lastActivityAt, absolute deadline and device of a packed session (nil if malformed).
// dropIfEmpty(key): deletes a sessions hash left with no session, so an ended user leaves no key.
const HELPERS = `
local function state(v)
  local a, c, d, dev = string.match(v, '^([^\\31]*)\\31[^\\31]*\\31([^\\31]*)\\31([^\\31]*)\\31([^\\31]*)')
  a, c, d = tonumber(a or '', 36), tonumber(c or '', 36), tonumber(d or '', 36)
  if not (a and c and d) then return nil end
  return a, c + d, dev
end
local function over(a, x, now, idle)
  return (not a) or a + idle <= now or x <= now
end
local function dropIfEmpty(key)
  local n = redis.call('HLEN', key)
  if n == 0 or (n == 1 and redis.call('HEXISTS', key, '~u') == 1) then redis.call('DEL', key) end
end
`;

/**
 * KEYS: sessions hash, user record. ARGV: hash, now, idleMs, maxPerUser, deviceId, deadline,
 * userVersion, packed session, user meta. Returns {0} when the user changed since the login read
 * it; else {1, meta of the ended sessions, ended hashes...}.
 */
export const CREATE_SESSION = script(`${HELPERS}
local key, now, idle, max, device = KEYS[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local user = redis.call('HMGET', KEYS[2], 'v', 'disabled')
if user[1] ~= ARGV[7] or user[2] == '1' then
  return { 0 }
end
local meta = redis.call('HGET', key, '~u')
-- Sessions begun under other roles are ending anyway (a role change ends them all); end them now,
-- so that the one meta field never describes a session it does not belong to.
local stale = meta and meta ~= ARGV[9]
local out, live = { 1, meta or ARGV[9] }, {}
local count = redis.call('HLEN', key) - (meta and 1 or 0)
-- Read the user's other sessions only when their roles, a device or the limit needs them.
if stale or device ~= '' or (max > 0 and count >= max) then
  local all = redis.call('HGETALL', key)
  for i = 1, #all, 2 do
    local h = all[i]
    if h ~= '~u' then
      local a, x, dev = state(all[i + 1])
      if over(a, x, now, idle) then
        -- Expired: dropped quietly; its activity entry stays for the sweeper to report.
        redis.call('HDEL', key, h)
      elseif stale or (device ~= '' and dev == device) then
        redis.call('HDEL', key, h)
        out[#out + 1] = h
      else
        live[#live + 1] = { h, a }
      end
    end
  end
end
if max > 0 and #live >= max then
  table.sort(live, function(p, q) return p[2] < q[2] end)
  for i = 1, #live - max + 1 do
    redis.call('HDEL', key, live[i][1])
    out[#out + 1] = live[i][1]
  end
end
redis.call('HSET', key, ARGV[1], ARGV[8], '~u', ARGV[9])
-- The hash lives as long as its longest-lived session; its TTL only ever moves later.
if redis.call('PEXPIRETIME', key) < tonumber(ARGV[6]) then
  redis.call('PEXPIREAT', key, ARGV[6])
end
return out
`);

/**
 * KEYS: sessions hash. ARGV: hash, at, count, idleMs. Adds count requests, moves lastActivityAt
 * forward. Returns {user meta, absolute deadline} when the session is alive (and was updated),
 * false when it has ended.
 */
export const RECORD_ACTIVITY = script(`
local key, at, idle = KEYS[1], tonumber(ARGV[2]), tonumber(ARGV[4])
local f = redis.call('HMGET', key, ARGV[1], '~u')
if not f[1] or not f[2] then return false end
local a, n, c, d, tail = string.match(f[1], '^([^\\31]*)\\31([^\\31]*)\\31([^\\31]*)\\31([^\\31]*)(\\31.*)$')
a, n = tonumber(a or '', 36), tonumber(n or '', 36)
local created, lifetime = tonumber(c or '', 36), tonumber(d or '', 36)
if not (a and n and created and lifetime) then return false end
local x = created + lifetime
if a + idle <= at or x <= at then return false end
if at > a then a = at end
local DIGITS = '0123456789abcdefghijklmnopqrstuvwxyz'
local function b36(v)
  local s = ''
  repeat
    local digit = v % 36
    s = string.sub(DIGITS, digit + 1, digit + 1) .. s
    v = (v - digit) / 36
  until v < 1
  return s
end
redis.call('HSET', key, ARGV[1], b36(a) .. '\\31' .. b36(n + tonumber(ARGV[3])) .. '\\31' .. c .. '\\31' .. d .. tail)
local expires = math.min(a + idle, x)
if redis.call('PEXPIRETIME', key) < expires then
  redis.call('PEXPIREAT', key, string.format('%.0f', expires))
end
return { f[2], string.format('%.0f', x) }
`);

/**
 * The packed session value (session-codec.ts) as a Lua table of its 12 fields, an older value padded
 * as the codec reads it (no user agent: ''; no authenticatedAt: createdAt; no suspicion: ''; no
 * impersonator: '').
 * Returns nil for a value of another layout.
 */
const SESSION_FIELDS = `
local function sessionFields(value)
  local f = {}
  for part in string.gmatch(value .. '\\31', '([^\\31]*)\\31') do f[#f + 1] = part end
  if #f < 8 or #f > 12 then return nil end
  if #f < 9 then f[9] = '' end
  if #f < 10 then f[10] = f[3] end
  if #f < 11 then f[11] = '' end
  if #f < 12 then f[12] = '' end
  return f
end
`;

/**
 * KEYS: sessions hash. ARGV: hash, at (base 36). Sets authenticatedAt and lifts a 'b' (blocked)
 * suspicion to 'f' (flagged). 1 when the session was there, else 0.
 */
export const MARK_AUTHENTICATED = script(`${SESSION_FIELDS}
local value = redis.call('HGET', KEYS[1], ARGV[1])
if not value then return 0 end
local f = sessionFields(value)
if not f then return 0 end
f[10] = ARGV[2]
if f[11] == 'b' then f[11] = 'f' end
redis.call('HSET', KEYS[1], ARGV[1], table.concat(f, '\\31'))
return 1
`);

/** KEYS: sessions hash. ARGV: hash, 'f' or 'b'. Sets the suspicion if there is none: 1 for the caller that set it. */
export const FLAG_SUSPICIOUS = script(`${SESSION_FIELDS}
local value = redis.call('HGET', KEYS[1], ARGV[1])
if not value then return 0 end
local f = sessionFields(value)
if not f or f[11] ~= '' then return 0 end
f[11] = ARGV[2]
redis.call('HSET', KEYS[1], ARGV[1], table.concat(f, '\\31'))
return 1
`);

/** KEYS: sessions hash. ARGV: hash. Returns the user meta when the session was there, else false. */
export const DESTROY_SESSION = script(`${HELPERS}
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return false end
local meta = redis.call('HGET', KEYS[1], '~u')
dropIfEmpty(KEYS[1])
return meta or ''
`);

/**
 * KEYS: sessions hash. ARGV: exceptHash, deviceId ('' = any). Ends the matching sessions.
 * Returns {user meta, ended hashes...}.
 */
export const DESTROY_FOR_USER = script(`${HELPERS}
local key, except, device = KEYS[1], ARGV[1], ARGV[2]
local all = redis.call('HGETALL', key)
local out = { '' }
for i = 1, #all, 2 do
  local h = all[i]
  if h == '~u' then
    out[1] = all[i + 1]
  elseif h ~= except then
    local match = device == ''
    if not match then
      local _, _, dev = state(all[i + 1])
      match = dev == device
    end
    if match then out[#out + 1] = h end
  end
end
for i = 2, #out, 500 do
  redis.call('HDEL', key, unpack(out, i, math.min(i + 499, #out)))
end
dropIfEmpty(key)
return out
`);

/**
 * KEYS: sessions hash. ARGV: now, idleMs, hashes... Deletes those of the named sessions that have
 * ended by now. Returns per hash its lastActivityAt while it lives, '' when it has ended.
 */
export const PRUNE_SESSIONS = script(`${HELPERS}
local key, now, idle = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
local out = {}
for i = 3, #ARGV do
  local v = redis.call('HGET', key, ARGV[i])
  local a, x
  if v then a, x = state(v) end
  if over(a, x, now, idle) then
    if v then redis.call('HDEL', key, ARGV[i]) end
    out[#out + 1] = ''
  else
    out[#out + 1] = string.format('%.0f', a)
  end
end
dropIfEmpty(key)
return out
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

/**
 * KEYS: activity shard, its capped set. ARGV: now, batch, then the idle floor and the 5- and
 * 15-minute floors. Returns the live sessions of the shard above each floor: three ZCOUNTs, less
 * those past their absolute deadline that no sweep has removed yet (at most `batch` looked at).
 */
export const COUNT_SHARD = script(`
local counts = {}
for i = 3, 5 do counts[i - 2] = redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[i], '+inf') end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))) do
  local score = redis.call('ZSCORE', KEYS[1], id)
  if score then
    score = tonumber(score)
    for i = 3, 5 do
      if score > tonumber(ARGV[i]) then counts[i - 2] = counts[i - 2] - 1 end
    end
  end
end
return counts
`);

/**
 * KEYS: activity shard. ARGV: idle floor, count, and optionally the cursor's score and id.
 * Returns {ties, rest}: the entries at exactly the cursor's score (the caller keeps those after the
 * cursor's id: Lua compares strings by locale), and up to `count` entries below it and above the
 * floor; each a flat list of id, score, newest activity first.
 */
export const PAGE_SHARD = script(`
local floor, count, top = tonumber(ARGV[1]), tonumber(ARGV[2]), '+inf'
local ties = {}
if ARGV[3] then
  top = '(' .. ARGV[3]
  if tonumber(ARGV[3]) > floor then
    ties = redis.call('ZREVRANGEBYSCORE', KEYS[1], ARGV[3], ARGV[3], 'WITHSCORES')
  end
end
local rest = redis.call('ZREVRANGEBYSCORE', KEYS[1], top, '(' .. ARGV[1], 'WITHSCORES', 'LIMIT', 0, count)
return { ties, rest }
`);
