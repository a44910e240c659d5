"""End to end through the real `meltano run`: one file that cannot be read does not stop the
pipeline from landing every other file, fails the run so that the scheduler alerts, and is
given up (the job row saying why) after `max_file_attempts` runs."""

from __future__ import annotations

from tests import test_meltano_e2e as e2e
from tests.conftest import days_ago
from tests.test_meltano_e2e import JOBS, ROWS, Pipeline

meltano_installed = e2e.meltano_installed

UNREADABLE = b"id,total\n1,10\n2,20,30\n"  # line 3 has a field too many


def test_an_unreadable_file_fails_runs_until_max_file_attempts_then_the_job_says_why(
    meltano_installed, ep, m3, tmp_path
):
    good = [
        ep.add_job(created_at=days_ago(d), csv_bytes=b"id,total\n1,10\n2,20\n") for d in (1.8, 1)
    ]
    bad = ep.add_job(created_at=days_ago(1.5), csv_bytes=UNREADABLE)
    export = m3.add_export_job()
    pipeline = Pipeline(ep, m3, tmp_path, "target-jsonl")
    pipeline.env["TAP_EXPORTJOBS_MAX_FILE_ATTEMPTS"] = "2"

    first = pipeline.run(succeeds=False)
    assert f"job {bad}" in first.stderr and "could not be read" in first.stderr
    landed = sorted((r["job_id"], r["row_number"]) for r in pipeline.jsonl(ROWS))
    # Every other file whole, and the unreadable one up to its bad line.
    assert landed == sorted([(bad, 1), *((job, n) for job in good for n in (1, 2))])
    assert len(_rows_of(pipeline, "m3ter_data_export_rows", export)) == 20

    second = pipeline.run()  # the second and last attempt: given up, the pipeline is green
    assert f"job {bad}" in second.stderr
    rows = [(r["job_id"], r["row_number"]) for r in pipeline.jsonl(ROWS)]
    assert sorted(rows) == landed  # no row again, and none past the unreadable line
    exports = [(r["job_id"], r["row_number"]) for r in pipeline.jsonl("m3ter_data_export_rows")]
    assert len(exports) == len(set(exports))  # the other provider's files once, too
    bad_rows = [r for r in pipeline.jsonl(JOBS) if r["id"] == bad]
    assert [r["status"] for r in bad_rows] == ["succeeded", "failed"]
    assert bad_rows[-1]["error"].startswith("The file could not be read:")

    pipeline.run()
    assert [r["id"] for r in pipeline.jsonl(JOBS)].count(bad) == 2  # settled: not again


def _rows_of(pipeline: Pipeline, stream: str, job_id: str) -> list[dict]:
    return [r for r in pipeline.jsonl(stream) if r["job_id"] == job_id]
