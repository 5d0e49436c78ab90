"""tests/unit holds the rules that need no app and no database; these fixtures keep it that way."""

import pytest

WHY = "tests/unit needs no app or database: a test that does belongs in tests/api or tests/web"


@pytest.fixture
def app():
    pytest.fail(WHY)


@pytest.fixture
def db_url():
    pytest.fail(WHY)
