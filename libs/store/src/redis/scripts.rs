//! The Lua scripts that make each multi-step operation atomic in Redis.
//!
//! They run with `EVALSHA` (loaded on first use, reloaded by the redis crate
//! after a `NOSCRIPT`). Each touches only the keys passed in `KEYS`, and never
//! compares strings by order (Lua's `<` follows the server's locale): only by
//! equality.

use std::sync::LazyLock;

use ::redis::Script;

/// `KEYS[1]` projection hash; `ARGV[1]` value. Bumps `v`, stores `d`, returns
/// the new version.
pub(crate) static PUT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local v = redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('HSET', KEYS[1], 'd', ARGV[1])
return v
",
    )
});

/// `KEYS[1]` projection hash; `ARGV[1]` expected version (`''`: must not
/// exist), `ARGV[2]` value. Returns `{1, new version}` when applied, else
/// `{0, current version or -1 if absent}`.
pub(crate) static COMPARE_AND_SET: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local cur = redis.call('HGET', KEYS[1], 'v')
local expected = ARGV[1]
if expected == '' then expected = false end
if cur ~= expected then
  if cur then return {0, tonumber(cur)} end
  return {0, -1}
end
local v = redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('HSET', KEYS[1], 'd', ARGV[2])
return {1, v}
",
    )
});

/// `KEYS[1]` index entries (sorted set), `KEYS[2]` member → score hash;
/// `ARGV[1]` member, `ARGV[2]` score (16 hex digits). Returns 1 if changed.
pub(crate) static INDEX_ADD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local old = redis.call('HGET', KEYS[2], ARGV[1])
if old == ARGV[2] then return 0 end
if old then redis.call('ZREM', KEYS[1], old .. ':' .. ARGV[1]) end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[1], 0, ARGV[2] .. ':' .. ARGV[1])
return 1
",
    )
});

/// Same keys as [`INDEX_ADD`]; `ARGV[1]` member. Returns 1 if removed.
pub(crate) static INDEX_REMOVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local old = redis.call('HGET', KEYS[2], ARGV[1])
if not old then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[1], old .. ':' .. ARGV[1])
return 1
",
    )
});

/// `KEYS[1]` idempotency key; `ARGV[1]` lease in ms. Returns the current
/// value (`p` or `c…`), or nil after claiming the key as `p`.
pub(crate) static IDEMPOTENCY_BEGIN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local cur = redis.call('GET', KEYS[1])
if cur then return cur end
redis.call('SET', KEYS[1], 'p', 'PX', ARGV[1])
return false
",
    )
});

/// `KEYS[1]` idempotency key; `ARGV[1]` response, `ARGV[2]` retention in ms.
/// Returns 1 if stored, 0 if a response was already there (first wins).
pub(crate) static IDEMPOTENCY_COMPLETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local cur = redis.call('GET', KEYS[1])
if cur and string.sub(cur, 1, 1) == 'c' then return 0 end
redis.call('SET', KEYS[1], 'c' .. ARGV[1], 'PX', ARGV[2])
return 1
",
    )
});

/// `KEYS[1]` idempotency key. Deletes it only while in flight; returns 1 if so.
pub(crate) static IDEMPOTENCY_ABANDON: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == 'p' then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
",
    )
});

/// `KEYS[1]` counter; `ARGV[1]` window in ms. Counts one request, opening a
/// window if none is open (or if the counter somehow lost its TTL). Returns
/// `{count, ms until the window closes}`.
pub(crate) static RATE_LIMIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
",
    )
});
