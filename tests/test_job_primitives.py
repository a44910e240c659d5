"""Specifications of the shared job primitives: timestamps, status semantics, the ledger."""

from __future__ import annotations

import sys
from datetime import datetime, timezone

import pytest

from tap_exportjobs.download import redact_url
from tap_exportjobs.jobs import TERMINAL, Ledger, parse_timestamp
from tap_exportjobs.links import expiry_from_url


def test_nanosecond_timestamps_parse_to_utc_microseconds():
    parsed = parse_timestamp("2018-10-04T11:08:49.156490335Z")
    assert parsed == datetime(2018, 10, 4, 11, 8, 49, 156490, tzinfo=timezone.utc)


def test_go_zero_time_means_never():
    assert parse_timestamp("0001-01-01T00:00:00Z") is None


def test_epoch_seconds_and_milliseconds_are_both_understood():
    assert parse_timestamp(1700000000) == parse_timestamp(1700000000000)


AT = datetime(2018, 10, 4, 11, 8, 49, tzinfo=timezone.utc)
#: Every way the APIs (or the notes' uncertain fields) may write one instant. Python 3.10's
#: `datetime.fromisoformat` rejects most of them (fractions other than 3 or 6 digits, `Z`,
#: `+0000`); pyproject allows 3.10.
SPELLINGS = [
    *(
        ("2018-10-04T11:08:49" + (f".{'1' * n}" if n else "") + "Z", int(f"{'1' * min(n, 6):0<6}"))
        for n in range(10)
    ),
    ("2018-10-04T11:08:49.15649Z", 156490),
    ("2018-10-04T11:08:49+0000", 0),
    ("2018-10-04T11:08:49.123+0000", 123000),
    ("2018-10-04T11:08:49+00:00", 0),
    ("2018-10-04T13:08:49.5+02:00", 500000),
    ("2018-10-04 11:08:49", 0),
    ("2018-10-04 11:08:49.25Z", 250000),
    ("2018-10-04 11:08:49 +0000", 0),
    ("2018-10-04T11:08:49", 0),
    ("1538651329", 0),
    ("1538651329000", 0),
    ("1538651329123", 123000),
    (1538651329, 0),
    (1538651329.5, 500000),
    (1538651329000, 0),
]


@pytest.mark.parametrize(("text", "micros"), SPELLINGS, ids=[str(s[0]) for s in SPELLINGS])
def test_every_spelling_of_a_timestamp_parses_to_the_same_utc_instant(text, micros):
    assert parse_timestamp(text) == AT.replace(microsecond=micros)


@pytest.mark.parametrize(("text", "micros"), SPELLINGS, ids=[str(s[0]) for s in SPELLINGS])
def test_timestamps_parse_without_the_python_versions_fromisoformat(text, micros):
    """`datetime.fromisoformat` accepts less before Python 3.11 (this machine runs 3.11, so
    3.10 cannot be run here): no parse may call it, directly or inside a library."""
    calls = []

    def watch(frame, event, arg):
        if event == "c_call" and getattr(arg, "__name__", "") == "fromisoformat":
            calls.append(arg)

    sys.setprofile(watch)
    try:
        parsed = parse_timestamp(text)
    finally:
        sys.setprofile(None)
    assert parsed == AT.replace(microsecond=micros)
    assert calls == []


@pytest.mark.parametrize("value", [None, "", "   ", "garbage", "now", "June", "2024-13-01", True])
def test_empty_and_unreadable_timestamps_are_none(value):
    assert parse_timestamp(value) is None


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
    assert ledger.advance_bookmark(None, "2024-01-03T00:00:00+00:00", None) == (
        "2024-01-02T00:00:00+00:00"
    )
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
    assert ledger.advance_bookmark(None, "2024-01-02T00:00:00+00:00", None) == (
        "2024-01-01T00:00:00+00:00"
    )


def test_with_everything_settled_the_bookmark_goes_to_the_newest_listed_job_and_the_ledger_drains():
    ledger = Ledger(
        {
            "jobs": {
                "a": _entry("2024-01-01T00:00:00+00:00", "succeeded", file="done"),
                "b": _entry("2024-01-02T00:00:00+00:00", "empty"),
            }
        }
    )
    assert ledger.advance_bookmark(
        "2023-12-01T00:00:00+00:00", "2024-01-02T00:00:00+00:00", None
    ) == ("2024-01-02T00:00:00+00:00")
    assert set(ledger.jobs) == {"b"}


def test_the_bookmark_never_passes_the_moment_the_listing_began_nor_a_job_not_listed():
    made_after_listing = _entry("2024-01-05T00:00:00+00:00", "succeeded", file="done")
    ledger = Ledger({"jobs": {"mine": made_after_listing}})
    listing_began = datetime(2024, 1, 3, tzinfo=timezone.utc)
    assert ledger.advance_bookmark(
        "2024-01-01T00:00:00+00:00", "2024-01-02T00:00:00+00:00", listing_began
    ) == ("2024-01-02T00:00:00+00:00")
    assert ledger.advance_bookmark(
        "2024-01-01T00:00:00+00:00", "2024-01-04T00:00:00+00:00", listing_began
    ) == ("2024-01-03T00:00:00+00:00")
    assert "mine" in ledger.jobs  # kept: the next run lists it again and must not re-emit it


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
