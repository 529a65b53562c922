"""WebSocket close codes glasscloud sends, by what they mean to the peer."""

from __future__ import annotations

from enum import IntEnum


class CloseCode(IntEnum):
    NORMAL = 1000  # done: the SDK does not reconnect (App stopped, session ended, replaced)
    GOING_AWAY = 1001
    ABNORMAL = 1006  # never sent: the peer vanished without a close frame (SDK reporting)
    POLICY = 1008  # refused (authentication): the SDK does not retry
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012  # reconnect: the server restarts or drains
    TRY_AGAIN_LATER = 1013  # reconnect later: the cluster cannot place the session now
