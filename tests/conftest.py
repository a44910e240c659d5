"""Fixtures: fake APIs on loopback and configs pointing the tap at them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.fakes import FakeElasticPath, FakeFileHost

CLIENT_ID = "ep-client-id"
CLIENT_SECRET = "ep-client-secret-DO-NOT-LEAK"


@pytest.fixture
def files():
    with FakeFileHost() as host:
        yield host


@pytest.fixture
def ep(files):
    with FakeElasticPath(files, client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as api:
        yield api


def ep_config(ep: FakeElasticPath, **overrides) -> dict:
    """A config for the fake Elastic Path; `elasticpath=` entries merge into its block."""
    block = {
        "api_url": ep.url,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        **overrides.pop("elasticpath", {}),
    }
    return {
        "allow_http_downloads": True,
        "poll_interval_seconds": 0.02,
        "poll_interval_max_seconds": 0.05,
        "max_wait_seconds": 10,
        "elasticpath": block,
        **overrides,
    }


def days_ago(days: float) -> datetime:
    return datetime.now(timezone.utc) - timedelta(days=days)
