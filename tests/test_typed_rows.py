"""Typed report rows (`typed_rows`): a file's columns become real columns, declared or
inferred from a bounded sample at discovery; values that do not fit stay in `row`, never lost.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tap_exportjobs import reports
from tap_exportjobs.tap import TapExportJobs
from tap_exportjobs.typed_rows import sampling
from tests.conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    days_ago,
    ep_config,
    m3ter_config,
    talkdesk_config,
)
from tests.fakes import FakeElasticPath
from tests.fakes.m3ter import usage_rows
from tests.tap_runner import run_tap
from tests.test_batch_files import batch_config, batched_rows
from tests.test_file_fidelity import _zip
from tests.test_typed_values import TRICKY_TEXTS

ROWS = "elasticpath_export_rows"
FIELDS = [("region", "STRING"), ("tier", "STRING"), ("rate", "NUMBER")]
#: Envelope and partition properties: the rest of a rows stream's schema are typed columns.
ENVELOPE = {
    *("provider", "job_id", "row_number", "row", "file_format", "source_file"),
    *("report_type", "lookupTableId", "revisionId"),
}


def _csv(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def _config(ep, tmp_path, typed: dict, **overrides) -> dict:
    return ep_config(
        ep,
        start_date=days_ago(10).isoformat(),
        typed_rows={ROWS: typed},
        cache_dir=str(tmp_path / "cache"),
        **overrides,
    )


def _schema(config: dict, stream: str = ROWS) -> dict:
    catalog = TapExportJobs(config=config, validate_config=True).catalog_dict
    entry = next(s for s in catalog["streams"] if s["tap_stream_id"] == stream)
    return entry["schema"]


def _columns(schema: dict) -> dict[str, object]:
    """Typed column -> its JSON type (with format for dates)."""
    return {
        name: (prop["type"], prop.get("format"))
        for name, prop in schema["properties"].items()
        if name not in ENVELOPE
    }


ORDERS = _csv(
    ["Order Number", "Total", "Paid", "Created", "Day", "Notes", "Code"],
    [
        ["1", "12.50", "true", "2024-03-01T10:00:00Z", "2024-03-01", "gift", "007"],
        ["2", "0.99", "FALSE", "2024-03-02 11:30:00", "2024-03-02", "", "042"],
        ["3", "100", "false", "2024-03-03T12:00:00.123+05:30", "2024-03-03", "NA", "100"],
    ],
)


def test_declared_columns_land_converted_beside_the_envelope_and_row_keeps_the_rest(ep, tmp_path):
    ep.add_job(created_at=days_ago(2), csv_bytes=ORDERS)
    declared = {
        "Order Number": "integer",
        "Total": "number",
        "Paid": "boolean",
        "Created": "date-time",
        "Day": "date",
    }
    config = _config(ep, tmp_path, {"columns": declared})

    schema = _schema(config)
    assert _columns(schema) == {
        "order_number": (["integer", "null"], None),
        "total": (["number", "null"], None),
        "paid": (["boolean", "null"], None),
        "created": (["string", "null"], "date-time"),
        "day": (["string", "null"], "date"),
    }
    assert "Order Number" in schema["properties"]["order_number"]["description"]
    rows = run_tap(config, exact_numbers=True).records(ROWS)
    assert [(r["row_number"], r["order_number"], r["total"], r["paid"]) for r in rows] == [
        (1, 1, Decimal("12.50"), True),
        (2, 2, Decimal("0.99"), False),
        (3, 3, Decimal("100"), False),
    ]
    assert [r["created"] for r in rows] == [
        "2024-03-01T10:00:00+00:00",
        "2024-03-02T11:30:00",
        "2024-03-03T06:30:00.123+00:00",
    ]
    assert [r["day"] for r in rows] == ["2024-03-01", "2024-03-02", "2024-03-03"]
    # Not declared, no inference: the rest of the row, exactly as written.
    assert [r["row"] for r in rows] == [
        {"Notes": "gift", "Code": "007"},
        {"Notes": "", "Code": "042"},
        {"Notes": "NA", "Code": "100"},
    ]
    assert {"provider", "job_id", "row_number"} <= set(rows[0])


def test_inferred_columns_come_from_a_range_read_prefix_of_the_latest_finished_file(
    ep, files, tmp_path
):
    ep.add_job(created_at=days_ago(5), csv_bytes=_csv(["Old"], [["1"]]))
    padding = [
        ["x" * 50, str(n), "2024-01-01", "NA" if n == 7 else "5", "007"] for n in range(1, 60_000)
    ]
    big = _csv(["Note", "Count", "Day", "Maybe", "Code"], padding)
    assert len(big) > 3 * sampling.SAMPLE_BYTES
    ep.add_job(created_at=days_ago(1), csv_bytes=big)
    ep.add_job(created_at=days_ago(0.5), state="running")

    schema = _schema(_config(ep, tmp_path, {"infer": True}))

    assert _columns(schema) == {
        "note": (["string", "null"], None),
        "count": (["integer", "null"], None),
        "day": (["string", "null"], "date"),
        "maybe": (["string", "null"], None),  # "NA" among the sampled values
        "code": (["string", "null"], None),  # a leading-zero code stays a string
    }
    fetches = files.requests_to(r"/exports/")
    assert [r.headers.get("range") for r in fetches] == [f"bytes=0-{sampling.SAMPLE_BYTES - 1}"]


def test_a_second_discovery_downloads_nothing_when_the_latest_file_was_sampled(ep, files, tmp_path):
    ep.add_job(created_at=days_ago(2), csv_bytes=ORDERS)
    config = _config(ep, tmp_path, {"infer": True})
    first = _schema(config)
    second = _schema(config)
    assert first == second
    assert len(files.requests_to(r"/exports/")) == 1


def test_an_inferred_column_keeps_its_type_and_columns_are_only_added_as_new_files_come(
    ep, tmp_path
):
    ep.add_job(created_at=days_ago(3), csv_bytes=_csv(["Qty", "Gone"], [["1", "a"], ["2", "b"]]))
    config = _config(ep, tmp_path, {"infer": True})
    assert _columns(_schema(config)) == {
        "qty": (["integer", "null"], None),
        "gone": (["string", "null"], None),
    }
    later = ep.add_job(created_at=days_ago(1), csv_bytes=_csv(["Qty", "New"], [["1.5", "x"]]))
    # A warehouse column never changes type (targets refuse to alter one): 1.5 stays in row.
    assert _columns(_schema(config)) == {
        "qty": (["integer", "null"], None),
        "gone": (["string", "null"], None),
        "new": (["string", "null"], None),
    }
    [row] = [r for r in run_tap(config).records(ROWS) if r["job_id"] == later]
    assert (row["qty"], row["new"], row["row"]) == (None, "x", {"Qty": "1.5"})


def test_inferred_columns_of_one_account_never_type_another(ep, files, tmp_path):
    ep.add_job(created_at=days_ago(2), csv_bytes=ORDERS)
    assert _columns(_schema(_config(ep, tmp_path, {"infer": True})))
    with FakeElasticPath(files, client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as other:
        # Another store with no finished file yet: the first store's sample is not its.
        assert _columns(_schema(_config(other, tmp_path, {"infer": True}))) == {}


#: The value rules' tricky texts, and a few that do fit some type.
TRICKY = [*TRICKY_TEXTS, "2024-02-30", "12345678901234567890.123456789", "-0", "1e3"]


@pytest.mark.parametrize("kind", ["integer", "number", "boolean", "date", "date-time", "string"])
def test_the_tricky_value_corpus_keeps_every_value_in_its_column_or_as_written_in_row(
    ep, tmp_path, kind
):
    ep.add_job(created_at=days_ago(2), csv_bytes=_csv(["Value"], [[v] for v in TRICKY]))
    config = _config(ep, tmp_path, {"columns": {"Value": kind}})
    rows = run_tap(config, exact_numbers=True).records(ROWS)

    assert len(rows) == len(TRICKY)
    for written, record in zip(TRICKY, rows, strict=True):
        if record["row"] is not None:
            assert record["row"] == {"Value": written}  # as written, never null
            assert record["value"] is None
        else:
            assert record["value"] is not None
            if kind in ("integer", "number"):
                assert record["value"] == Decimal(written)
            elif kind != "date-time":
                assert str(record["value"]).lower() == written.lower()
    kept_as_written = {r["row"]["Value"] for r in rows if r["row"] is not None}
    if kind != "string":
        never_typed = {"", "NA", "N/A", "null", "007", " 5", "+5", "1,000", "١٢٣", "NaN"}
        assert never_typed <= kept_as_written
    if kind == "number":
        exact = next(r for r in rows if r["row"] is None and r["value"] > 10**19)
        assert exact["value"] == Decimal("12345678901234567890.123456789")


def test_drift_a_new_column_stays_in_row_a_missing_one_is_null_a_bad_value_is_kept(
    ep, tmp_path, caplog
):
    ep.add_job(created_at=days_ago(4), csv_bytes=_csv(["Id", "Amount"], [["1", "10"], ["2", "20"]]))
    config = _config(ep, tmp_path, {"infer": True})
    assert _columns(_schema(config)) == {
        "id": (["integer", "null"], None),
        "amount": (["integer", "null"], None),
    }
    # Two files finish before the next run; only the latest is sampled, so the other one's
    # new column and bad value meet the columns known so far.
    drifted = ep.add_job(
        created_at=days_ago(2), csv_bytes=_csv(["Id", "Region"], [["3", "EU"], ["A-4", "US"]])
    )
    ep.add_job(created_at=days_ago(1), csv_bytes=_csv(["Id", "Amount"], [["5", "50"]]))
    with caplog.at_level(logging.INFO):
        result = run_tap(config)

    rows = [r for r in result.records(ROWS) if r["job_id"] == drifted]
    assert [(r["id"], r["amount"], r["row"]) for r in rows] == [
        (3, None, {"Region": "EU"}),
        (None, None, {"Id": "A-4", "Region": "US"}),
    ]
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert any("key 'Region' is not a column" in m for m in messages)
    assert any("'Amount'" in m and "not in this file" in m for m in messages)
    assert any("1 value(s) of column 'Id' are not integer (first at row 2)" in m for m in messages)
    # Rediscovered once that file is the latest of its kind, Region becomes a column.
    ep.add_job(created_at=days_ago(0.5), csv_bytes=_csv(["Id", "Region"], [["6", "EU"]]))
    assert "region" in _columns(_schema(config))


def test_a_json_report_gets_columns_of_its_json_types_and_strings_stay_strings(td, tmp_path):
    today = days_ago(0).replace(hour=0, minute=0, second=0, microsecond=0)
    td.add_rows("calls", 30, today - timedelta(days=2), today)
    td.add_job("calls", fmt="json", start=today - timedelta(days=2), end=today)
    config = talkdesk_config(
        td,
        start_date=today.isoformat(),
        talkdesk={"follow_existing_jobs": True},
        typed_rows={"*": {"infer": True}},
        cache_dir=str(tmp_path / "cache"),
    )

    assert _columns(_schema(config, "talkdesk_report_rows")) == {
        "call_id": (["string", "null"], None),
        "type": (["string", "null"], None),
        "start_at": (["string", "null"], "date-time"),
        "end_at": (["string", "null"], "date-time"),
        "talk_time": (["integer", "null"], None),
        "user_email": (["string", "null"], None),
        "notes": (["string", "null"], None),
    }
    rows = run_tap(config).records("talkdesk_report_rows")
    assert len(rows) == 30
    assert all(r["row"] is None and isinstance(r["talk_time"], int) for r in rows)
    assert {r["notes"] for r in rows} >= {"", "NA", "null"}  # never nulls


def test_captions_become_warehouse_names_and_a_clash_with_the_envelope_gets_a_suffix(ep, tmp_path):
    header = ["Sale Order Code", "job_id", "Amount (INR)", "row"]
    ep.add_job(created_at=days_ago(2), csv_bytes=_csv(header, [["SO-1", "j", "5", "r"]]))
    config = _config(ep, tmp_path, {"infer": True, "columns": {"saleOrderCode": "string"}})

    schema = _schema(config)
    assert list(_columns(schema)) == ["sale_order_code", "job_id_2", "amount_inr", "row_2"]
    assert '"job_id"' in schema["properties"]["job_id_2"]["description"]
    [row] = run_tap(config).records(ROWS)
    assert (row["sale_order_code"], row["job_id_2"], row["amount_inr"], row["row_2"]) == (
        "SO-1",
        "j",
        5,
        "r",
    )
    assert row["row"] is None
    assert row["job_id"] != "j"


def test_typed_rows_leave_by_the_streams_own_writer_and_the_sdks_path_alike(
    ep, tmp_path, monkeypatch
):
    ep.add_job(created_at=days_ago(2), csv_bytes=ORDERS)
    config = _config(ep, tmp_path, {"infer": True, "columns": {"Created": "date-time"}})
    direct = run_tap(config).records(ROWS)
    monkeypatch.setattr(reports, "sdk_path_reasons", lambda stream: ["the test asks for it"])
    through_sdk = run_tap(config).records(ROWS)

    def comparable(records):
        return [{k: v for k, v in r.items() if k != "observed_at"} for r in records]

    assert comparable(direct) == comparable(through_sdk)
    assert direct[0]["created"] == "2024-03-01T10:00:00+00:00"


@pytest.mark.parametrize(
    ("typed_rows", "problem"),
    [
        ({"elasticpath_export_row": {"infer": True}}, "did you mean 'elasticpath_export_rows'"),
        ({ROWS: {"columns": {"Total": "money"}}}, f"typed_rows.{ROWS}.columns.Total"),
        ({ROWS: {"infer": True, "colums": {}}}, f"typed_rows.{ROWS}.colums"),
        ({ROWS: {"columns": {"A b": "string", "a_b": "integer"}}}, "are the same column"),
    ],
)
def test_a_typed_rows_mistake_is_an_error_naming_the_setting(ep, tmp_path, typed_rows, problem):
    config = ep_config(ep, typed_rows=typed_rows, cache_dir=str(tmp_path))
    with pytest.raises(Exception, match="Config validation failed") as raised:
        TapExportJobs(config=config, validate_config=True)
    assert any(problem in str(e) for e in raised.value.errors)


def test_sampling_at_discovery_leaves_state_alone_so_a_typed_rerun_emits_nothing_again(
    m3, tmp_path
):
    table_id, (revision,) = m3.add_table("rates", FIELDS, rows=12)
    m3.add_lookup_job(table_id, revision)
    m3.add_export_job(rows=usage_rows(20))
    config = m3ter_config(m3, typed_rows={"*": {"infer": True}}, cache_dir=str(tmp_path / "cache"))

    assert _columns(_schema(config, "m3ter_lookup_table_data_rows"))
    assert _columns(_schema(config, "m3ter_data_export_rows"))
    first = run_tap(config)
    second = run_tap(config, state=first.state)

    assert len(first.records("m3ter_lookup_table_data_rows")) == 12
    assert len(first.records("m3ter_data_export_rows")) == 20
    assert all(r["row"] is None for r in first.records("m3ter_lookup_table_data_rows"))
    assert second.records("m3ter_lookup_table_data_rows") == []
    assert second.records("m3ter_data_export_rows") == []


def test_lookup_table_columns_come_from_the_revisions_fields_before_any_file_exists(
    m3, files, tmp_path
):
    m3.add_table("rates", FIELDS, rows=3)
    config = m3ter_config(
        m3,
        typed_rows={"m3ter_lookup_table_data_rows": {"infer": True}},
        cache_dir=str(tmp_path / "cache"),
    )

    assert _columns(_schema(config, "m3ter_lookup_table_data_rows")) == {
        "region": (["string", "null"], None),
        "tier": (["string", "null"], None),
        "rate": (["number", "null"], None),
    }
    assert files.log == []  # no file was read for it


def test_declared_columns_of_a_json_report_take_json_values_that_fit_and_keep_the_rest(
    td, tmp_path
):
    today = days_ago(0).replace(hour=0, minute=0, second=0, microsecond=0)
    td.add_rows("calls", 20, today - timedelta(days=2), today)
    td.add_job("calls", fmt="json", start=today - timedelta(days=2), end=today)
    declared = {"talk_time": "string", "notes": "integer", "end_at": "date-time", "type": "boolean"}
    config = talkdesk_config(
        td,
        start_date=today.isoformat(),
        talkdesk={"follow_existing_jobs": True},
        typed_rows={"talkdesk_report_rows": {"columns": declared}},
        cache_dir=str(tmp_path / "cache"),
    )

    rows = run_tap(config).records("talkdesk_report_rows")
    files = {(r["job_id"], r["row_number"]): r for r in rows}
    assert len(files) == 20
    for record in rows:
        rest = record["row"]
        # A JSON number is not a string, a note is not an integer, "inbound" is no boolean:
        # each stays in row as the file has it, the column null; nothing is dropped.
        assert record["talk_time"] is None and isinstance(rest["talk_time"], int)
        assert record["notes"] is None and isinstance(rest["notes"], str)
        assert record["type"] is None and rest["type"] in ("inbound", "outbound")
        assert record["end_at"].endswith("+00:00") and "end_at" not in rest
        assert set(rest) == {"call_id", "type", "start_at", "talk_time", "user_email", "notes"}


def test_typed_rows_in_batch_files_are_the_records_the_record_path_writes(ep, tmp_path):
    ep.add_job(created_at=days_ago(2), csv_bytes=ORDERS)
    config = _config(ep, tmp_path, {"infer": True, "columns": {"Total": "number"}})
    by_record = run_tap(config).records(ROWS)
    by_batch = run_tap({**config, **batch_config(tmp_path / "batches")})

    def comparable(records):
        return [{k: v for k, v in r.items() if k != "observed_at"} for r in records]

    batched = batched_rows(by_batch, ROWS)
    assert comparable(batched) == comparable(by_record)
    assert by_batch.records(ROWS) == []
    assert batched[0]["order_number"] == 1 and batched[0]["row"] is None


def test_many_number_columns_convert_together_and_a_row_with_one_bad_cell_keeps_the_rest(
    ep, tmp_path
):
    hostile = "x']; import os; os.system('touch pwned') #"
    header = ["A", "B", "C", "D", "E", hostile]
    rows = [["1", "2.5", "3", "4", "5.25", "ok"] for _ in range(5)]
    rows[2][3] = "N/A"
    rows[3][1] = " 7"  # JSON would take the space; the rules do not
    ep.add_job(created_at=days_ago(2), csv_bytes=_csv(header, rows))
    config = _config(ep, tmp_path, {"columns": {name: "number" for name in "ABCDE"}})

    records = run_tap(config, exact_numbers=True).records(ROWS)

    assert [(r["a"], r["b"], r["d"], r["e"]) for r in records] == [
        (1, Decimal("2.5"), 4, Decimal("5.25")),
        (1, Decimal("2.5"), 4, Decimal("5.25")),
        (1, Decimal("2.5"), None, Decimal("5.25")),
        (1, None, 4, Decimal("5.25")),
        (1, Decimal("2.5"), 4, Decimal("5.25")),
    ]
    assert [r["row"] for r in records] == [
        {hostile: "ok"},
        {hostile: "ok"},
        {"D": "N/A", hostile: "ok"},
        {"B": " 7", hostile: "ok"},
        {hostile: "ok"},
    ]
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()


def test_a_sync_types_its_rows_by_the_catalogs_columns_not_by_a_newer_sample(ep, tmp_path):
    """Meltano may pass a catalog discovered long ago: the SCHEMA the target gets is that
    catalog's, so records carry exactly its columns; a value that does not fit stays in row."""
    config = _config(ep, tmp_path, {"infer": True})
    ep.add_job(created_at=days_ago(3), csv_bytes=_csv(["Code", "Note"], [["10", "a"]]))
    catalog = TapExportJobs(config=config, validate_config=True).catalog_dict
    # Later files: Code no longer a number, a column the catalog never heard of.
    later = ep.add_job(created_at=days_ago(1), csv_bytes=_csv(["Code", "Extra"], [["A7", "x"]]))
    fresh = TapExportJobs(config={**config, "cache_dir": str(tmp_path / "other")}).catalog_dict
    assert "extra" in json.dumps(fresh)  # a new discovery would give other columns

    result = run_tap(config, catalog=catalog)

    schemas = [
        m["schema"] for m in result.messages if m["type"] == "SCHEMA" and m["stream"] == ROWS
    ]
    schema = schemas[0]
    assert all(other == schema for other in schemas)
    assert _columns(schema) == {
        "code": (["integer", "null"], None),
        "note": (["string", "null"], None),
    }
    [row] = [r for r in result.records(ROWS) if r["job_id"] == later]
    assert (row["code"], row["note"], row["row"]) == (None, None, {"Code": "A7", "Extra": "x"})
    assert set(row) - set(schema["properties"]) == set()


def test_a_zip_of_members_with_other_headers_and_formats_is_typed_row_by_row(ep, tmp_path):
    archive = _zip(
        {
            "a.csv": b"x,y\n1,2\n3,4\n",
            "b.csv": b"p,q\n5,6\n",
            "c.jsonl": b'{"x": 7, "p": "8"}\n',
        }
    )
    ep.add_job(created_at=days_ago(2), csv_bytes=archive)
    typed = {"columns": {"x": "integer", "y": "integer", "p": "integer", "q": "string"}}

    rows = run_tap(_config(ep, tmp_path, typed)).records(ROWS)

    assert [
        (r["source_file"], r["file_format"], r["x"], r["y"], r["p"], r["q"], r["row"]) for r in rows
    ] == [
        ("a.csv", "csv", 1, 2, None, None, None),
        ("a.csv", "csv", 3, 4, None, None, None),
        ("b.csv", "csv", None, None, 5, "6", None),
        ("c.jsonl", "ndjson", 7, None, 8, None, None),
    ]
