"""Specifications of the shared job primitives: timestamps, status semantics, the ledger."""

from __future__ import annotations

from datetime import datetime, timezone

from tap_exportjobs.download import expiry_from_url, redact_url
from tap_exportjobs.jobs import TERMINAL, Ledger, parse_timestamp


def test_nanosecond_timestamps_parse_to_utc_microseconds():
    parsed = parse_timestamp("2018-10-04T11:08:49.156490335Z")
    assert parsed == datetime(2018, 10, 4, 11, 8, 49, 156490, tzinfo=timezone.utc)


def test_go_zero_time_means_never():
    assert parse_timestamp("0001-01-01T00:00:00Z") is None


def test_epoch_seconds_and_milliseconds_are_both_understood():
    assert parse_timestamp(1700000000) == parse_timestamp(1700000000000)


def test_unknown_and_running_statuses_are_not_terminal():
    assert "unknown" not in TERMINAL
    assert "running" not in TERMINAL
    assert {"succeeded", "empty", "failed", "expired"} <= TERMINAL


def _entry(created_at: str, status: str, file: str | None = None) -> dict:
    entry = {"created_at": created_at, "status": status}
    if file:
        entry["file"] = file
    return entry


def test_bookmark_stops_at_the_oldest_unsettled_job():
    ledger = Ledger(
        {
            "jobs": {
                "a": _entry("2024-01-01T00:00:00+00:00", "succeeded"),
                "b": _entry("2024-01-02T00:00:00+00:00", "running"),
                "c": _entry("2024-01-03T00:00:00+00:00", "succeeded"),
            }
        }
    )
    assert ledger.advance_bookmark(None, []) == "2024-01-02T00:00:00+00:00"
    assert set(ledger.jobs) == {"b", "c"}


def test_a_succeeded_job_whose_file_is_owed_holds_the_bookmark():
    ledger = Ledger(
        {
            "jobs": {
                "a": _entry("2024-01-01T00:00:00+00:00", "succeeded", file="pending"),
                "b": _entry("2024-01-02T00:00:00+00:00", "succeeded", file="done"),
            }
        }
    )
    assert ledger.advance_bookmark(None, []) == "2024-01-01T00:00:00+00:00"


def test_with_everything_settled_the_bookmark_goes_to_the_newest_job_and_the_ledger_drains():
    ledger = Ledger(
        {
            "jobs": {
                "a": _entry("2024-01-01T00:00:00+00:00", "succeeded", file="done"),
                "b": _entry("2024-01-02T00:00:00+00:00", "empty"),
            }
        }
    )
    assert ledger.advance_bookmark("2023-12-01T00:00:00+00:00", []) == "2024-01-02T00:00:00+00:00"
    assert set(ledger.jobs) == {"b"}


def test_presigned_signatures_are_redacted_but_host_and_path_kept():
    url = (
        "https://files.example.com/bucket/export.csv?Expires=1700000000&Signature=abc&Key-Pair-Id=K"
    )
    redacted = redact_url(url)
    assert redacted == (
        "https://files.example.com/bucket/export.csv"
        "?Expires=REDACTED&Signature=REDACTED&Key-Pair-Id=REDACTED"
    )


def test_link_expiry_is_read_from_cloudfront_and_s3_v4_query_strings():
    assert expiry_from_url("https://x/f?Expires=1700000000&Signature=s") == datetime.fromtimestamp(
        1700000000, timezone.utc
    )
    s3 = "https://b.s3.amazonaws.com/k?X-Amz-Date=20240101T000000Z&X-Amz-Expires=900&X-Amz-Signature=s"
    assert expiry_from_url(s3) == datetime(2024, 1, 1, 0, 15, tzinfo=timezone.utc)
