"""A tap process killed with SIGKILL at any moment: rerun with its last state, lose nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from datetime import datetime, timedelta, timezone

from tests.conftest import days_ago, ep_config, m3ter_config
from tests.tap_runner import ROOT, run_tap, tap_command, write_json

JOBS = "elasticpath_export_jobs"
ROWS = "elasticpath_export_rows"
EXPORT_JOBS = "m3ter_data_export_jobs"
EXPORT_ROWS = "m3ter_data_export_rows"


def _big_csv(rows: int) -> bytes:
    lines = ["id,name,amount,notes"]
    lines += [
        f'{i},"customer {i}, ""quoted""",{i * 7 % 1000}.{i % 100:02d},"multi\nline {i}"'
        for i in range(1, rows + 1)
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


def _run_until(config_path, stop_when) -> list[dict]:
    """Run the tap as a subprocess; SIGKILL it once `stop_when(message)` is true."""
    process = subprocess.Popen(
        tap_command(config_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    messages = []
    try:
        for line in process.stdout:
            messages.append(json.loads(line))
            if stop_when(messages[-1]):
                process.send_signal(signal.SIGKILL)
                break
    finally:
        process.wait(timeout=30)
        process.stdout.close()
    assert process.returncode == -signal.SIGKILL, "the tap finished before it could be killed"
    return messages


def jobs_in_flight(message: dict, stream: str, export: str) -> list[str]:
    """The jobs a STATE message records as out for `export`'s windows."""
    if message["type"] != "STATE":
        return []
    exports = message["value"].get("bookmarks", {}).get(stream, {}).get("exports", {})
    return [w["id"] for w in exports.get(export, {}).get("in_flight", []) if w.get("id")]


def test_a_run_killed_mid_file_resumes_from_its_last_state_and_loses_no_row(ep, files, tmp_path):
    total = 60_000
    job = ep.add_job(created_at=days_ago(1), csv_bytes=_big_csv(total))
    config = ep_config(ep)

    def mid_file(message: dict) -> bool:
        entry = (
            (
                message.get("value", {})
                .get("bookmarks", {})
                .get(JOBS, {})
                .get("jobs", {})
                .get(job, {})
            )
            if message["type"] == "STATE"
            else {}
        )
        return entry.get("rows_emitted", 0) >= 20_000 and entry.get("file") == "pending"

    killed = _run_until(write_json(tmp_path / "config.json", config), mid_file)
    state = [m["value"] for m in killed if m["type"] == "STATE"][-1]
    checkpoint = state["bookmarks"][JOBS]["jobs"][job]["rows_emitted"]
    first_rows = {
        m["record"]["row_number"]: m["record"]["row"]
        for m in killed
        if m["type"] == "RECORD" and m["stream"] == ROWS
    }

    resumed = run_tap(config, state=state)
    second_rows = {r["row_number"]: r["row"] for r in resumed.records(ROWS)}

    assert min(second_rows) == checkpoint + 1  # nothing before the checkpoint is sent again
    assert set(first_rows) | set(second_rows) == set(range(1, total + 1))
    for number in set(first_rows) & set(second_rows):  # repeats only under the same key
        assert first_rows[number] == second_rows[number]
    assert resumed.state["bookmarks"][JOBS]["jobs"][job]["file"] == "done"
    again = run_tap(config, state=resumed.state)
    assert again.records(ROWS) == []


def test_a_run_killed_while_polling_a_created_export_does_not_create_it_again(ep, tmp_path):
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    ep.generate_orders(100, today - timedelta(days=2), today)
    ep.finish_after_polls = 10_000
    config = ep_config(
        ep,
        start_date=(today - timedelta(days=1)).isoformat(),
        elasticpath={"order_exports": {"enabled": True}},
    )

    def job_recorded(message: dict) -> bool:
        return len(jobs_in_flight(message, JOBS, "order_export")) == 1

    killed = _run_until(write_json(tmp_path / "config.json", config), job_recorded)
    state = [m["value"] for m in killed if m["type"] == "STATE"][-1]
    assert len(ep.created_jobs()) == 1

    ep.finish_after_polls = 1
    resumed = run_tap(config, state=state)
    assert len(ep.created_jobs()) == 1
    assert {r["job_id"] for r in resumed.records(ROWS)} == {ep.created_jobs()[0].id}


def test_a_run_killed_with_4_exports_in_flight_creates_none_of_them_again(m3, tmp_path):
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    m3.adhoc_finish_after_seconds = 600  # none finishes before the kill
    export = {"name": "daily_usage", "source_type": "USAGE", "meter_ids": ["meter-1"]}
    config = m3ter_config(
        m3, start_date=(today - timedelta(days=12)).isoformat(), m3ter={"data_exports": [export]}
    )

    def four_in_flight(message: dict) -> bool:
        return len(jobs_in_flight(message, EXPORT_JOBS, "daily_usage")) == 4

    killed = _run_until(write_json(tmp_path / "config.json", config), four_in_flight)
    state = [m["value"] for m in killed if m["type"] == "STATE"][-1]
    first_four = set(jobs_in_flight({"type": "STATE", "value": state}, EXPORT_JOBS, "daily_usage"))
    assert len(m3.requests_to(r"/dataexports/adhoc$", "POST")) == 4

    for job in m3.export_jobs.values():
        job.finish_after_seconds = 0.0
    m3.adhoc_finish_after_seconds = 0.0
    resumed = run_tap(config, state=state)
    bodies = [r.json() for r in m3.requests_to(r"/dataexports/adhoc$", "POST")]
    assert len(bodies) == 12  # the 4 in flight were resumed, only the 8 after them created
    assert len({b["startDate"] for b in bodies}) == 12
    rows = resumed.row_keys(EXPORT_ROWS)
    assert len(rows) == len(set(rows)) == 12 * 20
    assert first_four <= {job_id for job_id, _ in rows}
    assert resumed.state["bookmarks"][EXPORT_JOBS]["exports"]["daily_usage"] == {
        "next_start": today.isoformat()
    }
