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


def test_webhook_concurrency_from_flag_variable_file_or_default(tmp_path):
    assert server_config_from(ServeFlags(), {}).webhook_concurrency == 64
    env = {"GLASSCLOUD_WEBHOOK_CONCURRENCY": "16"}
    assert server_config_from(ServeFlags(), env).webhook_concurrency == 16
    assert server_config_from(ServeFlags(webhook_concurrency="8"), env).webhook_concurrency == 8
    path = tmp_path / "g.toml"
    path.write_text("webhook_concurrency = 128\n")
    assert server_config_from(ServeFlags(config=str(path)), {}).webhook_concurrency == 128
    with pytest.raises(ConfigError, match="--webhook-concurrency must be a whole number >= 1"):
        server_config_from(ServeFlags(webhook_concurrency="0"), {})


def test_cluster_settings_come_from_flags_variables_and_the_file(tmp_path):
    config = server_config_from(
        ServeFlags(redis="redis://127.0.0.1:6390/1", node_id="node-a", lease_seconds="4.5"),
        PHONE,
    )
    assert (config.redis, config.node_id, config.lease_seconds) == (
        "redis://127.0.0.1:6390/1",
        "node-a",
        4.5,
    )
    from_env = server_config_from(ServeFlags(), {**PHONE, "GLASSCLOUD_REDIS": "redis://r:6379/0"})
    assert from_env.redis == "redis://r:6379/0" and from_env.lease_seconds == 10.0
    path = tmp_path / "glasscloud.toml"
    path.write_text('redis = "rediss://:pw@r:6380/0"\nnode-id = "node-b"\n')
    from_file = server_config_from(ServeFlags(config=str(path)), PHONE)
    assert (from_file.redis, from_file.node_id) == ("rediss://:pw@r:6380/0", "node-b")
    assert server_config_from(ServeFlags(), PHONE).redis is None  # no cluster by default


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (ServeFlags(redis="http://127.0.0.1:6379"), "--redis must be a Redis URL"),
        (ServeFlags(redis="redis://:secret@h:1/0x", node_id="a b"), "--node-id must be"),
        (ServeFlags(lease_seconds="0.2"), "--lease-seconds must be from 1 to 300"),
        (ServeFlags(lease_seconds="ten"), "--lease-seconds must be a number"),
    ],
)
def test_bad_cluster_settings_name_the_flag(flags, message):
    with pytest.raises(ConfigError, match=message):
        server_config_from(flags, PHONE)


def test_a_bad_redis_url_is_shown_without_its_password():
    with pytest.raises(ConfigError) as refused:
        server_config_from(ServeFlags(redis="http://user:hunter2@h:6379"), PHONE)
    assert "hunter2" not in str(refused.value)
