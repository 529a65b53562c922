"""`glasscloud app new` and the argument checks of `glasscloud glasses`."""

from __future__ import annotations

from glasscloud.cli import main


def test_app_new_writes_a_runnable_app(tmp_path, capsys):
    assert main(["app", "new", "demo", "--dir", str(tmp_path), "--port", "7020"]) == 0
    app_py = (tmp_path / "demo" / "app.py").read_text()
    readme = (tmp_path / "demo" / "README.md").read_text()
    compile(app_py, "app.py", "exec")
    assert "from glasscloud.sdk import AppServer" in app_py and '"7020"' in app_py
    assert "glasscloud apps create com.example.demo" in readme
    assert "--public-url http://127.0.0.1:7020" in readme
    assert "Created" in capsys.readouterr().out


def test_app_new_refuses_to_overwrite_and_bad_names(tmp_path, capsys):
    assert main(["app", "new", "demo", "--dir", str(tmp_path)]) == 0
    assert main(["app", "new", "demo", "--dir", str(tmp_path)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["app", "new", "9lives", "--dir", str(tmp_path)]) == 2
    assert "not a usable App name" in capsys.readouterr().err


def test_glasses_checks_its_arguments(capsys):
    assert main(["glasses", "a@example.com", "--server", "ftp://x", "--token", "t"]) == 2
    assert "--server" in capsys.readouterr().err
    assert main(["glasses", "not-an-email", "--server", "http://127.0.0.1:1"]) == 2
    assert "e-mail" in capsys.readouterr().err


def test_glasses_reports_an_unreachable_server(capsys):
    assert main(["glasses", "a@example.com", "--server", "http://127.0.0.1:1", "--token", "t"]) == 1
    assert "cannot connect to http://127.0.0.1:1" in capsys.readouterr().err
