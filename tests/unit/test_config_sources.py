"""Flags and GLASSCLOUD_* variables into a ServerConfig, without argparse or os.environ: the
environment is a plain mapping here (the CLI's own tests cover the same rules end to end)."""

from __future__ import annotations

import os

import pytest

from glasscloud.server.config import ServerConfig
from glasscloud.server.config_sources import (
    ConfigError,
    ServeFlags,
    database_url_from,
    port_number,
    secret_from,
    server_config_from,
)

PHONE = {"GLASSCLOUD_ASR_PROVIDER": "phone"}


def test_the_environment_is_the_mapping_given_not_the_process_one(monkeypatch):
    monkeypatch.setenv("GLASSCLOUD_PORT", "1111")
    config = server_config_from(ServeFlags(), {**PHONE, "GLASSCLOUD_PORT": "9000"})
    assert config.port == 9000
    assert server_config_from(ServeFlags(), PHONE).port == ServerConfig().port
    assert os.environ["GLASSCLOUD_PORT"] == "1111"


def test_each_simple_setting_reads_its_flag_then_its_variable():
    environ = {
        **PHONE,
        "GLASSCLOUD_HOST": " 0.0.0.0 ",
        "GLASSCLOUD_LOG_LEVEL": "warning",
        "GLASSCLOUD_DASHBOARD_PACKAGE": "com.env.dash",
        "GLASSCLOUD_PUBLIC_URL": "https://env.example",
    }
    from_env = server_config_from(ServeFlags(), environ)
    assert (from_env.host, from_env.log_level) == ("0.0.0.0", "WARNING")
    assert (from_env.dashboard_package, from_env.public_url) == (
        "com.env.dash",
        "https://env.example",
    )
    flags = ServeFlags(host="::", log_level="error", dashboard_package="com.flag.dash")
    from_flags = server_config_from(flags, environ)
    assert (from_flags.host, from_flags.log_level, from_flags.dashboard_package) == (
        "::",
        "ERROR",
        "com.flag.dash",
    )


def test_an_empty_url_flag_leaves_the_default():
    config = server_config_from(ServeFlags(public_url="", internal_url=""), PHONE)
    assert (config.public_url, config.internal_url) == (None, None)


@pytest.mark.parametrize(
    ("flags", "environ", "message"),
    [
        (ServeFlags(port="0"), {}, "--port must be a whole number from 1 to 65535, not '0'"),
        (ServeFlags(), {"GLASSCLOUD_PORT": "x"}, "GLASSCLOUD_PORT must be a whole number"),
        (ServeFlags(dashboard_package=" "), {}, "--dashboard-package must not be empty"),
        (ServeFlags(system_networks=[]), {}, "--system-networks must name at least one"),
        (ServeFlags(asr_provider="whisper"), {}, "--asr-provider: unknown speech-recognition"),
        (ServeFlags(), {"GLASSCLOUD_ASR_WORKERS": "-1"}, "GLASSCLOUD_ASR_WORKERS must be"),
    ],
)
def test_a_bad_value_names_where_it_came_from(flags, environ, message):
    with pytest.raises(ConfigError) as info:
        server_config_from(flags, {**PHONE, **environ})
    assert message in str(info.value)


def test_speech_recognition_options_come_from_the_mapping():
    environ = {
        "GLASSCLOUD_ASR_PROVIDER": "vosk",
        "GLASSCLOUD_ASR_VOSK_MODEL": "/models/en",
        "GLASSCLOUD_ASR_WORKERS": "2",
    }
    config = server_config_from(ServeFlags(), environ)
    assert config.asr_provider == "vosk"
    assert config.asr_options == (("model", "/models/en"),)
    assert config.asr_workers == 2
    assert server_config_from(ServeFlags(asr_provider="none"), {}).asr_provider == "none"


def test_database_and_secret(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    environ = {"GLASSCLOUD_DATABASE": "sqlite:///env.db", "GLASSCLOUD_SECRET": ""}
    assert database_url_from(None, environ) == "sqlite:///env.db"
    assert database_url_from("postgresql://h/db", environ) == "postgresql://h/db"
    assert database_url_from(None, {}) == f"sqlite:///{tmp_path}/glasscloud.db"
    with pytest.raises(ConfigError, match="unsupported database URL 'mysql://x'"):
        database_url_from("mysql://x", {})
    assert secret_from(environ) is None  # empty is unset
    assert secret_from({"GLASSCLOUD_SECRET": "s"}) == "s"


def test_port_number():
    assert port_number(" 8002 ", "--port") == 8002
    with pytest.raises(ConfigError, match="--app-port must be"):
        port_number("70000", "--app-port")


def test_admission_flags_reach_the_config_and_beat_the_environment():
    flags = ServeFlags(header_timeout="3", max_pending_per_address="0", fd_reserve="64")
    config = server_config_from(flags, {"GLASSCLOUD_HEADER_TIMEOUT": "9"})
    assert (config.header_timeout, config.max_pending_per_address, config.fd_reserve) == (
        3.0,
        0,
        64,
    )
