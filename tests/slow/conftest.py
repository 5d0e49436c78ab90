"""Everything under tests/slow carries the `slow` marker: `pytest -m "not slow"` is the quick loop.

Most of these tests need commits that other connections, threads or processes see (browser against a live server,
races, scheduler processes, CLI subprocesses), so they also carry `real_commits`: the `app` fixture gives them a
database of their own instead of a transaction rolled back at the end. The modules below drive the app from one
thread through one connection, so the rolled-back transaction is faithful for them (and much cheaper on PostgreSQL,
where every real commit waits for the disk).
"""

from pathlib import Path

import pytest

SLOW_DIR = Path(__file__).parent
ONE_CONNECTION = {"test_offers_stateful.py", "test_openapi_fuzz.py"}


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(items):
    # Called with every collected item, not only this directory's: mark just the ones that live here.
    for item in items:
        if SLOW_DIR in item.path.parents:
            item.add_marker(pytest.mark.slow)
            if item.path.name not in ONE_CONNECTION:
                item.add_marker(pytest.mark.real_commits)
