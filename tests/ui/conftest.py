"""Browser tests of the web UI: Debian's chromium driven by Playwright's sync API against a real server.

Fixtures:

- ``browser`` (session): one chromium for the whole run. Playwright's own browser download is never used; a
  missing ``/usr/bin/chromium`` skips these tests on a developer's machine and fails them in CI.
- ``live_server`` (module): a real server (the ``LiveServer`` of ``tests/live.py``, set up as ``make_server``
  sets it up) shared by a module's tests, so that models are trained and saved once per module.
- ``ui`` (function): a fresh browser context and page on ``live_server``; it records JavaScript console errors and
  page errors and fails the test if any occurred, and saves a full-page screenshot of each step into
  ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from genome.config import Settings
from live import ADMIN_PASSWORD, FreshDatabase, LiveServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
# How long a page may take: the first explanation of a version loads its model (and SHAP, LIME or torch).
TIMEOUT_MS = 60_000
# Chromium reports an HTML error page (a 401 login form, a 404 page) as a resource that failed to load.
_STATUS_MESSAGE = re.compile(r"the server responded with a status of (\d{3})")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the browser tests: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable('Playwright is not installed (pip install -e ".[test]")')
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Any) -> Iterator[Any]:
    if not (os.path.isfile(CHROMIUM) or shutil.which(CHROMIUM)):
        _unavailable(f"no chromium at {CHROMIUM} (apt-get install chromium)")
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory, fresh_database: FreshDatabase) -> Iterator[LiveServer]:
    """A server on a fresh SQLite database and artifact folder, as ``make_server("sqlite")`` starts one, but
    shared by the tests of one module (``make_server`` is per test)."""
    home = tmp_path_factory.mktemp("ui-home")
    settings = Settings(home=home, database_url=fresh_database.url("sqlite"), admin_password=ADMIN_PASSWORD)
    server = LiveServer(settings).__enter__()
    yield server
    server.__exit__()


@dataclass
class UI:
    """A page of the browser on the live server, with the steps of a test recorded as screenshots."""

    page: Any
    base_url: str
    name: str
    problems: list[str] = field(default_factory=list)
    allowed_statuses: set[int] = field(default_factory=set)
    steps: int = 0

    def url(self, path: str) -> str:
        return self.base_url + path

    def path(self) -> str:
        """The page's address without the server: path and query."""
        return self.page.url.removeprefix(self.base_url)

    def expect_status(self, *statuses: int) -> None:
        """This test visits pages answered with these error statuses on purpose: Chromium's console message about
        them is not a problem."""
        self.allowed_statuses.update(statuses)

    def shot(self, step: str) -> Path:
        """A full-page screenshot of the page as it is now, named after the test and the step."""
        self.steps += 1
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", step).strip("-")
        target = SCREENSHOTS / f"{self.name}--{self.steps:02d}-{slug}.png"
        self.page.screenshot(path=str(target), full_page=True)
        return target

    def goto(self, path: str, step: str, *, status: int = 200) -> Any:
        """Open ``path``; the final answer (after redirects) must have ``status``."""
        if status >= 400:
            self.expect_status(status)
        response = self.page.goto(self.url(path))
        assert response is not None and response.status == status, (path, response and response.status)
        self.shot(step)
        return response

    def submit(self, button: Any, step: str, *, status: int = 200) -> Any:
        """Click a form's submit ``button`` (a locator) and wait for the page it leads to."""
        if status >= 400:
            self.expect_status(status)
        with self.page.expect_navigation() as navigation:
            button.click()
        response = navigation.value
        assert response is not None and response.status == status, (step, response and response.status)
        self.page.wait_for_load_state()
        self.shot(step)
        return response

    def login(self, username: str, password: str, *, step: str = "logged-in") -> None:
        """Log in through the form of ``/login``."""
        self.goto("/login", "login-form")
        self.page.get_by_label("Username").fill(username)
        self.page.get_by_label("Password").fill(password)
        self.submit(self.page.get_by_role("button", name="Log in"), step)
        assert not self.path().startswith("/login"), self.path()

    def login_admin(self) -> None:
        self.login("admin", ADMIN_PASSWORD)

    def unexpected_problems(self) -> list[str]:
        out = []
        for problem in self.problems:
            status = _STATUS_MESSAGE.search(problem)
            if status and int(status.group(1)) in self.allowed_statuses:
                continue
            out.append(problem)
        return out


@pytest.fixture
def ui(browser: Any, live_server: LiveServer, request: pytest.FixtureRequest) -> Iterator[UI]:
    """A fresh context (no cookies) and page; fails the test on any JavaScript console error or page error."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    page = context.new_page()
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{request.module.__name__.rsplit('.', 1)[-1]}.{request.node.name}")
    for old in SCREENSHOTS.glob(f"{name}--*.png"):
        old.unlink()
    ui = UI(page, live_server.url, name)

    def console(message: Any) -> None:
        if message.type == "error":
            ui.problems.append(f"console error on {page.url}: {message.text}")

    def page_error(error: Any) -> None:
        ui.problems.append(f"page error on {page.url}: {error}")

    page.on("console", console)
    page.on("pageerror", page_error)
    yield ui
    context.close()
    problems = ui.unexpected_problems()
    assert not problems, "JavaScript problems:\n" + "\n".join(problems)
