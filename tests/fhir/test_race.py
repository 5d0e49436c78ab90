"""A coordinator accepting through FHIR races another accepting a sibling offer through the API: exactly one wins."""

import threading

import pytest

from tests.conftest import on_postgres
from tests.support.offers import invariant_problems

pytestmark = [
    pytest.mark.slow,
    pytest.mark.real_commits,
    pytest.mark.skipif(not on_postgres(), reason="real row-level concurrency needs PostgreSQL"),
]


def accept_through_fhir(token, offer_id, intake):
    operations = [
        {"op": "replace", "path": "/status", "value": "accepted"},
        {"op": "add", "path": "/executionPeriod", "value": {"start": intake}},
    ]
    headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json-patch+json"}
    return lambda client: client.patch("/fhir/r4/Task/%s" % offer_id, json=operations, headers=headers)


def accept_through_api(token, offer_id, intake):
    headers = {"Authorization": "Bearer " + token}
    return lambda client: client.post(
        "/api/v1/offers/%s/accept" % offer_id, json={"intake_date": intake}, headers=headers
    )


def race(app, calls):
    """Each call in its own thread with its own client, released together: their status codes."""
    results = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(index, call):
        client = app.test_client()
        barrier.wait()
        results[index] = call(client).status_code

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_fhir_and_api_accepts_of_sibling_offers_one_wins(app, world, scene):
    for round_ in range(5):
        referral = scene.referral()
        track = scene.track(scene.program(name="A%d" % round_))
        ours = scene.offered(referral, track)
        other = scene.track(scene.program(name="B%d" % round_, who="coordinator2"), who="coordinator2")
        theirs = scene.offered(referral, other)
        intake = scene.intake_date(referral, track)
        results = race(
            app,
            [
                accept_through_fhir(world.tokens["coordinator"], ours["id"], intake),
                accept_through_api(world.tokens["coordinator2"], theirs["id"], intake),
            ],
        )
        assert sorted(results) == [200, 409], results
        assert sorted(scene.offer_now(o)["status"] for o in (ours, theirs)) == ["accepted", "withdrawn"]
    assert invariant_problems(app) == []
