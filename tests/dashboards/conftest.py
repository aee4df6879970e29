"""Fixtures of the dashboards' tests."""

import pytest

from dashboards.consumers import db_threads_close


@pytest.fixture(autouse=True)
def _close_live_db_threads():
    """The sockets read snapshots in a pool of threads, each with its own connection (PostgreSQL): close
    them after each test, so the test database can be dropped at the end."""
    yield
    db_threads_close()
