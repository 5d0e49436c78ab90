"""The floor of the audited read and create in this stack: what the product's two hot paths would cost with nothing
but their safety and their writes.

Flask, SQLAlchemy Core and psycopg on the product's own database, with the product's engine settings (pool pre-ping
on). GET /floor/referrals/{id} does only what the read's safety needs: the bearer token resolved from an in-process
cache (one hash, one dict lookup), the referral read in SQL scoped to the caller's organization, one audit row
inserted, one transaction committed, the row written as JSON by orjson. POST /floor/referrals sends the statements
the product's create sends, with the same rows: the referral (a seeded referral's values under a new id and patient
key), its `referral.submitted` event, its five follow-up checks, the patient's advisory lock, the read for
discharges to adopt and the audit row, in one transaction. No ORM, no schema, no validation, no policy, no security
headers, no X-Request-ID handling (the audit row gets a fresh id), no problem documents: the product can only cost
more than this. The benchmarks serve it beside hello-world (bench/throughput.py) and count its instructions
(bench/instructions.py).
"""

import datetime
import hashlib
import os
import uuid

import orjson
from flask import Flask, Response, request
from sqlalchemy import MetaData, Table, create_engine, insert, text

engine = create_engine(os.environ["TRANSITIONS_DATABASE_URL"], pool_pre_ping=True)
app = Flask(__name__)

_USERS_BY_TOKEN_HASH = {}
_CREATE = {}  # the reflected tables and a seeded referral's rows, read on the first create
_USER = text("SELECT id, organization_id FROM users WHERE token_hash = :token_hash AND active")
_READ = text("SELECT * FROM referrals WHERE id = :id AND organization_id = :organization_id")
_AUDIT = text(
    "INSERT INTO audit_log (id, at, user_id, organization_id, action, object_type, object_id, outcome, request_id,"
    " client_address, method, path) VALUES (:id, :at, :user_id, :organization_id, :action, 'referral',"
    " :object_id, :outcome, :request_id, :client_address, :method, :path)"
)


def _user(connection):
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    digest = hashlib.sha256(token.encode()).hexdigest()
    user = _USERS_BY_TOKEN_HASH.get(digest)
    if user is None:
        user = connection.execute(_USER, {"token_hash": digest}).first()
        if user is not None:
            _USERS_BY_TOKEN_HASH[digest] = user
    return user


@app.get("/floor/referrals/<referral_id>")
def read_referral(referral_id):
    with engine.begin() as connection:
        user = _user(connection)
        if user is None:
            return Response(status=401)
        row = connection.execute(_READ, {"id": referral_id, "organization_id": user.organization_id}).mappings().first()
        connection.execute(
            _AUDIT,
            {
                "id": str(uuid.uuid4()),
                "at": datetime.datetime.now(datetime.UTC).replace(tzinfo=None),
                "user_id": user.id,
                "organization_id": user.organization_id,
                "action": "referral.read",
                "object_id": referral_id[:64],
                "outcome": "allowed" if row is not None else "denied",
                "request_id": uuid.uuid4().hex,
                "client_address": (request.remote_addr or "")[:64],
                "method": request.method,
                "path": request.path[:300],
            },
        )
    if row is None:
        return Response(status=404)
    return Response(orjson.dumps(dict(row), default=str), status=200, mimetype="application/json")


_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:lock_key, 0))")
_ADOPTABLE = text(
    "SELECT id FROM discharges WHERE organization_id = :organization_id"
    " AND (patient_key = :patient_key OR other_patient_key = :patient_key)"
    " AND adopted_by_referral_id IS NULL AND discharge_date BETWEEN :earliest AND :latest LIMIT 1"
)
ADOPTION_WINDOW = datetime.timedelta(days=30)  # the product's ADOPTION_WINDOW_DAYS


def _create_template(connection):
    if not _CREATE:
        metadata = MetaData()
        names = ("referrals", "followups", "events")
        tables = {name: Table(name, metadata, autoload_with=connection) for name in names}
        referral = connection.execute(text("SELECT * FROM referrals ORDER BY created_at LIMIT 1")).mappings().first()
        followups = connection.execute(
            text("SELECT * FROM followups WHERE referral_id = :id"), {"id": referral["id"]}
        ).mappings()
        _CREATE.update(
            referral=dict(referral),
            followups=[dict(followup) for followup in followups],
            insert_referral=insert(tables["referrals"]),
            insert_followups=insert(tables["followups"]),
            insert_event=insert(tables["events"]),
        )
    return _CREATE


@app.post("/floor/referrals")
def create_referral():
    document = orjson.loads(request.get_data())
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    with engine.begin() as connection:
        user = _user(connection)
        if user is None:
            return Response(status=401)
        template = _create_template(connection)
        patient_key = hashlib.sha256(orjson.dumps(document.get("patient"))).hexdigest()
        referral = dict(
            template["referral"],
            id=str(uuid.uuid4()),
            organization_id=user.organization_id,
            status="submitted",
            patient_key=patient_key,
            created_at=now,
            updated_at=now,
        )
        connection.execute(template["insert_referral"], referral)
        connection.execute(
            template["insert_event"],
            {
                "id": str(uuid.uuid4()),
                "type": "referral.submitted",
                "referral_id": referral["id"],
                "subject_type": "referral",
                "subject_id": referral["id"],
                "actor_user_id": user.id,
                "actor_org_id": user.organization_id,
                "to_status": "submitted",
                "data": {},
                "created_at": now,
            },
        )
        connection.execute(
            template["insert_followups"],
            [
                dict(followup, id=str(uuid.uuid4()), referral_id=referral["id"], created_at=now)
                for followup in template["followups"]
            ],
        )
        patient = document.get("patient") or {}
        lock_key = "patient|%s|%s|%s" % (user.organization_id, patient.get("family_name"), patient.get("birth_date"))
        connection.execute(_LOCK, {"lock_key": lock_key})
        discharge_date = referral["discharge_date"]
        connection.execute(
            _ADOPTABLE,
            {
                "organization_id": user.organization_id,
                "patient_key": patient_key,
                "earliest": discharge_date - ADOPTION_WINDOW,
                "latest": discharge_date + ADOPTION_WINDOW,
            },
        ).first()
        connection.execute(
            _AUDIT,
            {
                "id": str(uuid.uuid4()),
                "at": now,
                "user_id": user.id,
                "organization_id": user.organization_id,
                "action": "referral.create",
                "object_id": referral["id"],
                "outcome": "allowed",
                "request_id": uuid.uuid4().hex,
                "client_address": (request.remote_addr or "")[:64],
                "method": request.method,
                "path": request.path[:300],
            },
        )
    return Response(orjson.dumps(referral, default=str), status=201, mimetype="application/json")
