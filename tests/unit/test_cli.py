"""The `glasscloud` command line, run in-process with main([...]) and once as a subprocess.

CLI tests are plain (sync) functions: main() runs its own event loop.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import glasscloud
from glasscloud.auth.apikeys import verify_api_key
from glasscloud.auth.tokens import verify_core_token
from glasscloud.cli import build_parser, main, server_config
from glasscloud.server.config import DEFAULT_SYSTEM_NETWORKS
from glasscloud.store import Store

KEY_LINE = re.compile(r"^API key: ([0-9a-f]{64})$")
SECRET = "cli-test-secret-that-is-comfortably-longer-than-32-bytes"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in list(os.environ):
        if name.startswith("GLASSCLOUD_"):
            monkeypatch.delenv(name)


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/glass.db"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_error_line(err: str, *fragments: str) -> None:
    """One `glasscloud: error:` sentence, last; only argparse's usage may come before it."""
    assert "Traceback" not in err
    lines = err.splitlines()
    if not err.startswith("usage:"):
        assert len(lines) == 1, err
    assert lines[-1].startswith("glasscloud: error: "), err
    assert sum(line.startswith("glasscloud: error:") for line in lines) == 1, err
    for fragment in fragments:
        assert fragment in lines[-1]


def stored_app(url: str, package: str):
    async def fetch():
        async with await Store.open(url) as store:
            return await store.get_app(package)

    return asyncio.run(fetch())


def stored_secret(url: str) -> str:
    async def fetch():
        async with await Store.open(url) as store:
            return await store.get_or_create_secret()

    return asyncio.run(fetch())


def create(capsys, db: str, package: str = "com.example.notes", *extra: str) -> str:
    code, out, err = run(
        capsys,
        "apps",
        "create",
        package,
        "--name",
        "Notes",
        "--public-url",
        "http://127.0.0.1:8100",
        "--database",
        db,
        *extra,
    )
    assert (code, err) == (0, "")
    return out


# -- apps create -----------------------------------------------------------------------------


def test_apps_create_prints_the_key_once_as_the_last_line(capsys, db):
    out = create(capsys, db, "com.example.notes", "--permission", "microphone")
    lines = out.splitlines()
    match = KEY_LINE.match(lines[-1])
    assert match, out
    assert "only once" in lines[-2]
    app = stored_app(db, "com.example.notes")
    assert verify_api_key(match.group(1), app.api_key_hash)
    assert app.permissions == ("MICROPHONE",)
    assert app.app_type == "background"
    assert app.is_system is False


def test_apps_create_json(capsys, db):
    out = create(capsys, db, "com.example.json", "--json")
    data = json.loads(out)
    assert set(data) == {"packageName", "apiKey"}
    assert data["packageName"] == "com.example.json"
    assert verify_api_key(data["apiKey"], stored_app(db, "com.example.json").api_key_hash)


def test_apps_create_all_options(capsys, db):
    create(
        capsys,
        db,
        "system.dashboard",
        "--type",
        "standard",
        "--system",
        "--permission",
        "LOCATION",
        "CAMERA",
        "--permission",
        "notifications",
    )
    app = stored_app(db, "system.dashboard")
    assert app.app_type == "standard"
    assert app.is_system is True
    assert app.permissions == ("LOCATION", "CAMERA", "NOTIFICATIONS")


def test_apps_create_duplicate_is_one_error_line(capsys, db):
    create(capsys, db, "com.example.dup")
    code, out, err = run(
        capsys, "apps", "create", "com.example.dup", "--name", "Again",
        "--public-url", "http://127.0.0.1:1", "--database", db,
    )  # fmt: skip
    assert (code, out) == (1, "")
    assert_one_error_line(err, "com.example.dup", "already exists")


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--permission", "TELEPATHY"], "permission 'TELEPATHY' is invalid"),
        (["--public-url", "ftp://x"], "public_url"),
    ],
)
def test_apps_create_invalid_values(capsys, db, extra, fragment):
    args = ["apps", "create", "com.example.bad", "--name", "Bad"]
    args += ["--public-url", "http://127.0.0.1:1", "--database", db, *extra]
    code, out, err = run(capsys, *args)
    assert (code, out) == (1, "")
    assert_one_error_line(err, fragment)


def test_apps_create_bad_package_name(capsys, db):
    code, _, err = run(
        capsys, "apps", "create", "bad/name", "--name", "N",
        "--public-url", "http://127.0.0.1:1", "--database", db,
    )  # fmt: skip
    assert code == 1
    assert_one_error_line(err, "package_name 'bad/name' is invalid")


