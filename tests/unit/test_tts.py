"""Speech synthesis: the registry, espeak-ng's WAV, and the rewriting and signing of the
SDK's `speak()` URL."""

from __future__ import annotations

import io
import wave
from urllib.parse import parse_qs, urlsplit

import pytest

from glasscloud.server.config import ServerConfig
from glasscloud.server.tts_api import TtsService, TtsUrls
from glasscloud.tts.espeak import EspeakSynthesizer
from glasscloud.tts.provider import SynthesisError, fix_wav_sizes
from glasscloud.tts.registry import UnknownSynthesizer, build_synthesizer, provider_names

SECRET = "s3cret"


def urls(**config) -> TtsUrls:
    cfg = ServerConfig(port=8002, public_url="http://glass.example:8002", **config)
    return TtsUrls(lambda: cfg, SECRET)


def test_the_sdk_speak_url_becomes_this_servers_signed_url():
    rewritten = urls().rewrite(
        "https://glass.example:8002/api/tts?text=Hello+there&voice_id=abc&gc_user=eve",
        "alice@example.com",
        "com.app",
    )
    parts = urlsplit(rewritten)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "http://glass.example:8002/api/tts"
    query = parse_qs(parts.query)
    assert query["text"] == ["Hello there"] and query["voice_id"] == ["abc"]
    assert query["gc_user"] == ["alice@example.com"]  # a forged gc_user is dropped
    service = TtsService(None, SECRET)
    flat = {k: v[0] for k, v in query.items()}
    assert service.caller(flat, "Hello there", "10.0.0.9") == "app:alice@example.com:com.app"
    # the signature covers the text: another text counts against the address
    assert service.caller(flat, "Something else", "10.0.0.9") == "addr:10.0.0.9"


def test_other_urls_pass_unchanged():
    u = urls(internal_url="http://glasscloud:8002")
    for url in (
        "https://elsewhere.example/api/tts?text=hi",
        "http://glass.example:8002/sound.mp3",
    ):
        assert u.rewrite(url, "a", "b") == url
    assert u.rewrite("https://glasscloud:8002/api/tts?text=hi", "a", "b").startswith(
        "http://glass.example:8002/api/tts?text=hi&gc_user=a"
    )


def test_rate_limit_per_caller():
    service = TtsService(None, SECRET)
    assert all(service.allow("app:a:b", 0.0) for _ in range(10))
    assert not service.allow("app:a:b", 0.0)
    assert service.allow("app:c:d", 0.0)
    assert service.allow("app:a:b", 0.6)  # 2 per second refill


def test_registry_knows_espeak_and_none_and_refuses_unknown_names():
    assert {"espeak", "none"} <= set(provider_names())
    assert build_synthesizer("none") is None
    with pytest.raises(UnknownSynthesizer):
        build_synthesizer("nope")
    synth = build_synthesizer("espeak", {"GLASSCLOUD_TTS_ESPEAK_VOICE": "en-gb"})
    assert isinstance(synth, EspeakSynthesizer) and synth.default_voice == "en-gb"


def test_streamed_wav_sizes_are_fixed_and_non_wav_refused():
    header = bytearray(b"RIFF\xff\xff\xff\x7fWAVEfmt \x10\x00\x00\x00")
    header += b"\x01\x00\x01\x00\x22\x56\x00\x00\x44\xac\x00\x00\x02\x00\x10\x00"
    header += b"data\xff\xff\xff\x7f" + b"\x01\x00" * 100
    with wave.open(io.BytesIO(fix_wav_sizes(bytes(header)))) as wav:
        assert wav.getnframes() == 100
    with pytest.raises(SynthesisError):
        fix_wav_sizes(b"ID3 not a wav file at all, an mp3 perhaps........")


@pytest.mark.skipif(not EspeakSynthesizer.available(), reason="espeak-ng is not installed")
async def test_espeak_speaks_and_unknown_voices_get_the_default():
    synth = EspeakSynthesizer()
    assert synth.voice_for("8IRrZoKuYTPnpLc6lM6a") == "en-us"  # an ElevenLabs id
    assert synth.voice_for("en-GB") == "en-gb"
    audio = await synth.synthesize("-v xx --help", "en-us", 1.0, 10)  # text, never options
    with wave.open(io.BytesIO(audio)) as wav:
        assert wav.getnframes() / wav.getframerate() > 0.5
