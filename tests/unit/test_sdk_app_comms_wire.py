"""The Python SDK's App-to-App frames are byte-for-byte what `@mentra/sdk` 2.1.29 sent in
the wire capture (tests/fixtures/sdk-wire-capture-part1.txt)."""

from __future__ import annotations

import json
from pathlib import Path

from glasscloud.sdk import frames

CAPTURE = Path(__file__).resolve().parents[1] / "fixtures" / "sdk-wire-capture-part1.txt"


def captured(kind: str) -> str:
    for line in CAPTURE.read_text().splitlines():
        start = line.find("{")
        if "APP->CLOUD" in line and start >= 0 and f'"type":"{kind}"' in line:
            return line[start:].strip()
    raise AssertionError(f"{kind} not in the capture")


def test_broadcast_frame_matches_the_official_sdk():
    sent = captured("app_broadcast_message")
    obj = json.loads(sent)
    built = frames.app_broadcast_message(
        obj["packageName"],
        obj["sessionId"],
        obj["payload"],
        obj["messageId"],
        obj["senderUserId"],
        obj["timestamp"],
    )
    assert built == sent


def test_direct_and_room_frames_keep_the_sdks_key_order():
    direct = json.loads(frames.app_direct_message("p", "s", "t", {"a": 1}, "m", "u", "T"))
    assert list(direct) == [
        "type",
        "packageName",
        "sessionId",
        "targetUserId",
        "payload",
        "messageId",
        "senderUserId",
        "timestamp",
    ]
    room = json.loads(frames.app_room("app_room_join", "p", "s", "r", "T"))
    assert list(room) == ["type", "packageName", "sessionId", "roomId", "timestamp"]
