"""`glasscloud cluster status`: the live nodes of a cluster, read from its Redis (any
machine that reaches Redis can ask; no node has to answer)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time

from glasscloud.cli.options import Commands, UsageError, add_json


def add_commands(commands: Commands) -> None:
    cluster = commands.add_parser("cluster", help="the nodes of a cluster (--redis)")
    actions = cluster.add_subparsers(dest="action", metavar="ACTION", required=True)
    status = actions.add_parser(
        "status", help="live nodes, their ages and users", description=__doc__
    )
    status.add_argument("--redis", metavar="URL", help="the cluster's Redis (env GLASSCLOUD_REDIS)")
    add_json(status)
    status.set_defaults(handler=_status)


def _status(args: argparse.Namespace) -> int:
    url = args.redis or os.environ.get("GLASSCLOUD_REDIS") or ""
    if not url.strip():
        raise UsageError("give the cluster's Redis: --redis URL (or GLASSCLOUD_REDIS)")
    nodes = asyncio.run(_read_nodes(url.strip()))
    if args.json:
        print(json.dumps({"nodes": nodes}, indent=2))
        return 0
    if not nodes:
        print("no live nodes")
        return 0
    print(f"{'NODE':<24} {'USERS':>6} {'AGE':>8} {'SEEN':>6}  URL")
    for node in nodes:
        flag = " (draining)" if node["draining"] else ""
        print(
            f"{node['nodeId']:<24} {node['users']:>6} {_age(node['ageSeconds']):>8} "
            f"{node['lastSeenSecondsAgo']:>5.1f}s  {node['publicUrl']}{flag}"
        )
    return 0


async def _read_nodes(url: str) -> list[dict]:
    from redis.exceptions import RedisError

    from glasscloud.cluster.client import redis_client
    from glasscloud.cluster.directory import NodeDirectory

    client = redis_client(url)
    try:
        nodes = await NodeDirectory(client, 10.0).nodes()
    except RedisError as exc:
        raise UsageError(f"cannot reach Redis at {url}: {exc}") from None
    finally:
        await client.aclose()
    now = time.time()
    return [n.as_json(now) for n in nodes]


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"
