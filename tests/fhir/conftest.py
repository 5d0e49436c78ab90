"""Every FHIR resource a test under tests/fhir receives is validated with FHIR.js (tests/fhir/validate.js, the npm
package `fhir`): a resource that does not validate fails the test that received it, so the session fails; the
count of validated resources is printed at the end of the run."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from tests.support.offers import Scene

ROOT = Path(__file__).resolve().parents[2]
VALIDATOR = Path(__file__).with_name("validate.js")
FHIR_JSON = "application/fhir+json"


class Validator:
    """One node process per test process, fed one resource per line."""

    def __init__(self):
        if shutil.which("node") is None or not (ROOT / "node_modules" / "fhir").is_dir():
            pytest.fail("FHIR.js is not installed: run `npm ci` at the repository root (node 20).", pytrace=False)
        self.process = subprocess.Popen(
            ["node", str(VALIDATOR)], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.count = 0

    def errors(self, resource):
        self.process.stdin.write(json.dumps(resource) + "\n")
        self.process.stdin.flush()
        self.count += 1
        return json.loads(self.process.stdout.readline())["errors"]

    def close(self):
        self.process.stdin.close()
        self.process.wait(timeout=10)


def _tallies(config):
    """Where each test process leaves its count for the run's summary (the pytest cache; None without it)."""
    cache = getattr(config, "cache", None)
    return Path(cache.mkdir("fhir-validated")) if cache is not None else None


def _run_id():
    """The process that runs the session: the xdist controller, or this process without xdist."""
    return os.getppid() if os.environ.get("PYTEST_XDIST_WORKER") else os.getpid()


@pytest.fixture(scope="session")
def fhir_validator(pytestconfig):
    validator = Validator()
    yield validator
    validator.close()
    directory = _tallies(pytestconfig)
    if directory is not None:
        name = "%d-%s" % (_run_id(), os.environ.get("PYTEST_XDIST_WORKER", "main"))
        (directory / name).write_text(str(validator.count))


def pytest_terminal_summary(terminalreporter, config):
    """The count, where this conftest is loaded in the process that reports (the run names tests/fhir, or no
    xdist); the tallies of earlier runs that could not report are cleared too."""
    directory = _tallies(config)
    if directory is None or os.environ.get("PYTEST_XDIST_WORKER"):
        return  # a worker's summary is not shown, and its siblings may still be writing
    mine = [path for path in directory.iterdir() if path.name.startswith("%d-" % os.getpid())]
    total = sum(int(path.read_text() or 0) for path in mine)
    for path in directory.iterdir():
        path.unlink(missing_ok=True)
    if mine:
        terminalreporter.write_line("FHIR.js validated %d FHIR resources received by tests/fhir." % total)


@pytest.fixture(autouse=True)
def every_fhir_response_validates(monkeypatch, fhir_validator):
    """Collect every FHIR resource the test's clients receive; after the test, each must validate."""
    received = []
    original = FlaskClient.open

    def open_and_collect(self, *args, **kwargs):
        response = original(self, *args, **kwargs)
        if response.mimetype == FHIR_JSON:
            received.append((response.request.method, response.request.path, response.get_json()))
        return response

    monkeypatch.setattr(FlaskClient, "open", open_and_collect)
    yield received
    invalid = []
    for method, path, resource in received:
        errors = fhir_validator.errors(resource)
        if errors:
            invalid.append("%s %s -> %s: %s" % (method, path, resource.get("resourceType"), errors))
    assert not invalid, "FHIR.js refused resources this service sent:\n" + "\n".join(invalid)


class FhirClient:
    """The test client speaking FHIR JSON with a bearer token."""

    def __init__(self, client, world):
        self.client, self.world = client, world

    def _headers(self, who, headers, content_type=FHIR_JSON):
        merged = {"Accept": FHIR_JSON, "Content-Type": content_type}
        if who:
            merged["Authorization"] = "Bearer %s" % self.world.tokens[who]
        merged.update(headers or {})
        return merged

    def get(self, path, who=None, **kwargs):
        return self.client.get("/fhir/r4" + path, headers=self._headers(who, kwargs.pop("headers", None)), **kwargs)

    def post(self, path, body, who=None, headers=None):
        data = body if isinstance(body, str | bytes) else json.dumps(body)
        return self.client.post("/fhir/r4" + path, data=data, headers=self._headers(who, headers))

    def patch(self, path, operations, who=None, headers=None):
        return self.client.patch(
            "/fhir/r4" + path,
            data=json.dumps(operations),
            headers=self._headers(who, headers, "application/json-patch+json"),
        )

    def put(self, path, body, who=None, headers=None):
        return self.client.put("/fhir/r4" + path, data=json.dumps(body), headers=self._headers(who, headers))


@pytest.fixture
def fhir(client, world):
    return FhirClient(client, world)


@pytest.fixture
def scene(api, world, app, clock):
    return Scene(api, world, app, clock)
