"""The SDK's built-in tap test suite, run against the fake Elastic Path and m3ter."""

from __future__ import annotations

import atexit

from singer_sdk.testing import get_tap_test_class

from tap_exportjobs.tap import TapExportJobs
from tests.conftest import CLIENT_SECRET, M3TER_KEY, M3TER_SECRET, days_ago, ep_config
from tests.fakes import FakeElasticPath, FakeFileHost, FakeM3ter

# The SDK builds its test class at import time from a config, so the fake must be up by then.
_files = FakeFileHost().start()
_ep = FakeElasticPath(_files, client_id="ep-client-id", client_secret=CLIENT_SECRET).start()
atexit.register(_ep.stop)
atexit.register(_files.stop)
_ep.generate_orders(200, days_ago(5), days_ago(1))
_ep.add_job(created_at=days_ago(3))
_ep.add_job(created_at=days_ago(2), state="failed", error="No results matched the supplied filter")

_m3 = FakeM3ter(_files, client_id=M3TER_KEY, client_secret=M3TER_SECRET).start()
atexit.register(_m3.stop)
_m3.add_destination("S3")
_table, (_revision,) = _m3.add_table("rates", [("region", "STRING"), ("rate", "NUMBER")])
_m3.add_lookup_job(_table, _revision)
_m3.add_export_job()

_config = ep_config(_ep)
_config["m3ter"] = {
    "api_url": _m3.url,
    "org_id": _m3.org_id,
    "client_id": M3TER_KEY,
    "client_secret": M3TER_SECRET,
}
TestTapExportJobs = get_tap_test_class(TapExportJobs, config=_config)
