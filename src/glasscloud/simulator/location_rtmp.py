"""What the simulated phone does with the cloud's location and camera-stream commands:
`request_single_location` waits for the next `location LAT LNG` (which answers it with its
correlationId), `set_location_tier` and the RTMP start/stop requests are printed, and every
`keep_rtmp_stream_alive` is acknowledged as real glasses do. Pure: replies are queued in
`outbox` for the client to send."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TYPES = frozenset(
    {
        "request_single_location",
        "set_location_tier",
        "start_rtmp_stream",
        "stop_rtmp_stream",
        "keep_rtmp_stream_alive",
    }
)


@dataclass
class PhoneHardware:
    # correlationIds of location requests not yet answered, oldest first
    location_requests: list[str] = field(default_factory=list)
    tier: str | None = None
    stream_id: str | None = None
    outbox: list[dict[str, Any]] = field(default_factory=list)

    def apply(self, frame: dict[str, Any]) -> str | None:
        """Take in one command; the line to print (None: nothing to show)."""
        kind = frame.get("type")
        if kind == "request_single_location":
            self.location_requests.append(str(frame.get("correlationId", "")))
            return f"location requested ({frame.get('accuracy', '?')}): type location LAT LNG"
        if kind == "set_location_tier":
            self.tier = str(frame.get("tier", ""))
            return f"location tier: {self.tier}"
        if kind == "start_rtmp_stream":
            self.stream_id = str(frame.get("streamId", ""))
            return (
                f"RTMP start requested by {frame.get('appId', '?')}: {frame.get('rtmpUrl', '')} "
                f"(stream {self.stream_id}; `rtmp STATUS` reports a status)"
            )
        if kind == "stop_rtmp_stream":
            self.stream_id = None
            return f"RTMP stop requested (stream {frame.get('streamId', '')})"
        if kind == "keep_rtmp_stream_alive":
            self.outbox.append(
                {
                    "type": "keep_alive_ack",
                    "streamId": frame.get("streamId"),
                    "ackId": frame.get("ackId"),
                }
            )
        return None

    def location(self, frame: dict[str, Any]) -> dict[str, Any]:
        """A typed fix: it answers the oldest waiting request, if any."""
        if self.location_requests:
            frame = {**frame, "correlationId": self.location_requests.pop(0)}
        return frame

    def rtmp_status(self, frame: dict[str, Any]) -> dict[str, Any]:
        return {**frame, "streamId": self.stream_id} if self.stream_id else frame
