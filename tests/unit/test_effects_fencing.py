"""The shell's writes of a user's state in cluster mode (server/effects.py), on a real store:
each carries the node's epoch for the user; the database refuses an outdated one and the
fence hears of it; a user the node does not own is not written at all."""

from __future__ import annotations

from glasscloud.core.metrics import Metrics
from glasscloud.server.config import ServerConfig
from glasscloud.server.effects import HttpEffects, TaskSet
from glasscloud.store.store import Store

USER = "mae@example.com"


class RecordingFence:
    def __init__(self, epochs: dict[str, int]) -> None:
        self.epochs = epochs
        self.refused: list[tuple[str, int]] = []

    def epoch_of(self, user_id: str) -> int | None:
        return self.epochs.get(user_id)

    def fenced(self, user_id: str, epoch: int) -> None:
        self.refused.append((user_id, epoch))


async def effects_on(store: Store, fence: RecordingFence) -> tuple[HttpEffects, Metrics]:
    metrics = Metrics()
    effects = HttpEffects(lambda: ServerConfig(), store, metrics, TaskSet())
    effects.fence = fence
    return effects, metrics


async def test_an_outdated_owner_cannot_write_and_is_told(tmp_path):
    async with await Store.open(f"sqlite:///{tmp_path}/f.db") as store:
        await store.create_app("com.example.a", "A", "http://127.0.0.1:9")
        await store.take_user(USER, 3)
        await store.set_running_apps(USER, ["com.example.a"], epoch=3)
        await store.set_resume_state(USER, {"com.example.a": {"main": "new owner"}}, epoch=3)
        fence = RecordingFence({USER: 2})  # this node took the user with epoch 2, long ago
        effects, metrics = await effects_on(store, fence)
        effects.save_running_apps(USER, [])
        effects.save_resume_state(USER, {"com.example.a": {"main": "stale"}})
        await effects.settled(USER, 5.0)
        user = await store.get_user(USER)
        assert user.running_apps == ("com.example.a",)
        assert user.resume_state == {"com.example.a": {"main": "new owner"}}
        assert fence.refused == [(USER, 2), (USER, 2)]
        assert metrics.total("cluster_writes_fenced") == 2


async def test_the_owner_writes_and_a_non_owner_writes_nothing(tmp_path):
    async with await Store.open(f"sqlite:///{tmp_path}/f.db") as store:
        await store.create_app("com.example.a", "A", "http://127.0.0.1:9")
        await store.take_user(USER, 4)
        fence = RecordingFence({USER: 4})
        effects, metrics = await effects_on(store, fence)
        effects.save_running_apps(USER, ["com.example.a"])
        await effects.settled(USER, 5.0)
        assert (await store.get_user(USER)).running_apps == ("com.example.a",)
        del fence.epochs[USER]  # the lease is gone (released or lost)
        effects.save_running_apps(USER, [])
        await effects.settled(USER, 5.0)
        assert (await store.get_user(USER)).running_apps == ("com.example.a",)
        assert metrics.total("cluster_writes_skipped") == 1 and fence.refused == []
