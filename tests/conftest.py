"""Fixtures: fake APIs on loopback and configs pointing the tap at them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.fakes import FakeElasticPath, FakeFileHost, FakeM3ter, FakeTalkdesk, FakeUniware

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
    defaults = {
        "api_url": ep.url,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    return _config("elasticpath", defaults, overrides)


def _config(provider: str, defaults: dict, overrides: dict) -> dict:
    """A tap config for one fake provider: fast polling, http links allowed (the fakes'),
    `<provider>=` entries merged into the provider's block, other overrides at the top."""
    block = {**defaults, **overrides.pop(provider, {})}
    return {
        "allow_http_downloads": True,
        "poll_interval_seconds": 0.02,
        "poll_interval_max_seconds": 0.05,
        "max_wait_seconds": 10,
        provider: block,
        **overrides,
    }


def days_ago(days: float) -> datetime:
    return datetime.now(timezone.utc) - timedelta(days=days)


M3TER_KEY = "m3ter-access-key"
M3TER_SECRET = "m3ter-api-secret-DO-NOT-LEAK"


@pytest.fixture
def m3(files):
    with FakeM3ter(files, client_id=M3TER_KEY, client_secret=M3TER_SECRET) as api:
        yield api


def m3ter_config(m3: FakeM3ter, **overrides) -> dict:
    """A config for the fake m3ter; `m3ter=` entries merge into its block."""
    defaults = {
        "api_url": m3.url,
        "org_id": m3.org_id,
        "client_id": M3TER_KEY,
        "client_secret": M3TER_SECRET,
    }
    return _config("m3ter", defaults, overrides)


TALKDESK_ID = "talkdesk-client-id"
TALKDESK_SECRET = "talkdesk-client-secret-DO-NOT-LEAK"


@pytest.fixture
def td(files):
    with FakeTalkdesk(files, client_id=TALKDESK_ID, client_secret=TALKDESK_SECRET) as api:
        yield api


def talkdesk_config(td: FakeTalkdesk, **overrides) -> dict:
    """A config for the fake Talkdesk; `talkdesk=` entries merge into its block."""
    defaults = {
        "api_url": td.url,
        "token_url": f"{td.url}/oauth/token",
        "client_id": TALKDESK_ID,
        "client_secret": TALKDESK_SECRET,
        "reports": [{"type": "calls", "format": "json"}],
    }
    return _config("talkdesk", defaults, overrides)


UNIWARE_USER = "api-user@example.com"
#: Characters a query string must encode; never to appear in any output.
UNIWARE_PASSWORD = "uw-P@ss%word&=DO-NOT-LEAK"


@pytest.fixture
def uw(files):
    with FakeUniware(files, username=UNIWARE_USER, password=UNIWARE_PASSWORD) as api:
        yield api


def uniware_config(uw: FakeUniware, **overrides) -> dict:
    """A config for the fake Uniware; `uniware=` entries merge into its block."""
    defaults = {
        "tenant": "demo",
        "api_url": uw.url,
        "username": UNIWARE_USER,
        "password": UNIWARE_PASSWORD,
        "facilities": ["WH_DEL", "WH_BLR"],
        "exports": [
            {
                "name": "sale_orders",
                "export_job_type_name": "Sale Orders",
                "columns": ["saleOrderCode", "channel", "status", "addedOn", "notes"],
                "date_filter_id": "addedOn",
            }
        ],
    }
    return _config("uniware", defaults, overrides)


@pytest.fixture(autouse=True, scope="session")
def _cache_dir_of_the_test_session(tmp_path_factory):
    """What taps keep beside state (default `cache_dir`) goes to this session's own
    directory, never the user's ~/.cache; subprocess taps inherit it."""
    patch = pytest.MonkeyPatch()
    patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
    yield
    patch.undo()
