"""One owner per user: a lease in Redis (`owner:{user}` = "<node> <epoch>", `SET PX`) that
the owner renews, and a fencing epoch that grows with every new owner.

Each operation is one Lua script, so "check who owns it, then change it" is atomic in
Redis. The epoch is a fencing token: the new owner writes it into the database when it
takes the user (`Store.take_user`), and every later write of "which Apps run" carries it, so
a node that lost its lease (paused, partitioned) can never overwrite the new owner.

If Redis loses its data (restarted without persistence), the counters start again below
what the database holds; `claim` takes a `floor` (the database's epoch) and never returns
an epoch at or under it, and `renew` puts back a lease that vanished while its owner kept
serving the user (no other node can have claimed it without Redis).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from glasscloud.cluster import keys

# KEYS: owner, epoch, last owner. ARGV: node, lease ms, floor.
# -> {2, epoch, node}: already ours (renewed); {1, epoch, previous owner or ""}: claimed now;
#    {0, epoch, owner, ms left}: held by another node.
_CLAIM = """
local current = redis.call('GET', KEYS[1])
if current then
  local node, epoch = string.match(current, '^(%S+) (%d+)$')
  if node == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return {2, tonumber(epoch), node}
  end
  return {0, tonumber(epoch or 0), node or '', redis.call('PTTL', KEYS[1])}
end
local epoch = redis.call('INCR', KEYS[2])
local floor = tonumber(ARGV[3])
if epoch <= floor then
  epoch = floor + 1
  redis.call('SET', KEYS[2], epoch)
end
local previous = redis.call('GET', KEYS[3]) or ''
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. epoch, 'PX', ARGV[2])
redis.call('SET', KEYS[3], ARGV[1], 'EX', 86400)
return {1, epoch, previous}
"""

# KEYS: owner, epoch. ARGV: node, epoch, lease ms. -> 1 renewed, 2 put back, 0 lost.
_RENEW = """
local mine = ARGV[1] .. ' ' .. ARGV[2]
local current = redis.call('GET', KEYS[1])
if current == mine then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return 1
end
if current then
  return 0
end
redis.call('SET', KEYS[1], mine, 'PX', ARGV[3])
local counter = tonumber(redis.call('GET', KEYS[2]) or '0')
if counter < tonumber(ARGV[2]) then
  redis.call('SET', KEYS[2], ARGV[2])
end
return 2
"""

# KEYS: owner. ARGV: "<node> <epoch>". -> 1 released, 0 not ours.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""


@dataclass(frozen=True, slots=True)
class Claim:
    """What `claim` found: `owned` (by us now), the epoch, and the other node: the owner
    holding it (not owned), or the node that owned the user before us (owned; "" if none or
    if it was already ours)."""

    owned: bool
    epoch: int
    node: str
    fresh: bool = False  # claimed just now (not renewed)
    seconds_left: float = 0.0  # held by another node: until its lease runs out


class Leases:
    """The lease operations of one node on one Redis client (`redis.asyncio.Redis` with
    `decode_responses=True`)."""

    def __init__(self, redis: Any, node_id: str, lease_seconds: float) -> None:
        self.redis = redis
        self.node_id = node_id
        self.lease_ms = max(1, int(lease_seconds * 1000))
        self._claim = redis.register_script(_CLAIM)
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    async def claim(self, user_id: str, floor: int = 0) -> Claim:
        status, epoch, node, *left = await self._claim(
            keys=[keys.owner(user_id), keys.epoch(user_id), keys.last_owner(user_id)],
            args=[self.node_id, self.lease_ms, floor],
        )
        if int(status) == 0:
            return Claim(False, int(epoch), str(node), seconds_left=max(0, int(left[0])) / 1000)
        if int(status) == 2:
            return Claim(True, int(epoch), "")
        return Claim(True, int(epoch), str(node), fresh=True)

    async def owner(self, user_id: str) -> tuple[str, int] | None:
        """(node, epoch) holding the user's lease now, or None."""
        value = await self.redis.get(keys.owner(user_id))
        if not value:
            return None
        node, _, epoch = str(value).partition(" ")
        return node, int(epoch or 0)

    async def renew(self, owned: dict[str, int]) -> list[str]:
        """Renew every lease in `owned` (user -> epoch) in one round trip; returns the users
        whose lease another node holds now (lost)."""
        if not owned:
            return []
        users = list(owned)
        async with self.redis.pipeline(transaction=False) as pipe:
            for user_id in users:
                await self._renew(
                    keys=[keys.owner(user_id), keys.epoch(user_id)],
                    args=[self.node_id, owned[user_id], self.lease_ms],
                    client=pipe,
                )
            results = await pipe.execute()
        return [user for user, result in zip(users, results, strict=True) if int(result) == 0]

    async def release(self, user_id: str, epoch: int) -> bool:
        """Let the lease go now (only if it is still ours with that epoch)."""
        released = await self._release(keys=[keys.owner(user_id)], args=[f"{self.node_id} {epoch}"])
        return bool(int(released))

    async def release_many(self, owned: dict[str, int]) -> None:
        """Release every lease in `owned` (user -> epoch) that is still ours, in one round
        trip (a draining node)."""
        if not owned:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for user_id, epoch in owned.items():
                await self._release(
                    keys=[keys.owner(user_id)], args=[f"{self.node_id} {epoch}"], client=pipe
                )
            await pipe.execute()
