"""Secrets stay where they belong; bad settings fail at start naming the setting."""

from __future__ import annotations

import json

import pytest

from tests.conftest import CLIENT_SECRET, days_ago, ep_config
from tests.tap_runner import run_tap, run_tap_process, write_json


@pytest.mark.parametrize("link_href_style", ["file_url", "api_file_endpoint"])
def test_no_authorization_header_ever_reaches_the_storage_host(ep, files, link_href_style):
    ep.link_href_style = link_href_style
    ep.generate_orders(50, days_ago(3), days_ago(1))
    ep.add_job(created_at=days_ago(2))
    ep.expire_first_link = True
    files.drop_mid_file_next(1)
    result = run_tap(ep_config(ep))
    assert result.records("elasticpath_export_rows")
    downloads = files.requests_to(r"^/bucket/")
    assert len(downloads) >= 2
    assert all("authorization" not in r.headers for r in downloads)


def test_no_secret_token_or_signature_appears_in_output_logs_or_state(ep, files, tmp_path):
    ep.generate_orders(50, days_ago(3), days_ago(1))
    ep.add_job(created_at=days_ago(2))
    ep.fail_next(1, 401, path=r"^/v2/jobs$")  # forces a second token and a logged retry
    result = run_tap_process(write_json(tmp_path / "config.json", ep_config(ep)))
    assert result.returncode == 0, result.stderr
    assert result.messages and len(ep.tokens_issued) == 2
    signatures = [r.query["Signature"] for r in files.requests_to(r"^/bucket/")]
    everything = result.stderr + json.dumps(result.messages)
    for secret in [CLIENT_SECRET, *ep.tokens_issued, *signatures]:
        assert secret not in everything


def test_plain_http_download_links_are_refused_unless_allowed(ep):
    ep.generate_orders(50, days_ago(3), days_ago(1))
    job = ep.add_job(created_at=days_ago(2))
    config = ep_config(ep, allow_http_downloads=False)
    with pytest.raises(
        Exception, match=rf"{job}.*only https is followed unless allow_http_downloads"
    ):
        run_tap(config)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"elasticpath": {"client_id": "x"}}, "client_secret"),
        ({"elasticpath": {"client_secret": "x"}}, "client_id"),
        (
            {
                "elasticpath": {
                    "client_id": "x",
                    "client_secret": "y",
                    "api_url": "http://example.com",
                }
            },
            "elasticpath.api_url",
        ),
        (
            {"elasticpath": {"client_id": "x", "client_secret": "y", "api_url": "not a url"}},
            "elasticpath.api_url",
        ),
        (
            {"start_date": "last tuesday", "elasticpath": {"client_id": "x", "client_secret": "y"}},
            "start_date",
        ),
        (
            {"max_wait_seconds": -1, "elasticpath": {"client_id": "x", "client_secret": "y"}},
            "max_wait_seconds",
        ),
        (
            {
                "elasticpath": {
                    "client_id": "x",
                    "client_secret": "y",
                    "order_exports": {"enabled": True, "window_days": 0},
                }
            },
            "elasticpath.order_exports.window_days",
        ),
        (
            {
                "elasticpath": {
                    "client_id": "x",
                    "client_secret": "y",
                    "order_exports": {"enabled": True, "filter": "payment=paid"},
                }
            },
            "elasticpath.order_exports.filter",
        ),
    ],
)
def test_a_missing_or_malformed_setting_fails_at_start_naming_it(tmp_path, change, named):
    result = run_tap_process(write_json(tmp_path / "config.json", change), timeout=60)
    assert result.returncode != 0
    assert named.split(".")[-1] in result.stderr
    assert result.messages == []
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("block", "named"),
    [
        ({"client_id": "k", "client_secret": "s"}, "org_id"),
        ({"org_id": "o", "client_secret": "s"}, "client_id"),
        ({"org_id": "o", "client_id": "k"}, "client_secret"),
        (
            {
                "org_id": "o",
                "client_id": "k",
                "client_secret": "s",
                "api_url": "http://m3ter.example",
            },
            "m3ter.api_url",
        ),
        (
            {
                "org_id": "o",
                "client_id": "k",
                "client_secret": "s",
                "data_exports": [{"name": "ops", "source_type": "OPERATIONAL"}],
            },
            "operational_data_types",
        ),
        (
            {
                "org_id": "o",
                "client_id": "k",
                "client_secret": "s",
                "data_exports": [{"name": "x", "source_type": "SOMETHING"}],
            },
            "source_type",
        ),
    ],
)
def test_a_bad_m3ter_block_fails_at_start_naming_the_setting(tmp_path, block, named):
    result = run_tap_process(write_json(tmp_path / "config.json", {"m3ter": block}), timeout=60)
    assert result.returncode != 0
    assert named.split(".")[-1] in result.stderr
    assert result.messages == []


def test_no_m3ter_secret_or_token_appears_in_output_logs_or_state(m3, files, tmp_path):
    from tests.conftest import M3TER_SECRET, m3ter_config

    table_id, (revision,) = m3.add_table("rates", [("region", "STRING")])
    m3.add_lookup_job(table_id, revision)
    m3.add_export_job()
    m3.fail_next(1, 403, path=r"/dataexports/jobs$")  # forces a second token
    result = run_tap_process(write_json(tmp_path / "config.json", m3ter_config(m3)))
    assert result.returncode == 0, result.stderr
    assert len(m3.tokens_issued) == 2
    signatures = [r.query["Signature"] for r in files.requests_to(r"^/bucket/")]
    assert signatures
    everything = result.stderr + json.dumps(result.messages)
    for secret in [M3TER_SECRET, *m3.tokens_issued, *signatures]:
        assert secret not in everything
    assert all("authorization" not in r.headers for r in files.log)


def test_the_api_token_is_only_sent_to_the_api_host(ep, files):
    ep.generate_orders(50, days_ago(3), days_ago(1))
    ep.add_job(created_at=days_ago(2))
    run_tap(ep_config(ep))
    tokens = set(ep.tokens_issued)
    assert all(
        r.headers.get("authorization", "").removeprefix("Bearer ") not in tokens for r in files.log
    )
