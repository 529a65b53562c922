"""`GET /api/tts`: speech for `session.audio.speak()`, synthesised on this server.

The SDK (2.1.29) puts `https://{host}/api/tts?text=...&voice_id=...[&model_id=...]
[&voice_settings=<json>]` into an `audio_play_request`, `host` taken from its WebSocket URL.
Before the request goes to the phone, `TtsUrls.rewrite` makes that this server's public URL
(the SDK's `https://` is wrong for a plain-HTTP self-hosted server) and adds who asked
(`gc_user`, `gc_app`) with an HMAC of them and the text (`gc_sig`), so limits apply per
user and App. A request without a valid signature (a developer trying the route) is
served too, limited per client address.

Bounds: `text` 1 to 1,000 characters; `voice_settings` must be a JSON object (its `speed`,
0.5-2, is used); 2 requests/s per user+App or address (burst 10); 2 syntheses at a time,
each at most 20 s, at most 16 running or waiting; the last 128 results (at most 16 MiB)
are cached. Every refusal is a coded JSON error naming the field: 400 `INVALID_FIELD`, 429
`RATE_LIMITED`, 503 `TTS_UNAVAILABLE`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit

import msgspec
from aiohttp import web

from glasscloud.protocol.errors import ErrorCode, ProtocolError
from glasscloud.server.http_errors import Envelope, error_response
from glasscloud.server.limits import TokenBucket
from glasscloud.server.request_context import server_of
from glasscloud.tts.provider import SpeechSynthesizer, SynthesisError

if TYPE_CHECKING:
    from glasscloud.server.config import ServerConfig

log = logging.getLogger("glasscloud.tts")

ROUTE = "/api/tts"
MAX_TEXT = 1000
RATE, BURST = 2.0, 10.0
MAX_KEYS = 10_000
CONCURRENCY = 2
MAX_QUEUED = 16  # syntheses running or waiting; more are refused (503), never queued unbounded
SYNTH_TIMEOUT = 20.0
CACHE_ENTRIES, CACHE_BYTES = 128, 16 * 1024 * 1024
SIGNED = ("gc_user", "gc_app", "gc_sig")


def _signature(secret: str, user_id: str, package_name: str, text: str) -> str:
    message = "\n".join((user_id, package_name, text)).encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:32]


class TtsUrls:
    """Turns the SDK's `speak()` URL into this server's signed `/api/tts` URL (the
    `HardwareServices.audio_url` of the core); every other URL passes unchanged."""

    def __init__(self, config: Callable[[], ServerConfig], secret: str) -> None:
        self._config = config
        self.secret = secret

    @property
    def config(self) -> ServerConfig:
        return self._config()  # read each time: port 0 is replaced once bound

    def own_hosts(self) -> set[str]:
        hosts = {urlsplit(self.config.base_url).netloc.lower()}
        if self.config.internal_url:
            hosts.add(urlsplit(self.config.internal_url).netloc.lower())
        return hosts

    def rewrite(self, url: str, user_id: str, package_name: str) -> str:
        parts = urlsplit(url)
        if not parts.path.endswith(ROUTE) or parts.netloc.lower() not in self.own_hosts():
            return url
        query = [
            (k, v)
            for k, v in _parse_query(parts.query)
            if k not in SIGNED  # an App cannot sign for another
        ]
        text = next((v for k, v in query if k == "text"), "")
        query += [
            ("gc_user", user_id),
            ("gc_app", package_name),
            ("gc_sig", _signature(self.secret, user_id, package_name, text)),
        ]
        return f"{self.config.base_url}{ROUTE}?{urlencode(query)}"


def _parse_query(query: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(query, keep_blank_values=True)


class TtsService:
    """The route's state: the synthesiser, the cache, the rate limits."""

    def __init__(self, synthesizer: SpeechSynthesizer | None, secret: str) -> None:
        self.synthesizer = synthesizer
        self.secret = secret
        self._cache: OrderedDict[tuple[str, str, float, str], bytes] = OrderedDict()
        self._cache_bytes = 0
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()
        self._slots = asyncio.Semaphore(CONCURRENCY)
        self._queued = 0

    def caller(self, query: Mapping[str, str], text: str, remote: str | None) -> str:
        """Whom the request counts against: the signed user+App, else the address."""
        user, app, sig = (query.get(k, "") for k in SIGNED)
        if user and app and sig:
            expected = _signature(self.secret, user, app, text)
            if hmac.compare_digest(expected, sig):
                return f"app:{user}:{app}"
        return f"addr:{remote or '?'}"

    def allow(self, key: str, now: float) -> bool:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(RATE, BURST, now)
            while len(self._buckets) > MAX_KEYS:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket.take(now)

    async def speech(self, text: str, voice: str, speed: float) -> bytes:
        assert self.synthesizer is not None
        key = (self.synthesizer.name, voice, speed, text)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        if self._queued >= MAX_QUEUED:
            raise SynthesisError(f"{MAX_QUEUED} texts are already waiting; try again shortly")
        self._queued += 1
        try:
            async with self._slots:
                audio = await self.synthesizer.synthesize(text, voice, speed, SYNTH_TIMEOUT)
        finally:
            self._queued -= 1
        self._cache[key] = audio
        self._cache_bytes += len(audio)
        while self._cache and (len(self._cache) > CACHE_ENTRIES or self._cache_bytes > CACHE_BYTES):
            _, old = self._cache.popitem(last=False)
            self._cache_bytes -= len(old)
        return audio


