"""Providers by name. Built-ins are listed here; any installed package can add one with an
entry point in the `glasscloud.asr_providers` group naming a `LocalProvider` or
`NetworkProvider` subclass:

    [project.entry-points."glasscloud.asr_providers"]
    mycloud = "mypackage.asr:MyCloudProvider"

`phone` (or `none`) means no recognition on the server: captions come only from the phones'
`local_transcription`, which the session routes whatever the provider.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points

from glasscloud.asr.provider import LocalProvider, NetworkProvider
from glasscloud.core.clock import Clock
from glasscloud.core.recognition import TranscriptionHub
from glasscloud.core.transcription import Deliver, RecognizerBackend, Report

GROUP = "glasscloud.asr_providers"
PHONE = "phone"
NO_SERVER_RECOGNITION = frozenset({PHONE, "none"})
BUILTIN = {
    "pocketsphinx": "glasscloud.asr.pocketsphinx:PocketsphinxProvider",
    "vosk": "glasscloud.asr.vosk:VoskProvider",
}


class UnknownProvider(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"unknown speech-recognition provider '{name}' (known: {', '.join(provider_names())})"
        )


def provider_names() -> list[str]:
    names = {PHONE, *BUILTIN, *(ep.name for ep in entry_points(group=GROUP))}
    return sorted(names)


def load_class(path: str) -> type[LocalProvider] | type[NetworkProvider]:
    """`package.module:Class` -> the class (also used inside worker processes)."""
    module, _, qualname = path.partition(":")
    obj: object = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    if not (isinstance(obj, type) and issubclass(obj, (LocalProvider, NetworkProvider))):
        raise TypeError(f"{path} is not a LocalProvider or NetworkProvider subclass")
    return obj


def class_path(name: str) -> str:
    for ep in entry_points(group=GROUP):
        if ep.name == name:
            return ep.value
    if name in BUILTIN:
        return BUILTIN[name]
    raise UnknownProvider(name)


def default_provider_name() -> str:
    """`pocketsphinx` when it is installed (the `asr` extra), else `phone`."""
    from glasscloud.asr.pocketsphinx import PocketsphinxProvider

    return PocketsphinxProvider.name if PocketsphinxProvider.available() else PHONE


def build_backend(
    name: str,
    options: Mapping[str, str] | None = None,
    workers: int = 0,
    loop: asyncio.AbstractEventLoop | None = None,
) -> RecognizerBackend | None:
    """The backend for a configured provider name, or None for no server recognition.
    `options` are the provider's own settings; `workers` is the number of worker processes
    for a local provider (0: one per CPU core)."""
    if name in NO_SERVER_RECOGNITION:
        return None
    path = class_path(name)
    cls = load_class(path)
    provider = cls(options)
    if isinstance(provider, LocalProvider):
        from glasscloud.asr.workers import ProcessBackend

        return ProcessBackend(path, provider, options or {}, workers, loop)
    from glasscloud.asr.network import NetworkBackend

    return NetworkBackend(provider, loop)


def hub_factory(
    backend: RecognizerBackend | None, clock: Clock
) -> Callable[[str, Deliver, Report], TranscriptionHub] | None:
    """The session registry's `transcription_factory` for a backend (None: no recognition)."""
    if backend is None:
        return None
    return TranscriptionHub.factory(backend, clock)
