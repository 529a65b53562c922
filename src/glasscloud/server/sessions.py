"""Opening a user's session from the store: the one place the shell fetches what a new
session brings back (the Apps the user ran, what they showed). The core decides how each
App comes back (`AppLifecycle.restore`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from glasscloud.core.session import UserSession

if TYPE_CHECKING:
    from glasscloud.server.app import GlasscloudServer


async def open_session(
    server: GlasscloudServer, user_id: str, for_app: str | None = None
) -> UserSession | None:
    """The user's live session, opened now if there is none. With `for_app` (an App
    reconnecting after a restart, before the glasses), a session is opened only if the user
    was running that App; otherwise None."""
    session = server.registry.get(user_id)
    if session is not None:
        return session
    generation = server.session_settings.generation
    user, app_settings = await server.store.open_user(user_id)
    if for_app is not None and for_app not in user.running_apps:
        return None
    records = [r for p in user.running_apps if (r := await server.app_records.get(p)) is not None]
    session, created = server.registry.get_or_create(user_id, user.settings)
    if created:
        server.session_settings.remember(session, app_settings, generation)
        session.restore(records, user.resume_state)
    return session
