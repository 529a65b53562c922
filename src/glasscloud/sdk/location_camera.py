"""`session.location` and `session.camera`: the user's position (a stream of fixes, or the
latest fix on request) and streaming the glasses' camera to an RTMP server. Translation is
`session.events.on_translation(source, target, handler)`."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from glasscloud.protocol.errors import ProtocolError
from glasscloud.protocol.jsonio import encode
from glasscloud.protocol.location import DEFAULT_TIER, check_tier
from glasscloud.sdk.errors import CloudError, InvalidStreamError, SdkError
from glasscloud.sdk.models import Location
from glasscloud.sdk.registry import Registration

if TYPE_CHECKING:
    from glasscloud.sdk.session import AppSession

LOCATION_STREAM = "location_stream"
ENDED = frozenset({"stopped", "error", "timeout", "disconnected", "reconnect_failed"})
_ids = itertools.count(1)


def _tier(accuracy: str) -> str:
    """`accuracy` if the phone knows that tier, else InvalidStreamError (nothing is sent)."""
    try:
        return check_tier(accuracy, "accuracy")
    except ProtocolError as error:
        raise InvalidStreamError(error.message) from None


class LocationManager:
    def __init__(self, session: AppSession) -> None:
        self._session = session

    def subscribe_to_stream(
        self, handler: Callable[[Location], Any], accuracy: str = DEFAULT_TIER
    ) -> Registration:
        """Every fix, as the phone reports it at `accuracy` (a tier: `realtime`, `high`,
        `standard`, `tenMeters`, ... `reduced`; sent, unlike @mentra/sdk 2.1.29). Needs the
        LOCATION permission; `.remove()` the returned registration to stop."""
        self._session.events.rates[LOCATION_STREAM] = _tier(accuracy)
        return self._session.events.on(LOCATION_STREAM, handler, Location.from_data)

    async def get_latest_location(
        self, accuracy: str = DEFAULT_TIER, timeout: float = 15.0
    ) -> Location:
        """A fix no older than `accuracy` allows, from the cloud's last one or asked of the
        phone. Raises CloudError (LOCATION_UNAVAILABLE, PERMISSION_DENIED) or
        SdkError on timeout."""
        _tier(accuracy)
        session = self._session
        correlation_id = f"poll_{int(time.time() * 1000)}_{next(_ids)}"
        answer: asyncio.Future[Location | CloudError] = asyncio.get_running_loop().create_future()

        def on_fix(location: Location) -> None:
            if location.raw.get("correlationId") == correlation_id and not answer.done():
                answer.set_result(location)

        def on_error(error: SdkError) -> None:
            if isinstance(error, CloudError) and correlation_id in str(error) and not answer.done():
                answer.set_result(error)

        listening = session.events.on_location(on_fix)
        errors = session.events.on_error(on_error)
        try:
            session.send(
                encode(
                    {
                        "type": "location_poll_request",
                        "correlationId": correlation_id,
                        "packageName": session.package_name,
                        "sessionId": session.session_id,
                        "accuracy": accuracy,
                        "timestamp": session._timestamp(),
                    }
                )
            )
            try:
                result = await asyncio.wait_for(answer, timeout)
            except TimeoutError:
                raise SdkError(f"location poll {correlation_id} timed out") from None
        finally:
            listening.remove()
            errors.remove()
        if isinstance(result, CloudError):
            raise result
        return result


class CameraStreams:
    def __init__(self, session: AppSession) -> None:
        self._session = session
        self._status_handlers: list[Registration] = []
        self.stream_id: str | None = None
        self.status: str | None = None

    @property
    def streaming(self) -> bool:
        return self.status is not None and self.status not in ENDED

    def on_stream_status(self, handler: Callable[[dict[str, Any]], Any]) -> Registration:
        """`handler(status)` for each `rtmp_stream_status` of this App's stream (`status`,
        `streamId`, `errorDetails`, `stats`). Subscribes nothing: the cloud sends it to the
        App that started the stream only."""
        registration = Registration("rtmp_stream_status", handler, self._status_handlers.remove)
        self._status_handlers.append(registration)
        return registration

    def start_stream(
        self,
        rtmp_url: str,
        *,
        video: dict[str, Any] | None = None,
        audio: dict[str, Any] | None = None,
        stream: dict[str, Any] | None = None,
    ) -> None:
        """Ask the glasses to stream to `rtmp_url` (`rtmp://` or `rtmps://`); the answer comes
        as statuses (`initializing`, `streaming`, ... or `error` with `errorDetails`, plus a
        CloudError for a refusal). Needs the CAMERA permission."""
        if self.streaming:
            raise SdkError("already streaming; stop_stream() first")
        body: dict[str, Any] = {
            "type": "rtmp_stream_request",
            "packageName": self._session.package_name,
            "sessionId": self._session.session_id,
            "rtmpUrl": rtmp_url,
        }
        for name, value in (("video", video), ("audio", audio), ("stream", stream)):
            if value is not None:
                body[name] = value
        body["timestamp"] = self._session._timestamp()
        self.status = "requested"
        self._session.send(encode(body))

    def stop_stream(self) -> None:
        """Stop this App's stream (nothing happens when none runs)."""
        if not self.streaming:
            return
        body = {
            "type": "rtmp_stream_stop",
            "packageName": self._session.package_name,
            "sessionId": self._session.session_id,
            "streamId": self.stream_id,
            "timestamp": self._session._timestamp(),
        }
        self._session.send(encode({k: v for k, v in body.items() if v is not None}))

    def apply_status(self, frame: dict[str, Any]) -> None:
        """One `rtmp_stream_status` from the cloud (called by the session)."""
        self.status = str(frame.get("status", ""))
        self.stream_id = None if self.status in ENDED else frame.get("streamId") or None
        emit = self._session._dispatcher.emit
        for registration in list(self._status_handlers):
            emit(registration, frame)