def _invalid(field: str, message: str) -> ProtocolError:
    return ProtocolError(ErrorCode.INVALID_FIELD, message, field)


def parse_request(query: Mapping[str, str]) -> tuple[str, str | None, float]:
    """(text, voice_id, speed) of a `/api/tts` query; ProtocolError naming the field."""
    text = query.get("text", "").strip()
    if not text:
        raise _invalid("text", "`text` is required: the words to speak (1 to 1000 characters).")
    if len(text) > MAX_TEXT:
        raise _invalid("text", f"`text` must be at most {MAX_TEXT} characters, got {len(text)}.")
    speed = 1.0
    raw = query.get("voice_settings")
    if raw:
        try:
            settings = msgspec.json.decode(raw.encode()[:4096])
        except msgspec.DecodeError:
            settings = None
        if not isinstance(settings, dict):
            raise _invalid("voice_settings", "`voice_settings` must be a JSON object.")
        value = settings.get("speed", 1.0)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not (0.5 <= value <= 2.0)
        ):
            raise _invalid(
                "voice_settings.speed",
                f"`voice_settings.speed` must be a number from 0.5 to 2, got {value!r}.",
            )
        speed = float(value)
    voice_id = query.get("voice_id") or None
    if voice_id is not None and len(voice_id) > 100:
        raise _invalid("voice_id", "`voice_id` must be at most 100 characters.")
    return text, voice_id, speed


async def handle(request: web.Request) -> web.StreamResponse:
    server = server_of(request)
    service: TtsService = server.tts
    metrics = server.metrics
    try:
        text, voice_id, speed = parse_request(request.query)
    except ProtocolError as error:
        return error_response(error, Envelope.PHONE, metrics)
    key = service.caller(request.query, text, request.remote)
    if not service.allow(key, time.monotonic()):
        return error_response(
            ProtocolError(
                ErrorCode.RATE_LIMITED,
                f"Too many speech requests; at most {RATE:g} per second (burst {BURST:g}) "
                "per App and user.",
            ),
            Envelope.PHONE,
            metrics,
            status=429,
        )
    synthesizer = service.synthesizer
    if synthesizer is None:
        return error_response(
            ProtocolError(
                ErrorCode.TTS_UNAVAILABLE,
                "Speech synthesis is off on this server (no synthesiser installed).",
            ),
            Envelope.PHONE,
            metrics,
        )
    voice = synthesizer.voice_for(voice_id)
    try:
        audio = await service.speech(text, voice, speed)
    except SynthesisError as exc:
        log.warning("speech synthesis failed: %s", exc)
        return error_response(
            ProtocolError(ErrorCode.TTS_UNAVAILABLE, f"Speech synthesis failed: {exc}."),
            Envelope.PHONE,
            metrics,
        )
    metrics.inc("tts_requests", provider=synthesizer.name)
    return web.Response(
        body=audio,
        content_type=synthesizer.media_type,
        headers={"Cache-Control": "private, max-age=3600"},
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get(ROUTE, handle)
