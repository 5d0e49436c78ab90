"""The whole substance use file through `flask directory import`: every IOP facility once, then nothing changed."""

import os

import pytest
from sqlalchemy import func, select

from tests.api.test_directory_import import SU_FILE, run_import, summary
from transitions.core.db import db
from transitions.directory.models import Program


def test_whole_substance_use_file_twice(app):
    if not os.path.isfile(SU_FILE):
        pytest.skip("the SAMHSA reference file %s is not in ../shared/data" % SU_FILE)
    first = run_import(app, SU_FILE)
    assert first.exit_code == 0, first.output
    counts = summary(first)
    # 5,525 IOP lines; two repeat a facility already listed (same name lines, street and ZIP).
    assert (counts["created"], counts["same facility as an earlier line"]) == (5523, 2)
    assert counts["not an IOP setting"] == 12176 - 5525
    again = summary(run_import(app, SU_FILE))
    assert (again["created"], again["updated"], again["unchanged"], again["deactivated"]) == (0, 0, 5523, 0)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Program).where(Program.unconfirmed)) == 5523
