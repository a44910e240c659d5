"""Fault knobs: every injected failure recovers with no row missing and none repeated."""

from __future__ import annotations

import csv
import io

import pytest
from singer_sdk.exceptions import FatalAPIError

from tests.conftest import days_ago, ep_config
from tests.tap_runner import run_tap

JOBS = "elasticpath_export_jobs"
ROWS = "elasticpath_export_rows"


@pytest.fixture
def finished_job(ep):
    ep.generate_orders(400, days_ago(3), days_ago(1))
    return ep.add_job(created_at=days_ago(2))


def _assert_all_rows_once(result, ep, job_id):
    keys = result.row_keys(ROWS)
    expected = len(list(csv.DictReader(io.StringIO(ep.jobs[job_id].csv.decode()))))
    assert len(keys) == len(set(keys)) == expected
    assert sorted(n for _, n in keys) == list(range(1, expected + 1))


def test_429_with_retry_after_is_honoured_and_recovers(ep, finished_job):
    ep.fail_next(2, 429, headers={"Retry-After": "1"}, path=r"^/v2/jobs$")
    result = run_tap(ep_config(ep))
    _assert_all_rows_once(result, ep, finished_job)
    listing = [r.at for r in ep.requests_to(r"^/v2/jobs$")]
    assert len(listing) == 3
    assert listing[1] - listing[0] >= 0.95 and listing[2] - listing[1] >= 0.95


def test_server_errors_are_retried_with_backoff(ep, finished_job):
    ep.fail_next(3, 503, path=r"^/v2/jobs")
    result = run_tap(ep_config(ep))
    _assert_all_rows_once(result, ep, finished_job)


def test_a_dropped_api_connection_is_retried(ep, finished_job):
    ep.drop_next(2, path=r"^/v2/jobs$")
    result = run_tap(ep_config(ep))
    _assert_all_rows_once(result, ep, finished_job)


def test_a_connection_dropped_mid_file_resumes_with_a_range_request(ep, files, finished_job):
    files.drop_mid_file_next(1)
    result = run_tap(ep_config(ep))
    _assert_all_rows_once(result, ep, finished_job)
    downloads = files.requests_to(r"^/bucket/")
    assert len(downloads) == 2
    assert downloads[1].headers.get("range", "").startswith("bytes=")


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_connection_dropped_mid_file_loses_no_row_with_or_without_content_length(
    ep, files, chunked
):
    """With chunked transfer encoding there is no Content-Length to count against; the
    missing end-of-body chunk still shows the drop, and the rest is fetched by Range."""
    files.chunked = chunked
    ep.generate_orders(3000, days_ago(3), days_ago(1))
    job = ep.add_job(created_at=days_ago(2))
    files.drop_mid_file_next(1)
    result = run_tap(ep_config(ep))
    _assert_all_rows_once(result, ep, job)
    downloads = files.requests_to(r"^/bucket/")
    assert [d.status for d in downloads] == [200, 206]
    assert downloads[1].headers.get("range", "").startswith("bytes=")


def test_an_expired_first_link_is_replaced_by_asking_the_api_again(ep, files, finished_job):
    ep.expire_first_link = True
    result = run_tap(ep_config(ep))
    _assert_all_rows_once(result, ep, finished_job)
    assert len(ep.requests_to(rf"^/v2/jobs/{finished_job}/file$")) == 2


def test_a_link_the_storage_host_refuses_is_replaced(ep, files, finished_job):
    files.fail_next(1, 403, body=b"<Error><Code>AccessDenied</Code></Error>", path=r"^/bucket/")
    result = run_tap(ep_config(ep))
    _assert_all_rows_once(result, ep, finished_job)
    assert len(ep.requests_to(rf"^/v2/jobs/{finished_job}/file$")) == 2


