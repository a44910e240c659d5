"""Report rows leave the tap by the stream's own RECORD writer when nothing needs the SDK's
generic per-record path, and by the SDK's path otherwise; both write the same messages.

The stream's own writer is the fast path (see `row_output`): these tests pin down that it is
indistinguishable from the SDK's path to a target, that it steps aside whenever the SDK's
path has work to do, and that no checkpoint ever precedes the rows it counts.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest

from tap_exportjobs import reports
from tests.conftest import days_ago, ep_config, talkdesk_config
from tests.tap_runner import SyncResult, run_tap
from tests.test_flattening import jobs_of_every_kind  # noqa: F401 (a fixture)

ROW_STREAMS = {
    "elasticpath_export_rows",
    "m3ter_lookup_table_data_rows",
    "m3ter_data_export_rows",
    "talkdesk_report_rows",
}
#: Differ between two runs over the same jobs by nature, whatever the row path.
PER_RUN_KEYS = {
    "observed_at",
    "download_url_expires_at",
    "download_url",
    "time_extracted",
    "finished_at",
    "replication_key_signpost",
}


@pytest.fixture
def report_files(td):
    """Talkdesk reports someone else made: JSON `entries`, JSON Lines and CSV."""
    today = days_ago(0).replace(hour=0, minute=0, second=0, microsecond=0)
    td.add_rows("calls", 40, today - timedelta(days=3), today)
    for n, fmt in enumerate(["json", "json_bulk", "csv"]):
        td.add_job(
            "calls", fmt=fmt, start=today - timedelta(days=n + 1), end=today - timedelta(days=n)
        )
    # Starting today, the tap creates no report of its own: both runs see the same jobs.
    return talkdesk_config(
        td, start_date=today.isoformat(), talkdesk={"follow_existing_jobs": True}
    )


def _force_sdk_path(monkeypatch) -> None:
    monkeypatch.setattr(reports, "sdk_path_reasons", lambda stream: ["the test asks for it"])


def _without_per_run_values(message: dict, per_run: set[str]) -> dict:
    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in per_run}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(message)


def _sequence(result: SyncResult, per_run: set[str]) -> list[dict]:
    """Every message in order, per-run values left out, repeated identical STATEs once."""
    out: list[dict] = []
    for message in (_without_per_run_values(m, per_run) for m in result.messages):
        if message["type"] == "STATE" and out and out[-1] == message:
            continue
        out.append(message)
    return out


@pytest.mark.parametrize("world", ["jobs_of_every_kind", "report_files"])
def test_the_streams_own_record_writer_and_the_sdks_path_write_the_same_messages(
    world, request, monkeypatch
):
    config = request.getfixturevalue(world)
    direct = run_tap(config)
    _force_sdk_path(monkeypatch)
    through_sdk = run_tap(config)

    row_streams_seen = {
        m["stream"] for m in direct.messages if m["type"] == "RECORD" and m["stream"] in ROW_STREAMS
    }
    assert row_streams_seen == (
        ROW_STREAMS - {"talkdesk_report_rows"}
        if world == "jobs_of_every_kind"
        else {"talkdesk_report_rows"}
    )
    # Talkdesk shows no creation time: the tap records when it first saw each job.
    per_run = PER_RUN_KEYS | (
        {"created_at", "replication_key_value"} if world == "report_files" else set()
    )
    assert _sequence(direct, per_run) == _sequence(through_sdk, per_run)
    extracted = {
        len(m["time_extracted"])
        for r in (direct, through_sdk)
        for m in r.messages
        if "time_extracted" in m
    }
    assert len(extracted) == 1  # the same spelling (UTC, microseconds) on both paths


def test_rows_written_by_the_stream_itself_count_in_the_sdks_record_metric(ep, caplog):
    ep.generate_orders(30, days_ago(4), days_ago(1))
    ep.add_job(created_at=days_ago(2))
    with caplog.at_level(logging.INFO, logger="singer_sdk.metrics"):
        result = run_tap(ep_config(ep))

    counted = sum(
        point["value"]
        for point in _metric_points(caplog)
        if point["metric"] == "record_count"
        and point["tags"].get("stream") == "elasticpath_export_rows"
    )
    assert counted == len(result.records("elasticpath_export_rows")) > 0


def _metric_points(caplog) -> list[dict]:
    points = []
    for record in caplog.records:
        point = getattr(record, "point", None)
        if isinstance(point, dict):
            points.append(point)
        elif hasattr(point, "to_dict"):
            points.append(point.to_dict())
        elif record.getMessage().startswith("METRIC: "):
            points.append(json.loads(record.getMessage().removeprefix("METRIC: ")))
    return points


@pytest.mark.parametrize(
    ("setting", "reason"),
    [
        ({"flattening_enabled": True, "flattening_max_depth": 1}, "flattening is enabled"),
        (
            {"stream_maps": {"elasticpath_export_rows": {"shout": "provider.upper()"}}},
            "a stream map applies to it",
        ),
    ],
)
def test_a_stream_map_or_flattening_sends_rows_through_the_sdks_path(ep, caplog, setting, reason):
    ep.generate_orders(10, days_ago(4), days_ago(1))
    ep.add_job(created_at=days_ago(2))
    with caplog.at_level(logging.INFO):
        result = run_tap({**ep_config(ep), **setting})

    assert f"rows leave as the SDK's per-record path, because {reason}" in caplog.text
    rows = result.records("elasticpath_export_rows")
    assert rows
    if "stream_maps" in setting:
        assert {r["shout"] for r in rows} == {"ELASTICPATH"}


def test_a_deselected_property_is_left_out_by_the_sdks_path(ep, caplog):
    ep.generate_orders(10, days_ago(4), days_ago(1))
    ep.add_job(created_at=days_ago(2))
    from tap_exportjobs.tap import TapExportJobs

    catalog = TapExportJobs(config=ep_config(ep)).catalog_dict
    for stream in catalog["streams"]:
        if stream["tap_stream_id"] == "elasticpath_export_rows":
            for entry in stream["metadata"]:
                if entry["breadcrumb"] == ["properties", "source_file"]:
                    entry["metadata"]["selected"] = False
    with caplog.at_level(logging.INFO):
        result = run_tap(ep_config(ep), catalog=catalog)

    assert "because some of its properties are deselected" in caplog.text
    rows = result.records("elasticpath_export_rows")
    assert rows
    assert all("source_file" not in r and "row" in r for r in rows)


def test_no_checkpoint_comes_before_the_rows_it_counts(ep, monkeypatch):
    """Rows go out a chunk at a time; a checkpoint every 7 rows (between chunk ends)
    must first write the rows it counts."""
    monkeypatch.setattr(reports, "CHECKPOINT_EVERY_ROWS", 7)
    ep.generate_orders(150, days_ago(4), days_ago(1))
    job_id = ep.add_job(created_at=days_ago(2))

    result = run_tap(ep_config(ep))

    written = 0
    checkpoints = 0
    for message in result.messages:
        if message["type"] == "RECORD" and message["stream"] == "elasticpath_export_rows":
            written += 1
        elif message["type"] == "STATE":
            jobs = message["value"]["bookmarks"]["elasticpath_export_jobs"].get("jobs") or {}
            entry = jobs.get(job_id)
            counted = (entry or {}).get("rows_emitted") or 0
            assert counted <= written
            checkpoints += counted > 0
    assert written == 150
    assert checkpoints >= 150 // 7
