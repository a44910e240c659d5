"""No query value of a download link reaches stdout (records, state) or stderr (logs, the
final error), whatever stops the download: each kind of network failure, a redirect that
fails, a storage host that echoes the signature, a link the HTTP stack cannot parse.

The tap runs as a subprocess at DEBUG, so urllib3's request lines are on stderr too, with
waits between retries patched out (every retry still runs and logs).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest

from tests.conftest import days_ago, ep_config
from tests.tap_runner import ROOT, SyncResult, write_json

NO_WAITS = (
    "import tap_exportjobs.http as http; http.sleep = lambda seconds: None; "
    "from tap_exportjobs.tap import TapExportJobs; TapExportJobs.cli()"
)


@dataclass
class Link:
    """A presigned link whose query values are all secrets to look for."""

    base: str
    signature: str
    credential: str

    def __str__(self) -> str:
        expires = int(time.time()) + 3600
        return (
            f"{self.base}/bucket/exports/report.csv?Expires={expires}"
            f"&X-Amz-Credential={self.credential.replace('/', '%2F')}"
            f"&Signature={self.signature}"
        )

    @property
    def secrets(self) -> list[str]:
        return [self.signature, self.credential, self.credential.replace("/", "%2F")]


def new_link(base: str) -> Link:
    return Link(base, secrets.token_urlsafe(24), f"AKIA{secrets.token_hex(6).upper()}/us-east-1")


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_tap_at_debug(config: dict, tmp_path) -> SyncResult:
    completed = subprocess.run(
        [sys.executable, "-c", NO_WAITS, "--config", str(write_json(tmp_path / "c.json", config))],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "TAP_EXPORTJOBS_LOGLEVEL": "DEBUG"},
        check=False,
    )
    messages = [json.loads(line) for line in completed.stdout.splitlines() if line.strip()]
    return SyncResult(messages, completed.stderr, completed.returncode)


def serve_link(ep, files, monkeypatch, link: Link | str) -> str:
    """One finished job whose file link, wherever the API hands it out, is `link`."""
    job = ep.add_job(created_at=days_ago(1), csv_bytes=b"id\n1\n")
    monkeypatch.setattr(files, "presign", lambda *_, **__: str(link))
    return job


def assert_no_secret_anywhere(result: SyncResult, secrets_: list[str]) -> None:
    """Every log line, the final error, records and state: none holds a query value."""
    for secret in secrets_:
        assert secret not in result.stderr
        for message in result.messages:
            assert secret not in json.dumps(message)


@pytest.mark.parametrize(
    ("target", "failure_named"),
    [
        ("http://does-not-exist.invalid", "Failed to resolve"),  # .invalid never resolves
        ("http://127.0.0.1:{unused}", "Connection refused"),
        ("https://{files}", "SSL"),  # a TLS handshake with a plain-HTTP host
    ],
    ids=["dns_failure", "refused_connection", "tls_failure"],
)
def test_a_network_error_on_a_download_leaks_no_query_value(
    ep, files, tmp_path, monkeypatch, target, failure_named
):
    link = new_link(target.format(unused=unused_port(), files=files.netloc))
    job = serve_link(ep, files, monkeypatch, link)

    result = run_tap_at_debug(ep_config(ep), tmp_path)

    assert result.returncode != 0  # the file failed: the run says so at its end
    assert any(
        f"job {job}" in line and failure_named in line for line in result.stderr.splitlines()
    )
    assert_no_secret_anywhere(result, link.secrets)


def test_a_redirect_to_a_host_that_cannot_be_reached_leaks_neither_links_query(
    ep, files, tmp_path, monkeypatch
):
    first = new_link(files.url)
    onward = new_link("http://does-not-exist.invalid")
    serve_link(ep, files, monkeypatch, first)
    files.fail_next(100, 302, headers={"Location": str(onward)}, path=r"^/bucket/")

    result = run_tap_at_debug(ep_config(ep), tmp_path)

    assert result.returncode != 0
    assert "does-not-exist.invalid" in result.stderr
    assert files.requests_to(r"^/bucket/")  # the first link was followed, and redirected
    assert_no_secret_anywhere(result, first.secrets + onward.secrets)


def test_a_storage_host_error_that_echoes_the_signature_leaks_it_nowhere(
    ep, files, tmp_path, monkeypatch
):
    """S3 answers a bad signature with the signature it was given (SignatureProvided)."""
    link = new_link(files.url)
    job = serve_link(ep, files, monkeypatch, link)
    body = (
        "<Error><Code>SignatureDoesNotMatch</Code>"
        f"<SignatureProvided>{link.signature}</SignatureProvided>"
        f"<AWSAccessKeyId>{link.credential}</AWSAccessKeyId></Error>"
    )
    files.fail_next(100, 403, body=body.encode(), path=r"^/bucket/")

    result = run_tap_at_debug(ep_config(ep), tmp_path)

    assert result.returncode != 0
    assert any(f"job {job}" in line and "HTTP 403" in line for line in result.stderr.splitlines())
    assert "SignatureDoesNotMatch" in result.stderr
    assert_no_secret_anywhere(result, link.secrets)


def test_a_link_the_http_stack_cannot_parse_fails_its_file_and_leaks_no_query_value(
    ep, files, tmp_path, monkeypatch
):
    """urllib3 quotes the whole link when it cannot parse it (here, a port out of range):
    the file fails naming the job, the run goes on, and the query stays out."""
    link = new_link("http://127.0.0.2:99999")
    job = serve_link(ep, files, monkeypatch, link)

    result = run_tap_at_debug(ep_config(ep), tmp_path)

    assert result.returncode != 0
    assert any(
        f"job {job}" in line and "could not be read" in line for line in result.stderr.splitlines()
    )
    assert_no_secret_anywhere(result, link.secrets)
