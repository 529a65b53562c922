"""`glasscloud app new NAME`: the files of a new, runnable App (pure: returns their text; the
CLI writes them)."""

from __future__ import annotations

import re

_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_PACKAGE_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")

APP_PY = '''"""{title}: a glasscloud App. Run it with

    PACKAGE_NAME={package} API_KEY=<key> PORT={port} python app.py
"""

from __future__ import annotations

import os

from glasscloud.sdk import AppServer, AppSession, ButtonPress, Transcription

app = AppServer(
    os.environ.get("PACKAGE_NAME", "{package}"),
    os.environ["API_KEY"],
    port=int(os.environ.get("PORT", "{port}")),
)


@app.on_session
async def started(session: AppSession) -> None:
    session.layouts.show_text_wall("{title} is running. Say something!")

    @session.events.on_transcription
    def heard(caption: Transcription) -> None:
        session.layouts.show_text_wall(caption.text)

    @session.events.on_button_press
    def pressed(press: ButtonPress) -> None:
        session.layouts.show_reference_card("Button", f"{{press.button_id}} ({{press.press_type}})")


@app.on_stop
async def stopped(session: AppSession, reason: str) -> None:
    print(f"session {{session.session_id}} ended: {{reason}}")


if __name__ == "__main__":
    app.run()
'''

README = """# {title}

A glasscloud App written with the Python SDK (`glasscloud.sdk`): it shows what the user says
and reacts to the glasses' button.

## Run it

1. Register the App with your glasscloud (prints its API key once):

   ```sh
   glasscloud apps create {package} --name "{title}" \\
       --public-url http://127.0.0.1:{port} --permission MICROPHONE
   ```

2. Start it with that key:

   ```sh
   PACKAGE_NAME={package} API_KEY=<key> PORT={port} python app.py
   ```

3. Try it without glasses, in another terminal:

   ```sh
   glasscloud glasses you@example.com
   > start {package}
   > say hello there
   > press
   ```

See docs/python-sdk.md in the glasscloud repository for the whole API.
"""


def package_for(name: str) -> str:
    """`My-App` -> `com.example.my_app`."""
    return "com.example." + re.sub(r"[^a-z0-9_]", "_", name.lower())


def app_files(name: str, package: str | None = None, port: int = 7010) -> dict[str, str]:
    """{file name: content} of a new App called `name`. Raises ValueError for a bad name."""
    if not _NAME_RE.match(name):
        raise ValueError(
            f"'{name}' is not a usable App name: use letters, digits, '-' or '_', "
            "starting with a letter"
        )
    package = package or package_for(name)
    if not _PACKAGE_RE.match(package):
        raise ValueError(f"'{package}' is not a package name like com.example.myapp")
    values = {"title": name, "package": package, "port": port}
    return {"app.py": APP_PY.format(**values), "README.md": README.format(**values)}
