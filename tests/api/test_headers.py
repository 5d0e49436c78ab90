"""Response headers: nothing sniffed or framed anywhere, nothing carrying patient data stored by a cache, and a
Content-Security-Policy for each kind of response (the API docs page's allows its one inline script by hash)."""

import base64
import hashlib
import re

import pytest

from tests.support.browser import WebClient, give_passwords

DATA_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"


def assert_not_sniffed_or_framed(response):
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    "path, status",
    [
        ("/api/v1/referrals", 200),
        ("/api/v1/referrals/not-a-referral", 404),
        ("/api/v1/stepdowns", 200),
        ("/api/v1/openapi.json", 200),
        ("/healthz", 200),
    ],
)
def test_api_json_and_its_problems_are_never_stored_sniffed_or_framed(api, world, path, status):
    response = api.get(path, token=world.tokens["planner"])
    assert response.status_code == status
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Security-Policy"] == DATA_CSP
    assert_not_sniffed_or_framed(response)


def test_a_request_without_a_token_gets_the_same_headers(client):
    response = client.get("/api/v1/referrals")
    assert response.status_code == 401 and response.mimetype == "application/problem+json"
    assert response.headers["Cache-Control"] == "no-store"
    assert_not_sniffed_or_framed(response)


def test_the_api_docs_page_allows_only_its_own_scripts_and_cannot_be_framed(client):
    response = client.get("/api/docs")
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert_not_sniffed_or_framed(response)
    assert response.headers["Cache-Control"] == "no-store"
    policy = dict(
        directive.strip().split(" ", 1) for directive in response.headers["Content-Security-Policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert "unsafe-eval" not in response.headers["Content-Security-Policy"]
    inline = re.findall(rb"<script>(.*?)</script>", response.get_data(), re.DOTALL)
    assert len(inline) == 1
    digest = base64.b64encode(hashlib.sha256(inline[0]).digest()).decode()
    assert policy["script-src"] == "'self' 'sha256-%s'" % digest
    assert policy["connect-src"] == "'self'" and policy["style-src"] == "'self'"
    # swagger-ui's default would fetch a badge from validator.swagger.io: the docs run offline.
    assert re.search(rb'"validatorUrl": ?null', response.get_data())


def test_the_docs_assets_keep_their_own_caching(client):
    response = client.get("/api/docs/assets/swagger-ui-bundle.js")
    assert response.status_code == 200
    assert "max-age=3600" in response.headers["Cache-Control"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_signed_in_pages_are_never_stored_sniffed_or_framed(app, world):
    emails = give_passwords(app, world)
    web = WebClient(app)
    web.sign_in(emails["planner"])
    for path in ("/referrals", "/board", "/metrics"):
        response = web.get(path)
        assert response.status_code == 200, path
        assert response.headers["Cache-Control"] == "no-store"
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert_not_sniffed_or_framed(response)
