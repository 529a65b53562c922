"""The translation provider interface. A provider is chosen by name in the configuration
(`GLASSCLOUD_TRANSLATION_PROVIDER`); its class is found by `glasscloud.translation.registry`
(an entry point in the `glasscloud.translation_providers` group naming the class, or a
`package.module:Class` path). Its settings come from `GLASSCLOUD_TRANSLATION_<NAME>_<KEY>`
variables (`GLASSCLOUD_TRANSLATION_DEEPL_API_KEY` -> `options["api_key"]` for `deepl`).

`translate` is a coroutine on the server's event loop: a provider calling a web API awaits
its HTTP client; one that computes on this machine (a local model) must run that work with
`asyncio.to_thread` or a process pool, never on the loop (every socket would stall).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import ClassVar


class TranslationProvider(ABC):
    name: ClassVar[str]

    def __init__(self, options: Mapping[str, str] | None = None) -> None:
        self.options = dict(options or {})

    def supports(self, source: str, target: str) -> bool:
        """Whether it translates `source` (a code like es-ES, or `all`) to `target`."""
        return True

    @abstractmethod
    async def translate(self, text: str, source: str, target: str) -> str:
        """`text` (one final utterance in `source`) in `target`. Raise to report a failure:
        the message reaches the subscribed Apps."""

    async def close(self) -> None:
        """Release what it holds (HTTP sessions); called at shutdown."""
        return None
