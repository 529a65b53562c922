"""Notification reader: each phone notification as a card on the glasses; the dashboard
shows how many arrived.

    PACKAGE_NAME=com.example.notifications API_KEY=... PORT=7011 python examples/notifications.py

Register it first (it needs READ_NOTIFICATIONS):
    glasscloud apps create com.example.notifications --name Notifications \\
        --public-url http://127.0.0.1:7011 --permission READ_NOTIFICATIONS
"""

from __future__ import annotations

import os

from glasscloud.sdk import AppServer, AppSession, PhoneNotification


def build_app(package_name: str, api_key: str, port: int = 7011, **options) -> AppServer:
    app = AppServer(package_name, api_key, port=port, **options)

    @app.on_session
    async def reader(session: AppSession) -> None:
        received = 0

        @session.events.on_phone_notification
        def show(note: PhoneNotification) -> None:
            nonlocal received
            received += 1
            title = f"{note.app}: {note.title}" if note.app else note.title
            session.layouts.show_reference_card(title, note.content, duration_ms=8000)
            session.layouts.show_dashboard_card("Notifications", str(received))

    return app


if __name__ == "__main__":
    build_app(
        os.environ["PACKAGE_NAME"], os.environ["API_KEY"], int(os.environ.get("PORT", "7011"))
    ).run()
