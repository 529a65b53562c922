"""New server settings read GLASSCLOUD_<NAME> (the CLI flags come later) and refuse
unusable values with a sentence naming the variable."""

from __future__ import annotations

import pytest

from glasscloud.server.config import ConfigError, ServerConfig


def test_connection_settings_have_sane_defaults(monkeypatch):
    for name in ("HEADER_TIMEOUT", "KEEPALIVE_TIMEOUT", "MAX_PENDING_PER_ADDRESS", "FD_RESERVE"):
        monkeypatch.delenv(f"GLASSCLOUD_{name}", raising=False)
    config = ServerConfig()
    assert (config.header_timeout, config.keepalive_timeout) == (10.0, 15.0)
    assert (config.max_pending_per_address, config.fd_reserve) == (64, 128)
    assert config.key_check_interval == 2.0


def test_connection_settings_read_the_environment(monkeypatch):
    monkeypatch.setenv("GLASSCLOUD_HEADER_TIMEOUT", "2.5")
    monkeypatch.setenv("GLASSCLOUD_MAX_PENDING_PER_ADDRESS", "8")
    monkeypatch.setenv("GLASSCLOUD_KEY_CHECK_INTERVAL", "0.5")
    config = ServerConfig()
    assert (config.header_timeout, config.max_pending_per_address) == (2.5, 8)
    assert config.key_check_interval == 0.5


@pytest.mark.parametrize("raw", ["soon", "-1", "inf", "nan"])
def test_unusable_values_name_the_variable(monkeypatch, raw):
    monkeypatch.setenv("GLASSCLOUD_HEADER_TIMEOUT", raw)
    with pytest.raises(ConfigError, match="GLASSCLOUD_HEADER_TIMEOUT must be a number >= 0"):
        ServerConfig()
