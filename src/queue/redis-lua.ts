/**
 * The Lua scripts of the Redis queue. Each makes a check-then-act step atomic (Redis runs a script
 * with nothing interleaved) in one round trip; all are auto-pipelined like plain commands.
 * KEYS[1] is always the requests stream; ARGV[1] the consumer group.
 */

/**
 * Admission: XADD unless maxPending requests are already waiting. The stream also holds pulled,
 * unacked entries (the group's PEL), which do not count: the PEL is read only when XLEN alone
 * says full, so the common case costs one XLEN. ARGV: group, maxPending, meta, data.
 * Returns the entry id, or nil when full.
 */
const ENQUEUE = `
local max = tonumber(ARGV[2])
local n = redis.call('XLEN', KEYS[1])
if n >= max then
  local pulled = redis.call('XPENDING', KEYS[1], ARGV[1])[1]
  if n - pulled >= max then return false end
end
return redis.call('XADD', KEYS[1], '*', 'm', ARGV[3], 'd', ARGV[4])
`;

/**
 * Cancellation: delete the entry if no worker has it (never delivered, so returns 1); otherwise
 * (pulled and pending, or already gone: finished or released under a new id) publish the request
 * id on the cancel channel and return 0. ARGV: group, entry id, channel, request id.
 */
const CANCEL = `
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if #p == 0 and redis.call('XDEL', KEYS[1], ARGV[2]) == 1 then return 1 end
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 0
`;

/** Done: XACK and XDEL together, so no acked entry can linger in the stream. ARGV: group, ids... */
const ACK = `
local ids = {unpack(ARGV, 2)}
redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
return redis.call('XDEL', KEYS[1], unpack(ids))
`;

/**
 * Graceful hand-back: a pending entry cannot be "unassigned", so each one this consumer still
 * owns is re-added at the tail (new id, same fields; at once visible to blocked XREADGROUPs) and
 * the original acked and deleted, atomically, so it is neither lost nor doubled. Entries another
 * worker has meanwhile claimed are left alone. ARGV: group, consumer, then (id, meta, data)...
 * Returns how many were handed back.
 */
const RELEASE = `
local n = 0
for i = 3, #ARGV, 3 do
  local id = ARGV[i]
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)
  if #p == 1 and p[1][2] == ARGV[2] then
    redis.call('XADD', KEYS[1], '*', 'm', ARGV[i + 1], 'd', ARGV[i + 2])
    redis.call('XACK', KEYS[1], ARGV[1], id)
    redis.call('XDEL', KEYS[1], id)
    n = n + 1
  end
end
return n
`;

/** Requests waiting, not yet pulled: stream length minus the group's pending (pulled) entries. */
const DEPTH = `
local n = redis.call('XLEN', KEYS[1])
if n == 0 then return 0 end
return n - redis.call('XPENDING', KEYS[1], ARGV[1])[1]
`;

/**
 * Forget a dead consumer that holds nothing (keeps XINFO CONSUMERS short across restarts). Checked
 * and done atomically: a consumer revived under the same name between a check and a DELCONSUMER
 * would otherwise lose its fresh PEL entries. KEYS[2] = its heartbeat key. ARGV: group, consumer.
 */
const REAP = `
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if #redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2]) > 0 then return 0 end
redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
return 1
`;

/**
 * A worker's reply to a frontend whose reply stream is missing: written with the stream created,
 * given a TTL if it has none, so that a frontend that is gone leaves nothing behind for long.
 * Why not drop it, as the plain reply's NOMKSTREAM does: a Redis that restarted without its data
 * has lost every reply stream, and until the frontend's upkeep makes its stream again a dropped
 * reply was taken for sent, its request acked, and the call waited out deadline + grace ("no
 * worker answered": lifecycle-faults.test.ts, one fresh-clone CI run). ARGV: maxlen, ttl ms,
 * then the entry's field/value pairs.
 */
const REPLY_CREATE = `
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, 3))
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return id
`;

export const SCRIPTS = {
  ssEnqueue: { numberOfKeys: 1, lua: ENQUEUE },
  ssCancel: { numberOfKeys: 1, lua: CANCEL },
  ssAck: { numberOfKeys: 1, lua: ACK },
  ssRelease: { numberOfKeys: 1, lua: RELEASE },
  ssDepth: { numberOfKeys: 1, lua: DEPTH },
  ssReap: { numberOfKeys: 2, lua: REAP },
  ssReplyCreate: { numberOfKeys: 1, lua: REPLY_CREATE },
} as const;

export type ScriptName = keyof typeof SCRIPTS;
