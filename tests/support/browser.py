"""Headless Chromium for the browser tests and the screenshot script: the system browser, a live server thread."""

import os
import re
import shutil
import tempfile
import threading

import pytest
from werkzeug.serving import make_server

CHROMIUM = os.environ.get("TRANSITIONS_CHROMIUM", "/usr/bin/chromium")
# Quiet and offline: no first-run UI, no background fetches, no QUIC, no GPU, no sandbox (CI runs as root).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1440, "height": 900}


def browser_unavailable():
    """Why the browser tests cannot run here, or None."""
    if not os.path.exists(CHROMIUM):
        return "%s is absent (install Debian's chromium; .ci/run does)" % CHROMIUM
    try:
        import playwright.sync_api  # noqa: F401  (only whether it imports)
    except ImportError:
        return "the playwright package is not installed (pip install -r requirements-dev.txt)"
    return None


# The browser tests' module mark: skipped, saying why, where Chromium or playwright is missing.
NEEDS_CHROMIUM = pytest.mark.skipif(
    browser_unavailable() is not None, reason="browser tests need Chromium: %s" % browser_unavailable()
)


class LiveServer:
    """The app served on a free 127.0.0.1 port from a background thread."""

    def __init__(self, app):
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = "http://127.0.0.1:%d" % self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, name="live-server", daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


class Browser:
    """One Chromium with a fresh user-data-dir (a persistent context, so the profile is ours to create and remove)."""

    def __init__(self):
        from playwright.sync_api import sync_playwright

        self.profile = tempfile.mkdtemp(prefix="transitions-chromium-")
        self.playwright = sync_playwright().start()
        self.context = self.playwright.chromium.launch_persistent_context(
            self.profile,
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=VIEWPORT,
            locale="en-US",
            timezone_id="America/Chicago",
        )
        self.context.set_default_timeout(10000)

    def page(self):
        """A fresh tab with no cookies (every live server is on 127.0.0.1, and cookies ignore ports)."""
        self.context.clear_cookies()
        for page in list(self.context.pages):
            page.close()
        return self.context.new_page()

    def close(self):
        try:
            self.context.close()
            self.playwright.stop()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)


def sign_in(page, base_url, email, password):
    page.goto(base_url + "/sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def sign_out(page):
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/sign-in.*"))


# ---------------------------------------------------------------- shared by the page tests (test client and browser)

PASSWORD = "correct horse battery staple"
# scrypt costs a few hundred milliseconds per hash and per sign-in here; page tests use a cheap method
# (test_web checks the default is scrypt).
FAST_HASH = "pbkdf2:sha256:1000"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def give_passwords(app, world, password=PASSWORD):
    """Every user of the world fixture gets the same web password; returns {key: email}."""
    from transitions.core.db import db
    from transitions.identity import passwords
    from transitions.identity.models import User

    emails = {}
    app.config["WEB_PASSWORD_HASH_METHOD"] = FAST_HASH
    with app.app_context():
        shared = passwords.hash_password(password)
        for key, user_id in world.users.items():
            user = db.session.get(User, user_id)
            user.password_hash = shared
            emails[key] = user.email
        db.session.commit()
    return emails


class WebClient:
    """A Flask test client that signs in through the form and sends each POST with the page's CSRF token."""

    def __init__(self, app):
        self.client = app.test_client()
        self.token = None

    def get(self, path, **kwargs):
        response = self.client.get(path, **kwargs)
        match = CSRF_FIELD.search(response.get_data(as_text=True))
        if match:
            self.token = match.group(1)
        return response

    def sign_in(self, email, password=PASSWORD, next_page=None):
        self.get("/sign-in")
        data = {"email": email, "password": password, "csrf_token": self.token}
        if next_page:
            data["next"] = next_page
        response = self.client.post("/sign-in", data=data)
        if response.status_code == 302:
            self.get("/", follow_redirects=True)  # pick up the session's own CSRF token
        return response

    def post(self, path, data=None, csrf=True, **kwargs):
        data = dict(data or {})
        if csrf and "csrf_token" not in data:
            data["csrf_token"] = self.token
        return self.client.post(path, data=data, **kwargs)

    def cookie(self, name):
        cookie = self.client.get_cookie(name)
        return cookie.value if cookie else None


# ---------------------------------------------------------------- accessibility (axe-core, from package-lock.json)

AXE_SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "node_modules", "axe-core", "axe.min.js")


def axe_violations(page):
    """axe-core's violations on the page as it stands now: [(rule id, impact, [target selectors])]; [] when clean.
    axe is evaluated from node_modules (npm ci installs it), so the check runs offline; evaluated, not added as a
    script tag, which the pages' Content-Security-Policy (script-src 'self') would block."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        with open(AXE_SCRIPT, encoding="utf-8") as script:
            page.evaluate(script.read())
    result = page.evaluate("async () => await window.axe.run(document, {resultTypes: ['violations']})")
    return [
        (violation["id"], violation["impact"], [node["target"] for node in violation["nodes"]])
        for violation in result["violations"]
    ]


def assert_accessible(page):
    """Fail with axe-core's findings, named by page, when the page has any violation."""
    violations = axe_violations(page)
    assert not violations, "axe-core violations on %s: %r" % (page.url, violations)
