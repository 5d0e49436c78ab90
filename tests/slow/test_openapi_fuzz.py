"""Schemathesis against the app's own OpenAPI document, with a token for each role: no 5xx, responses match."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.support import payloads

ROLES = ("admin", "planner", "manager", "coordinator")
# Semantic rules (a ZIP that exists, a billable ICD-10-CM code, a payer id's alphabet) cannot all be
# said in JSON Schema, so a schema-valid body may still earn a 422; every other check stays on.
EXCLUDED_CHECKS = [positive_data_acceptance]
EXAMPLES_PER_OPERATION = 15


@pytest.fixture
def seeded(api, world):
    """Some real objects, so generated requests reach more than 404s."""
    program = api.post("/api/v1/programs", payloads.program(), token=world.tokens["coordinator"]).json
    api.post("/api/v1/programs/%s/tracks" % program["id"], payloads.track(), token=world.tokens["coordinator"])
    api.post("/api/v1/referrals", payloads.referral(), token=world.tokens["planner"])
    return world


def test_no_server_errors_and_responses_match_the_schema(app, seeded):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    failures = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case):
            for role in ROLES:
                case.call_and_validate(
                    headers={"Authorization": "Bearer " + seeded.tokens[role]}, excluded_checks=EXCLUDED_CHECKS
                )

        try:
            run()
        except Exception as error:  # collect every operation's failure, then report them together
            failures.append("%s: %s" % (operation.label, str(error)[:1500]))
    assert failures == [], "\n\n".join(failures)
