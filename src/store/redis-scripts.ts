// The Lua scripts the Redis store runs server-side: each one touches a single key, so it works on a Cluster.
//
// The arithmetic mirrors ./decay.ts line for line (applyUpdate, expiryOf): both backends must agree.
// Numbers cross the wire as strings: ARGV are JavaScript's shortest round-trip form, and results are
// formatted with %.17g because Redis turns a Lua number reply into an integer, and HSET of a Lua
// number would keep only 14 digits.

/** Shared helpers, prepended to each script (Redis has no shared library before 7.0's functions). */
const HELPERS = `
local function fmt(x) return string.format('%.17g', x) end
-- frexp splits off the power of two exactly, so log2 of 2^k is exactly k, as Math.log2 gives in JavaScript.
local function log2(x) local m, e = math.frexp(x) return e + math.log(m) / math.log(2) end
`;

/**
 * One score update: decay, cap, add, and value and expiry written together.
 * Registered as `fgAdd` (numberOfKeys 1); ioredis sends EVALSHA and re-sends the source after NOSCRIPT.
 */
export const ADD_SCRIPT = `
-- floodgate add: decay the stored score to now, add the points unless it is at the cap, write the
-- new value and its expiry in this one atomic script (never INCR then EXPIRE).
-- KEYS[1]  the score hash <prefix>{<key>}: fields s (score), t (updatedAt), h (halfLifeMs), e (expiresAt), times in ms
-- ARGV[1]  now, in ms on the caller's clock
-- ARGV[2]  points to add (may be negative)
-- ARGV[3]  halfLifeMs, stored from now on (the past decays with the stored one)
-- ARGV[4]  cap, or '' for none: at or above it after decay nothing is added or written
-- ARGV[5]  EPSILON: a result with |score| below it deletes the hash
-- ARGV[6]  the largest expiresAt (MAX_EXPIRES_AT)
-- Returns  the new score, as a %.17g string
${HELPERS}
local now, points, halfLife = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local cap, epsilon, maxExpires = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local stored = redis.call('HMGET', KEYS[1], 's', 't', 'h', 'e')
local exists = stored[1] ~= false
local current, liveAt = 0, nil
if exists then
  local s, t, h, e = tonumber(stored[1]), tonumber(stored[2]), tonumber(stored[3]), tonumber(stored[4])
  if now < e then
    liveAt = t
    -- A now earlier than the last update decays nothing: a late event never un-decays a score.
    if now > t then current = s * 2 ^ (-(now - t) / h) else current = s end
  end
end
if cap ~= nil and current >= cap then return fmt(current) end
local score = current + points
if math.abs(score) < epsilon then
  if exists then redis.call('DEL', KEYS[1]) end
  return fmt(score)
end
local updatedAt = now
if liveAt ~= nil and liveAt > now then updatedAt = liveAt end
local expiresAt = math.min(math.ceil(updatedAt + halfLife * log2(math.abs(score) / epsilon)), maxExpires)
redis.call('HSET', KEYS[1], 's', fmt(score), 't', fmt(updatedAt), 'h', fmt(halfLife), 'e', fmt(expiresAt))
-- Redis expires the hash when the caller's clock reaches expiresAt, translated to the server's clock,
-- so a skew between an MTA host and Redis never drops a live score early. (TIME before a write is
-- allowed: scripts are replicated by their effects since Redis 5.)
local time = redis.call('TIME')
local serverNow = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('PEXPIREAT', KEYS[1], string.format('%.0f', serverNow + (expiresAt - now)))
return fmt(score)
`;

/** Deletes one hash if it has expired on the caller's clock; registered as `fgSweep` (numberOfKeys 1). */
export const SWEEP_SCRIPT = `
-- floodgate sweep: delete a score whose expiry has passed, re-checked here so that an add that
-- refreshed it since the scan saw it keeps it.
-- KEYS[1]  the score hash <prefix>{<key>}
-- ARGV[1]  now, in ms on the caller's clock
-- Returns  1 when the hash was deleted, 0 when it is live, gone, or not a score
-- pcall: a key of another type under the prefix is not a score, and must not fail the whole sweep.
local e = redis.pcall('HGET', KEYS[1], 'e')
if type(e) == 'string' and tonumber(e) ~= nil and tonumber(e) <= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`;
