"""A batched allocation apply racing single offers and another apply, in real threads on PostgreSQL: no track is
ever oversold, every hold is a pending offer, and every offer made is reported to its maker."""

import threading
from collections import Counter

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select

from tests.conftest import on_postgres, pgbouncer_url
from tests.slow.test_offers_concurrency import bearer, count
from tests.support.offers import Scene, invariant_problems
from transitions.core.db import db
from transitions.offers.models import Offer

pytestmark = pytest.mark.skipif(not on_postgres(), reason="real row-level concurrency needs PostgreSQL")

# Each round: three fresh tracks of four seats, thirty referrals; two applies, and six threads each offering five of
# the referrals one after another, so single offers keep arriving while the applies plan, lock and write.
ROUNDS = 3
TRACKS, CAPACITY, REFERRALS, SINGLE_THREADS = 3, 4, 30, 6


@pytest.fixture
def scene(api, world, app, clock):
    return Scene(api, world, app, clock)


def run_together(app, jobs, timeout=180):
    """Run each job (client -> [(status, body)]) in its own thread with its own client, all released together."""
    barrier = threading.Barrier(len(jobs))
    results = [None] * len(jobs)

    def run(index, job):
        client = app.test_client()
        barrier.wait()
        try:
            results[index] = job(client)
        except Exception as error:  # a crash is a result too: the assertions report it
            results[index] = [(repr(error), None)]

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return results


def apply_job(token):
    def job(client):
        response = client.post("/api/v1/allocations", json={"apply": True}, headers=bearer(token))
        return [(response.status_code, response.get_json())]

    return job


def singles_job(token, pairs):
    def job(client):
        out = []
        for referral_id, track_id in pairs:
            response = client.post(
                "/api/v1/referrals/%s/offers" % referral_id, json={"track_id": track_id}, headers=bearer(token)
            )
            out.append((response.status_code, response.get_json()))
        return out

    return job


def test_batched_applies_racing_single_offers_never_oversell(app, world, scene):
    made_by_applies = made_by_singles = 0
    for round_ in range(ROUNDS):
        tracks = [scene.track(scene.program(name="Race %d-%d" % (round_, i)), capacity=CAPACITY) for i in range(TRACKS)]
        referrals = [scene.referral() for _ in range(REFERRALS)]
        pairs = [(r["id"], tracks[i % TRACKS]["id"]) for i, r in enumerate(referrals)]
        jobs = [apply_job(world.tokens["manager"]), apply_job(world.tokens["admin"])]
        jobs += [singles_job(world.tokens["planner"], pairs[i::SINGLE_THREADS]) for i in range(SINGLE_THREADS)]
        results = run_together(app, jobs)
        applies, singles = [r for job in results[:2] for r in job], [r for job in results[2:] for r in job]
        assert set(Counter(status for status, _ in applies)) <= {200, 409}, applies
        assert set(Counter(status for status, _ in singles)) <= {201, 409}, singles
        batched = [
            a["offer_id"] for status, body in applies if status == 200 for a in body["assignments"] if a["offer_id"]
        ]
        single = [body["id"] for status, body in singles if status == 201]
        assert len(set(batched)) == len(batched) and not set(batched) & set(single)
        track_ids = [t["id"] for t in tracks]
        made = count(app, select(func.count()).select_from(Offer).where(Offer.track_id.in_(track_ids)))
        assert made == len(batched) + len(single)
        for track in tracks:
            seats = scene.seats(track)
            assert seats["held"] + seats["occupied"] <= seats["capacity"], (track["id"], seats)
        assert sum(scene.seats(track)["held"] for track in tracks) == made <= TRACKS * CAPACITY
        assert invariant_problems(app) == []
        made_by_applies += len(batched)
        made_by_singles += len(single)
    # The race is real only if both kinds of writer got seats.
    assert made_by_applies > 0 and made_by_singles > 0, (made_by_applies, made_by_singles)


@pytest.mark.skipif(not pgbouncer_url(), reason="only when the tests that commit go through PgBouncer")
def test_with_pgbouncer_set_the_racers_connect_through_it(app):
    """The race above is PgBouncer's when TRANSITIONS_TEST_PGBOUNCER_URL is set: its app connects to PgBouncer's
    port, with psycopg's prepared statements off, and the same statement repeated over many transactions works."""
    with app.app_context():
        assert db.engine.url.port == sa.engine.make_url(pgbouncer_url()).port
        for _ in range(12):  # more than psycopg's default prepare threshold (5)
            assert db.session.scalar(select(func.count()).select_from(Offer)) == 0
            db.session.commit()
        assert db.session.connection().connection.driver_connection.prepare_threshold is None
        db.session.remove()
