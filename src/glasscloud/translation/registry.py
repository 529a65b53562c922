"""Translation providers by name, and the backend that runs one for the sessions.

Any installed package can add a provider with an entry point in the
`glasscloud.translation_providers` group naming a `TranslationProvider` subclass:

    [project.entry-points."glasscloud.translation_providers"]
    mycloud = "mypackage.translate:MyCloudTranslator"

`GLASSCLOUD_TRANSLATION_PROVIDER` names it (or gives a `package.module:Class` path); unset
or `none`: no translation (translation subscriptions are refused, naming what is missing).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

from glasscloud.core.translation import Done
from glasscloud.translation.provider import TranslationProvider

GROUP = "glasscloud.translation_providers"
NONE = "none"
TIMEOUT = 10.0  # seconds one translation may take before it counts as failed

log = logging.getLogger("glasscloud.translation")


class UnknownTranslationProvider(LookupError):
    pass


def provider_names() -> list[str]:
    return sorted({NONE, *(ep.name for ep in entry_points(group=GROUP))})


def load_provider(name: str, options: Mapping[str, str] | None = None) -> TranslationProvider:
    path = next((ep.value for ep in entry_points(group=GROUP) if ep.name == name), None)
    if path is None and ":" in name:
        path = name
    if path is None:
        raise UnknownTranslationProvider(
            f"unknown translation provider '{name}' (known: {', '.join(provider_names())}, "
            "or a package.module:Class path)"
        )
    module, _, qualname = path.partition(":")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    if not (isinstance(obj, type) and issubclass(obj, TranslationProvider)):
        raise TypeError(f"{path} is not a TranslationProvider subclass")
    return obj(options)


def settings_from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """GLASSCLOUD_TRANSLATION_PROVIDER and GLASSCLOUD_TRANSLATION_<NAME>_<KEY> -> the
    ServerConfig fields `translation_provider`, `translation_options`."""
    name = (environ.get("GLASSCLOUD_TRANSLATION_PROVIDER") or NONE).strip()
    label = name.rpartition(":")[2] if ":" in name else name
    prefix = "GLASSCLOUD_TRANSLATION_" + label.upper().replace("-", "_") + "_"
    options = {k[len(prefix) :].lower(): v for k, v in environ.items() if k.startswith(prefix)}
    return {"translation_provider": name, "translation_options": tuple(sorted(options.items()))}


class AsyncTranslator:
    """The core's `Translator` port over a provider: one task per translation on the loop,
    each bounded by `timeout`; `done` is called on the loop thread."""

    def __init__(self, provider: TranslationProvider, timeout: float = TIMEOUT) -> None:
        self.provider = provider
        self.name = getattr(provider, "name", type(provider).__name__)
        self.timeout = timeout
        self._tasks: set[asyncio.Task[None]] = set()

    def supports(self, source: str, target: str) -> bool:
        return self.provider.supports(source, target)

    def translate(self, text: str, source: str, target: str, done: Done) -> None:
        task = asyncio.get_running_loop().create_task(self._run(text, source, target, done))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, text: str, source: str, target: str, done: Done) -> None:
        try:
            result = await asyncio.wait_for(
                self.provider.translate(text, source, target), self.timeout
            )
        except asyncio.CancelledError:
            raise
        except TimeoutError:
            done(None, f"the provider did not answer within {self.timeout:g} s")
        except Exception as error:  # a provider's failure, told to the Apps
            log.warning("translation failed: %r", error)
            done(None, str(error) or type(error).__name__)
        else:
            done(result, None)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.provider.close()


def build_translator(name: str, options: Mapping[str, str] | None = None) -> AsyncTranslator | None:
    """The sessions' translator for a configured provider (None for `none`)."""
    if name in ("", NONE):
        return None
    return AsyncTranslator(load_provider(name, options))
