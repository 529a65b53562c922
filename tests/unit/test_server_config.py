"""The connection-admission and key-check settings: sane defaults, read from
GLASSCLOUD_<NAME> (the CLI has no flags for them yet), bad values named."""

from __future__ import annotations

import pytest

from glasscloud.server.config import ServerConfig
from glasscloud.server.config_sources import ConfigError, ServeFlags, server_config_from

PHONE = {"GLASSCLOUD_ASR_PROVIDER": "phone"}


def test_connection_settings_have_sane_defaults():
    config = server_config_from(ServeFlags(), PHONE)
    assert (config.header_timeout, config.keepalive_timeout) == (10.0, 15.0)
    assert (config.max_pending_per_address, config.fd_reserve) == (64, 128)
    assert config.key_check_interval == 2.0 == ServerConfig().key_check_interval


def test_connection_settings_read_the_environment():
    environ = {
        **PHONE,
        "GLASSCLOUD_HEADER_TIMEOUT": "2.5",
        "GLASSCLOUD_KEEPALIVE_TIMEOUT": "0",
        "GLASSCLOUD_MAX_PENDING_PER_ADDRESS": "8",
        "GLASSCLOUD_FD_RESERVE": "32",
        "GLASSCLOUD_KEY_CHECK_INTERVAL": "0.5",
    }
    config = server_config_from(ServeFlags(), environ)
    assert (config.header_timeout, config.keepalive_timeout) == (2.5, 0.0)
    assert (config.max_pending_per_address, config.fd_reserve) == (8, 32)
    assert config.key_check_interval == 0.5


@pytest.mark.parametrize("raw", ["soon", "-1", "inf", "nan"])
def test_unusable_seconds_name_the_variable(raw):
    environ = {**PHONE, "GLASSCLOUD_HEADER_TIMEOUT": raw}
    with pytest.raises(ConfigError, match="GLASSCLOUD_HEADER_TIMEOUT must be a number of seconds"):
        server_config_from(ServeFlags(), environ)


@pytest.mark.parametrize("raw", ["many", "-3", "1.5"])
def test_unusable_counts_name_the_variable(raw):
    environ = {**PHONE, "GLASSCLOUD_MAX_PENDING_PER_ADDRESS": raw}
    with pytest.raises(ConfigError, match="GLASSCLOUD_MAX_PENDING_PER_ADDRESS must be a whole"):
        server_config_from(ServeFlags(), environ)
