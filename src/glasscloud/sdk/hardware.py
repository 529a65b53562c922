"""The glasses' hardware for Python Apps, as `@mentra/sdk` 2.1.29 offers it: `session.camera`
(`request_photo`), `session.audio` (`play_audio`, `speak`, `stop_audio`), `session.led`
(`turn_on`, `turn_off`, `blink`, `solid`) and `session.request_wifi_setup`. Frames are
byte-for-byte the official SDK's (field order included).

Photos do not come over the socket: the glasses upload them to the App server's
`/photo-upload` route (multipart `requestId` + `photo`), which `AppServer` serves, and a
failure arrives there as `type=photo_error` (then `PhotoError`). Requests wait at most 30 s
(photo) and 60 s (audio, with `stop_other_audio`), as in the official SDK.
"""

from __future__ import annotations

import asyncio
import random
import string
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from aiohttp import web

from glasscloud.protocol.jsonio import encode
from glasscloud.sdk.errors import SdkError

if TYPE_CHECKING:
    from glasscloud.sdk.session import AppSession

PHOTO_TIMEOUT = 30.0
AUDIO_TIMEOUT = 60.0
MAX_PHOTO_BYTES = 10 * 1024 * 1024


class PhotoError(SdkError):
    """`request_photo()` failed: `code` is the cloud's or the glasses' (REQUEST_TIMEOUT,
    CAMERA_BUSY, PERMISSION_DENIED, ...)."""

    def __init__(self, message: str, code: str = "UNKNOWN_ERROR") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Photo:
    data: bytes
    mime_type: str
    filename: str
    request_id: str

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class AudioResult:
    success: bool
    error: str | None = None
    duration: float | None = None


def _request_id(prefix: str) -> str:
    rand = "".join(random.choices(string.ascii_lowercase + string.digits, k=7))
    return f"{prefix}_{int(time.time() * 1000)}_{rand}"


class PhotoRequests:
    """Pending photo requests of one App server (the upload route resolves them)."""

    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[Photo]] = {}

    def expect(self, request_id: str) -> asyncio.Future[Photo]:
        future: asyncio.Future[Photo] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        future.add_done_callback(lambda _f: self._waiting.pop(request_id, None))
        return future

    async def upload_route(self, request: web.Request) -> web.Response:
        """`POST /photo-upload`: what the glasses (or the cloud, for an error) send."""
        if not request.content_type.startswith("multipart/"):
            fields: dict[str, Any] = dict(await request.post())
        else:
            fields = {}
            reader = await request.multipart()
            async for part in reader:
                if part.name == "photo":
                    data = await part.read()  # type: ignore[union-attr]
                    if len(data) > MAX_PHOTO_BYTES:
                        return _json(413, False, "The photo is over 10 MB")
                    fields["photo"] = (data, part.filename, part.headers.get("Content-Type"))
                elif part.name:
                    fields[part.name] = (await part.text())[:1000]  # type: ignore[union-attr]
        request_id = fields.get("requestId")
        future = self._waiting.get(request_id) if isinstance(request_id, str) else None
        if future is None or future.done():
            return _json(404, False, "No pending request found for this photo")
        if fields.get("type") == "photo_error" or fields.get("success") is False:
            code = str(fields.get("errorCode") or "UNKNOWN_ERROR")
            message = str(fields.get("errorMessage") or "Unknown error occurred")
            future.set_exception(
                PhotoError(f"Photo capture failed: {message} (code: {code})", code)
            )
            return _json(200, True, "Photo error received successfully", request_id)
        photo = fields.get("photo")
        if not isinstance(photo, tuple):
            future.set_exception(PhotoError("No photo file provided for successful upload"))
            return _json(400, False, "No photo file provided for successful upload")
        data, filename, mime = photo
        if not (mime or "").startswith("image/"):
            return _json(400, False, "Only image files are allowed")
        future.set_result(Photo(data, mime, filename or "photo.jpg", request_id))
        return _json(200, True, "Photo received successfully", request_id)


def _json(status: int, ok: bool, message: str, request_id: str | None = None) -> web.Response:
    body: dict[str, Any] = {"success": ok}
    if request_id:
        body["requestId"] = request_id
    body["message" if ok else "error"] = message
    return web.json_response(body, status=status)


class Camera:
    def __init__(self, session: AppSession, photos: PhotoRequests) -> None:
        self._session = session
        self._photos = photos

    async def request_photo(
        self,
        *,
        save_to_gallery: bool = False,
        size: str = "medium",
        compress: str = "none",
        timeout: float = PHOTO_TIMEOUT,
    ) -> Photo:
        """Ask the glasses for a photo; it arrives at this App server's `/photo-upload`.
        Raises PhotoError (with the cloud's code) if it cannot come."""
        s = self._session
        request_id = _request_id("photo_req")
        future = self._photos.expect(request_id)
        s.send(
            encode(
                {
                    "type": "photo_request",
                    "packageName": s.package_name,
                    "sessionId": s.session_id,
                    "requestId": request_id,
                    "timestamp": s._timestamp(),
                    "saveToGallery": save_to_gallery,
                    "size": size,
                    "compress": compress,
                }
            )
        )
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise PhotoError("Photo request timed out", "TIMEOUT") from None


