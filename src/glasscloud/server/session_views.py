"""How the operator's views list a live session (`/api/admin/sessions`, and each cluster
node's published list of its sessions)."""

from __future__ import annotations

from typing import Any

from glasscloud.core.session import UserSession


def session_summary(session: UserSession, node_id: str | None = None) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "userId": session.user_id,
        "startTime": session.start_time,
        "glassesConnected": session.glasses is not None,
        "apps": {p: session.app_state(p) for p in session.apps},
        "subscriptions": session.subscriptions.as_map(),
    }
    if node_id is not None:
        summary["node"] = node_id
    return summary
