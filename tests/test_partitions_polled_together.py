"""A job stream under a parent (m3ter lookup-table data jobs, one partition per revision)
waits for the jobs of every partition as one set, after walking them all, and the DOWNLOAD
jobs the tap triggers share the provider's budget (`max_jobs_in_flight`)."""

from __future__ import annotations

from tests.conftest import m3ter_config
from tests.tap_runner import run_tap

LOOKUP_JOBS = "m3ter_lookup_table_data_jobs"
LOOKUP_ROWS = "m3ter_lookup_table_data_rows"
FIELDS = [("region", "STRING"), ("rate", "NUMBER")]


def _config(m3, budget: int):
    return m3ter_config(m3, m3ter={"download_lookup_tables": True, "max_jobs_in_flight": budget})


def _rows_by_table(m3, result) -> dict[str, int]:
    rows: dict[str, int] = {}
    for job_id, _ in result.row_keys(LOOKUP_ROWS):
        table = m3.lookup_jobs[job_id].table_id
        rows[table] = rows.get(table, 0) + 1
    return rows


def test_downloads_of_every_table_are_triggered_first_and_waited_for_as_one_set(m3):
    tables = [m3.add_table(f"t{n}", FIELDS, rows=7)[0] for n in range(3)]
    result = run_tap(_config(m3, budget=4))

    assert m3.most_downloads_pending == 3  # all in flight at once, not table after table
    triggers = [i for i, r in enumerate(m3.log) if r.path.endswith("/data/jobs/download")]
    polls = [
        i
        for i, r in enumerate(m3.log)
        if r.method == "GET"
        and "/data/jobs/" in r.path
        and not r.path.endswith("/jobs")
        and i > triggers[0]
    ]
    assert len(triggers) == 3 and max(triggers) < min(polls)
    assert _rows_by_table(m3, result) == dict.fromkeys(tables, 7)
    downloads = result.state["bookmarks"][LOOKUP_JOBS]["downloads"]
    assert all(downloads[table]["done"] for table in tables)


def test_lookup_table_downloads_share_the_budget_and_each_table_lands_once(m3):
    tables = [m3.add_table(f"t{n}", FIELDS, rows=4)[0] for n in range(4)]
    result = run_tap(_config(m3, budget=2))

    assert m3.most_downloads_pending == 2
    assert len(m3.requests_to(r"/data/jobs/download$", "POST")) == 4  # one per table
    assert _rows_by_table(m3, result) == dict.fromkeys(tables, 4)
    keys = result.row_keys(LOOKUP_ROWS)
    assert len(keys) == len(set(keys))

    again = run_tap(_config(m3, budget=2), state=result.state)
    assert not again.records(LOOKUP_ROWS)
    assert len(m3.requests_to(r"/data/jobs/download$", "POST")) == 4


def test_a_download_left_waiting_for_a_slot_at_max_wait_is_triggered_next_run(m3):
    tables = [m3.add_table(f"t{n}", FIELDS, rows=3)[0] for n in range(2)]
    m3.triggered_download_polls = 10_000
    first = run_tap({**_config(m3, budget=1), "max_wait_seconds": 0.3})
    assert len(m3.requests_to(r"/data/jobs/download$", "POST")) == 1  # the other one waits

    for job in m3.lookup_jobs.values():
        job.finish_after_polls = 1
    m3.triggered_download_polls = 1
    second = run_tap(_config(m3, budget=1), state=first.state)
    assert len(m3.requests_to(r"/data/jobs/download$", "POST")) == 2  # none triggered twice
    assert set(_rows_by_table(m3, second)) == set(tables)
