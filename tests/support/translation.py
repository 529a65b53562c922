"""A small deterministic translation provider for tests: word by word from a table (a word
it does not know is kept), and a text containing `fail` raises, as a provider's error."""

from __future__ import annotations

from glasscloud.translation.provider import TranslationProvider

WORDS = {
    ("es-ES", "en-US"): {"hola": "hello", "mundo": "world", "adios": "goodbye"},
    ("fr-FR", "en-US"): {"bonjour": "hello", "monde": "world"},
}


class WordTableProvider(TranslationProvider):
    name = "word-table"

    def supports(self, source: str, target: str) -> bool:
        return source == "all" or (source, target) in WORDS

    async def translate(self, text: str, source: str, target: str) -> str:
        if "fail" in text:
            raise RuntimeError("the word table refuses to translate 'fail'")
        table = WORDS.get((source, target), {})
        return " ".join(table.get(word.lower(), word) for word in text.split())