class Audio:
    def __init__(self, session: AppSession) -> None:
        self._session = session
        self._waiting: dict[str, asyncio.Future[AudioResult]] = {}

    async def play_audio(
        self,
        audio_url: str,
        *,
        volume: float = 1,
        stop_other_audio: bool = True,
        track_id: int = 0,
        timeout: float = AUDIO_TIMEOUT,
    ) -> AudioResult:
        """Play `audio_url` on the phone/glasses. With `stop_other_audio` (the default) wait
        for the phone's answer; otherwise return at once."""
        s = self._session
        request_id = _request_id("audio_req")
        frame = {
            "type": "audio_play_request",
            "packageName": s.package_name,
            "sessionId": s.session_id,
            "requestId": request_id,
            "timestamp": s._timestamp(),
            "audioUrl": audio_url,
            "volume": volume,
            "stopOtherAudio": stop_other_audio,
            "trackId": track_id,
        }
        if not stop_other_audio:
            s.send(encode(frame))
            return AudioResult(True)
        future: asyncio.Future[AudioResult] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        try:
            s.send(encode(frame))
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise SdkError("Audio play request timed out") from None
        finally:
            self._waiting.pop(request_id, None)

    async def speak(
        self,
        text: str,
        *,
        voice_id: str | None = None,
        model_id: str | None = None,
        voice_settings: dict[str, Any] | None = None,
        volume: float = 1,
        stop_other_audio: bool = True,
        track_id: int = 2,
    ) -> AudioResult:
        """Speak `text` through the cloud's `/api/tts` (synthesised by glasscloud)."""
        if not text:
            raise ValueError("text must be provided")
        query = [("text", text)]
        if voice_id:
            query.append(("voice_id", voice_id))
        if model_id:
            query.append(("model_id", model_id))
        if voice_settings:
            query.append(("voice_settings", encode(voice_settings)))
        url = f"{https_server_url(self._session.ws_url)}/api/tts?{urlencode(query)}"
        return await self.play_audio(
            url, volume=volume, stop_other_audio=stop_other_audio, track_id=track_id
        )

    def stop_audio(self, track_id: int | None = None) -> None:
        s = self._session
        frame: dict[str, Any] = {
            "type": "audio_stop_request",
            "packageName": s.package_name,
            "sessionId": s.session_id,
        }
        if track_id is not None:
            frame["trackId"] = track_id
        frame["timestamp"] = s._timestamp()
        s.send(encode(frame))

    def handle_response(self, frame: dict[str, Any]) -> None:
        future = self._waiting.get(str(frame.get("requestId")))
        if future is not None and not future.done():
            duration = frame.get("duration")
            future.set_result(
                AudioResult(
                    frame.get("success") is True,
                    frame.get("error") if isinstance(frame.get("error"), str) else None,
                    duration if isinstance(duration, int | float) else None,
                )
            )


class Led:
    def __init__(self, session: AppSession) -> None:
        self._session = session

    def _send(self, **fields: Any) -> None:
        s = self._session
        frame = {
            "type": "rgb_led_control",
            "packageName": s.package_name,
            # the official SDK's LED module is built before the session id is known
            "sessionId": "unknown-session-id",
            "requestId": _request_id("led_req"),
            "timestamp": s._timestamp(),
            **fields,
        }
        s.send(encode(frame))

    def turn_on(
        self, color: str = "red", ontime: int = 1000, offtime: int = 0, count: int = 1
    ) -> None:
        self._send(action="on", color=color, ontime=ontime, offtime=offtime, count=count)

    def turn_off(self) -> None:
        self._send(action="off")

    def blink(self, color: str, ontime: int, offtime: int, count: int) -> None:
        self.turn_on(color, ontime, offtime, count)

    def solid(self, color: str, duration: int) -> None:
        self.turn_on(color, duration, 0, 1)


def https_server_url(ws_url: str) -> str:
    """What the official SDK derives from the WebSocket URL (`wss?://host/app-ws` ->
    `https://host`); glasscloud rewrites it to its own URL before the phone sees it."""
    url = ws_url.split("://", 1)[-1]
    url = url.removesuffix("/app-ws")
    return f"https://{url}"


def wifi_setup_frame(session: AppSession, reason: str | None) -> str:
    frame: dict[str, Any] = {
        "type": "request_wifi_setup",
        "packageName": session.package_name,
        "sessionId": session.session_id,
    }
    if reason is not None:
        frame["reason"] = reason
    frame["timestamp"] = session._timestamp()
    return encode(frame)


def attach(session: AppSession, photos: PhotoRequests | None) -> Callable[[dict[str, Any]], bool]:
    """Give `session` its `camera`, `audio` and `led`; returns the handler of the answers
    they wait for (True if a frame was one)."""
    session.camera = Camera(session, photos or PhotoRequests())
    session.audio = Audio(session)
    session.led = Led(session)

    def handle(frame: dict[str, Any]) -> bool:
        kind = frame.get("type")
        if kind == "audio_play_response":
            session.audio.handle_response(frame)
            return True
        return kind in ("photo_response", "rgb_led_control_response")  # ignored, as the SDK

    return handle
