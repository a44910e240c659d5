"""End to end through the real `meltano run` with the SDK's schema flattening switched on.

Meltano hands `flattening_enabled` / `flattening_max_depth` to the tap as any setting
meltano.yml declares (TAP_EXPORTJOBS_FLATTENING_*). A target builds its tables from the
flattened SCHEMA; every value of every row must still land.
"""

from __future__ import annotations

import json

from tests import test_meltano_e2e as e2e
from tests.test_flattening import assert_row_landed, file_rows, files_of
from tests.test_meltano_e2e import JOBS, ROWS, Pipeline

# The e2e module's fixtures, shared rather than copied: the same plugins and scenario.
meltano_installed = e2e.meltano_installed
scenario = e2e.scenario

ROW_STREAMS = (ROWS, "m3ter_lookup_table_data_rows", "m3ter_data_export_rows")


def _flattening(pipeline: Pipeline, depth: int) -> Pipeline:
    pipeline.env["TAP_EXPORTJOBS_FLATTENING_ENABLED"] = "true"
    pipeline.env["TAP_EXPORTJOBS_FLATTENING_MAX_DEPTH"] = str(depth)
    return pipeline


def _assert_every_row_landed(ep, m3, landed_by_stream: dict[str, list[dict]], whole_jobs) -> None:
    """Each landed row holds all of its file row's values; the jobs in `whole_jobs` (finished
    before the run) landed every row of their file."""
    files = files_of(ep, m3)
    by_job: dict[str, dict[int, dict]] = {}
    for stream in ROW_STREAMS:
        assert landed_by_stream[stream], f"no row of {stream} landed"
        for record in landed_by_stream[stream]:
            by_job.setdefault(record["job_id"], {})[record["row_number"]] = record
    for job_id, landed in by_job.items():
        expected = dict(enumerate(file_rows(files[job_id]), start=1))
        assert set(landed) <= set(expected), job_id
        if job_id in whole_jobs:
            assert set(landed) == set(expected), f"job {job_id}: rows missing"
        for number, record in landed.items():
            assert_row_landed(record, expected[number], f"job {job_id} row {number}")


def test_meltano_run_with_flattening_into_duckdb_lands_every_value_of_every_row(
    meltano_installed, ep, m3, scenario, tmp_path
):
    finished_before = {scenario, *m3.export_jobs}
    pipeline = _flattening(Pipeline(ep, m3, tmp_path, "target-duckdb"), depth=10)
    pipeline.run()
    # Flattening reached the tap: the job's `links` object arrives as columns.
    columns = pipeline.duckdb(
        f"select column_name from information_schema.columns where table_name = '{JOBS}'"
    )
    assert ["links__self"] in columns
    landed = {
        # Each table row as one JSON object of all its columns, whatever they are named.
        stream: [
            json.loads(row)
            for (row,) in pipeline.duckdb(f"select to_json(t) from exportjobs.{stream} t")
        ]
        for stream in ROW_STREAMS
    }
    _assert_every_row_landed(ep, m3, landed, finished_before)


def test_meltano_run_with_flattening_into_jsonl_lands_every_value_of_every_row(
    meltano_installed, ep, m3, scenario, tmp_path
):
    finished_before = {scenario, *m3.export_jobs}
    pipeline = _flattening(Pipeline(ep, m3, tmp_path, "target-jsonl"), depth=1)
    pipeline.run()
    assert all("links__self" in job for job in pipeline.jsonl(JOBS))  # flattening reached the tap
    landed = {stream: pipeline.jsonl(stream) for stream in ROW_STREAMS}
    _assert_every_row_landed(ep, m3, landed, finished_before)
