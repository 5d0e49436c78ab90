"""Everything under tests/slow carries the `slow` marker: `pytest -m "not slow"` is the quick loop.

These tests need real commits that other connections, threads or processes see, so the `app` fixture gives them a
database of their own (a copy of the migrated SQLite file, or the PostgreSQL database truncated after the test)
instead of a transaction rolled back at the end.
"""
from pathlib import Path

import pytest

SLOW_DIR = Path(__file__).parent


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(items):
    # Called with every collected item, not only this directory's: mark just the ones that live here.
    for item in items:
        if SLOW_DIR in item.path.parents:
            item.add_marker(pytest.mark.slow)
