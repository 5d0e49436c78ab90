"""The floor of an audited read in this stack: what GET /api/v1/referrals/{id} would cost with nothing but its safety.

Flask, SQLAlchemy Core and psycopg on the product's own database, with the product's engine settings (pool
pre-ping on), doing only what the read's safety needs: the bearer token resolved from an in-process cache (one
hash, one dict lookup), the referral read in SQL scoped to the caller's organization, one audit row inserted, one
transaction committed, the row written as JSON by orjson. No ORM, no schema, no policy, no security headers, no
request id, no problem documents: the product's read can only cost more than this. The benchmarks serve it beside
hello-world (bench/throughput.py) and count its instructions (bench/instructions.py).
"""

import datetime
import hashlib
import os
import uuid

import orjson
from flask import Flask, Response, request
from sqlalchemy import create_engine, text

engine = create_engine(os.environ["TRANSITIONS_DATABASE_URL"], pool_pre_ping=True)
app = Flask(__name__)

_USERS_BY_TOKEN_HASH = {}
_USER = text("SELECT id, organization_id FROM users WHERE token_hash = :token_hash AND active")
_READ = text("SELECT * FROM referrals WHERE id = :id AND organization_id = :organization_id")
_AUDIT = text(
    "INSERT INTO audit_log (id, at, user_id, organization_id, action, object_type, object_id, outcome, request_id,"
    " client_address, method, path) VALUES (:id, :at, :user_id, :organization_id, 'referral.read', 'referral',"
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
