"""Synthesisers by name. Built-in: `espeak` (espeak-ng); `none` turns `/api/tts` off
(answered `TTS_UNAVAILABLE`). Any installed package can add one with an entry point in the
`glasscloud.tts_providers` group naming a `SpeechSynthesizer` subclass:

    [project.entry-points."glasscloud.tts_providers"]
    mycloud = "mypackage.tts:MyCloudSynthesizer"

Chosen by `GLASSCLOUD_TTS_PROVIDER` (default: `espeak` when espeak-ng is installed, else
`none`); its options come from `GLASSCLOUD_TTS_<PROVIDER>_<KEY>`.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from importlib.metadata import entry_points

from glasscloud.tts.provider import SpeechSynthesizer

GROUP = "glasscloud.tts_providers"
NONE = "none"
BUILTIN = {"espeak": "glasscloud.tts.espeak:EspeakSynthesizer"}


class UnknownSynthesizer(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"unknown speech-synthesis provider '{name}' (known: {', '.join(provider_names())})"
        )


def provider_names() -> list[str]:
    return sorted({NONE, *BUILTIN, *(ep.name for ep in entry_points(group=GROUP))})


def load_class(name: str) -> type[SpeechSynthesizer]:
    path = next((ep.value for ep in entry_points(group=GROUP) if ep.name == name), None)
    path = path or BUILTIN.get(name)
    if path is None:
        raise UnknownSynthesizer(name)
    module, _, qualname = path.partition(":")
    obj: object = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    if not (isinstance(obj, type) and issubclass(obj, SpeechSynthesizer)):
        raise TypeError(f"{path} is not a SpeechSynthesizer subclass")
    return obj


def options_from_env(name: str, environ: Mapping[str, str]) -> dict[str, str]:
    prefix = f"GLASSCLOUD_TTS_{name.upper().replace('-', '_')}_"
    return {k[len(prefix) :].lower(): v for k, v in environ.items() if k.startswith(prefix)}


def build_synthesizer(
    name: str | None = None, environ: Mapping[str, str] | None = None
) -> SpeechSynthesizer | None:
    """The configured synthesiser (None: speech synthesis is off)."""
    environ = os.environ if environ is None else environ
    if name is None:
        name = environ.get("GLASSCLOUD_TTS_PROVIDER") or ""
    if not name:
        from glasscloud.tts.espeak import EspeakSynthesizer

        name = "espeak" if EspeakSynthesizer.available() else NONE
    if name == NONE:
        return None
    cls = load_class(name)
    return cls(options_from_env(name, environ))
