"""The lists pages and the API share: one audited read per list in the domain's queries.py, the same rows audited
whichever entry point asks, and each page's own order and selection kept."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.support.browser import WebClient, give_passwords
from tests.support.offers import Scene
from transitions.core.db import db
from transitions.core.models import AuditRecord


@pytest.fixture
def scene(api, world, app, clock):
    return Scene(api, world, app, clock)


@pytest.fixture
def pages(app, world):
    """pages("coordinator") -> a WebClient signed in as that world user."""
    emails = give_passwords(app, world)
    clients = {}

    def signed_in(who):
        if who not in clients:
            clients[who] = WebClient(app)
            assert clients[who].sign_in(emails[who]).status_code == 302
        return clients[who]

    return signed_in


def audited(app, path, action):
    """The object ids of the audit rows of this action written by requests to path."""
    with app.app_context():
        rows = db.session.scalars(select(AuditRecord).where(AuditRecord.path == path, AuditRecord.action == action))
        return sorted(row.object_id for row in rows)


def test_the_inbox_and_get_offers_audit_the_same_listing_in_their_own_orders(app, api, world, scene, pages, clock):
    coordinator = pages("coordinator")  # signed in (and home) before there is anything to list
    track = scene.track()
    first, second, declined = (scene.referral(patient={"given_name": name}) for name in ("First", "Second", "Third"))
    early = scene.offered(first, track)
    clock.now += timedelta(minutes=1)
    app.config["OFFER_TTL_HOURS"] = 24  # offered later, expiring sooner: the inbox puts it first
    late = scene.offered(second, track)
    gone = scene.offered(declined, track)
    assert scene.decline(gone).status_code == 200

    listed = api.get("/api/v1/offers?status=pending", token=world.tokens["coordinator"]).json["items"]
    assert [o["id"] for o in listed] == [early["id"], late["id"]]  # oldest first
    page = coordinator.get("/offers").get_data(as_text=True)
    assert re.findall(r'action="/offers/([^/"]+)/accept"', page) == [late["id"], early["id"]]  # soonest to expire

    assert audited(app, "/api/v1/offers", "offer.list") == sorted([early["id"], late["id"]])
    # The inbox lists the live offers the API lists, and the latest decided ones; it shows each one's patient.
    assert audited(app, "/offers", "offer.list") == sorted([early["id"], late["id"], gone["id"]])
    assert audited(app, "/offers", "referral.read") == sorted([first["id"], second["id"], declined["id"]])


def test_the_roster_audits_only_the_placements_it_shows(app, api, world, scene, pages, clock):
    evening = scene.track()  # mon, wed, thu
    mornings = scene.track(
        name="Morning track", sessions=[{"day": day, "start": "09:00", "end": "12:00"} for day in ("tue", "fri")]
    )
    shown, _ = scene.placed(scene.referral(patient={"given_name": "Sasha"}), evening)
    hidden, _ = scene.placed(scene.referral(patient={"given_name": "Hugo"}, availability=None), mornings)
    clock.set("2026-12-03T23:00:00Z")  # Thursday 17:00 in Chicago: the evening track meets, the other does not

    api_rows = api.get("/api/v1/placements?status=active", token=world.tokens["coordinator"]).json["items"]
    assert {p["id"] for p in api_rows} == {shown["placement_id"], hidden["placement_id"]}
    page = pages("coordinator").get("/roster").get_data(as_text=True)
    assert "Sasha Lopez" in page and "Hugo Lopez" not in page
    assert audited(app, "/api/v1/placements", "placement.list") == sorted(
        [shown["placement_id"], hidden["placement_id"]]
    )
    assert audited(app, "/roster", "placement.list") == [shown["placement_id"]]
    assert audited(app, "/roster", "referral.read") == [shown["referral_id"]]


def test_the_referrals_page_and_api_list_the_same_audited_page(app, api, world, scene, pages):
    planner = pages("planner")  # signed in (and home) before there is anything to list
    track = scene.track()
    waiting = scene.referral(patient={"given_name": "Wanda"})
    offered = scene.referral(patient={"given_name": "Oscar"})
    scene.offered(offered, track)
    scene.referral(who="planner2", patient={"given_name": "Elsa"})

    listed = api.get("/api/v1/referrals?status=submitted", token=world.tokens["planner"]).json["items"]
    assert [r["id"] for r in listed] == [waiting["id"]]
    response = planner.get("/referrals?status=submitted")
    # A status filter is not the page's HTTP status (it once answered "0 submitted").
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Lopez, Wanda" in page and "Lopez, Oscar" not in page and "Lopez, Elsa" not in page
    assert audited(app, "/api/v1/referrals", "referral.list") == [waiting["id"]]
    assert audited(app, "/referrals", "referral.list") == [waiting["id"]]
    assert planner.get("/referrals").status_code == 200
    assert audited(app, "/referrals", "referral.list") == sorted([waiting["id"], waiting["id"], offered["id"]])


def test_metrics_are_one_audited_read_however_many_cohorts(app, api, world, scene, pages):
    scene.referral()
    assert pages("manager").get("/metrics?from=2026-09-01&to=2026-12-01").status_code == 200  # 14 weekly cohorts
    assert api.get("/api/v1/metrics?from=2026-09-01&to=2026-12-01", token=world.tokens["manager"]).status_code == 200
    assert audited(app, "/metrics", "metrics.read") == [None]
    assert audited(app, "/api/v1/metrics", "metrics.read") == [None]


def test_a_members_journey_lists_their_other_visible_referrals(app, world, scene, pages):
    member = {"payer_id": "acme-health", "member_id": "ACM777"}
    now = scene.referral(coverage=member, patient={"given_name": "Now"})
    before = scene.referral(coverage=member, patient={"given_name": "Before"}, who="planner2")
    scene.referral(coverage={"payer_id": "acme-health", "member_id": "ACM778"}, patient={"given_name": "Stranger"})
    page = pages("manager").get("/members/%s" % now["id"]).get_data(as_text=True)
    assert "/members/%s" % before["id"] in page
    assert audited(app, "/members/%s" % now["id"], "referral.list") == [before["id"]]
    assert audited(app, "/members/%s" % now["id"], "referral.journey") == [now["id"]]


def test_the_programs_page_lists_the_programs_its_user_edits(world, scene, pages):
    scene.program(name="Alpha IOP")
    scene.program(who="coordinator2", name="Beta IOP")
    own = pages("coordinator").get("/programs").get_data(as_text=True)
    assert "Alpha IOP" in own and "Beta IOP" not in own
    every = pages("admin").get("/programs").get_data(as_text=True)
    assert "Alpha IOP" in every and "Beta IOP" in every
    one = pages("admin").get("/programs?organization_id=%s" % world.orgs["provider2"]).get_data(as_text=True)
    assert "Alpha IOP" not in one and "Beta IOP" in one
    # A coordinator cannot look at another provider's programs by naming it.
    named = pages("coordinator").get("/programs?organization_id=%s" % world.orgs["provider2"]).get_data(as_text=True)
    assert "Alpha IOP" in named and "Beta IOP" not in named
