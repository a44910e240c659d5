"""Typed report rows (`typed_rows`, issue 12) end to end: the real `meltano run` into
target-postgres (a throwaway server, tests/postgres_server.py) and into target-duckdb.

One fake world, in the module's `landed` fixture: Elastic Path CSV exports (columns
inferred, one declared) and Talkdesk JSON reports (inferred) run into PostgreSQL four
times: first, again with the state, after a drifted file arrived that is not the newest
(not sampled), and after one that is (sampled before its sync). Beside the first run,
the Elastic Path files also go into DuckDB, and into PostgreSQL with COPY. Each test asserts
one thing about what they left.
"""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest

from tests import conftest as fake
from tests.conftest import days_ago
from tests.fakes import FakeElasticPath, FakeFileHost, FakeM3ter, FakeTalkdesk
from tests.test_meltano_e2e import Pipeline, meltano_installed
from tests.test_meltano_postgres import PostgresPipeline, loader_read, postgres
from tests.typed_order_files import (
    HEADER,
    ORDER_COLUMNS,
    expected_order,
    file_rows,
    order,
    orders_csv,
    utc_wall_clock,
)

__all__ = ["meltano_installed", "postgres"]  # fixtures, used by name

EP_ROWS, TD_ROWS = "elasticpath_export_rows", "talkdesk_report_rows"
#: Zip would be inferred an integer; declared, it stays a string (declared wins).
EP_TYPING = {"infer": True, "columns": {"Zip": "string"}}
EP_TYPES = {"order_number": "bigint", "sale_order_code": "text", "total": "numeric"}
EP_TYPES |= {"paid": "boolean", "created_at": "timestamp without time zone"}
EP_TYPES |= {"ship_date": "date", "zip": "text"}
TD_TYPES = dict.fromkeys(["call_id", "type", "user_email", "notes"], "text")
TD_TYPES |= {"start_at": "timestamp without time zone", "talk_time": "bigint"}
#: INSERTs, as meltano.yml has it: target-postgres's COPY path alters typed values (below).
BY_INSERT = {"TARGET_POSTGRES_USE_COPY": "false"}


@dataclass
class Landed:
    """The fakes' files, the pipelines, the PostgreSQL runs and row counts after each."""

    ep_files: dict[str, list[dict]]
    td: FakeTalkdesk
    pg: PostgresPipeline
    duck: Pipeline
    runs: list[subprocess.CompletedProcess]
    counts: list[dict[str, int]]
    #: The drifted file that was not the newest, and the one that was.
    drifted: str
    drifted_newest: str
    #: The Elastic Path table's column types before the newest file drifted.
    ep_types_before: dict[str, str]

    def rows(self, stream: str, columns: str, where: str = "true", schema="typed") -> list:
        return self.pg.postgres.query_json(
            f"select job_id, row_number, {columns} from {schema}.{stream} t where {where} "
            "order by job_id, row_number"
        )

    def column_types(self, stream: str) -> dict[str, str]:
        return _column_types(self.pg, stream)


def _column_types(pg: PostgresPipeline, stream: str) -> dict[str, str]:
    found = pg.postgres.query_json(
        "select column_name, data_type from information_schema.columns "
        f"where table_schema = 'typed' and table_name = '{stream}'"
    )
    return {c["column_name"]: c["data_type"] for c in found}


def _counts(pg: PostgresPipeline) -> dict[str, int]:
    sql = "select count(*) as n from typed.{}"
    return {s: pg.postgres.query_json(sql.format(s))[0]["n"] for s in (EP_ROWS, TD_ROWS)}


def _talkdesk_settings(td) -> dict[str, str]:
    reports = [{"type": "calls", "format": "json", "window_days": 1}]
    return {
        "TAP_EXPORTJOBS_TALKDESK_API_URL": td.url,
        "TAP_EXPORTJOBS_TALKDESK_TOKEN_URL": f"{td.url}/oauth/token",
        "TAP_EXPORTJOBS_TALKDESK_CLIENT_ID": fake.TALKDESK_ID,
        "TAP_EXPORTJOBS_TALKDESK_CLIENT_SECRET": fake.TALKDESK_SECRET,
        "TAP_EXPORTJOBS_TALKDESK_FOLLOW_EXISTING_JOBS": "true",
        "TAP_EXPORTJOBS_TALKDESK_REPORTS": json.dumps(reports),
    }


