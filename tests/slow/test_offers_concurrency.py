"""The seat invariant under real concurrency: threads and processes racing for seats, accepts and capacity.

Thread races also run on SQLite (where BEGIN IMMEDIATE queues the writers); the two-process race
and the heavier ones need PostgreSQL, where row locks and conditional UPDATEs decide.
"""

import multiprocessing
import random
import threading
from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import on_postgres
from tests.support.offers import Scene, invariant_problems
from transitions.core.db import db
from transitions.notify.models import Event
from transitions.offers import service as offers_service
from transitions.offers.models import Placement

needs_postgres = pytest.mark.skipif(not on_postgres(), reason="real row-level concurrency needs PostgreSQL")


@pytest.fixture
def scene(api, world, app, clock):
    return Scene(api, world, app, clock)


def race(app, calls, timeout=120):
    """Run every call (client -> response) in its own thread with its own client, all released together."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(index, call):
        client = app.test_client()
        barrier.wait()
        try:
            response = call(client)
            results[index] = (response.status_code, response.get_json())
        except Exception as error:  # a crash is a result too: the assertions report it
            results[index] = (repr(error), None)

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return results


def bearer(token):
    return {"Authorization": "Bearer " + token}


def offer_call(token, referral_id, track_id):
    return lambda client: client.post(
        "/api/v1/referrals/%s/offers" % referral_id, json={"track_id": track_id}, headers=bearer(token)
    )


def statuses(results):
    return Counter(status for status, _ in results)


def count(app, query):
    with app.app_context():
        value = db.session.scalar(query)
        db.session.remove()
    return value


def test_fifty_threads_race_for_the_last_seat(app, world, scene):
    track = scene.track(capacity=3)
    for _ in range(2):
        scene.offered(scene.referral(), track)
    racers = [scene.referral() for _ in range(50)]
    results = race(app, [offer_call(world.tokens["planner"], r["id"], track["id"]) for r in racers])
    assert statuses(results) == {201: 1, 409: 49}, results
    assert all(body["detail"] == "No open seat on this track." for status, body in results if status == 409)
    assert scene.seats(track) == {"capacity": 3, "occupied": 0, "held": 3, "open": 0}
    assert invariant_problems(app) == []


@needs_postgres
def test_capacity_five_fifty_racers_exactly_five(app, world, scene):
    track = scene.track(capacity=5)
    racers = [scene.referral() for _ in range(50)]
    results = race(app, [offer_call(world.tokens["planner"], r["id"], track["id"]) for r in racers])
    assert statuses(results) == {201: 5, 409: 45}, results
    assert scene.seats(track)["held"] == 5
    assert invariant_problems(app) == []


def _process_racer(url, now_iso, token, jobs, start, out):
    """One process with its own app, engine and pool; its threads race the other process's for the seat."""
    from transitions import create_app

    now = datetime.fromisoformat(now_iso)
    app = create_app({"TESTING": True, "DATABASE_URL": url, "SECRET_KEY": "test", "CLOCK": lambda: now})
    inner = threading.Barrier(len(jobs))
    results = []

    def run(referral_id, track_id):
        client = app.test_client()
        inner.wait()
        try:
            response = client.post(
                "/api/v1/referrals/%s/offers" % referral_id, json={"track_id": track_id}, headers=bearer(token)
            )
            results.append(response.status_code)
        except Exception as error:
            results.append(repr(error))

    threads = [threading.Thread(target=run, args=job) for job in jobs]
    start.wait(timeout=120)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    out.put(results)


