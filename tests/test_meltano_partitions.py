"""Partitions side by side on one PostgreSQL state store, end to end with the real `meltano`.

Two partitions of meltano.yml (`tap-exportjobs-elasticpath`, `tap-exportjobs-m3ter`) run as two
`meltano run ... target-postgres` processes at once, then again; then the Elastic Path one is
killed (SIGKILL to its process group, as when a worker dies) mid-download beside an m3ter run,
and rerun; last, a job of meltano.yml runs. Meltano keeps state and runs in its system database,
here on the PostgreSQL of tests/postgres_server.py: Meltano 4 has no `postgresql://` state
backend (only systemdb, file, s3, gs, azure), so state on PostgreSQL is the `systemdb` backend
with MELTANO_DATABASE_URI=postgresql+psycopg://... It all happens once, in the module's
`scenario` fixture; each test asserts one thing about it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from tests.conftest import CLIENT_ID, CLIENT_SECRET, M3TER_KEY, M3TER_SECRET, days_ago
from tests.fakes import FakeElasticPath, FakeFileHost, FakeM3ter
from tests.fakes.files import file_rows
from tests.meltano_runs import HeldDownload, Running, records_loaded
from tests.tap_runner import ROOT
from tests.test_meltano_e2e import MELTANO, _today
from tests.test_meltano_postgres import meltano_installed, postgres

__all__ = ["meltano_installed", "postgres"]  # fixtures, used by name

SYSTEM_SCHEMA, SCHEMA = "partitions_meltano", "partitions"
EP, M3 = "tap-exportjobs-elasticpath", "tap-exportjobs-m3ter"
STATE_IDS = {EP: f"sandbox:{EP}-to-target-postgres", M3: f"sandbox:{M3}-to-target-postgres"}
JOB_STREAMS = {EP: "elasticpath_export_jobs", M3: "m3ter_data_export_jobs"}


def partition_env(postgres, ep, m3) -> dict[str, dict[str, str]]:
    """Each partition's process environment. A partition's own variables are named after it
    (TAP_EXPORTJOBS_M3TER_ + M3TER_ORG_ID): Meltano gives an inheriting plugin a namespace of
    its own name. TAP_EXPORTJOBS_* are the base plugin's variables: every partition inherits
    them, below anything it sets itself, so here they only hold settings common to all."""
    system_db = postgres.dsn.replace("postgresql:", "postgresql+psycopg:", 1)
    common = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TAP_", "MELTANO_"))},
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MELTANO_ENVIRONMENT": "sandbox",
        "MELTANO_DATABASE_URI": f"{system_db}?options=-csearch_path%3D{SYSTEM_SCHEMA}",
        "MELTANO_STATE_BACKEND_URI": "systemdb",
        **postgres.env(),
        "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": SCHEMA,
        "TAP_EXPORTJOBS_START_DATE": (_today() - timedelta(days=2)).isoformat(),
        "TAP_EXPORTJOBS_POLL_INTERVAL_SECONDS": "1",
        "TAP_EXPORTJOBS_POLL_INTERVAL_MAX_SECONDS": "1",
    }
    ep_vars = {"API_URL": ep.url, "CLIENT_ID": CLIENT_ID, "CLIENT_SECRET": CLIENT_SECRET}
    daily = [{"name": "daily_usage", "source_type": "USAGE", "window_days": 1}]
    m3_vars = {"API_URL": m3.url, "ORG_ID": m3.org_id, "CLIENT_ID": M3TER_KEY}
    m3_vars |= {"CLIENT_SECRET": M3TER_SECRET, "DATA_EXPORTS": json.dumps(daily)}
    return {
        EP: {
            **common,
            **{f"TAP_EXPORTJOBS_ELASTICPATH_ELASTICPATH_{k}": v for k, v in ep_vars.items()},
            "TAP_EXPORTJOBS_ELASTICPATH_ELASTICPATH_ORDER_EXPORTS_WINDOW_DAYS": "1",
        },
        M3: {**common, **{f"TAP_EXPORTJOBS_M3TER_M3TER_{k}": v for k, v in m3_vars.items()}},
    }


def meltano(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(MELTANO), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def run_side_by_side(envs: dict) -> dict[str, subprocess.CompletedProcess]:
    started = {name: Running(env, name) for name, env in envs.items()}
    runs = {name: running.finished() for name, running in started.items()}
    for name, run in runs.items():  # later phases would only fail less clearly
        assert run.returncode == 0, f"{name}: {run.stderr[-3000:]}"
    return runs


def expected_rows(ep: FakeElasticPath, m3: FakeM3ter) -> dict[str, list]:
    """(job_id, row_number) of every row of every finished job's file, by rows stream."""

    def numbered(files: dict[str, bytes]) -> list:
        counts = {job: len(file_rows(content)) for job, content in files.items()}
        return sorted((job, n) for job, count in counts.items() for n in range(1, count + 1))

    return {
        "elasticpath_export_rows": numbered({i: j.csv for i, j in ep.jobs.items() if j.csv}),
        "m3ter_data_export_rows": numbered({i: j.content for i, j in m3.export_jobs.items()}),
        "m3ter_lookup_table_data_rows": numbered({i: m3.lookup_file(i) for i in m3.lookup_jobs}),
    }


