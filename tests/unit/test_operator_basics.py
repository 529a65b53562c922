"""Durations, token expiry on a driven clock, the config file and its precedence, and the
operator commands (`glasscloud config`, `dev-token list` / `revoke`, `token --expires`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from glasscloud.auth.app_tokens import developer_token_claims, issue_developer_token
from glasscloud.auth.durations import DurationError, parse_duration
from glasscloud.auth.tokens import TokenError, issue_core_token, verify_core_token
from glasscloud.cli import main
from glasscloud.protocol.errors import ErrorCode
from glasscloud.server.config_sources import ConfigError, ServeFlags, resolve, server_config_from

SECRET = "operator-test-secret-comfortably-longer-than-32-bytes"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in list(os.environ):
        if name.startswith("GLASSCLOUD_"):
            monkeypatch.delenv(name)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- durations and expiry -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("15m", 900), ("12h", 43200), ("7d", 604800), ("2w", 1209600), (" 1.5h ", 5400)],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "15", "m", "15x", "-5m", "0s", "1 d", "15mm"])
def test_a_bad_duration_says_what_one_looks_like(text):
    with pytest.raises(DurationError, match=r"e\.g\. 30s, 15m, 7d"):
        parse_duration(text)


def test_a_core_token_expires_exactly_at_exp_on_the_callers_clock():
    token = issue_core_token(SECRET, "a@example.com", expires_in=900, now=1_000_000)
    assert verify_core_token(SECRET, token, now=1_000_899) == "a@example.com"
    with pytest.raises(TokenError) as refused:
        verify_core_token(SECRET, token, now=1_000_900)
    assert refused.value.code is ErrorCode.TOKEN_EXPIRED


def test_tokens_without_exp_keep_working():
    core = issue_core_token(SECRET, "a@example.com", now=0)
    assert verify_core_token(SECRET, core, now=4e9) == "a@example.com"
    dev = issue_developer_token(SECRET, "op@example.com", now=0)
    claims = developer_token_claims(SECRET, dev, now=4e9)
    assert (claims.email, claims.token_id, claims.expires_at) == ("op@example.com", None, None)


def test_a_developer_token_carries_its_id_and_expiry():
    dev = issue_developer_token(SECRET, "op@example.com", "abc", expires_in=60, now=100)
    claims = developer_token_claims(SECRET, dev, now=159)
    assert (claims.token_id, claims.expires_at) == ("abc", 160)
    with pytest.raises(TokenError) as refused:
        developer_token_claims(SECRET, dev, now=160)
    assert refused.value.code is ErrorCode.TOKEN_EXPIRED


# -- the config file ------------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "glasscloud.toml"
    path.write_text(text)
    return str(path)


def test_flag_beats_env_beats_file_beats_default(tmp_path):
    path = write(
        tmp_path,
        'port = 9001\nhost = "0.0.0.0"\nlog-level = "debug"\ndrain_delay = 3\n'
        'metrics_networks = ["10.1.0.0/16"]\nsecret = "from-the-file"\n',
    )
    env = {"GLASSCLOUD_CONFIG": path, "GLASSCLOUD_PORT": "9002", "GLASSCLOUD_HOST": "10.0.0.1"}
    resolved = resolve(ServeFlags(port="9003"), env)
    config = resolved.config
    assert (config.port, config.host, config.log_level) == (9003, "10.0.0.1", "DEBUG")
    assert (config.drain_delay, config.metrics_networks) == (3.0, ("10.1.0.0/16",))
    assert config.secret == "from-the-file"
    assert config.keepalive_timeout == 15.0
    origins = {row["setting"]: row["source"] for row in resolved.describe()}
    assert origins["port"] == "flag"
    assert origins["host"] == "env"
    assert origins["log_level"] == origins["drain_delay"] == origins["secret"] == "file"
    assert origins["keepalive_timeout"] == "default"
    # --config beats GLASSCLOUD_CONFIG
    other = tmp_path / "other.toml"
    other.write_text("port = 9100\n")
    assert (
        server_config_from(ServeFlags(config=str(other)), {"GLASSCLOUD_CONFIG": path}).port == 9100
    )


def test_an_unknown_key_is_an_error_naming_it(tmp_path):
    path = write(tmp_path, "port = 9001\npubic_url = 'http://x'\n")
    with pytest.raises(ConfigError, match="unknown setting 'pubic_url'"):
        server_config_from(ServeFlags(config=path), {})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("port = 0\n", "glasscloud.toml: port must be a whole number"),
        ("drain_delay = -1\n", "glasscloud.toml: drain_delay must be a number of seconds"),
        ("metrics_networks = ['nonsense']\n", "'nonsense' is not a network"),
        ("port = [1]\n", "glasscloud.toml: port must be a string or a number"),
        ("port = \n", "is not valid TOML"),
    ],
)
def test_a_bad_value_in_the_file_names_the_file_and_key(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        server_config_from(ServeFlags(config=write(tmp_path, text)), {})


def test_a_missing_config_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        server_config_from(ServeFlags(), {"GLASSCLOUD_CONFIG": str(tmp_path / "nope.toml")})


def test_glasscloud_config_masks_secrets_and_says_where_each_came_from(
    capsys, tmp_path, monkeypatch
):
    path = write(
        tmp_path,
        'metrics_token = "scrape-me-please"\n'
        'database = "postgresql://gc:hunter2@db.example/gc"\nport = 9001\n',
    )
    monkeypatch.setenv("GLASSCLOUD_SECRET", "the-real-secret")
    code, out, err = run(capsys, "config", "--config", path, "--host", "0.0.0.0", "--json")
    assert (code, err) == (0, "")
    assert "hunter2" not in out and "scrape-me-please" not in out and "the-real-secret" not in out
    rows = {row["setting"]: row for row in json.loads(out)["settings"]}
    assert (rows["host"]["value"], rows["host"]["source"]) == ("0.0.0.0", "flag")
    assert rows["secret"]["value"] == "set (hidden)" and rows["secret"]["source"] == "env"
    assert rows["metrics_token"]["value"] == "set (hidden)"
    assert rows["metrics_token"]["source"] == "file"
    assert rows["database"]["value"] == "postgresql://gc:***@db.example/gc"
    assert rows["drain_delay"] == {
        "setting": "drain_delay",
        "value": 1.0,
        "source": "default",
        "from": "",
    }
    code, out, _ = run(capsys, "config", "--config", path)
    assert code == 0
    assert any(line.split()[:2] == ["port", "9001"] and "file" in line for line in out.splitlines())


# -- token commands -------------------------------------------------------------------------


def test_dev_token_list_and_revoke(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("GLASSCLOUD_SECRET", SECRET)
    db = f"sqlite:///{tmp_path}/tokens.db"
    code, token, _ = run(capsys, "dev-token", "op@example.com", "--database", db)
    assert code == 0
    claims = developer_token_claims(SECRET, token.strip())
    assert claims.expires_at is not None
    assert 89 * 86400 < claims.expires_at - claims.issued_at <= 90 * 86400
    code, never, _ = run(
        capsys, "dev-token", "ci@example.com", "--expires", "never", "--database", db
    )
    assert developer_token_claims(SECRET, never.strip()).expires_at is None

    code, out, _ = run(capsys, "dev-token", "list", "--json", "--database", db)
    listed = json.loads(out)["tokens"]
    assert [(t["email"], t["state"]) for t in listed] == [
        ("op@example.com", "active"),
        ("ci@example.com", "active"),
    ]
    assert listed[0]["id"] == claims.token_id
    code, out, _ = run(capsys, "dev-token", "revoke", claims.token_id, "--database", db)
    assert (code, out.strip()) == (0, f"revoked developer token {claims.token_id}")
    code, out, _ = run(capsys, "dev-token", "list", "--database", db)
    assert "revoked" in out.splitlines()[0] and "active" in out.splitlines()[1]
    code, _, err = run(capsys, "dev-token", "revoke", "nope", "--database", db)
    assert code == 1 and "no developer token has the id 'nope'" in err
    code, _, err = run(capsys, "dev-token", "revoke", "--database", db)
    assert code == 2 and "needs the token's ID" in err


def test_token_expires_flag(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("GLASSCLOUD_SECRET", SECRET)
    code, token, _ = run(capsys, "token", "a@example.com", "--expires", "15m")
    assert code == 0
    import jwt

    claims = jwt.decode(token.strip(), SECRET, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 900
    code, _, err = run(capsys, "token", "a@example.com", "--expires", "15 minutes")
    assert code == 2
    assert err.strip() == (
        "glasscloud: error: --expires: '15 minutes' is not a duration: use a positive number "
        "and a unit s, m, h, d or w (e.g. 30s, 15m, 7d)"
    )
