"""docs/errors.md must list every error code the server can send, with its hint."""

from pathlib import Path

from glasscloud.protocol.errors import HINTS, ErrorCode

CATALOGUE = Path(__file__).resolve().parents[2] / "docs" / "errors.md"


def test_every_code_is_documented_with_a_hint():
    text = CATALOGUE.read_text()
    missing = [code.value for code in ErrorCode if f"`{code.value}`" not in text]
    assert missing == []
    assert set(HINTS) == set(ErrorCode)


def test_every_http_status_is_the_one_documented():
    from glasscloud.protocol.errors import HTTP_STATUS

    rows = {
        line.split("|")[1].strip().strip("`"): line.split("|")[2].strip()
        for line in CATALOGUE.read_text().splitlines()
        if line.startswith("| `")
    }
    wrong = {
        code.value: status
        for code, status in HTTP_STATUS.items()
        if rows.get(code.value) != str(status)
    }
    assert wrong == {}
