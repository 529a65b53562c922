"""Translation rules of the core (core/translation.py) with a deterministic translator."""

from __future__ import annotations

import json

from glasscloud.core.clock import ManualClock
from glasscloud.core.context import SessionServices
from glasscloud.core.session import UserSession
from glasscloud.core.translation import Done
from tests.support.recorders import RecordingConnection, RecordingEffects
from tests.unit.test_location import Rig

STREAM = "translation:es-ES-to-en-US"


class HeldTranslator:
    """Answers only when the test says so (to see ordering); upper-cases the text."""

    name = "held"

    def __init__(self) -> None:
        self.waiting: list[tuple[str, str, str, Done]] = []

    def supports(self, source: str, target: str) -> bool:
        return target != "xx-XX"

    def translate(self, text: str, source: str, target: str, done: Done) -> None:
        self.waiting.append((text, source, target, done))

    def answer(self, index: int, fail: str | None = None) -> None:
        text, _source, target, done = self.waiting[index]
        done(None if fail else f"{text.upper()} [{target}]", fail)


def translating_rig(translator) -> Rig:
    rig = Rig.__new__(Rig)
    rig.clock, rig.effects = ManualClock(), RecordingEffects()
    services = SessionServices(rig.clock, rig.effects, translator=translator)
    rig.session = UserSession("u@example.com", services)
    rig.glasses = RecordingConnection("glasses")
    rig.session.attach_glasses(rig.glasses)
    return rig


def speak(rig: Rig, text: str, final: bool = True, language: str = "es-ES") -> None:
    rig.phone(
        type="local_transcription",
        text=text,
        isFinal=final,
        transcribeLanguage=language,
        startTime=100,
        endTime=900,
    )


def translations(conn) -> list[dict]:
    return [m["data"] for m in conn.messages("data_stream") if m["streamType"] == STREAM]


def test_without_a_provider_the_subscription_is_refused_naming_the_stream():
    rig = Rig()
    app = rig.app("com.a", "MICROPHONE")
    rig.subscribe(app, STREAM, "button_press")
    [error] = app.messages("tpa_connection_error")
    assert error["code"] == "TRANSLATION_UNAVAILABLE"
    assert STREAM in error["message"] and "no translation provider" in error["message"]
    assert rig.session.subscriptions.as_map() == {"com.a": ["button_press"]}


def test_finals_are_translated_in_order_into_the_sdk_shape():
    translator = HeldTranslator()
    rig = translating_rig(translator)
    app = rig.app("com.a", "MICROPHONE")
    rig.subscribe(app, STREAM)
    speak(rig, "hola", final=False)  # interim: not translated
    speak(rig, "hola amigo")
    speak(rig, "adios")
    speak(rig, "hello", language="en-US")  # another language
    assert [w[0] for w in translator.waiting] == ["hola amigo", "adios"]
    translator.answer(1)  # the later one first: held back
    assert translations(app) == []
    translator.answer(0)
    first, second = translations(app)
    assert first == {
        "type": "translation",
        "text": "HOLA AMIGO [en-US]",
        "originalText": "hola amigo",
        "isFinal": True,
        "startTime": first["startTime"],
        "endTime": first["endTime"],
        "speakerId": first["speakerId"],
        "duration": 800,
        "transcribeLanguage": "es-ES",
        "translateLanguage": "en-US",
        "didTranslate": True,
        "provider": "held",
    }
    assert second["originalText"] == "adios"


def test_a_failed_translation_is_told_to_the_subscribers():
    translator = HeldTranslator()
    rig = translating_rig(translator)
    app = rig.app("com.a", "MICROPHONE")
    rig.subscribe(app, STREAM)
    speak(rig, "hola")
    translator.answer(0, fail="quota exceeded")
    [error] = app.messages("tpa_connection_error")
    assert error["code"] == "TRANSLATION_UNAVAILABLE"
    assert STREAM in error["message"] and "quota exceeded" in error["message"]


def test_a_pair_the_provider_cannot_translate_is_refused():
    rig = translating_rig(HeldTranslator())
    app = rig.app("com.a", "MICROPHONE")
    rig.subscribe(app, "translation:es-ES-to-xx-XX")
    [error] = app.messages("tpa_connection_error")
    assert "cannot translate es-ES to xx-XX" in error["message"]


def test_translation_needs_the_microphone_permission():
    rig = translating_rig(HeldTranslator())
    app = rig.app("com.a")
    rig.subscribe(app, STREAM)
    [refused] = app.messages("permission_error")
    assert refused["details"][0]["requiredPermission"] == "MICROPHONE"


def test_the_source_language_is_recognised_for_a_translation():
    wanted: list[set[str]] = []

    class Hub:
        def __init__(self, user_id, deliver, report) -> None: ...

        def languages_changed(self, keys: set[str]) -> None:
            wanted.append(keys)

        def __getattr__(self, name):
            return lambda *a: None

    clock, effects = ManualClock(), RecordingEffects()
    services = SessionServices(
        clock, effects, transcription_factory=Hub, translator=HeldTranslator()
    )
    session = UserSession("u@example.com", services)
    rig = Rig.__new__(Rig)
    rig.clock, rig.effects, rig.session = clock, effects, session
    rig.glasses = RecordingConnection("glasses")
    session.attach_glasses(rig.glasses)
    app = rig.app("com.a", "MICROPHONE")
    session.handle_app_text(
        app, json.dumps({"type": "subscription_update", "subscriptions": [STREAM]})
    )
    assert wanted[-1] == {"transcription:es-ES"}


def test_all_sources_translate_every_language_but_the_target():
    translator = HeldTranslator()
    rig = translating_rig(translator)
    app = rig.app("com.a", "MICROPHONE")
    rig.subscribe(app, "translation:all-to-en-US")
    speak(rig, "bonjour", language="fr-FR")
    speak(rig, "hello", language="en-US")  # already the target: not sent
    assert [(w[0], w[1]) for w in translator.waiting] == [("bonjour", "fr-FR")]
    translator.answer(0)
    [data] = [m["data"] for m in app.messages("data_stream")]
    assert data["transcribeLanguage"] == "fr-FR" and data["text"] == "BONJOUR [en-US]"
