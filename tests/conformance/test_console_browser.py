"""The operator's console, used as a person would: a real headless Chromium (Selenium with
Debian's chromium-driver) against a real glasscloud, with the real `@mentra/sdk` App running
for a user whose glasses are a test client.

Sign in with a developer token, see the user's session appear with the App `running`, watch
the glasses mirror show what the App draws ("SDK app ready", then "You said: ..." after a
transcription from the glasses, also listed among the captions; the App's dashboard item in
the dashboard view), rotate the App's key (the
new key is shown once). Screenshots go to `test-artifacts/console/` (ignored by git).

Skipped only when Chromium or its driver is not installed (`scripts/test` installs both with
apt-get when it runs as root, as on CI).
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from glasscloud.auth.apikeys import verify_api_key
from glasscloud.auth.app_tokens import issue_developer_token
from tests.conformance.test_sdk_app import PACKAGE, USER
from tests.support.clients import connect_glasses
from tests.support.servers import http_base, token_for, ws_base

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="chromium and chromium-driver are not installed (scripts/test installs them with "
    "apt-get when run as root)",
)


class Browser:
    """A Selenium Chrome driver whose (blocking) calls run in a worker thread, so the
    in-process server on this event loop keeps serving meanwhile."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    async def wait(self, what: str, condition: Callable[[Any], Any], timeout: float = 15) -> Any:
        from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        # a table redrawn while it is read is read again at the next poll
        waiting = WebDriverWait(
            self.driver, timeout, 0.1, ignored_exceptions=(StaleElementReferenceException,)
        )
        try:
            return await self.run(waiting.until, condition)
        except TimeoutException:
            await self.shot("timeout")
            body = await self.run(lambda: self.driver.find_element("tag name", "body").text)
            raise AssertionError(f"browser: {what} not within {timeout} s; page:\n{body}") from None

    async def text(self, css: str) -> str:
        return await self.run(lambda: self.driver.find_element("css selector", css).text)

    async def click(self, css: str) -> None:
        from selenium.common.exceptions import StaleElementReferenceException

        for _ in range(5):  # the page redraws a table when its data changed
            try:
                await self.run(lambda: self.driver.find_element("css selector", css).click())
                return
            except StaleElementReferenceException:
                await asyncio.sleep(0.1)
        raise AssertionError(f"browser: {css} kept being redrawn")

    async def type(self, css: str, text: str) -> None:
        await self.run(lambda: self.driver.find_element("css selector", css).send_keys(text))

    async def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        await self.run(self.driver.save_screenshot, str(path))
        return path


def _text_in(css: str, needle: str) -> Callable[[Any], bool]:
    def check(driver: Any) -> bool:
        return any(needle in e.text for e in driver.find_elements("css selector", css))

    return check


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM  # type: ignore[assignment]
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1800",
        "--no-first-run",
        "--disable-extensions",
    ):
        options.add_argument(arg)
    driver = await asyncio.to_thread(
        webdriver.Chrome, options=options, service=Service(executable_path=CHROMEDRIVER)
    )
    try:
        yield Browser(driver)
    finally:
        await asyncio.to_thread(driver.quit)


