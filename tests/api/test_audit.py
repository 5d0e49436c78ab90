"""The audit trail: reads, writes and denials of referrals, who and from where; and no PHI or tokens in logs."""

import logging

from sqlalchemy import event

from tests.support import payloads
from transitions.core.db import db


def audit_rows(api, world, **filters):
    query = "&".join("%s=%s" % item for item in filters.items())
    response = api.get("/api/v1/audit?limit=500&" + query, token=world.tokens["admin"])
    assert response.status_code == 200
    return response.json["items"]


def test_reads_writes_and_denials_are_recorded(api, world):
    created = api.post(
        "/api/v1/referrals", payloads.referral(), token=world.tokens["planner"], headers={"X-Request-ID": "req-create"}
    ).json
    rid = created["id"]
    api.get("/api/v1/referrals/%s" % rid, token=world.tokens["manager"], environ_base={"REMOTE_ADDR": "10.1.2.3"})
    api.get("/api/v1/referrals/%s" % rid, token=world.tokens["manager2"])
    api.patch("/api/v1/referrals/%s" % rid, {"notes": "x"}, token=world.tokens["manager"])
    api.get("/api/v1/referrals", token=world.tokens["planner"])
    rows = audit_rows(api, world, object_id=rid)
    seen = {(row["action"], row["user_id"], row["outcome"]) for row in rows}
    assert ("referral.create", world.users["planner"], "allowed") in seen
    assert ("referral.read", world.users["manager"], "allowed") in seen
    assert ("referral.read", world.users["manager2"], "denied") in seen
    assert ("referral.update", world.users["manager"], "denied") in seen
    assert ("referral.list", world.users["planner"], "allowed") in seen
    create_row = next(row for row in rows if row["action"] == "referral.create")
    assert create_row["request_id"] == "req-create"
    assert create_row["organization_id"] == world.orgs["hospital"]
    assert create_row["at"].endswith("Z") and create_row["method"] == "POST"
    read_row = next(row for row in rows if row["action"] == "referral.read" and row["outcome"] == "allowed")
    assert read_row["client_address"] == "10.1.2.3"


def test_probing_unknown_ids_is_recorded_as_denied(api, world):
    api.get("/api/v1/referrals/0000-not-there", token=world.tokens["planner"])
    rows = audit_rows(api, world, outcome="denied")
    assert [(row["object_id"], row["user_id"]) for row in rows] == [("0000-not-there", world.users["planner"])]


def test_a_rolled_back_write_is_recorded_as_failed(api, world):
    rid = api.post("/api/v1/referrals", payloads.referral(), token=world.tokens["planner"]).json["id"]
    api.post("/api/v1/referrals/%s/cancel" % rid, {}, token=world.tokens["planner"])
    again = api.post("/api/v1/referrals/%s/cancel" % rid, {}, token=world.tokens["planner"])
    assert again.status_code == 409
    outcomes = [row["outcome"] for row in audit_rows(api, world, object_id=rid) if row["action"] == "referral.cancel"]
    assert sorted(outcomes) == ["allowed", "failed"]


def test_audit_list_pages_newest_first(api, world, clock):
    from datetime import timedelta

    rid = api.post("/api/v1/referrals", payloads.referral(), token=world.tokens["planner"]).json["id"]
    for _ in range(3):
        clock.now += timedelta(seconds=1)
        api.get("/api/v1/referrals/%s" % rid, token=world.tokens["planner"])
    page = api.get("/api/v1/audit?limit=2", token=world.tokens["admin"]).json
    assert len(page["items"]) == 2 and page["next_cursor"]
    assert page["items"][0]["at"] >= page["items"][1]["at"]


def test_logs_carry_no_patient_data_or_tokens(api, world, caplog):
    caplog.set_level(logging.DEBUG)
    body = payloads.referral(patient={"given_name": "Zebulon", "family_name": "Quixotic"})
    rid = api.post("/api/v1/referrals", body, token=world.tokens["planner"]).json["id"]
    api.get("/api/v1/referrals/%s" % rid, token=world.tokens["manager"])
    api.post("/api/v1/referrals", body, token=world.tokens["planner"])  # duplicate, 409
    api.patch("/api/v1/referrals/%s" % rid, {"need": "bad"}, token=world.tokens["planner"])  # 422
    text = caplog.text
    for secret in ("Zebulon", "Quixotic", "ACM123456", world.tokens["planner"], world.tokens["manager"]):
        assert secret not in text


def test_a_list_writes_one_audit_row_per_referral_in_one_statement(api, world, app):
    """Every referral a list shows has its row, and the rows go to the database in one INSERT, not one each."""
    ids = {
        api.post(
            "/api/v1/referrals",
            payloads.referral(patient={"family_name": "Batch%d" % n}),
            token=world.tokens["planner"],
        ).json["id"]
        for n in range(3)
    }
    inserts = []

    def count_audit_inserts(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO AUDIT_LOG"):
            inserts.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count_audit_inserts)
    try:
        listed = api.get("/api/v1/referrals", token=world.tokens["planner"], headers={"X-Request-ID": "req-list"})
    finally:
        event.remove(engine, "before_cursor_execute", count_audit_inserts)
    assert listed.status_code == 200 and {item["id"] for item in listed.json["items"]} == ids
    assert len(inserts) == 1
    rows = [row for row in audit_rows(api, world) if row["request_id"] == "req-list"]
    assert sorted(row["object_id"] for row in rows) == sorted(ids)
    assert {(row["action"], row["user_id"], row["outcome"], row["method"]) for row in rows} == {
        ("referral.list", world.users["planner"], "allowed", "GET")
    }
