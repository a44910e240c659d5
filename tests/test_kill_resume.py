"""A tap process killed with SIGKILL at any moment: rerun with its last state, lose nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from datetime import datetime, timedelta, timezone

from tests.conftest import days_ago, ep_config
from tests.tap_runner import ROOT, run_tap, tap_command, write_json

JOBS = "elasticpath_export_jobs"
ROWS = "elasticpath_export_rows"


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
        exports = (
            (message.get("value", {}).get("bookmarks", {}).get(JOBS, {}).get("exports", {}))
            if message["type"] == "STATE"
            else {}
        )
        return "job" in exports.get("order_export", {})

    killed = _run_until(write_json(tmp_path / "config.json", config), job_recorded)
    state = [m["value"] for m in killed if m["type"] == "STATE"][-1]
    assert len(ep.created_jobs()) == 1

    ep.finish_after_polls = 1
    resumed = run_tap(config, state=state)
    assert len(ep.created_jobs()) == 1
    assert {r["job_id"] for r in resumed.records(ROWS)} == {ep.created_jobs()[0].id}
