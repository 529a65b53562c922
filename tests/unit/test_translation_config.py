"""Choosing a translation provider: GLASSCLOUD_TRANSLATION_PROVIDER and its options."""

from __future__ import annotations

import asyncio

import pytest

from glasscloud.server.config_sources import ConfigError, ServeFlags, server_config_from
from glasscloud.translation.registry import AsyncTranslator, build_translator

PHONE = {"GLASSCLOUD_ASR_PROVIDER": "phone"}
PROVIDER = "tests.support.translation:WordTableProvider"


def test_no_provider_by_default_and_options_by_name():
    assert server_config_from(ServeFlags(), PHONE).translation_provider == "none"
    assert build_translator("none") is None
    environ = {
        **PHONE,
        "GLASSCLOUD_TRANSLATION_PROVIDER": PROVIDER,
        "GLASSCLOUD_TRANSLATION_WORDTABLEPROVIDER_API_KEY": "k",
    }
    config = server_config_from(ServeFlags(), environ)
    assert config.translation_provider == PROVIDER
    assert config.translation_options == (("api_key", "k"),)


def test_an_unknown_provider_is_a_config_error_naming_the_variable():
    environ = {**PHONE, "GLASSCLOUD_TRANSLATION_PROVIDER": "babelfish"}
    with pytest.raises(ConfigError, match="GLASSCLOUD_TRANSLATION_PROVIDER: unknown"):
        server_config_from(ServeFlags(), environ)


async def test_the_backend_runs_the_provider_and_reports_its_failures():
    translator = build_translator(PROVIDER)
    assert isinstance(translator, AsyncTranslator) and translator.name == "word-table"
    results: list[tuple[str | None, str | None]] = []
    translator.translate("hola mundo", "es-ES", "en-US", lambda t, e: results.append((t, e)))
    translator.translate("fail now", "es-ES", "en-US", lambda t, e: results.append((t, e)))
    await asyncio.sleep(0.05)
    assert results[0] == ("hello world", None)
    assert results[1][0] is None and "refuses" in results[1][1]
    await translator.close()