async def test_operator_watches_captions_and_rotates_a_key(server, http, make_sdk_app, browser):
    sdk_app = await make_sdk_app(extra_env={"DASHBOARD_TEXT": "3 new captions saved"})
    base = http_base(server)
    dev_token = issue_developer_token(server.secret, "operator@example.com")

    # sign in
    await browser.run(browser.driver.get, f"{base}/console")
    await browser.wait("the sign-in form", lambda d: d.find_element("id", "token").is_displayed())
    await browser.type("#token", dev_token)
    await browser.click("#signin")
    await browser.wait("the signed-in console", _text_in("#session-count", "(0)"))
    await browser.wait("the App registry", _text_in("#apps tbody", PACKAGE))

    # the user's glasses start the SDK App: the session appears with the App running
    glasses = await connect_glasses(http, ws_base(server), token_for(server, USER))
    await glasses.wait_for("connection_ack")
    await glasses.send({"type": "start_app", "packageName": PACKAGE})
    await sdk_app.wait_for("session", timeout=15)
    running = f'#sessions tr[data-user="{USER}"] [data-package="{PACKAGE}"][data-state="running"]'
    await browser.wait(
        "the session with the App running",
        lambda d: d.find_elements("css selector", running),
    )
    assert f"{PACKAGE}: running" in await browser.text(f'#sessions tr[data-user="{USER}"]')
    await browser.shot("1-session-running")

    # watch the user's glasses: the App's own first screen is mirrored as text
    await browser.click(f'#sessions tr[data-user="{USER}"] button.watch')
    await browser.wait(
        "the mirror to show 'SDK app ready'", _text_in("#mirror-main", "SDK app ready")
    )
    assert "Watching " + USER in await browser.text("#mirror-state")
    assert PACKAGE in await browser.text("#mirror-main-from")
    await browser.wait(
        "the App's dashboard item in the mirror",
        _text_in("#mirror-dashboard", "3 new captions saved"),
    )
    await browser.shot("2-mirror-ready")

    # the user speaks (a phone transcription): the App answers, the mirror follows
    await glasses.send(
        {
            "type": "local_transcription",
            "text": "hello from the console test",
            "isFinal": True,
            "transcribeLanguage": "en-US",
            "startTime": 0,
            "endTime": 900,
        }
    )
    await sdk_app.wait_for("transcription")
    await browser.wait(
        "'You said: ...' in the mirror",
        _text_in("#mirror-main", "You said: hello from the console test"),
    )
    await browser.wait("the caption", _text_in("#captions li", "hello from the console test"))
    await browser.shot("3-mirror-you-said")

    # rotate the App's key: shown once, in the page only
    old_version = (await server.store.get_app(PACKAGE)).key_version
    await browser.click(f'#apps tr[data-package="{PACKAGE}"] button.rotate')
    await browser.run(lambda: browser.driver.switch_to.alert.accept())
    await browser.wait("the new key", lambda d: d.find_element("id", "new-key").text.strip())
    new_key = (await browser.text("#new-key")).strip()
    record = await server.store.get_app(PACKAGE)
    assert record.key_version == old_version + 1
    assert verify_api_key(new_key, record.api_key_hash)
    await browser.wait(
        "the new key version",
        _text_in(f'#apps tr[data-package="{PACKAGE}"]', f"v{old_version + 1}"),
    )
    await browser.shot("4-key-rotated")
    await browser.click("#key-dismiss")
    await browser.wait("the key to be gone", lambda d: not d.find_element("id", "new-key").text)
    page = await browser.run(lambda: browser.driver.page_source)
    assert new_key not in page
    stored = await browser.run(
        lambda: browser.driver.execute_script(
            "return JSON.stringify(Object.assign({}, sessionStorage))"
        )
    )
    assert new_key not in stored  # only the developer token is kept

    await glasses.close()


async def test_operator_registers_edits_and_deletes_an_app(server, browser):
    base = http_base(server)
    await browser.run(browser.driver.get, f"{base}/console")
    await browser.type("#token", issue_developer_token(server.secret, "operator@example.com"))
    await browser.click("#signin")
    await browser.wait("the signed-in console", _text_in("#session-count", "(0)"))

    # register: the key is shown once
    await browser.click("#app-editor-title")
    await browser.type("#app-package", "com.example.console")
    await browser.type("#app-name", "From the console")
    await browser.type("#app-url", "http://127.0.0.1:7999")
    await browser.type("#app-permissions", "MICROPHONE")
    await browser.click("#app-save")
    await browser.wait("the key shown once", lambda d: d.find_element("id", "new-key").text)
    key = (await browser.text("#new-key")).strip()
    record = await server.store.get_app("com.example.console")
    assert record is not None and verify_api_key(key, record.api_key_hash)
    assert record.permissions == ("MICROPHONE",)
    row = '#apps tr[data-package="com.example.console"]'
    await browser.wait("the new App listed", _text_in(row, "From the console"))
    await browser.click("#key-dismiss")

    await browser.click(f"{row} button.edit")
    await browser.run(lambda: browser.driver.find_element("id", "app-name").clear())
    await browser.type("#app-name", "Renamed")
    await browser.click("#app-save")
    await browser.wait("the new name", _text_in(row, "Renamed"))
    assert (await server.store.get_app("com.example.console")).name == "Renamed"
    assert not await browser.text("#new-key")  # an edit shows no key
    await browser.shot("5-app-edited")

    await browser.click(f"{row} button.delete")
    await browser.run(lambda: browser.driver.switch_to.alert.accept())
    await browser.wait("the App gone", lambda d: not d.find_elements("css selector", row))
    assert await server.store.get_app("com.example.console") is None

    # signing out forgets the token: the page asks for it again
    await browser.click("#signout")
    stored = await browser.run(
        lambda: browser.driver.execute_script("return sessionStorage.length")
    )
    assert stored == 0
    assert await browser.run(lambda: browser.driver.find_element("id", "token").is_displayed())