def test_apps_create_requires_name_and_public_url(capsys, db):
    code, out, err = run(capsys, "apps", "create", "com.example.x", "--database", db)
    assert (code, out) == (2, "")
    assert_one_error_line(err, "--name", "--public-url")


def test_apps_create_rejects_an_unknown_type(capsys, db):
    code, _, err = run(
        capsys, "apps", "create", "com.example.x", "--name", "X",
        "--public-url", "http://127.0.0.1:1", "--type", "foreground", "--database", db,
    )  # fmt: skip
    assert code == 2
    assert_one_error_line(err, "--type")


# -- apps list -------------------------------------------------------------------------------


def test_apps_list_empty(capsys, db):
    assert run(capsys, "apps", "list", "--database", db) == (0, "No apps registered.\n", "")
    code, out, _ = run(capsys, "apps", "list", "--database", db, "--json")
    assert (code, json.loads(out)) == (0, [])


def test_apps_list_table_never_shows_keys_or_hashes(capsys, db):
    create(capsys, db, "org.zeta", "--permission", "CAMERA")
    create(capsys, db, "com.alpha", "--system")
    code, out, err = run(capsys, "apps", "list", "--database", db)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["PACKAGE", "NAME", "TYPE", "SYSTEM", "PERMISSIONS", "PUBLIC", "URL"]
    assert lines[1].split() == [
        "com.alpha",
        "Notes",
        "background",
        "yes",
        "-",
        "http://127.0.0.1:8100",
    ]
    assert lines[2].split() == [
        "org.zeta",
        "Notes",
        "background",
        "no",
        "CAMERA",
        "http://127.0.0.1:8100",
    ]
    for package in ("org.zeta", "com.alpha"):
        assert stored_app(db, package).api_key_hash not in out


def test_apps_list_json(capsys, db):
    create(capsys, db, "com.example.notes", "--permission", "MICROPHONE")
    code, out, _ = run(capsys, "apps", "list", "--database", db, "--json")
    assert code == 0
    [app] = json.loads(out)
    assert app == {
        "packageName": "com.example.notes",
        "name": "Notes",
        "publicUrl": "http://127.0.0.1:8100",
        "appType": "background",
        "isSystemApp": False,
        "permissions": [{"type": "MICROPHONE"}],
        "settings": [],
        "tools": [],
        "webviewURL": None,
        "keyVersion": 1,
    }
    assert stored_app(db, "com.example.notes").api_key_hash not in out


def test_database_comes_from_the_environment(capsys, db, monkeypatch):
    monkeypatch.setenv("GLASSCLOUD_DATABASE", db)
    argv = ["apps", "create", "com.example.env", "--name", "E", "--public-url", "http://1.2.3.4"]
    assert run(capsys, *argv)[0] == 0
    assert stored_app(db, "com.example.env") is not None


