"""The simulator's commands: one typed line becomes the frames real glasses would send.
Pure (time comes in as arguments), so every command's frames can be checked in tests."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from typing import Any

from glasscloud.protocol.streams import LANGUAGE_RE, TOUCH_GESTURES

HELP = """commands:
  start PKG                 start an App            stop PKG        stop an App
  press [BUTTON] [short|long]   button press (default: main short)
  head up|down              head position
  say TEXT                  speak TEXT (a final local_transcription)
  lang CODE                 language of `say` (e.g. fr-FR; now {language})
  notify APP | TITLE | TEXT a phone notification
  touch GESTURE             a touch gesture (e.g. double_tap)
  battery LEVEL             glasses battery level (0-100)
  wav PATH                  stream a 16 kHz 16-bit mono WAV as microphone audio
  setting PKG KEY VALUE     change an App's setting, as the phone does (VALUE: JSON or text)
  photo PATH                answer the waiting photo request with an image file
  show                      redraw the display     help            this text
  quit                      disconnect and exit"""


class CommandError(Exception):
    """A line the simulator cannot act on; the message says what to type instead."""


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    frames: list[dict[str, Any]] = field(default_factory=list)
    argument: str = ""
    # `setting`: {package, key, value} for the REST call the phone makes (not a frame).
    request: dict[str, Any] | None = None


def parse_command(
    line: str, timestamp: str, now_ms: int, language: str = "en-US"
) -> Command | None:
    """None for an empty line; CommandError for a bad one."""
    line = line.strip()
    if not line:
        return None
    name, _, rest = line.partition(" ")
    name, rest = name.lower(), rest.strip()
    if name in ("quit", "exit", "help", "show"):
        return Command(name)
    if name in ("start", "stop"):
        if not rest or " " in rest:
            raise CommandError(f"usage: {name} PACKAGE")
        return Command(name, [{"type": f"{name}_app", "packageName": rest, "timestamp": timestamp}])
    if name == "press":
        return Command(name, [_press(rest, timestamp)])
    if name == "head":
        if rest not in ("up", "down"):
            raise CommandError("usage: head up|down")
        return Command(name, [{"type": "head_position", "position": rest, "timestamp": timestamp}])
    if name == "say":
        if not rest:
            raise CommandError("usage: say TEXT")
        end = now_ms + 300 * max(1, len(rest.split()))
        frame = {
            "type": "local_transcription",
            "text": rest,
            "isFinal": True,
            "transcribeLanguage": language,
            "startTime": now_ms,
            "endTime": end,
        }
        return Command(name, [frame])
    if name == "lang":
        if not LANGUAGE_RE.match(rest):
            raise CommandError("usage: lang CODE, e.g. lang fr-FR")
        return Command(name, argument=rest)
    if name == "notify":
        return Command(name, [_notification(rest, timestamp, now_ms)])
    if name == "touch":
        if rest not in TOUCH_GESTURES:
            raise CommandError(f"usage: touch GESTURE; one of {', '.join(sorted(TOUCH_GESTURES))}")
        frame = {
            "type": "touch_event",
            "device_model": "Simulated Glasses",
            "gesture_name": rest,
            "timestamp": timestamp,
        }
        return Command(name, [frame])
    if name == "battery":
        if not (rest.isdigit() and 0 <= int(rest) <= 100):
            raise CommandError("usage: battery LEVEL (0-100)")
        frame = {
            "type": "glasses_battery_update",
            "level": int(rest),
            "charging": False,
            "timestamp": timestamp,
        }
        return Command(name, [frame])
    if name == "setting":
        parts = rest.split(None, 2)
        if len(parts) != 3:
            raise CommandError("usage: setting PACKAGE KEY VALUE (e.g. setting com.x.app size 4)")
        package, key, raw = parts
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw  # plain text
        return Command(name, request={"package": package, "key": key, "value": value})
    if name in ("wav", "photo"):
        parts = shlex.split(rest) if rest else []
        if len(parts) != 1:
            raise CommandError(f"usage: {name} PATH")
        return Command(name, argument=parts[0])
    raise CommandError(f"unknown command '{name}'; type help")


def _press(rest: str, timestamp: str) -> dict[str, Any]:
    button, press = "main", "short"
    for word in rest.split():
        if word in ("short", "long"):
            press = word
        else:
            button = word
    return {"type": "button_press", "buttonId": button, "pressType": press, "timestamp": timestamp}


def _notification(rest: str, timestamp: str, now_ms: int) -> dict[str, Any]:
    parts = [part.strip() for part in rest.split("|")]
    if len(parts) != 3 or not all(parts[:2]):
        raise CommandError("usage: notify APP | TITLE | TEXT")
    app, title, content = parts
    return {
        "type": "phone_notification",
        "notificationId": f"sim-{now_ms}",
        "app": app,
        "title": title,
        "content": content,
        "priority": "normal",
        "timestamp": timestamp,
    }