def test_a_storage_host_that_keeps_refusing_fails_with_a_clear_error(ep, files, finished_job):
    files.fail_next(10, 403, body=b"<Error><Code>AccessDenied</Code></Error>", path=r"^/bucket/")
    with pytest.raises(Exception, match=rf"elasticpath job {finished_job}.*refused"):
        run_tap(ep_config(ep))


def test_jobs_that_finish_after_several_polls_are_waited_for(ep):
    ep.generate_orders(100, days_ago(3), days_ago(1))
    job = ep.add_job(created_at=days_ago(1), state="pending", finish_after_polls=6)
    result = run_tap(ep_config(ep))
    assert [r["status"] for r in result.records(JOBS)] == ["succeeded"]
    _assert_all_rows_once(result, ep, job)


def test_a_401_refreshes_the_token_once_and_retries(ep, finished_job):
    ep.fail_next(1, 401, path=r"^/v2/jobs$")
    result = run_tap(ep_config(ep))
    _assert_all_rows_once(result, ep, finished_job)
    assert len(ep.tokens_issued) == 2


def test_a_persistent_401_fails_after_one_refresh_with_the_apis_message(ep, finished_job):
    ep.fail_next(
        5,
        401,
        path=r"^/v2/jobs$",
        body=(
            b'{"errors":[{"status":401,"title":"Unauthorized",'
            b'"detail":"Unable to validate access token"}]}'
        ),
    )
    with pytest.raises(FatalAPIError, match="Unable to validate access token"):
        run_tap(ep_config(ep))
    assert len(ep.tokens_issued) == 2


def test_other_client_errors_fail_at_once_with_the_apis_own_message(ep, finished_job):
    ep.fail_next(
        1,
        403,
        path=r"^/v2/jobs$",
        body=(
            b'{"errors":[{"status":403,"title":"Forbidden","detail":"This key cannot read jobs"}]}'
        ),
    )
    with pytest.raises(FatalAPIError, match="Forbidden - This key cannot read jobs"):
        run_tap(ep_config(ep))
    assert len(ep.requests_to(r"^/v2/jobs$")) == 1


def test_a_short_lived_token_is_refreshed_before_it_expires(ep):
    ep.token_ttl_seconds = 2
    ep.generate_orders(50, days_ago(3), days_ago(1))
    job = ep.add_job(created_at=days_ago(1), state="pending", finish_after_polls=12)
    result = run_tap(ep_config(ep, poll_interval_seconds=0.3, poll_interval_max_seconds=0.3))
    _assert_all_rows_once(result, ep, job)
    assert len(ep.tokens_issued) >= 2
    # Refreshed ahead of time, not after a 401: no request went out with an expired token.
    assert [r.path for r in ep.requests_with_expired_tokens] == []
    assert not [r for r in ep.log if r.path.startswith("/v2/") and r.status == 401]


def test_a_file_larger_than_max_file_bytes_is_refused_naming_the_setting(ep, finished_job):
    with pytest.raises(Exception, match=rf"elasticpath job {finished_job}.*max_file_bytes"):
        run_tap(ep_config(ep, max_file_bytes=1000))


def test_a_gzip_file_that_inflates_past_max_file_bytes_is_refused(ep):
    import gzip

    job = ep.add_job(created_at=days_ago(1), csv_bytes=gzip.compress(b"a\n" + b"0\n" * 500_000))
    with pytest.raises(Exception, match=rf"elasticpath job {job}.*max_file_bytes"):
        run_tap(ep_config(ep, max_file_bytes=100_000))


def test_spooled_files_are_deleted_after_use_even_when_a_file_fails(ep, tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ep.add_job(created_at=days_ago(2), csv_bytes=b"a,b\n1,2\n")
    ep.add_job(created_at=days_ago(1), csv_bytes=b"a,b\n1,2,3\n")
    with pytest.raises(Exception, match="fields"):
        run_tap(ep_config(ep))
    assert list(tmp_path.glob("tap-exportjobs-*")) == []