@dataclass
class Scenario:
    """What the runs left, phase by phase: each run's process, the rows expected and landed,
    the jobs the fakes hold and the statuses landed, and Meltano's states."""

    postgres: object
    ep: FakeElasticPath
    m3: FakeM3ter
    runs: dict[str, dict[str, subprocess.CompletedProcess]] = field(default_factory=dict)
    expected: dict[str, dict[str, list]] = field(default_factory=dict)
    landed: dict[str, dict[str, list]] = field(default_factory=dict)
    jobs: dict[str, dict[str, set]] = field(default_factory=dict)
    statuses: dict[str, dict[str, dict]] = field(default_factory=dict)
    states: dict[str, dict[str, dict]] = field(default_factory=dict)
    state_ids: list[str] = field(default_factory=list)
    overlapped: bool = False
    killed: int | None = None
    schedules: list[dict] = field(default_factory=list)

    def snapshot(self, phase: str) -> None:
        self.expected[phase] = expected_rows(self.ep, self.m3)
        self.landed[phase] = {s: self.table("job_id, row_number", s) for s in self.expected[phase]}
        self.jobs[phase] = {EP: set(self.ep.jobs), M3: set(self.m3.export_jobs)}
        self.statuses[phase] = {
            n: dict(self.table("id, status", s)) for n, s in JOB_STREAMS.items()
        }

    def table(self, columns: str, stream: str) -> list[tuple]:
        rows = self.postgres.query_json(f"select {columns} from {SCHEMA}.{stream} order by 1, 2")
        return [tuple(row.values()) for row in rows]


def state(env: dict, extractor: str) -> dict:
    got = meltano(env, "state", "get", STATE_IDS[extractor])
    assert got.returncode == 0, got.stderr[-2000:]
    return json.loads(got.stdout)


