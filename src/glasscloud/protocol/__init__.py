"""Wire types for both sides (glasses and Apps), the stream-name grammar and error codes.

Pure: text in, typed objects out (or a `ProtocolError` carrying a code). Shared by the server
and by the Python App SDK.
"""

from glasscloud.protocol.errors import ErrorCode, ProtocolError

__all__ = ["ErrorCode", "ProtocolError"]
