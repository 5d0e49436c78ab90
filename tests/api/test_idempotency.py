"""Idempotency-Key: replays, conflicts, per-org scope, expiry, and concurrent twins creating one row."""

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import on_postgres
from tests.support import payloads
from transitions.core.db import db
from transitions.core.models import IdempotencyRecord
from transitions.referrals.models import Referral


def referral_count(app):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Referral))


def post(api, world, key, body=None, token="planner"):
    return api.post(
        "/api/v1/referrals", body or payloads.referral(), token=world.tokens[token], headers={"Idempotency-Key": key}
    )


def test_same_key_same_body_replays_the_first_response(api, world, app):
    first = post(api, world, "k-1")
    second = post(api, world, "k-1")
    assert first.status_code == second.status_code == 201
    assert first.json == second.json
    assert second.headers["Location"] == first.headers["Location"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert referral_count(app) == 1


def test_key_order_and_whitespace_do_not_make_a_different_body(api, world):
    body = payloads.referral()
    first = post(api, world, "k-2", body)
    import json

    reordered = json.dumps(dict(reversed(list(body.items()))), indent=2)
    second = api.post(
        "/api/v1/referrals",
        data=reordered,
        content_type="application/json",
        headers={"Idempotency-Key": "k-2", "Authorization": "Bearer " + world.tokens["planner"]},
    )
    assert second.status_code == 201 and second.json["id"] == first.json["id"]


def test_same_key_different_body_is_409_and_creates_nothing(api, world, app):
    post(api, world, "k-3")
    other = post(api, world, "k-3", payloads.referral(patient={"given_name": "Ana"}))
    assert other.status_code == 409
    assert referral_count(app) == 1


def test_keys_are_scoped_per_organization(api, world, app):
    assert post(api, world, "shared").status_code == 201
    theirs = post(api, world, "shared", token="planner2")
    assert theirs.status_code == 201
    assert referral_count(app) == 2


def test_failed_requests_do_not_burn_the_key(api, world, app):
    bad = post(api, world, "k-4", payloads.referral(need="nope"))
    assert bad.status_code == 422
    good = post(api, world, "k-4")
    assert good.status_code == 201


def test_keys_expire_after_the_retention_window(api, world, app, clock):
    first = post(api, world, "k-5")
    api.post("/api/v1/referrals/%s/cancel" % first.json["id"], {}, token=world.tokens["planner"])
    clock.now += timedelta(hours=app.config["IDEMPOTENCY_TTL_HOURS"] - 1)
    assert post(api, world, "k-5").json["id"] == first.json["id"]
    clock.now += timedelta(hours=2)
    fresh = post(api, world, "k-5")
    assert fresh.status_code == 201 and fresh.json["id"] != first.json["id"]


def test_invalid_keys_are_refused(api, world):
    response = post(api, world, "x" * 300)
    assert response.status_code == 422 and "Idempotency-Key" in response.json["errors"]


def test_user_creation_replay_never_reveals_the_token_again(api, world, app):
    body = {"email": "new@example.org", "organization_id": world.orgs["hospital"], "role": "discharge_planner"}
    headers = {"Idempotency-Key": "user-1"}
    first = api.post("/api/v1/users", body, token=world.tokens["admin"], headers=headers)
    again = api.post("/api/v1/users", body, token=world.tokens["admin"], headers=headers)
    assert first.json["token"] and again.json["token"] is None
    assert again.json["id"] == first.json["id"]
    with app.app_context():
        stored = db.session.scalar(select(IdempotencyRecord.response_body).where(IdempotencyRecord.key == "user-1"))
    assert first.json["token"].encode() not in stored


@pytest.mark.slow
@pytest.mark.real_commits
@pytest.mark.parametrize("racers", [12])
def test_concurrent_twins_create_one_row(app, world, racers):
    """Real threads, each with its own client and connection: one create, the rest replay it."""
    barrier = threading.Barrier(racers)
    results = []
    lock = threading.Lock()

    def race():
        client = app.test_client()
        barrier.wait()
        response = client.post(
            "/api/v1/referrals",
            json=payloads.referral(),
            headers={"Authorization": "Bearer " + world.tokens["planner"], "Idempotency-Key": "race"},
        )
        with lock:
            results.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=race) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    statuses = sorted(status for status, _ in results)
    assert len(results) == racers
    assert all(status in (201, 409) for status in statuses), results
    created_ids = {body["id"] for status, body in results if status == 201}
    assert len(created_ids) == 1
    assert referral_count(app) == 1
    if on_postgres():
        # On PostgreSQL the twin waits on the key's row lock and then replays: nobody sees "in progress".
        assert statuses == [201] * racers


@pytest.mark.slow
@pytest.mark.real_commits
def test_concurrent_duplicate_patients_without_keys_create_one_referral(app, world):
    """The open-referral unique index decides the race; losers get the 409 naming the winner."""
    racers = 8
    barrier = threading.Barrier(racers)
    results = []

    def race():
        client = app.test_client()
        barrier.wait()
        response = client.post(
            "/api/v1/referrals",
            json=payloads.referral(),
            headers={"Authorization": "Bearer " + world.tokens["planner"]},
        )
        results.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=race) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] + [409] * (racers - 1), results
    winner = next(body["id"] for status, body in results if status == 201)
    assert all(body["existing_referral_id"] == winner for status, body in results if status == 409)


@pytest.mark.parametrize("key", ["", "   "])
def test_an_empty_key_is_a_400_problem_and_creates_nothing(api, world, app, key):
    """A tour whose key generator printed nothing must not create without the protection it asked for."""
    response = post(api, world, key)
    assert response.status_code == 400
    assert response.content_type == "application/problem+json"
    assert response.json["status"] == 400 and "Idempotency-Key" in response.json["errors"]
    assert referral_count(app) == 0