@pytest.fixture(scope="module")
def landed(meltano_installed, postgres, tmp_path_factory) -> Landed:
    workdir = tmp_path_factory.mktemp("typed_rows")
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    with (
        FakeFileHost() as files,
        FakeElasticPath(files, client_id=fake.CLIENT_ID, client_secret=fake.CLIENT_SECRET) as ep,
        FakeM3ter(files, client_id=fake.M3TER_KEY, client_secret=fake.M3TER_SECRET) as m3,
        FakeTalkdesk(files, client_id=fake.TALKDESK_ID, client_secret=fake.TALKDESK_SECRET) as td,
    ):
        for first, age in ((1, 1.5), (41, 1)):
            rows = [order(n) for n in range(first, first + 40)]
            ep.add_job(created_at=days_ago(age), csv_bytes=orders_csv(rows))
        # A finished report someone else ran, for inference to sample at the first discovery;
        # the tap creates two daily reports after it (Pipeline's start_date).
        td.add_rows("calls", 90, today - timedelta(days=4), today)
        td.add_job("calls", start=today - timedelta(days=3), end=today - timedelta(days=2))
        typed_rows = {EP_ROWS: EP_TYPING, TD_ROWS: {"infer": True}}
        pg = PostgresPipeline(ep, m3, workdir / "pg", postgres, "typed", {"typed_rows": typed_rows})
        pg.env.update(BY_INSERT, **_talkdesk_settings(td))
        # Elastic Path only (Talkdesk is off for them: they create no report).
        ep_only = {"typed_rows": {EP_ROWS: EP_TYPING}}
        copy = PostgresPipeline(ep, m3, workdir / "copy", postgres, "typed_copy", ep_only)
        copy.env["TARGET_POSTGRES_USE_COPY"] = "true"
        (workdir / "duckdb").mkdir()
        duck = Pipeline(ep, m3, workdir / "duckdb", "target-duckdb")
        duck.env.update(  # the tap settings of the PostgreSQL pipelines: read-only
            {key: value for key, value in copy.env.items() if key.startswith("TAP_EXPORTJOBS_")},
            TAP_EXPORTJOBS_TYPED_ROWS=json.dumps(ep_only["typed_rows"]),
            TAP_EXPORTJOBS_CACHE_DIR=str(workdir / "duckdb" / "cache"),
        )
        runs, counts = [], []
        with ThreadPoolExecutor(max_workers=2) as pool:
            beside = [pool.submit(duck.run), pool.submit(copy.run)]
            runs.append(pg.run())
            for run in beside:
                run.result()
        counts.append(_counts(pg))
        runs.append(pg.run())
        counts.append(_counts(pg))
        # Drift: an extra column, and an Order Number that is not an integer. A regular file
        # comes after it, so the latest file (the one sampled) still has the old columns.
        drift = [[*order(81), "SPRING10"], ["N/A", *order(82)[1:], ""]]
        drifted = ep.add_job(
            created_at=days_ago(0.5), csv_bytes=orders_csv(drift, [*HEADER, "Coupon"])
        )
        ep.add_job(created_at=days_ago(0.4), csv_bytes=orders_csv([order(83)]))
        runs.append(pg.run())
        counts.append(_counts(pg))
        ep_types_before = _column_types(pg, EP_ROWS)
        # Drift in the newest file: the run's discovery samples it before the sync.
        drift = [[*order(84), "WINTER5"], ["N/A", *order(85)[1:], "AUTUMN"]]
        drifted_newest = ep.add_job(
            created_at=days_ago(0.3), csv_bytes=orders_csv(drift, [*HEADER, "Coupon"])
        )
        runs.append(pg.run())
        counts.append(_counts(pg))
        ep_files = {job_id: file_rows(job.csv) for job_id, job in ep.jobs.items()}
    return Landed(ep_files, td, pg, duck, runs, counts, drifted, drifted_newest, ep_types_before)


def test_typed_columns_land_with_their_sql_types_in_postgres(landed):
    ep_types, td_types = landed.column_types(EP_ROWS), landed.column_types(TD_ROWS)
    assert {name: ep_types[name] for name in EP_TYPES} == EP_TYPES
    assert {name: td_types[name] for name in TD_TYPES} == TD_TYPES
    assert td_types["end_at"] == td_types["start_at"]
    for types in (ep_types, td_types):
        assert types["row"] == "jsonb" and types["row_number"] == "bigint"
    assert "coupon" not in landed.ep_types_before  # the drifted file was not the one sampled


def test_typed_values_equal_the_files_and_row_holds_nothing_else(landed):
    drifted = (landed.drifted, landed.drifted_newest)
    not_drifted = "job_id not in ('{}', '{}')".format(*drifted)
    landed_rows = landed.rows(EP_ROWS, ORDER_COLUMNS, not_drifted)
    expected = [
        {"job_id": job_id, "row_number": n, "provider": "elasticpath", **expected_order(row)}
        for job_id in sorted(landed.ep_files)
        if job_id not in drifted
        for n, row in enumerate(landed.ep_files[job_id], 1)
    ]
    assert landed_rows == [{**row, "row": None} for row in expected]
    huge = [r["total"] for r in landed_rows if r["order_number"] == 7]
    assert huge == ["12345678901234567890.123456789"]  # numeric, exact