def test_database_defaults_to_glasscloud_db_in_the_working_directory(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run(capsys, "apps", "list")[0] == 0
    assert (tmp_path / "glasscloud.db").is_file()


def test_missing_database_directory_is_one_error_line(capsys, tmp_path):
    code, out, err = run(capsys, "apps", "list", "--database", f"sqlite:///{tmp_path}/no/x.db")
    assert (code, out) == (1, "")
    assert_one_error_line(err, "does not exist")
    assert not (tmp_path / "no").exists()


def test_unsupported_database_url_is_a_usage_error(capsys):
    code, _, err = run(capsys, "apps", "list", "--database", "mysql://x/y")
    assert code == 2
    assert_one_error_line(err, "unsupported database URL 'mysql://x/y'")


# -- apps rotate-key -------------------------------------------------------------------------


def test_rotate_key_prints_a_new_key_and_the_old_one_stops_working(capsys, db):
    old_key = KEY_LINE.match(create(capsys, db).splitlines()[-1]).group(1)
    code, out, err = run(capsys, "apps", "rotate-key", "com.example.notes", "--database", db)
    assert (code, err) == (0, "")
    new_key = KEY_LINE.match(out.splitlines()[-1]).group(1)
    app = stored_app(db, "com.example.notes")
    assert verify_api_key(new_key, app.api_key_hash)
    assert not verify_api_key(old_key, app.api_key_hash)
    assert "key version 2" in out


def test_rotate_key_json(capsys, db):
    create(capsys, db)
    argv = ["apps", "rotate-key", "com.example.notes", "--database", db, "--json"]
    code, out, _ = run(capsys, *argv)
    data = json.loads(out)
    assert (code, data["packageName"], data["keyVersion"]) == (0, "com.example.notes", 2)
    assert verify_api_key(data["apiKey"], stored_app(db, "com.example.notes").api_key_hash)


def test_rotate_key_of_unknown_app(capsys, db):
    code, out, err = run(capsys, "apps", "rotate-key", "com.example.ghost", "--database", db)
    assert (code, out) == (1, "")
    assert_one_error_line(err, "com.example.ghost")


# -- token -----------------------------------------------------------------------------------


def test_token_uses_the_stored_secret(capsys, db):
    code, out, err = run(capsys, "token", "Alice@Example.com", "--database", db)
    assert (code, err) == (0, "")
    token = out.strip()
    assert verify_core_token(stored_secret(db), token) == "alice@example.com"
    # The same secret signs the next token too.
    _, again, _ = run(capsys, "token", "bob@example.com", "--database", db)
    assert verify_core_token(stored_secret(db), again.strip()) == "bob@example.com"


def test_token_prefers_the_secret_from_the_environment(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("GLASSCLOUD_SECRET", SECRET)
    url = f"sqlite:///{tmp_path}/unused.db"
    code, out, _ = run(capsys, "token", "carol@example.com", "--database", url)
    assert code == 0
    assert verify_core_token(SECRET, out.strip()) == "carol@example.com"
    assert not (tmp_path / "unused.db").exists()


@pytest.mark.parametrize("email", ["alice", "", "   "])
def test_token_rejects_a_non_email(capsys, db, email):
    code, out, err = run(capsys, "token", email, "--database", db)
    assert (code, out) == (2, "")
    assert_one_error_line(err, "not an e-mail address")


# -- serve: argument validation only -----------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "environment", "fragment"),
    [
        (["--port", "0"], {}, "--port must be a whole number from 1 to 65535, not '0'"),
        (["--port", "65536"], {}, "--port"),
        (["--port", "http"], {}, "--port"),
        ([], {"GLASSCLOUD_PORT": "abc"}, "GLASSCLOUD_PORT must be a whole number"),
        (["--port", "\u00b2"], {}, "--port"),
        ([], {"GLASSCLOUD_SYSTEM_NETWORKS": " , "}, "must name at least one network"),
        (["--system-networks", "10.0.0.0/8", "nope"], {}, "'nope' is not a network"),
        ([], {"GLASSCLOUD_SYSTEM_NETWORKS": "10.0.0.0/8,300.1.1.1/8"}, "'300.1.1.1/8'"),
        (["--public-url", "glass.example.com"], {}, "--public-url must start with http://"),
        ([], {"GLASSCLOUD_INTERNAL_URL": "ws://x"}, "GLASSCLOUD_INTERNAL_URL must start"),
        (["--log-level", "LOUD"], {}, "--log-level must be one of"),
        (["--host", " "], {}, "--host must not be empty"),
        (["--database", "mysql://x"], {}, "unsupported database URL"),
    ],
)
def test_serve_rejects_bad_values_before_starting(capsys, monkeypatch, argv, environment, fragment):
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    code, out, err = run(capsys, "serve", *argv)
    assert (code, out) == (2, "")
    assert_one_error_line(err, fragment)


def test_serve_config_defaults(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    config = server_config(build_parser().parse_args(["serve"]))
    assert (config.host, config.port, config.log_level) == ("127.0.0.1", 8002, "INFO")
    assert config.database == f"sqlite:///{tmp_path}/glasscloud.db"
    assert config.system_networks == DEFAULT_SYSTEM_NETWORKS
    assert (config.public_url, config.internal_url, config.secret) == (None, None, None)


def test_serve_config_reads_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("GLASSCLOUD_HOST", "0.0.0.0")
    monkeypatch.setenv("GLASSCLOUD_PORT", "9000")
    monkeypatch.setenv("GLASSCLOUD_DATABASE", f"sqlite:///{tmp_path}/env.db")
    monkeypatch.setenv("GLASSCLOUD_PUBLIC_URL", "https://glass.example.com")
    monkeypatch.setenv("GLASSCLOUD_INTERNAL_URL", "http://10.0.0.5:9000")
    monkeypatch.setenv("GLASSCLOUD_SYSTEM_NETWORKS", "10.1.0.0/16, 192.168.5.0/24")
    monkeypatch.setenv("GLASSCLOUD_LOG_LEVEL", "debug")
    monkeypatch.setenv("GLASSCLOUD_SECRET", SECRET)
    config = server_config(build_parser().parse_args(["serve"]))
    assert config.host == "0.0.0.0"
    assert config.port == 9000
    assert config.database == f"sqlite:///{tmp_path}/env.db"
    assert config.public_url == "https://glass.example.com"
    assert config.internal_url == "http://10.0.0.5:9000"
    assert config.system_networks == ("10.1.0.0/16", "192.168.5.0/24")
    assert config.log_level == "DEBUG"
    assert config.secret == SECRET


def test_serve_treats_empty_environment_variables_as_unset(monkeypatch):
    for name in ("HOST", "PORT", "PUBLIC_URL", "INTERNAL_URL", "SYSTEM_NETWORKS", "LOG_LEVEL"):
        monkeypatch.setenv("GLASSCLOUD_" + name, "")
    monkeypatch.setenv("GLASSCLOUD_SECRET", "")
    config = server_config(build_parser().parse_args(["serve"]))
    assert (config.host, config.port, config.log_level) == ("127.0.0.1", 8002, "INFO")
    assert config.system_networks == DEFAULT_SYSTEM_NETWORKS
    assert (config.public_url, config.internal_url, config.secret) == (None, None, None)


def test_serve_flags_win_over_the_environment(monkeypatch):
    monkeypatch.setenv("GLASSCLOUD_PORT", "not-used-so-not-checked")
    monkeypatch.setenv("GLASSCLOUD_SYSTEM_NETWORKS", "also-not-used")
    args = build_parser().parse_args(
        ["serve", "--port", "8123", "--system-networks", "127.0.0.0/8", "fd00::/8",
         "--database", "postgres://glass@127.0.0.1/glass"]
    )  # fmt: skip
    config = server_config(args)
    assert config.port == 8123
    assert config.system_networks == ("127.0.0.0/8", "fd00::/8")
    assert config.database == "postgres://glass@127.0.0.1/glass"


# -- usage -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        ([], "COMMAND"),
        (["apps"], "ACTION"),
        (["launch"], "invalid choice"),
        (["serve", "-x"], "-x"),
    ],
)
def test_usage_errors_exit_2_with_the_glasscloud_prefix(capsys, argv, fragment):
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert_one_error_line(err, fragment)


