"""The API token goes only to the API it is for, and its answer is read in every shape.

Host names are resolved by the test (`elsewhere`): a name on port 80 reaches a fake host on
loopback, so links to Elastic Path-looking hosts can be followed without leaving the machine.
"""

from __future__ import annotations

import re
import socket

import pytest
from singer_sdk.exceptions import FatalAPIError

from tap_exportjobs.tap import TapExportJobs
from tests.conftest import days_ago, ep_config
from tests.fakes.server import FakeHost, Request, Response
from tests.tap_runner import run_tap

#: Hosts that are not the configured API, though some look like Elastic Path's.
NAMES = (
    "useast.api.elasticpath.com",
    "attacker.elasticpath.com",
    "evilapi.moltin.com",
    "evil.elasticpath.com.attacker",
)
FOREIGN_CSV = b"id,order_number\r\nA1,9001\r\nA2,9002\r\n"


class Elsewhere(FakeHost):
    """A host that is not the API, serving a CSV at every `/v2/jobs/<id>/file`."""

    def __init__(self) -> None:
        # The API's own address on another port: only the port tells them apart.
        super().__init__("127.0.0.1")
        self.route("GET", r"/v2/jobs/(?P<job_id>[^/]+)/file", self._file)

    def _file(self, request: Request, job_id: str) -> Response:
        return Response(200, FOREIGN_CSV, {"Content-Type": "text/csv"})


@pytest.fixture
def elsewhere(monkeypatch):
    with Elsewhere() as host:
        resolve = socket.getaddrinfo

        def getaddrinfo(name, port, *args, **kwargs):
            if name in NAMES:
                return resolve(host.host, host.port, *args, **kwargs)
            return resolve(name, port, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
        yield host


@pytest.mark.parametrize(
    ("where", "base"),
    [
        ("link.href", "http://useast.api.elasticpath.com"),
        ("link.href", "http://evilapi.moltin.com"),
        ("/file href", "http://attacker.elasticpath.com"),
        ("/file href", "http://useast.api.elasticpath.com"),
    ],
)
def test_a_file_endpoint_on_another_host_is_downloaded_as_a_file_without_credentials(
    ep, elsewhere, where, base
):
    ep.add_job(created_at=days_ago(2), csv_bytes=b"id\r\nours\r\n")
    ep.foreign_file_endpoint = base
    if where == "link.href":
        ep.link_href_style = "api_file_endpoint"
        ep.fail_next(5, 404, path=r"/file$")  # /file gives no link: the job's own is used
    result = run_tap(ep_config(ep))
    assert elsewhere.requests_to(r"^/v2/jobs/[^/]+/file$", method="GET")
    assert all("authorization" not in r.headers for r in elsewhere.log)
    rows = result.records("elasticpath_export_rows")
    assert [r["row"]["order_number"] for r in rows] == ["9001", "9002"]


@pytest.mark.parametrize(
    "url",
    [
        "{files}/v2/jobs/x/file",  # another host
        "{elsewhere}/v2/jobs/x/file",  # the API's host on another port
        "https://{api}/v2/jobs",  # the API's host and port over another scheme
        "http://evil.elasticpath.com.attacker/v2/jobs/x/file",
        "http://{api}@evil.elasticpath.com.attacker/v2/jobs",  # the API only as userinfo
    ],
)
def test_no_request_to_another_origin_is_sent_with_the_token(ep, files, elsewhere, url):
    stream = TapExportJobs(config=ep_config(ep)).streams["elasticpath_export_jobs"]
    url = url.format(files=files.url, elsewhere=elsewhere.url, api=ep.netloc)
    with pytest.raises(FatalAPIError, match="Refusing to send the API token to "):
        stream.request_json("GET", url, None)
    assert elsewhere.log == []
    assert files.log == []
    assert all(r.path == "/oauth/access_token" for r in ep.log)


@pytest.mark.parametrize("token_style", ["docs", "spec"])
def test_the_token_answer_is_read_with_or_without_a_data_wrapper(ep, token_style):
    ep.token_style = token_style
    ep.generate_orders(20, days_ago(3), days_ago(1))
    ep.add_job(created_at=days_ago(2))
    result = run_tap(ep_config(ep))
    assert len(ep.tokens_issued) == 1
    assert result.records("elasticpath_export_rows")
    assert all(r.status == 200 for r in ep.requests_to(r"^/v2/"))


@pytest.mark.parametrize(
    "body",
    [
        b'{"data": {"token_type": "Bearer", "expires_in": 3600}}',
        b'{"token_type": "Bearer"}',
        b'{"access_token": null}',
        b"<html>Please sign in to the network</html>",
    ],
)
def test_a_token_answer_without_an_access_token_fails_naming_the_token_host(ep, body):
    ep.add_job(created_at=days_ago(2), csv_bytes=b"id\r\n1\r\n")
    ep.fail_next(1, 200, body=body, path=r"^/oauth/access_token$")
    result = run_tap(ep_config(ep), fails=True)
    assert isinstance(result.error, FatalAPIError)
    assert re.search(
        rf"access token: {re.escape(ep.netloc)} answered HTTP 200 without an access_token",
        str(result.error),
    )