def test_talkdesk_json_report_values_land_typed_and_strings_stay_strings(landed):
    td = landed.td
    columns = "call_id, talk_time, user_email, notes, start_at::text as start_at, "
    landed_rows = landed.rows(TD_ROWS, columns + "end_at::text as end_at, row")
    expected = []
    for job_id in sorted(td.jobs):
        for n, row in enumerate(td.window_rows(td.jobs[job_id]), 1):
            kept = {k: row[k] for k in ("call_id", "talk_time", "user_email", "notes")}
            times = {k: utc_wall_clock(row[k]) for k in ("start_at", "end_at")}
            expected.append({"job_id": job_id, "row_number": n, **kept, **times, "row": None})
    assert len(td.jobs) == 3 and expected  # the tap created two, someone else one
    assert landed_rows == expected
    assert {r["notes"] for r in landed_rows} >= {"", "NA", "null"}  # text, not SQL NULL


def test_a_rerun_with_state_lands_nothing_new_and_no_row_twice(landed):
    assert landed.counts[1] == landed.counts[0]
    assert loader_read(landed.runs[1])["records"] == 0
    for stream in (EP_ROWS, TD_ROWS):
        twice = landed.pg.postgres.query_json(
            f"select provider, job_id, row_number from typed.{stream} "
            "group by 1, 2, 3 having count(*) > 1"
        )
        assert twice == []


def test_a_drifted_file_loads_with_what_does_not_fit_kept_in_row_as_written(landed):
    assert landed.counts[2][EP_ROWS] == landed.counts[1][EP_ROWS] + 3
    drifted = landed.rows(EP_ROWS, ORDER_COLUMNS, f"job_id = '{landed.drifted}'")
    assert [(r["order_number"], r["sale_order_code"], r["paid"], r["row"]) for r in drifted] == [
        (81, "SO-00081", True, {"Coupon": "SPRING10"}),
        (None, "SO-00082", False, {"Order Number": "N/A", "Coupon": ""}),
    ]


def test_a_drifted_newest_file_adds_its_new_column_and_changes_no_columns_type(landed):
    """The newest file is sampled: its new column is added (target-postgres alters the
    table); its unparsable Order Number leaves the column bigint (types are sticky)."""
    assert landed.runs[3].returncode == 0
    assert landed.counts[3][EP_ROWS] == landed.counts[2][EP_ROWS] + 2
    ep_types = landed.column_types(EP_ROWS)
    assert ep_types == {**landed.ep_types_before, "coupon": "text"}
    assert ep_types["order_number"] == "bigint"
    columns = "order_number, sale_order_code, coupon, row"
    newest = landed.rows(EP_ROWS, columns, f"job_id = '{landed.drifted_newest}'")
    assert [(r["order_number"], r["sale_order_code"], r["coupon"], r["row"]) for r in newest] == [
        (84, "SO-00084", "WINTER5", None),
        (None, "SO-00085", "AUTUMN", {"Order Number": "N/A"}),
    ]
    older = landed.rows(EP_ROWS, "coupon", f"job_id <> '{landed.drifted_newest}'")
    assert older and {r["coupon"] for r in older} == {None}


def test_inferred_columns_are_cached_under_the_projects_cache_dir(landed):
    cache = landed.pg.project / ".meltano" / "cache" / "tap-exportjobs" / "typed_rows"
    assert sorted(p.name.split("-")[0] for p in cache.glob("*.json")) == [EP_ROWS, TD_ROWS]


def test_with_use_copy_target_postgres_rounds_typed_numbers_through_a_float(landed):
    """Why meltano.yml loads with INSERT: target-postgres 0.8.1's COPY path (use_copy) sends
    a NUMERIC through a float. Date-times, which the tap writes in UTC, land the same."""
    columns = "order_number, total::text as total, created_at::text as created_at"
    by_copy = landed.rows(EP_ROWS, columns, "order_number in (7, 8)", schema="typed_copy")
    assert [(r["total"], r["created_at"]) for r in by_copy] == [
        ("12345678901234567000", "2024-03-08 11:07:00"),
        ("56.04", "2024-03-09 06:38:00.123"),  # written 12:08:00.123+05:30
    ]


def test_typed_columns_land_with_real_types_in_duckdb(landed):
    types = dict(
        landed.duck.duckdb(
            "select column_name, data_type from information_schema.columns "
            f"where table_schema = 'exportjobs' and table_name = '{EP_ROWS}'"
        )
    )
    # target-duckdb's own mapping: no type for format date, double for every number.
    assert {name: types[name] for name in EP_TYPES} == {
        "order_number": "HUGEINT",
        "sale_order_code": "VARCHAR",
        "total": "DOUBLE",
        "paid": "BOOLEAN",
        "created_at": "TIMESTAMP",
        "ship_date": "VARCHAR",
        "zip": "VARCHAR",
    }
    [[number, total, paid, created, row]] = landed.duck.duckdb(
        f"select order_number, total, paid, created_at, row from exportjobs.{EP_ROWS} "
        "where sale_order_code = 'SO-00008'"
    )
    assert (number, total, paid, created, row) == (
        8,
        56.04,
        False,
        "2024-03-09 06:38:00.123000",
        None,
    )
