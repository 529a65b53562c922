"""Speech-recognition providers and the machinery that runs them off the event loop.

- `provider`: the two provider interfaces (`LocalProvider` for CPU recognisers run in worker
  processes, `NetworkProvider` for streaming speech services reached over the network);
- `registry`: providers by name (built-ins plus the `glasscloud.asr_providers` entry points);
- `workers`: the worker-process pool behind local providers;
- `network`: the asyncio runner behind network providers;
- `pocketsphinx`, `vosk`: the shipped providers.

`build_backend()` turns a configured provider name into the `RecognizerBackend` the core's
`TranscriptionHub` drives.
"""

from glasscloud.asr.registry import build_backend, default_provider_name, provider_names

__all__ = ["build_backend", "default_provider_name", "provider_names"]
