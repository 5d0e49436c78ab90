"""Everything under tests/slow carries the `slow` marker: `pytest -m "not slow"` is the quick loop.

Most of these tests need commits that other connections, threads or processes see (browser against a live server,
races, scheduler processes, CLI subprocesses), so they also carry `real_commits`: the `app` fixture gives them a
database of their own instead of a transaction rolled back at the end. The modules below drive the app from one
thread through one connection, so the rolled-back transaction is faithful for them (and much cheaper on PostgreSQL,
where every real commit waits for the disk).

The browser tests' Chromium (one per module), live server and tab are fixtures here, for every browser test module.
"""

from pathlib import Path

import pytest

from tests.support.browser import Browser, LiveServer
from transitions.web import icd

SLOW_DIR = Path(__file__).parent
ONE_CONNECTION = {"test_offers_stateful.py", "test_openapi_fuzz.py"}


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(items):
    # Called with every collected item, not only this directory's: mark just the ones that live here.
    for item in items:
        if SLOW_DIR in item.path.parents:
            item.add_marker(pytest.mark.slow)
            if item.path.name not in ONE_CONNECTION:
                item.add_marker(pytest.mark.real_commits)


# ---------------------------------------------------------------- the browser tests' Chromium, server and tab


@pytest.fixture(scope="module")
def browser():
    """One Chromium per module (each test's tab starts without cookies)."""
    # Load the ICD-10-CM code set before any page asks for it: the first load takes seconds on a busy machine.
    icd.search("F33.1")
    instance = Browser()
    yield instance
    instance.close()


@pytest.fixture
def live(app):
    """The app served from a thread on a free port of 127.0.0.1."""
    server = LiveServer(app)
    yield server
    server.stop()


@pytest.fixture
def page(browser):
    """A fresh tab that keeps what went wrong: responses of status 400 and over in `failures` [(status, url)], console
    messages and page errors in `messages`."""
    tab = browser.page()
    tab.failures = []
    tab.messages = []
    tab.on(
        "response",
        lambda response: tab.failures.append((response.status, response.url)) if response.status >= 400 else None,
    )
    tab.on("console", lambda message: tab.messages.append(message.text))
    tab.on("pageerror", lambda error: tab.messages.append("page error: %s" % error))
    yield tab
    tab.close()
