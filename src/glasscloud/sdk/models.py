"""Typed views of the events an App receives. Each keeps the cloud's object in `raw`, so a
field this SDK does not model yet is still reachable. Constructors never raise: a missing
field gets the same fallback the official SDK's sanitiser uses."""

from __future__ import annotations

import array
import sys
from dataclasses import dataclass, field
from typing import Any


def _str(data: dict[str, Any], key: str, default: str = "") -> str:
    value = data.get(key)
    return value if isinstance(value, str) else default


def _num(data: dict[str, Any], key: str, default: float = 0) -> float:
    value = data.get(key)
    return value if isinstance(value, int | float) and not isinstance(value, bool) else default


def _opt_num(data: dict[str, Any], key: str) -> float | None:
    value = data.get(key)
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


@dataclass(frozen=True, slots=True)
class Transcription:
    text: str
    is_final: bool
    language: str
    start_time: float
    end_time: float
    speaker_id: str | None
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Transcription:
        speaker = data.get("speakerId")
        return cls(
            text=_str(data, "text"),
            is_final=bool(data.get("isFinal", True)),
            language=_str(data, "transcribeLanguage"),
            start_time=_num(data, "startTime"),
            end_time=_num(data, "endTime"),
            speaker_id=None if speaker is None else str(speaker),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class Translation:
    text: str
    original_text: str
    is_final: bool
    source_language: str
    target_language: str
    did_translate: bool
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Translation:
        return cls(
            text=_str(data, "text"),
            original_text=_str(data, "originalText"),
            is_final=bool(data.get("isFinal", True)),
            source_language=_str(data, "transcribeLanguage"),
            target_language=_str(data, "translateLanguage"),
            did_translate=bool(data.get("didTranslate", True)),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class ButtonPress:
    button_id: str
    press_type: str
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> ButtonPress:
        button_id, press_type = _str(data, "buttonId"), _str(data, "pressType")
        if not (button_id and press_type):  # as the SDK: both replaced if either is missing
            button_id, press_type = "unknown", "short"
        return cls(button_id=button_id, press_type=press_type, raw=data)


@dataclass(frozen=True, slots=True)
class HeadPosition:
    position: str
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> HeadPosition:
        return cls(position=_str(data, "position", "up"), raw=data)


@dataclass(frozen=True, slots=True)
class PhoneNotification:
    notification_id: str
    app: str
    title: str
    content: str
    priority: str
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> PhoneNotification:
        notification_id = data.get("notificationId")
        return cls(
            notification_id="" if notification_id is None else str(notification_id),
            app=_str(data, "app"),
            title=_str(data, "title"),
            content=_str(data, "content"),
            priority=_str(data, "priority", "normal"),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class TouchEvent:
    gesture: str
    device_model: str
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> TouchEvent:
        return cls(
            gesture=_str(data, "gesture_name"), device_model=_str(data, "device_model"), raw=data
        )


@dataclass(frozen=True, slots=True)
class Location:
    lat: float
    lng: float
    accuracy: float | None
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Location:
        return cls(
            lat=_num(data, "lat"),
            lng=_num(data, "lng"),
            accuracy=_opt_num(data, "accuracy"),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class Battery:
    level: float | None
    charging: bool
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Battery:
        return cls(
            level=_opt_num(data, "level"), charging=bool(data.get("charging", False)), raw=data
        )


@dataclass(frozen=True, slots=True)
class VoiceActivity:
    speaking: bool
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> VoiceActivity:
        status = data.get("status")
        return cls(speaking=status is True or status == "true", raw=data)


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """One binary frame: raw PCM, signed 16-bit little-endian, 16 kHz, mono."""

    data: bytes
    sample_rate: int = 16000

    @property
    def samples(self) -> array.array:
        """The PCM samples as an `array('h')` (no numpy needed)."""
        values = array.array("h")
        values.frombytes(self.data[: len(self.data) - len(self.data) % 2])
        if sys.byteorder == "big":
            values.byteswap()
        return values


@dataclass(frozen=True, slots=True)
class SettingChange:
    """One App setting whose value changed (from `settings_update`)."""

    key: str
    old_value: Any
    new_value: Any