def test_help_and_version_exit_0(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert "serve" in out and "token" in out and "apps" in out
    code, out, _ = run(capsys, "--version")
    assert (code, out.strip()) == (0, f"glasscloud {glasscloud.__version__}")


# -- the real entry point ----------------------------------------------------------------------


def _python_m_glasscloud(*argv: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GLASSCLOUD_")}
    source = str(Path(glasscloud.__file__).resolve().parents[1])
    environment["PYTHONPATH"] = os.pathsep.join(
        p for p in (source, environment.get("PYTHONPATH")) if p
    )
    return subprocess.run(
        [sys.executable, "-m", "glasscloud", *argv],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )


def test_python_m_glasscloud_works(tmp_path):
    url = f"sqlite:///{tmp_path}/x.db"
    created = _python_m_glasscloud(
        "apps", "create", "com.example.sub", "--name", "Sub",
        "--public-url", "http://127.0.0.1:1", "--database", url,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert KEY_LINE.match(created.stdout.splitlines()[-1])
    listed = _python_m_glasscloud("apps", "list", "--database", url)
    assert (listed.returncode, listed.stderr) == (0, "")
    assert "com.example.sub" in listed.stdout


def test_python_m_glasscloud_errors_without_a_traceback(tmp_path):
    result = _python_m_glasscloud("apps", "list", "--database", f"sqlite:///{tmp_path}/no/x.db")
    assert (result.returncode, result.stdout) == (1, "")
    assert_one_error_line(result.stderr, "does not exist")


def test_python_m_glasscloud_cli_is_the_same_command():
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GLASSCLOUD_")}
    source = str(Path(glasscloud.__file__).resolve().parents[1])
    environment["PYTHONPATH"] = os.pathsep.join(
        p for p in (source, environment.get("PYTHONPATH")) if p
    )
    result = subprocess.run(
        [sys.executable, "-m", "glasscloud.cli", "--version"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )
    assert (result.returncode, result.stdout.strip()) == (0, f"glasscloud {glasscloud.__version__}")


def test_user_token_key_prints_the_same_public_key_every_time(capsys, tmp_path):
    url = f"sqlite:///{tmp_path / 'k.db'}"
    code, first, _ = run(capsys, "user-token-key", "--database", url)
    assert code == 0 and first.startswith("-----BEGIN PUBLIC KEY-----")
    code, second, _ = run(capsys, "user-token-key", "--database", url)
    assert (code, second) == (0, first)
