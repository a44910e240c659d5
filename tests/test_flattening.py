"""The SDK's schema flattening (`flattening_enabled`): every stream keeps every value.

With flattening on, a target builds its table from the SCHEMA message alone, so a record key
the SCHEMA does not declare is a column that never exists: its values are dropped without an
error. A file's row has no columns known before the file is read, so it travels as one
column holding the row as JSON, at any depth.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import days_ago, ep_config, m3ter_config
from tests.fakes.files import file_rows
from tests.tap_runner import SyncResult, run_tap

DEPTHS = [1, 10]
SEPARATOR = "__"  # the SDK's default flattening_separator
ROW_STREAMS = (
    "elasticpath_export_rows",
    "m3ter_lookup_table_data_rows",
    "m3ter_data_export_rows",
)
#: Values that differ between two runs over the same jobs by nature (each run sees the jobs
#: anew and is handed fresh links), not by flattening.
PER_RUN_KEYS = {"observed_at", "download_url_expires_at"}
NESTED_ROWS = [
    {"accountCode": "acme", "meterIds": ["m1", "m2"], "usage": {"units": 3, "tier": {"n": 1}}},
    {"accountCode": "beta", "meterIds": [], "usage": {"units": 0, "tier": None}, "note": None},
]


@pytest.fixture
def jobs_of_every_kind(ep, m3):
    """Every stream has records: an Elastic Path export, m3ter destinations, a lookup table
    (free-form customFields) with CSV and JSON Lines downloads, and CSV and nested JSON Lines
    data exports."""
    ep.generate_orders(40, days_ago(5), days_ago(1))
    ep.add_job(created_at=days_ago(2))
    m3.add_destination("S3")
    m3.add_destination("GCS")
    table_id, (old, current) = m3.add_table(
        "rates", [("region", "STRING"), ("rate", "NUMBER")], revisions=2, rows=6
    )
    m3.add_lookup_job(table_id, current, content_type="text/csv")
    m3.add_lookup_job(table_id, old, content_type="application/jsonl")
    m3.add_export_job()
    m3.add_export_job(rows=NESTED_ROWS, file_format="JSONL")
    return {**ep_config(ep), **m3ter_config(m3), "elasticpath": ep_config(ep)["elasticpath"]}


def _flattened(config: dict, depth: int) -> dict:
    return {**config, "flattening_enabled": True, "flattening_max_depth": depth}


def _schemas(result: SyncResult) -> dict[str, dict]:
    return {m["stream"]: m for m in result.messages if m["type"] == "SCHEMA"}


def _landed(result: SyncResult, stream: str) -> list[dict]:
    """The stream's records as a target stores them: only the columns its SCHEMA declares."""
    declared = _schemas(result)[stream]["schema"]["properties"]
    return [{k: v for k, v in r.items() if k in declared} for r in result.records(stream)]


def leaves(value, path=()):
    """(path, value) of every scalar, list and empty object inside a record."""
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from leaves(item, (*path, key))
    else:
        yield path, value


def recover(flat: dict, path: tuple[str, ...]):
    """The value at `path` of the record before flattening, read back from the flattened one:
    either its own column, or an ancestor's column holding that object as JSON."""
    for cut in range(len(path), 0, -1):
        column = SEPARATOR.join(path[:cut])
        if column in flat:
            value, rest = flat[column], path[cut:]
            if isinstance(value, str) and rest:
                value = json.loads(value)
            for key in rest:
                value = value[key]
            return value
    raise KeyError(SEPARATOR.join(path))


def same(original, recovered) -> bool:
    if isinstance(original, (dict, list)) and isinstance(recovered, str):
        recovered = json.loads(recovered)
    return original == recovered


def files_of(ep, m3) -> dict[str, bytes]:
    """Every job's file as the fakes serve it, by job id."""
    files = {job_id: job.csv for job_id, job in ep.jobs.items() if job.csv}
    files |= {job_id: m3.lookup_file(job_id) for job_id in m3.lookup_jobs}
    files |= {job_id: job.content for job_id, job in m3.export_jobs.items()}
    return files


def assert_row_landed(landed: dict, row: dict, label: str) -> None:
    """Every value of the file's `row` can be read back from the landed record."""
    for path, value in leaves(row):
        try:
            recovered = recover(landed, ("row", *path))
        except KeyError as missing:
            raise AssertionError(f"{label}: no column holds {missing}") from None
        assert same(value, recovered), (label, path, value, recovered)


@pytest.mark.parametrize("depth", DEPTHS)
def test_with_flattening_every_record_key_is_declared_in_its_streams_schema(
    jobs_of_every_kind, depth
):
    result = run_tap(_flattened(jobs_of_every_kind, depth))
    schemas = _schemas(result)
    for stream, message in schemas.items():
        records = result.records(stream)
        assert records, f"{stream} has no records: the scenario must cover every stream"
        declared = set(message["schema"]["properties"])
        undeclared = {key for record in records for key in record} - declared
        assert not undeclared, f"{stream} (depth {depth}) emits undeclared keys {undeclared}"
    assert set(ROW_STREAMS) <= set(schemas)


@pytest.mark.parametrize("depth", DEPTHS)
def test_with_flattening_every_value_of_every_row_lands(ep, m3, jobs_of_every_kind, depth):
    result = run_tap(_flattened(jobs_of_every_kind, depth))
    files = files_of(ep, m3)
    for stream in ROW_STREAMS:
        landed = {(r["job_id"], r["row_number"]): r for r in _landed(result, stream)}
        expected = {
            (job_id, n): row
            for job_id in {job_id for job_id, _ in landed}
            for n, row in enumerate(file_rows(files[job_id]), start=1)
        }
        assert expected and set(landed) == set(expected), stream
        for key, row in expected.items():
            assert_row_landed(landed[key], row, f"{stream} {key}")
    nested = [r for r in result.records("m3ter_data_export_rows") if "note" in str(r["row"])]
    assert len(nested) == 1


@pytest.mark.parametrize("depth", DEPTHS)
def test_with_flattening_no_value_of_any_record_is_lost(jobs_of_every_kind, depth):
    plain = run_tap(jobs_of_every_kind)
    flat = run_tap(_flattened(jobs_of_every_kind, depth))
    for stream, message in _schemas(plain).items():
        keys = message["key_properties"]
        by_key = {tuple(r[k] for k in keys): r for r in _landed(flat, stream)}
        assert len(by_key) == len(plain.records(stream)) > 0, stream
        for record in plain.records(stream):
            flattened = by_key[tuple(record[k] for k in keys)]
            for path, value in leaves(record):
                if path[0] in PER_RUN_KEYS:
                    continue
                assert same(value, recover(flattened, path)), (stream, path, value)
