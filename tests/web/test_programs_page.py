"""The programs page pages through every program with search by name, city and track, and its totals count every
matching program's seats (summed in SQL), not only the page's: a coordinator's and an admin's alike."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.support import payloads
from tests.support.offers import Scene
from transitions.core.db import db
from transitions.directory import service as programs
from transitions.directory.models import Track
from transitions.directory.schemas import TrackInSchema


def html(response):
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def tile(page, label):
    """The value of the summary tile whose label starts with `label`."""
    match = re.search(r'<span class="tile-label">%s[^<]*</span><span class="tile-value">([^<]+)</span>' % label, page)
    return match.group(1) if match else None


def shown_programs(page):
    return re.findall(r'<h2 id="program-[^"]+-h">([^<]+)', page)


@pytest.fixture
def many(app, world):
    """60 programs of the coordinator's provider (Chicago and Evanston alternate; every third has a "Morning"
    track), 2 of provider2; each track 8 seats."""
    with app.app_context():
        for owner, count, prefix in (("provider", 60, "Program"), ("provider2", 2, "Elsewhere")):
            for number in range(1, count + 1):
                body = payloads.program(name="%s %02d" % (prefix, number))
                body["city"] = "Evanston" if number % 2 else "Chicago"
                program = programs.create_program(world.orgs[owner], body)
                name = "Morning track" if number % 3 == 0 else "Evening track"
                programs.create_track(program, TrackInSchema().load(payloads.track(name=name)))
        db.session.commit()


def test_a_coordinator_pages_through_every_program_and_the_totals_count_them_all(app, as_user, many):
    coordinator = as_user("coordinator")
    first = html(coordinator.get("/programs"))
    assert shown_programs(first) == ["Program %02d" % n for n in range(1, 26)]
    assert tile(first, "Programs / tracks") == "60 / 60"
    assert "of 480</span>" in first  # 60 tracks x 8 seats, every page alike
    assert "Programs 1–25 of 60 · page 1 of 3" in first
    assert 'href="/programs?page=2" rel="next"' in first
    last = html(coordinator.get("/programs?page=3"))
    assert shown_programs(last) == ["Program %02d" % n for n in range(51, 61)]
    assert tile(last, "Programs / tracks") == "60 / 60"
    assert 'rel="prev"' in last and 'rel="next"' not in last
    # A page past the end (or not a number) shows the nearest real page, never an error or an empty list.
    assert shown_programs(html(coordinator.get("/programs?page=99"))) == shown_programs(last)
    for odd in ("x", "²", "-1", "0", "9" * 40):
        assert shown_programs(html(coordinator.get("/programs?page=" + odd))) == shown_programs(first), odd


def test_search_by_name_city_and_track_narrows_the_list_and_the_totals(app, as_user, many):
    coordinator = as_user("coordinator")
    by_name = html(coordinator.get("/programs?name=program+1"))
    assert shown_programs(by_name) == ["Program %02d" % n for n in range(10, 20)]
    assert tile(by_name, "Programs / tracks") == "10 / 10"
    by_city = html(coordinator.get("/programs?city=evanston"))
    assert tile(by_city, "Programs / tracks") == "30 / 30" and "page 1 of 2" in by_city
    # The pager keeps the filters.
    assert 'href="/programs?page=2&amp;city=evanston" rel="next"' in by_city
    both = html(coordinator.get("/programs?city=Chicago&track=morning"))
    assert shown_programs(both) == ["Program %02d" % n for n in range(6, 61, 6)]
    assert tile(both, "Programs / tracks") == "10 / 10"
    none = html(coordinator.get("/programs?track=weekend"))
    assert shown_programs(none) == [] and "No program matches track name “weekend”." in none
    # LIKE's wildcards are literal characters in a search.
    assert shown_programs(html(coordinator.get("/programs?name=%25"))) == []


def test_totals_count_live_holds_of_every_page(app, api, world, as_user, many, clock):
    scene = Scene(api, world, app, clock)
    with app.app_context():
        track_of = {t.program.name: t.id for t in db.session.scalars(select(Track))}
    scene.offered(scene.referral(), track_of["Program 59"])  # expires in 48 hours, unswept
    clock.now += timedelta(hours=47)
    scene.offered(scene.referral(), track_of["Program 60"])
    clock.now += timedelta(hours=2)
    first = html(as_user("coordinator").get("/programs"))
    # The live hold is on page 3, counted on page 1; the hold past expiry counts nowhere, swept or not.
    assert tile(first, "Held by pending offers") == "1"
    assert tile(first, "Open") == "479"


def test_an_admin_pages_through_every_providers_programs(app, as_user, many):
    admin = as_user("admin")
    page = html(admin.get("/programs"))
    assert tile(page, "Programs / tracks") == "62 / 62" and "page 1 of 3" in page
    assert "Elsewhere 01" in html(admin.get("/programs?page=1"))
    found = html(admin.get("/programs?name=elsewhere"))
    assert shown_programs(found) == ["Elsewhere 01", "Elsewhere 02"] and tile(found, "Programs / tracks") == "2 / 2"
