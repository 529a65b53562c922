"""The simulated glasses' hardware: a camera that answers a pending `photo_request` with an
image file (uploaded to its `webhookUrl` as real glasses do: multipart, field `requestId`,
file `photo`), and a speaker and LED that print what they would do."""

from __future__ import annotations

import mimetypes
from collections import OrderedDict
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp

MAX_PHOTO_BYTES = 10 * 1024 * 1024  # what the SDK's upload route accepts
MAX_WAITING = 16


class SimulatedHardware:
    def __init__(self) -> None:
        self.photo_requests: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def observe(self, frame: dict[str, Any]) -> str | None:
        """A line describing a hardware frame from the cloud (None for other frames)."""
        kind = frame.get("type")
        app = frame.get("appId") or frame.get("packageName") or frame.get("appPackageName")
        if kind == "photo_request":
            self.photo_requests[str(frame.get("requestId"))] = frame
            while len(self.photo_requests) > MAX_WAITING:
                self.photo_requests.popitem(last=False)
            return (
                f"[camera] {app} asks for a photo ({frame.get('size', 'medium')}); "
                "answer with: photo PATH"
            )
        if kind == "audio_play_request":
            volume, track = frame.get("volume", 1), frame.get("trackId", 0)
            url = str(frame.get("audioUrl"))
            parts = urlsplit(url)
            said = parse_qs(parts.query).get("text") if parts.path.endswith("/api/tts") else None
            what = f'say "{said[0]}" from {url}' if said else f"play {url}"
            return f"[speaker] {app} would {what} (volume {volume}, track {track})"
        if kind == "audio_stop_request":
            track = frame.get("trackId")
            return f"[speaker] {app} stops {'all tracks' if track is None else f'track {track}'}"
        if kind == "rgb_led_control":
            if frame.get("action") == "off":
                return f"[led] {app}: off"
            return (
                f"[led] {app}: {frame.get('color')} on {frame.get('ontime')} ms, "
                f"off {frame.get('offtime')} ms, {frame.get('count')} time(s)"
            )
        if kind == "show_wifi_setup":
            return f"[wifi] {app} asks for Wi-Fi setup: {frame.get('reason') or '(no reason)'}"
        return None

    async def upload_photo(self, http: aiohttp.ClientSession, path: str) -> str:
        """Answer the oldest waiting photo request with the image at `path`."""
        if not self.photo_requests:
            return "no photo was asked for"
        file = Path(path)
        try:
            data = file.read_bytes()
        except OSError as exc:
            return f"cannot read {path}: {exc.strerror or exc}"
        if len(data) > MAX_PHOTO_BYTES:
            return f"{path} is over 10 MB; the App's upload route would refuse it"
        mime = mimetypes.guess_type(file.name)[0] or "image/jpeg"
        if not mime.startswith("image/"):
            return f"{path} is not an image ({mime})"
        request_id, request = self.photo_requests.popitem(last=False)
        form = aiohttp.FormData()
        form.add_field("requestId", request_id)
        form.add_field("photo", data, filename=file.name, content_type=mime)
        url = str(request.get("webhookUrl") or "")
        try:
            async with http.post(
                url, data=form, timeout=aiohttp.ClientTimeout(total=15)
            ) as response:
                await response.read()
                status = response.status
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            return f"photo upload to {url} failed: {exc}"
        return f"photo {file.name} ({len(data)} bytes) uploaded to {url}: HTTP {status}"
