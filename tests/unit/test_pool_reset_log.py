"""The pool's failed reset of a connection the database dropped is logged as one warning line, not a traceback."""

import logging
import sqlite3

import psycopg
import pytest

import transitions.core.db  # noqa: F401  (installs the filter on the pools' loggers)

POOL_LOGGER = "sqlalchemy.pool.impl.QueuePool"


def reset_failure(error):
    """What SQLAlchemy's pool logs when returning a connection fails: the error, with its traceback."""
    try:
        raise error
    except Exception:
        logging.getLogger(POOL_LOGGER).error("Exception during reset or similar", exc_info=True)


@pytest.mark.parametrize(
    "error",
    [
        psycopg.OperationalError("cannot exit pipeline mode while busy"),
        psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
        sqlite3.OperationalError("disk I/O error"),
    ],
)
def test_a_lost_connections_reset_is_one_warning_line(caplog, error):
    with caplog.at_level(logging.WARNING, logger=POOL_LOGGER):
        reset_failure(error)
    [record] = caplog.records
    assert (record.levelname, record.exc_info) == ("WARNING", None)
    assert record.getMessage() == "a pooled connection could not be reset and was discarded (%s: %s)" % (
        type(error).__name__,
        str(error),
    )
    assert "Traceback" not in caplog.text


def test_any_other_reset_failure_keeps_its_traceback(caplog):
    with caplog.at_level(logging.WARNING, logger=POOL_LOGGER):
        reset_failure(RuntimeError("a bug in an event handler"))
    [record] = caplog.records
    assert record.levelname == "ERROR" and record.exc_info is not None
    assert "Traceback" in caplog.text