@pytest.fixture(scope="module")
def scenario(meltano_installed, postgres):
    postgres.psql(f"create schema {SYSTEM_SCHEMA}; create schema {SCHEMA}")
    with (
        FakeFileHost() as files,
        FakeElasticPath(files, client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as ep,
        FakeM3ter(files, client_id=M3TER_KEY, client_secret=M3TER_SECRET) as m3,
    ):
        ep.generate_orders(300, _today() - timedelta(days=4), days_ago(0))
        ep.add_job(created_at=days_ago(1))
        m3.add_destination("S3")
        m3.add_table("rates", [("region", "STRING"), ("rate", "NUMBER")], rows=25)
        m3.add_export_job()
        envs = partition_env(postgres, ep, m3)
        found = Scenario(postgres, ep, m3)
        # Meltano makes its system tables on first use; two first uses at once would race.
        assert meltano(envs[EP], "state", "list").returncode == 0
        for phase in ("first", "second"):
            found.runs[phase] = run_side_by_side(envs)
            found.snapshot(phase)
        [first_two] = postgres.query_json(
            "select max(started_at) < min(ended_at) as overlapped from "
            f"(select * from {SYSTEM_SCHEMA}.runs order by started_at limit 2) first_two"
        )
        found.overlapped = first_two["overlapped"]
        found.state_ids = sorted(meltano(envs[EP], "state", "list").stdout.split())
        found.states["second"] = {name: state(env, name) for name, env in envs.items()}

        # A 6,000-row file held mid-download: its run is killed, beside an m3ter run.
        lines = [f'{i},"customer {i}, ""quoted""",{i % 997}' for i in range(6000)]
        held_job = ep.add_job(csv_bytes="\r\n".join(["id,name,amount", *lines, ""]).encode())
        held = HeldDownload(files, f"exports/{held_job}.csv")
        m3.add_export_job(created_at=m3.now())
        doomed, beside = Running(envs[EP], EP), Running(envs[M3], M3)
        found.runs["beside the kill"] = {M3: beside.finished()}
        assert held.reached.wait(120), "the Elastic Path run never reached the held file"
        found.states["before the kill"] = {M3: state(envs[M3], M3)}
        doomed.kill()
        found.killed = doomed.finished().returncode
        held.released.set()
        found.states["after the kill"] = {M3: state(envs[M3], M3)}
        found.runs["after the kill"] = {
            "unforced": meltano(envs[EP], "run", EP, "target-postgres"),
            "forced": meltano(envs[EP], "run", "--force", EP, "target-postgres"),
        }
        found.snapshot("after the kill")

        m3.add_export_job(created_at=m3.now())
        found.runs["job"] = {M3: meltano(envs[M3], "run", "exportjobs-m3ter")}
        found.snapshot("job")
        listing = meltano(envs[M3], "schedule", "list", "--format=json")
        found.schedules = json.loads(listing.stdout)["schedules"]["job"]
        yield found


def test_two_partitions_run_at_the_same_time_as_separate_meltano_processes(scenario):
    for run in (*scenario.runs["first"].values(), *scenario.runs["second"].values()):
        assert run.returncode == 0, run.stderr[-3000:]
    assert scenario.overlapped  # Meltano's runs table: each began before the other ended


def test_both_runs_send_every_row_of_every_file_once_and_it_lands(scenario):
    expected = scenario.expected["first"]
    runs = [*scenario.runs["first"].values(), *scenario.runs["second"].values()]
    sent = [records_loaded(run) for run in runs]
    for stream, rows in expected.items():
        assert sum(counts.get(stream, 0) for counts in sent) == len(rows), stream
    assert scenario.landed["first"] == scenario.landed["second"] == expected


def test_every_job_lands_once_with_its_final_status(scenario):
    for name, job_ids in scenario.jobs["second"].items():
        assert scenario.statuses["second"][name] == dict.fromkeys(job_ids, "succeeded")
    for run in scenario.runs["second"].values():  # none was sent again
        assert [records_loaded(run).get(stream, 0) for stream in JOB_STREAMS.values()] == [0, 0]


def test_no_export_job_is_created_twice(scenario):
    ep_windows = [job.filter for job in scenario.ep.created_jobs()]
    m3_creates = scenario.m3.requests_to(r"/dataexports/adhoc$", "POST")
    m3_windows = [json.dumps(request.json(), sort_keys=True) for request in m3_creates]
    # One per whole day since start_date (two, or three when a day ends during the test).
    assert len(ep_windows) == len(set(ep_windows)) >= 2
    assert len(m3_windows) == len(set(m3_windows)) >= 2
    assert len(scenario.m3.requests_to(r"/data/jobs/download$", "POST")) == 1  # one revision


def test_each_partition_has_its_own_state_id_holding_only_its_providers_streams(scenario):
    assert scenario.state_ids == sorted(STATE_IDS.values())
    for name, prefix in ((EP, "elasticpath_"), (M3, "m3ter_")):
        streams = scenario.states["second"][name]["singer_state"]["bookmarks"]
        assert streams and all(stream.startswith(prefix) for stream in streams), streams


def test_killing_one_partitions_run_leaves_the_others_state_as_it_was(scenario):
    assert scenario.killed == -signal.SIGKILL
    beside = scenario.runs["beside the kill"][M3]
    assert beside.returncode == 0, beside.stderr[-3000:]
    assert scenario.states["after the kill"] == scenario.states["before the kill"]
    assert scenario.states["before the kill"][M3] != scenario.states["second"][M3]  # it moved on


def test_meltano_refuses_another_run_of_the_killed_partition_unless_forced(scenario):
    """The killed run stays RUNNING in the system database until its heartbeat is 5 minutes
    old: until then a run of the same state id is refused, as an overlapping one would be."""
    unforced = scenario.runs["after the kill"]["unforced"]
    assert unforced.returncode != 0
    assert f"Another '{STATE_IDS[EP]}' pipeline is already running" in unforced.stderr


def test_rerunning_the_killed_partition_lands_every_remaining_row_once_per_key(scenario):
    forced = scenario.runs["after the kill"]["forced"]
    assert forced.returncode == 0, forced.stderr[-3000:]
    assert scenario.landed["after the kill"] == scenario.expected["after the kill"]


def test_a_job_of_meltano_yml_runs_its_partition_on_the_same_state(scenario):
    run = scenario.runs["job"][M3]
    assert run.returncode == 0, run.stderr[-3000:]
    assert scenario.landed["job"] == scenario.expected["job"]  # the new export's rows too
    assert scenario.statuses["job"][M3] == dict.fromkeys(scenario.jobs["job"][M3], "succeeded")
    assert records_loaded(run)["m3ter_data_export_jobs"] == 1  # only the new one


def test_meltano_lists_a_schedule_for_each_partition(scenario):
    tasks = {schedule["name"]: schedule["job"]["tasks"] for schedule in scenario.schedules}
    assert tasks["exportjobs-elasticpath-hourly"] == [f"{EP} target-postgres"]
    assert tasks["exportjobs-m3ter-hourly"] == [f"{M3} target-postgres"]
    partitions = ("talkdesk-calls", "talkdesk-user-status", "uniware-wh-del", "uniware-wh-blr")
    assert {f"exportjobs-{partition}-hourly" for partition in partitions} <= set(tasks)
