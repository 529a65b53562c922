"""Button counter: counts presses of the glasses' button; a long press resets the count.

    PACKAGE_NAME=com.example.counter API_KEY=... PORT=7012 python examples/button_counter.py

Register it first (no permission needed):
    glasscloud apps create com.example.counter --name Counter \\
        --public-url http://127.0.0.1:7012
"""

from __future__ import annotations

import os

from glasscloud.sdk import AppServer, AppSession, ButtonPress


def build_app(package_name: str, api_key: str, port: int = 7012, **options) -> AppServer:
    app = AppServer(package_name, api_key, port=port, **options)

    @app.on_session
    async def counter(session: AppSession) -> None:
        count = 0
        session.layouts.show_double_text_wall("Button counter", "Presses: 0")

        @session.events.on_button_press
        def pressed(press: ButtonPress) -> None:
            nonlocal count
            count = 0 if press.press_type == "long" else count + 1
            session.layouts.show_double_text_wall("Button counter", f"Presses: {count}")

    return app


if __name__ == "__main__":
    build_app(
        os.environ["PACKAGE_NAME"], os.environ["API_KEY"], int(os.environ.get("PORT", "7012"))
    ).run()
