"""The example Apps (examples/*.py, on the Python SDK) against a real glasscloud, driven by a
test glasses client and by the terminal glasses simulator's command loop."""

from __future__ import annotations

import asyncio
import importlib.util
import wave
from pathlib import Path
from types import ModuleType

from glasscloud.sdk import AppServer, AppSession, AudioChunk
from glasscloud.simulator import GlassesSimulator
from tests.support.clients import connect_glasses
from tests.support.servers import token_for, ws_base

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
USER = "dev@example.com"


def load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def serve(server, app: AppServer, permissions: tuple[str, ...] = ()) -> AppServer:
    """Start the App on a free port and register it with the server under that URL."""
    await app.start()
    _, key = await server.store.create_app(
        app.package_name,
        app.package_name.rsplit(".", 1)[-1],
        f"http://127.0.0.1:{app.port}",
        permissions=permissions,
    )
    app.api_key = key
    return app


async def example(server, name: str, package: str, permissions: tuple[str, ...] = ()):
    app = load_example(name).build_app(package, "not-yet", port=0, host="127.0.0.1")
    return await serve(server, app, permissions)


async def start(server, http, package: str, wanted: str | None = None):
    """Glasses for USER with `package` running (and, if given, subscribed to `wanted`)."""
    glasses = await connect_glasses(http, ws_base(server), token_for(server, USER))
    await glasses.wait_for("connection_ack")
    await glasses.send({"type": "start_app", "packageName": package})
    await glasses.wait_for("app_state_change", lambda m: m.get("state") == "running")
    if wanted:
        await glasses.wait_for(
            "app_state_change",
            lambda m: wanted in m["userSession"].get("appSubscriptions", {}).get(package, []),
        )
    return glasses


def shows(text: str, layout_type: str | None = None):
    def match(message) -> bool:
        layout = message.get("layout", {})
        return text in layout.values() and layout_type in (None, layout.get("layoutType"))

    return match