@needs_postgres
def test_two_processes_race_for_the_last_seat(app, world, scene, db_url, clock):
    track = scene.track(capacity=1)
    racers = [scene.referral() for _ in range(20)]
    jobs = [(r["id"], track["id"]) for r in racers]
    context = multiprocessing.get_context("spawn")
    start, out = context.Barrier(2), context.Queue()
    processes = [
        context.Process(
            target=_process_racer, args=(db_url, clock.now.isoformat(), world.tokens["planner"], half, start, out)
        )
        for half in (jobs[:10], jobs[10:])
    ]
    for process in processes:
        process.start()
    results = [out.get(timeout=180) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    assert [len(r) for r in results] == [10, 10]
    assert Counter(results[0] + results[1]) == {201: 1, 409: 19}, results
    assert scene.seats(track) == {"capacity": 1, "occupied": 0, "held": 1, "open": 0}
    assert invariant_problems(app) == []


def test_one_referral_accepted_at_two_programs_at_once(app, world, scene):
    mine = scene.track(capacity=10)
    theirs = scene.track(scene.program(who="coordinator2", name="Theirs"), who="coordinator2", capacity=10)
    pairs = []
    for _ in range(6 if on_postgres() else 3):
        referral = scene.referral()
        pairs.append((scene.offered(referral, mine), scene.offered(referral, theirs)))
    calls = []
    for first, second in pairs:
        for offer, who in ((first, "coordinator"), (second, "coordinator2")):
            calls.append(
                lambda client, offer=offer, who=who: client.post(
                    "/api/v1/offers/%s/accept" % offer["id"],
                    json={"intake_date": "2026-12-03"},
                    headers=bearer(world.tokens[who]),
                )
            )
    results = race(app, calls)
    assert statuses(results) == {200: len(pairs), 409: len(pairs)}, results
    for index in range(len(pairs)):
        assert sorted(status for status, _ in results[2 * index : 2 * index + 2]) == [200, 409]
    assert count(app, select(func.count()).select_from(Placement)) == len(pairs)
    seats = scene.seats(mine), scene.seats(theirs)
    assert sum(s["occupied"] for s in seats) == len(pairs) and sum(s["held"] for s in seats) == 0
    assert invariant_problems(app) == []


@needs_postgres
def test_capacity_lowered_while_offers_race_in(app, world, scene):
    track = scene.track(capacity=20)
    racers = [scene.referral() for _ in range(30)]
    rng = random.Random(4)
    calls = [offer_call(world.tokens["planner"], r["id"], track["id"]) for r in racers]
    for capacity in [rng.randint(1, 20) for _ in range(12)]:
        calls.append(
            lambda client, capacity=capacity: client.patch(
                "/api/v1/tracks/%s" % track["id"],
                json={"capacity": capacity},
                headers=bearer(world.tokens["coordinator"]),
            )
        )
    rng.shuffle(calls)
    results = race(app, calls)
    assert set(statuses(results)) <= {200, 201, 409}, results
    seats = scene.seats(track)
    assert seats["occupied"] + seats["held"] <= seats["capacity"]
    assert seats["held"] == statuses(results)[201]
    assert invariant_problems(app) == []


@needs_postgres
def test_accept_decline_and_withdraw_racing_on_one_offer(app, world, scene):
    track = scene.track(capacity=10)
    offers = [scene.offered(scene.referral(), track) for _ in range(8)]
    calls = []
    for offer in offers:
        calls += [
            lambda c, o=offer: c.post(
                "/api/v1/offers/%s/accept" % o["id"],
                json={"intake_date": "2026-12-03"},
                headers=bearer(world.tokens["coordinator"]),
            ),
            lambda c, o=offer: c.post(
                "/api/v1/offers/%s/decline" % o["id"],
                json={"reason": "other"},
                headers=bearer(world.tokens["coordinator"]),
            ),
            lambda c, o=offer: c.post(
                "/api/v1/offers/%s/withdraw" % o["id"], json={}, headers=bearer(world.tokens["planner"])
            ),
        ]
    results = race(app, calls)
    for index in range(len(offers)):
        assert sorted(status for status, _ in results[3 * index : 3 * index + 3]) == [200, 409, 409], results
    assert invariant_problems(app) == []


@needs_postgres
def test_racers_for_expired_holds_free_each_seat_once(app, world, scene, clock):
    """A full track whose holds all expired: racers (and a sweep) free each seat exactly once, no sweep needed."""
    track = scene.track(capacity=3)
    stale = [scene.offered(scene.referral(), track) for _ in range(3)]
    clock.now += timedelta(hours=49)
    racers = [scene.referral() for _ in range(20)]
    calls = [offer_call(world.tokens["planner"], r["id"], track["id"]) for r in racers]

    def sweep(client):
        with app.app_context():
            offers_service.expire_due_offers(clock.now)
            db.session.commit()
            db.session.remove()

        class Done:
            status_code = 200

            @staticmethod
            def get_json():
                return None

        return Done

    calls.append(sweep)
    results = race(app, calls)
    assert statuses(results) == {201: 3, 409: 17, 200: 1}, results
    expired = count(app, select(func.count()).select_from(Event).where(Event.type == "offer.expired"))
    assert expired == len(stale)
    assert scene.seats(track)["held"] == 3
    assert invariant_problems(app) == []
