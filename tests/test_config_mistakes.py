"""A mistake in the config is an error at start naming the setting, on sync and --discover.

A misspelt block or key, or no provider at all, used to sync nothing and exit 0; --discover
used to log only "Config validation failed" and print a catalog.
"""

from __future__ import annotations

import os
import subprocess

import pytest
from singer_sdk.exceptions import ConfigValidationError

from tap_exportjobs.tap import TapExportJobs
from tests.tap_runner import ROOT, run_tap_process, tap_command, write_json

EP = {"client_id": "x", "client_secret": "y"}
M3TER = {"org_id": "o", "client_id": "k", "client_secret": "s"}


def problems_of(config: dict) -> list[str]:
    with pytest.raises(ConfigValidationError) as raised:
        TapExportJobs(config=config, validate_config=True)
    return list(raised.value.errors)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"elasticpth": EP}, "elasticpth: unknown setting, did you mean 'elasticpath'?"),
        ({"m3tr": M3TER}, "m3tr: unknown setting, did you mean 'm3ter'?"),
        (
            {"elasticpath": EP, "pol_interval_seconds": 1},
            "pol_interval_seconds: unknown setting, did you mean 'poll_interval_seconds'?",
        ),
        (
            {"elasticpath": {**EP, "clientid": "x"}},
            "elasticpath.clientid: unknown setting, did you mean 'client_id'?",
        ),
        (
            {"elasticpath": {**EP, "order_exports": {"enabeld": True}}},
            "elasticpath.order_exports.enabeld: unknown setting, did you mean 'enabled'?",
        ),
        (
            {
                "m3ter": {
                    **M3TER,
                    "data_exports": [{"name": "u", "source_type": "USAGE", "windowdays": 7}],
                }
            },
            "m3ter.data_exports[0].windowdays: unknown setting, did you mean 'window_days'?",
        ),
    ],
)
def test_an_unknown_setting_is_an_error_naming_it_and_the_nearest_known_name(config, expected):
    assert [p for p in problems_of(config) if p.startswith(expected)]


def test_an_unknown_key_with_no_near_name_is_an_error_listing_what_is_known():
    assert problems_of({"elasticpath": {**EP, "store": "x"}, "warehouse": "y"}) == [
        "warehouse: unknown setting (`tap-exportjobs --about` lists the settings)",
        "elasticpath.store: unknown setting (elasticpath takes client_id, client_secret, "
        "api_url, order_exports, max_jobs_in_flight)",
    ]


def test_a_config_without_a_provider_is_an_error_naming_the_providers():
    assert problems_of({"start_date": "2024-01-01T00:00:00Z"}) == [
        "no provider is configured: add a block for elasticpath or m3ter or talkdesk or "
        "uniware (a provider is on when its block is present)"
    ]


def test_the_settings_the_sdk_adds_are_known_and_only_the_mistake_is_named():
    config = {
        "elasticpath": {**EP, "clientid": "x"},
        "stream_maps": {"elasticpath_export_jobs": {"__alias__": "jobs"}},
        "stream_map_config": {"k": "v"},
        "flattening_enabled": True,
        "flattening_max_depth": 2,
        "batch_config": {"encoding": {"format": "jsonl"}, "storage": {"root": "file://x"}},
        "faker_config": {"seed": 1},
    }
    assert [p.split(":")[0] for p in problems_of(config)] == ["elasticpath.clientid"]


def test_a_sync_with_a_misspelt_block_exits_non_zero_naming_it(tmp_path):
    config = write_json(tmp_path / "config.json", {"elasticpth": EP})
    result = run_tap_process(config, timeout=60)
    assert result.returncode != 0
    assert "elasticpth: unknown setting, did you mean 'elasticpath'?" in result.stderr
    assert result.messages == []


@pytest.mark.parametrize(
    ("config", "named"),
    [
        (
            {"elasticpath": {"client_id": "x"}, "start_date": "last tuesday"},
            ["'client_secret' is a required property", "start_date: 'last tuesday'"],
        ),
        ({"elasticpath": {**EP, "api_url": "http://example.com"}}, ["elasticpath.api_url"]),
        (
            {"elasticpath": {**EP, "order_exports": {"window_days": 0}}, "max_wait_seconds": -1},
            ["elasticpath.order_exports.window_days", "max_wait_seconds"],
        ),
        ({"m3ter": {"org_id": "o", "client_id": "k"}}, ["'client_secret' is a required"]),
        ({"elasticpth": EP}, ["elasticpth: unknown setting", "no provider is configured"]),
        ({}, ["no provider is configured"]),
    ],
)
def test_discover_with_a_bad_setting_exits_non_zero_naming_each_problem(tmp_path, config, named):
    completed = subprocess.run(
        [*tap_command(write_json(tmp_path / "config.json", config)), "--discover"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        check=False,
    )
    assert completed.returncode != 0
    for problem in named:
        assert problem in completed.stderr
    assert completed.stdout == ""