async def until(predicate, timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


async def test_captions_shows_what_the_user_says(server, http):
    app = await example(server, "captions", "com.example.captions", ("MICROPHONE",))
    glasses = await start(server, http, app.package_name, "transcription:en-US")
    await glasses.wait_for("display_event", shows("Captions ready: start speaking."))
    await glasses.send(
        {"type": "local_transcription", "text": "hello wor", "isFinal": False, "startTime": 0}
    )
    interim = await glasses.wait_for("display_event", shows("hello wor"))
    assert "durationMs" not in interim
    await glasses.send(
        {"type": "local_transcription", "text": "hello world", "isFinal": True, "startTime": 0}
    )
    final = await glasses.wait_for("display_event", shows("hello world", "text_wall"))
    assert final["durationMs"] == 10_000 and final["packageName"] == app.package_name
    await glasses.send({"type": "stop_app", "packageName": app.package_name})
    await until(lambda: not app.sessions)
    await glasses.close()
    await app.stop()


async def test_notification_reader_shows_a_card(server, http):
    app = await example(
        server, "notifications", "com.example.notifications", ("READ_NOTIFICATIONS",)
    )
    glasses = await start(server, http, app.package_name, "phone_notification")
    await glasses.send(
        {
            "type": "phone_notification",
            "notificationId": "n1",
            "app": "Messages",
            "title": "Bob",
            "content": "hi there",
            "priority": "normal",
        }
    )
    card = await glasses.wait_for("display_event", shows("Messages: Bob", "reference_card"))
    assert card["layout"]["text"] == "hi there" and card["view"] == "main"
    await glasses.close()
    await app.stop()


async def test_button_counter_counts_and_resets(server, http):
    app = await example(server, "button_counter", "com.example.counter")
    glasses = await start(server, http, app.package_name, "button_press")
    for _ in range(3):
        await glasses.send({"type": "button_press", "buttonId": "main", "pressType": "short"})
    await glasses.wait_for("display_event", shows("Presses: 3", "double_text_wall"))
    await glasses.send({"type": "button_press", "buttonId": "main", "pressType": "long"})
    await glasses.wait_for("display_event", lambda m: m["layout"].get("bottomText") == "Presses: 0")
    await glasses.close()
    await app.stop()


class Typed:
    """Lines for the simulator's loop, fed by the test as if typed."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()

    def type(self, line: str) -> None:
        self.queue.put_nowait(line)

    def __aiter__(self):
        return self

    async def __anext__(self) -> str:
        line = await self.queue.get()
        if line is None:
            raise StopAsyncIteration
        return line


async def simulator(server, http, out: list[str]) -> tuple[GlassesSimulator, Typed, asyncio.Task]:
    sim = GlassesSimulator(
        f"ws://127.0.0.1:{server.port}/glasses-ws",
        token_for(server, USER),
        out=out.append,
        frame_interval=0,
    )
    await sim.connect(http)
    typed = Typed()
    loop = asyncio.create_task(sim.run(typed))
    return sim, typed, loop


async def test_simulator_drives_the_button_counter(server, http):
    app = await example(server, "button_counter", "com.example.counter")
    out: list[str] = []
    sim, typed, loop = await simulator(server, http, out)
    typed.type("start com.example.counter")
    await sim.wait_for_screen(lambda s: "com.example.counter (running)" in s)
    await sim.wait_for_screen(lambda s: "| Presses: 0" in s)
    await until(lambda: "button_press" in str(server.registry.get(USER).snapshot()))
    typed.type("press")
    typed.type("press")
    screen = await sim.wait_for_screen(lambda s: "| Presses: 2" in s)
    assert "+-- main: com.example.counter" in screen and "| Button counter" in screen
    typed.type("press long")
    await sim.wait_for_screen(lambda s: "| Presses: 0" in s)
    typed.type("bogus")
    typed.type("stop com.example.counter")
    screen = await sim.wait_for_screen(lambda s: "com.example.counter stopped" in s)
    assert "Presses" not in screen  # the stopped App's text left the display
    typed.type("quit")
    await asyncio.wait_for(loop, 5)
    assert "unknown command 'bogus'; type help" in out
    await until(lambda: not app.sessions)
    await app.stop()


async def test_simulator_say_reaches_captions(server, http):
    app = await example(server, "captions", "com.example.captions", ("MICROPHONE",))
    out: list[str] = []
    sim, typed, loop = await simulator(server, http, out)
    typed.type("start com.example.captions")
    await sim.wait_for_screen(lambda s: "Captions ready" in s)
    await until(lambda: "transcription:en-US" in str(server.registry.get(USER).snapshot()))
    typed.type("say hello from the simulator")
    await sim.wait_for_screen(lambda s: "| hello from the simulator" in s)
    typed.queue.put_nowait(None)  # end of input ends the loop
    await asyncio.wait_for(loop, 5)
    await app.stop()


async def test_simulator_streams_a_wav_file_as_audio_frames(server, http, tmp_path):
    path = tmp_path / "speech.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(b"\x00\x01" * 8000)  # 0.5 s = 5 frames of 3200 bytes
    app = AppServer("com.example.listener", "not-yet", port=0, host="127.0.0.1")
    received: list[int] = []

    @app.on_session
    async def listen(session: AppSession) -> None:
        @session.events.on_audio_chunk
        def heard(chunk: AudioChunk) -> None:
            received.append(len(chunk.data))
            session.layouts.show_text_wall(f"audio: {sum(received)} bytes")

    await serve(server, app, ("MICROPHONE",))
    out: list[str] = []
    sim, typed, loop = await simulator(server, http, out)
    typed.type("start com.example.listener")
    await sim.wait_for_screen(lambda s: "com.example.listener (running)" in s)
    await until(lambda: "audio_chunk" in str(server.registry.get(USER).snapshot()))
    typed.type(f"wav {path}")
    await sim.wait_for_screen(lambda s: "audio: 16000 bytes" in s)
    assert received == [3200] * 5
    assert "sent 5 audio frames (0.5 s)" in out
    typed.type("quit")
    await asyncio.wait_for(loop, 5)
    await app.stop()
