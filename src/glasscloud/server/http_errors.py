"""The one way the shell answers an HTTP request with an error.

Three envelopes exist on the wire, each kept exactly as its clients read it:
- `PHONE`: `{"success": false, "error": {code, message}}` (phone REST, App server routes);
- `DEVELOPER`: `{"error": {code, message, field?, hint}}` (developer API, `/app-ws` refusals);
- `GLASSES`: a `connection_error` object (a refused `/glasses-ws` upgrade).
The status comes from the code (`protocol.errors.HTTP_STATUS`), and every refusal is counted
as `http_errors{code}`.
"""

from __future__ import annotations

import time
from enum import Enum
from typing import Any

from aiohttp import web

from glasscloud.core.metrics import Metrics
from glasscloud.protocol.errors import ProtocolError, error_body, http_status
from glasscloud.protocol.glasses import connection_error_body
from glasscloud.protocol.jsonio import encode, iso_timestamp


class Envelope(Enum):
    PHONE = "phone"
    DEVELOPER = "developer"
    GLASSES = "glasses"


def body_of(error: ProtocolError, envelope: Envelope) -> dict[str, Any]:
    if envelope is Envelope.PHONE:
        return {"success": False, "error": error_body(error, with_hint=False)}
    if envelope is Envelope.GLASSES:
        return connection_error_body(
            error.code, error.message, iso_timestamp(time.time()), error.field
        )
    return {"error": error_body(error)}


def error_response(
    error: ProtocolError,
    envelope: Envelope,
    metrics: Metrics | None = None,
    status: int | None = None,
) -> web.Response:
    """The refusal as a response to return."""
    if metrics is not None:
        metrics.inc("http_errors", code=error.code.value)
    return web.json_response(
        body_of(error, envelope), status=status or http_status(error.code), dumps=encode
    )


def error_exception(
    error: ProtocolError, envelope: Envelope, metrics: Metrics | None = None
) -> web.HTTPException:
    """The refusal as an exception to raise from a helper deep in a handler (a 401 for a
    missing or bad token, for instance)."""
    response = error_response(error, envelope, metrics)
    exc = web.HTTPException(text=response.text, content_type="application/json")
    exc.set_status(response.status)
    return exc
