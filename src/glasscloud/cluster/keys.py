"""Redis key and channel names of a glasscloud cluster. A user's keys share a hash tag
(`{user}`), so each lease script touches one slot."""

from __future__ import annotations

PREFIX = "glasscloud:"

NODES = PREFIX + "nodes"  # set of node ids that announced themselves
BROADCAST = PREFIX + "broadcast"  # channel every node listens to


def owner(user_id: str) -> str:
    """`"<node> <epoch>"` while a node holds the user's lease (expires unless renewed)."""
    return f"{PREFIX}owner:{{{user_id}}}"


def epoch(user_id: str) -> str:
    """The user's fencing counter: one more for every new owner."""
    return f"{PREFIX}epoch:{{{user_id}}}"


def last_owner(user_id: str) -> str:
    """The node that owned the user last (kept a day): a node taking a user back from
    itself after a restart may wait for the Apps to reconnect, any other node asks them."""
    return f"{PREFIX}last:{{{user_id}}}"


def node(node_id: str) -> str:
    """The node's announcement (JSON), expiring unless the node renews it."""
    return f"{PREFIX}node:{node_id}"


def node_sessions(node_id: str) -> str:
    """The node's sessions, as the admin API lists them (JSON), expiring like `node`."""
    return f"{PREFIX}sessions:{node_id}"


def inbox(node_id: str) -> str:
    """The channel a node listens to for messages addressed to it."""
    return f"{PREFIX}inbox:{node_id}"
