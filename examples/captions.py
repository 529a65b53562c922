"""Live captions: what the user's microphone hears, as text on the glasses.

    PACKAGE_NAME=com.example.captions API_KEY=... PORT=7010 python examples/captions.py

Register it first (it needs the MICROPHONE permission):
    glasscloud apps create com.example.captions --name Captions \\
        --public-url http://127.0.0.1:7010 --permission MICROPHONE
"""

from __future__ import annotations

import os

from glasscloud.sdk import AppServer, AppSession, Transcription


def build_app(package_name: str, api_key: str, port: int = 7010, **options) -> AppServer:
    app = AppServer(package_name, api_key, port=port, **options)

    @app.on_session
    async def captions(session: AppSession) -> None:
        language = session.settings.get("language", "en-US")

        @session.events.on_transcription(language=language)
        def show(caption: Transcription) -> None:
            # Interim results replace each other; a final one stays for 10 seconds.
            session.layouts.show_text_wall(
                caption.text, duration_ms=10_000 if caption.is_final else None
            )

        session.layouts.show_text_wall("Captions ready: start speaking.")

    return app


if __name__ == "__main__":
    build_app(
        os.environ["PACKAGE_NAME"], os.environ["API_KEY"], int(os.environ.get("PORT", "7010"))
    ).run()
