"""`glasscloud apps create|update|delete` with settings, tools and a webview URL; errors are
one line naming the field; no prompt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.test_cli import (
    assert_one_error_line,
    clean_environment,  # noqa: F401 (an autouse fixture)
    create,
    run,
    stored_app,
)


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/glass.db"


TOOLS = [{"id": "add_note", "description": "Add a note"}]
SETTINGS = [{"key": "big", "label": "Big", "type": "toggle", "defaultValue": False}]


def test_create_and_update_with_definition_files(capsys, db, tmp_path):
    tools = tmp_path / "tools.json"
    tools.write_text(json.dumps(TOOLS))
    config = tmp_path / "app_config.json"  # the SDK's app_config.json shape works too
    config.write_text(json.dumps({"name": "x", "settings": SETTINGS, "tools": []}))
    create(
        capsys,
        db,
        "com.example.notes",
        "--tools-file",
        str(tools),
        "--webview-url",
        "https://notes.example/web",
    )
    app = stored_app(db, "com.example.notes")
    assert app.tools == tuple(TOOLS) and app.webview_url == "https://notes.example/web"

    code, out, err = run(
        capsys,
        "apps",
        "update",
        "com.example.notes",
        "--settings-file",
        str(config),
        "--name",
        "Notes 2",
        "--type",
        "standard",
        "--permission",
        "microphone",
        "--database",
        db,
    )
    assert (code, err) == (0, "")
    assert "appType, name, permissions, settings" in out
    app = stored_app(db, "com.example.notes")
    assert app.settings_schema == tuple(SETTINGS) and app.name == "Notes 2"
    assert app.tools == tuple(TOOLS)  # untouched: not given
    assert app.permissions == ("MICROPHONE",) and app.app_type == "standard"

    code, out, _ = run(
        capsys,
        "apps",
        "update",
        "com.example.notes",
        "--webview-url",
        "",
        "--permission",
        "NONE",
        "--database",
        db,
        "--json",
    )
    assert code == 0
    view = json.loads(out)
    assert view["webviewURL"] is None and view["permissions"] == []


def test_update_refusals_are_one_line(capsys, db, tmp_path):
    create(capsys, db, "com.example.notes")
    before = stored_app(db, "com.example.notes")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"description": "no id"}]))
    code, _, err = run(
        capsys, "apps", "update", "com.example.notes", "--tools-file", str(bad), "--database", db
    )
    assert code == 1
    assert_one_error_line(err, "tools[0].id")
    code, _, err = run(
        capsys,
        "apps",
        "update",
        "com.example.notes",
        "--tools-file",
        str(tmp_path / "none"),
        "--database",
        db,
    )
    assert code == 2
    assert_one_error_line(err, "--tools-file", "cannot read")
    code, _, err = run(capsys, "apps", "update", "com.example.notes", "--database", db)
    assert code == 2
    assert_one_error_line(err, "nothing to change")
    code, _, err = run(
        capsys, "apps", "update", "com.example.none", "--name", "x", "--database", db
    )
    assert code == 1
    assert_one_error_line(err, "com.example.none")
    assert stored_app(db, "com.example.notes") == before


def test_delete_without_prompt(capsys, db):
    create(capsys, db, "com.example.notes")
    code, out, err = run(capsys, "apps", "delete", "com.example.notes", "--database", db)
    assert (code, err) == (0, "")
    assert out == "Deleted 'com.example.notes'.\n"
    assert stored_app(db, "com.example.notes") is None
    code, _, err = run(capsys, "apps", "delete", "com.example.notes", "--database", db)
    assert code == 1
    assert_one_error_line(err, "com.example.notes")
