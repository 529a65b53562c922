"""docs/errors.md must list every error code the server can send, with its hint."""

from pathlib import Path

from glasscloud.protocol.errors import HINTS, ErrorCode

CATALOGUE = Path(__file__).resolve().parents[2] / "docs" / "errors.md"


def test_every_code_is_documented_with_a_hint():
    text = CATALOGUE.read_text()
    missing = [code.value for code in ErrorCode if f"`{code.value}`" not in text]
    assert missing == []
    assert set(HINTS) == set(ErrorCode)
