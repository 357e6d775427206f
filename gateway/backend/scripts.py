"""The Redis backend's Lua scripts: each is one round trip and runs atomically, so two replicas
admitting the same key at once cannot both take its last slot. `ADMIT` mirrors
`gateway.backend.windows.refusal` (same order, same comparisons) over one-second buckets in a hash.

Keys of one client key share a hash tag (`grid:{id}:...`), so on a Redis Cluster they live together.
"""

from __future__ import annotations

# Arguments travel as one space-separated string (ARGV[1], split into A): each argument a client
# sends costs it an encoding and a framing, a measurable share of a call's CPU.
#
# KEYS: requests hash, tokens hash, in-flight sorted set, spend counter
# A: now (epoch milliseconds, an integer: cheaper to write than a float's repr), rpm, tpm, parallel, budget (-1: no such limit), request id (no spaces:
#    gateway.middleware.request_id), seconds after which an in-flight entry is stale (a replica died
#    holding it)
ADMIT = """
local A = {}
for word in string.gmatch(ARGV[1], '%S+') do A[#A + 1] = word end
local now = tonumber(A[1]) / 1000
local sec = math.floor(now)
local rpm, tpm, par, budget = tonumber(A[2]), tonumber(A[3]), tonumber(A[4]), tonumber(A[5])
local function window(key)
  local all = redis.call('HGETALL', key)
  local sum, oldest = 0, -1
  for i = 1, #all, 2 do
    local s = tonumber(all[i])
    if s <= sec - 60 then
      redis.call('HDEL', key, all[i])
    else
      sum = sum + tonumber(all[i + 1])
      if oldest < 0 or s < oldest then oldest = s end
    end
  end
  return sum, oldest
end
local reqs, roldest = window(KEYS[1])
local toks, toldest = window(KEYS[2])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - tonumber(A[7]))
local inflight = redis.call('ZCARD', KEYS[3])
local spend = tonumber(redis.call('GET', KEYS[4]) or '0')
local refused = ''
if budget >= 0 and spend >= budget then refused = 'budget'
elseif par >= 0 and inflight >= par then refused = 'parallel'
elseif rpm >= 0 and reqs >= rpm then refused = 'requests'
elseif tpm >= 0 and toks >= tpm then refused = 'tokens'
end
if refused == '' then
  redis.call('HINCRBY', KEYS[1], sec, 1)
  redis.call('EXPIRE', KEYS[1], 61)
  reqs = reqs + 1
  if roldest < 0 then roldest = sec end
  if par >= 0 then
    redis.call('ZADD', KEYS[3], now, A[6])
    redis.call('EXPIRE', KEYS[3], math.ceil(tonumber(A[7])))
    inflight = inflight + 1
  end
end
return {refused, reqs, toks, inflight, tostring(spend), roldest, toldest}
"""

# KEYS: tokens hash, in-flight sorted set, spend counter
# A: second the tokens count in, tokens, cost (USD), request id, spend counter TTL (0: none)
RELEASE = """
local A = {}
for word in string.gmatch(ARGV[1], '%S+') do A[#A + 1] = word end
if tonumber(A[2]) > 0 then
  redis.call('HINCRBY', KEYS[1], A[1], A[2])
  redis.call('EXPIRE', KEYS[1], 61)
end
redis.call('ZREM', KEYS[2], A[4])
if tonumber(A[3]) > 0 then
  redis.call('INCRBYFLOAT', KEYS[3], A[3])
  if tonumber(A[5]) > 0 then redis.call('EXPIRE', KEYS[3], A[5]) end
end
return 1
"""

# KEYS: the feedback entry. ARGV: its JSON ({experiment, variant}), TTL in seconds
REMEMBER = """
redis.call('SET', KEYS[1], ARGV[1], 'EX', math.max(1, math.ceil(tonumber(ARGV[2]))))
return 1
"""
