"""Screenshots of each role's main pages for the README: the demo `scripts/run` serves, photographed.

Run with `scripts/screenshots` (writes docs/screenshots/*.png). `flask seed-demo` writes the demo's twelve weeks of
history through the commands on an injected clock; here that clock stands at a fixed NOW, so the pictures show what
the demo shows on that day.
"""

import os
import sys
import tempfile
from datetime import UTC, datetime

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import select  # noqa: E402

from tests.support.browser import Browser, LiveServer, browser_unavailable, sign_in  # noqa: E402
from transitions import MIGRATIONS_DIR, create_app, demo  # noqa: E402
from transitions.core.db import db  # noqa: E402
from transitions.identity import passwords  # noqa: E402
from transitions.identity.models import User  # noqa: E402

OUT = os.path.join(ROOT, "docs", "screenshots")
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # a Tuesday, 09:00 in Chicago
PASSWORD = "screenshots-only-password"


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


def build(directory):
    """The demo `scripts/run` loads (`flask seed-demo`'s defaults, its twelve weeks of history included), as of NOW
    so the pictures do not change with the day they are taken on."""
    clock = Clock(NOW)
    url = "sqlite:///%s" % os.path.join(directory, "screens.sqlite3")
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": url,
            "SECRET_KEY": "screenshots",
            "CLOCK": clock,
            # The screenshots show days of clicking; keep the sessions alive meanwhile.
            "WEB_IDLE_TIMEOUT_SECONDS": 10**7,
        }
    )
    with app.app_context():
        upgrade(directory=MIGRATIONS_DIR)
        demo.seed(data_dir=app.config.get("SEED_DATA_DIR"))
        for user in db.session.scalars(select(User)):
            passwords.set_password(user, PASSWORD)
        db.session.commit()
    return app


SHOTS = (
    ("discharge_planner", "planner@demo.example", "/referrals", "planner-referrals.png"),
    ("discharge_planner", "planner@demo.example", None, "planner-referral.png"),
    ("discharge_planner", "planner@demo.example", "/referrals/new", "planner-new-referral.png"),
    ("iop_coordinator", "coordinator@demo.example", "/offers", "coordinator-offers.png"),
    ("iop_coordinator", "coordinator@demo.example", "/roster", "coordinator-roster.png"),
    ("iop_coordinator", "coordinator@demo.example", "/programs", "coordinator-programs.png"),
    ("case_manager", "manager@demo.example", "/board", "case-manager-board.png"),
    ("case_manager", "manager@demo.example", None, "case-manager-journey.png"),
    ("case_manager", "manager@demo.example", "/metrics", "case-manager-metrics.png"),
)

# Long pages are shown as a laptop screen sees them, not as a scroll of paper.
VIEWPORT_ONLY = (
    "case-manager-board.png",
    "coordinator-programs.png",
    "planner-referrals.png",
    "case-manager-journey.png",
)


def main():
    problem = browser_unavailable()
    if problem:
        sys.exit("cannot take screenshots: %s" % problem)
    os.makedirs(OUT, exist_ok=True)
    with tempfile.TemporaryDirectory() as directory:
        app = build(directory)
        server = LiveServer(app)
        browser = Browser()
        try:
            signed_in_as = None
            page = browser.page()
            for _role, email, path, name in SHOTS:
                if email != signed_in_as:
                    page = browser.page()
                    sign_in(page, server.url, email, PASSWORD)
                    signed_in_as = email
                if name == "planner-referral.png":
                    # A waiting referral with matches (the demo's Denise): the matches and what sets each apart.
                    page.goto(server.url + "/referrals?status=submitted")
                    page.locator("#referral-list tbody a", has_text="Denise").first.click()
                elif name == "case-manager-journey.png":
                    # A member who is attending: the path, the checks and the sessions.
                    page.goto(server.url + "/board")
                    page.locator("#column-attending a.member-name").first.click()
                else:
                    page.goto(server.url + path)
                page.wait_for_load_state("networkidle")
                page.screenshot(path=os.path.join(OUT, name), full_page=name not in VIEWPORT_ONLY)
                print("wrote", os.path.relpath(os.path.join(OUT, name), ROOT))
        finally:
            browser.close()
            server.stop()


if __name__ == "__main__":
    main()
