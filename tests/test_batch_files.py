"""With the SDK's `batch_config`, report rows go to batch files the tap writes itself:
the same rows as RECORD messages would carry, streamed to disk, each BATCH message before
the STATE that counts its rows, so a run killed at any moment loses no row."""

from __future__ import annotations

import gzip
import io
import json
import logging
import subprocess
from pathlib import Path

import pytest
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers._batch import BatchConfig

from tap_exportjobs import batch_files
from tap_exportjobs.batch_files import BatchFiles
from tap_exportjobs.tap import TapExportJobs
from tests.conftest import days_ago, ep_config
from tests.tap_runner import ROOT, SyncResult, run_tap, tap_command, write_json
from tests.test_flattening import jobs_of_every_kind  # noqa: F401 (a fixture)
from tests.test_kill_resume import _big_csv, _run_until
from tests.test_memory_caps import MB, run_tap_measured

JOBS = "elasticpath_export_jobs"
ROWS = "elasticpath_export_rows"


def batch_config(root: Path, *, size: int = 1000, compression: str = "gzip") -> dict:
    return {
        "batch_config": {
            "encoding": {"format": "jsonl", "compression": compression},
            "storage": {"root": root.as_uri()},
            "batch_size": size,
        }
    }


def read_batch(url: str, compression: str = "gzip") -> list[dict]:
    path = Path(url.removeprefix("file://"))
    opener = gzip.open if compression == "gzip" else open
    with opener(path, "rb") as lines:
        return [json.loads(line) for line in lines]


def batches(result: SyncResult, stream: str) -> list[dict]:
    return [m for m in result.messages if m["type"] == "BATCH" and m["stream"] == stream]


def batched_rows(result: SyncResult, stream: str) -> list[dict]:
    return [
        row
        for message in batches(result, stream)
        for url in message["manifest"]
        for row in read_batch(url, message["encoding"]["compression"])
    ]


def rows_emitted(state: dict, job_id: str) -> int:
    entry = (state["bookmarks"][JOBS].get("jobs") or {}).get(job_id) or {}
    return entry.get("rows_emitted") or 0


def test_batch_files_hold_exactly_the_rows_the_record_messages_carry(
    jobs_of_every_kind,  # noqa: F811
    tmp_path,
):
    as_records = run_tap(jobs_of_every_kind)
    in_batches = run_tap({**jobs_of_every_kind, **batch_config(tmp_path, size=7)})

    row_streams = {
        m["stream"] for m in as_records.messages if m["type"] == "RECORD" and "rows" in m["stream"]
    }
    assert len(row_streams) == 3
    for stream in row_streams:
        assert batched_rows(in_batches, stream) == as_records.records(stream)
        assert in_batches.records(stream) == []
    # Job and entity records carry bookmarks: they stay RECORD messages.
    assert len(in_batches.records(JOBS)) == len(as_records.records(JOBS)) == 1
    assert not [
        m for m in in_batches.messages if m["type"] == "BATCH" and "rows" not in m["stream"]
    ]


def test_each_batch_message_comes_before_any_state_that_counts_its_rows(ep, tmp_path):
    ep.generate_orders(150, days_ago(4), days_ago(1))
    job_id = ep.add_job(created_at=days_ago(2))

    result = run_tap({**ep_config(ep), **batch_config(tmp_path, size=7)})

    announced = 0
    for message in result.messages:
        if message["type"] == "BATCH":
            announced += sum(len(read_batch(url)) for url in message["manifest"])
        elif message["type"] == "STATE":
            assert rows_emitted(message["value"], job_id) <= announced
    assert announced == 150
    assert len(batches(result, ROWS)) == -(-150 // 7)
    assert rows_emitted(result.state, job_id) == 150


@pytest.mark.parametrize(("level", "xfl"), [(1, 4), (9, 2)])
def test_batch_files_are_gzipped_at_the_configured_level(ep, tmp_path, level, xfl):
    """gzip's header says which level wrote it: 4 for the fastest, 2 for the smallest."""
    ep.generate_orders(20, days_ago(4), days_ago(1))
    ep.add_job(created_at=days_ago(2))

    config = {**ep_config(ep), **batch_config(tmp_path), "batch_compression_level": level}
    result = run_tap(config)

    (message,) = batches(result, ROWS)
    path = Path(message["manifest"][0].removeprefix("file://"))
    assert path.read_bytes()[8] == xfl
    assert len(read_batch(message["manifest"][0])) == 20


def test_batch_files_without_compression_are_plain_json_lines(ep, tmp_path):
    ep.generate_orders(20, days_ago(4), days_ago(1))
    ep.add_job(created_at=days_ago(2))

    result = run_tap({**ep_config(ep), **batch_config(tmp_path, compression="none")})

    (message,) = batches(result, ROWS)
    assert message["encoding"] == {"format": "jsonl", "compression": "none"}
    assert message["manifest"][0].endswith(".jsonl")
    assert len(read_batch(message["manifest"][0], "none")) == 20


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ({"encoding": {"format": "parquet"}}, "batch_config.encoding.format"),
        (
            {"encoding": {"format": "jsonl", "compression": "zstd"}},
            "batch_config.encoding.compression",
        ),
        ({"encoding": {"format": "jsonl"}, "storage": {}}, "batch_config.storage.root"),
    ],
)
def test_a_batch_config_the_tap_cannot_honour_is_an_error_naming_the_setting(ep, setting, named):
    with pytest.raises(ConfigValidationError) as raised:
        TapExportJobs(config={**ep_config(ep), "batch_config": setting}, validate_config=True)
    assert any(problem.startswith(named) for problem in raised.value.errors)


def test_a_bad_line_mid_file_leaves_the_rows_before_it_announced_and_counted(ep, tmp_path):
    good = "".join(f'{i},"name {i}",{i}.5\r\n' for i in range(1, 26))
    job_id = ep.add_job(
        created_at=days_ago(2), csv_bytes=f"id,name,amount\r\n{good}26,too,many,fields\r\n".encode()
    )

    result = run_tap({**ep_config(ep), **batch_config(tmp_path, size=10)}, fails=True)

    assert [r["row_number"] for r in batched_rows(result, ROWS)] == list(range(1, 26))
    assert rows_emitted(result.state, job_id) == 25
    assert "line 27" in str(result.error)


def test_a_batch_never_announced_is_deleted(tmp_path):
    """The one place the tap reaches into the SDK's storage (to delete): if the SDK changes
    its storage internals, this fails."""
    config = BatchConfig.from_dict(batch_config(tmp_path)["batch_config"])
    written: list = []
    tap = type("Tap", (), {"write_message": lambda self, message: written.append(message)})()
    sink = BatchFiles(tap, "some_rows", config)
    sink.add({"row_number": 1})
    sink.commit()
    sink.add({"row_number": 2})
    sink.discard()

    (announced,) = written
    (kept,) = tmp_path.iterdir()
    assert announced.manifest == [kept.as_uri()]
    assert read_batch(kept.as_uri()) == [{"row_number": 1}]


def test_memory_stays_flat_however_large_a_batch(ep, tmp_path):
    """300,000 rows in one batch: held in memory they would take hundreds of MB."""
    total = 300_000
    ep.add_job(created_at=days_ago(1), csv_bytes=_big_csv(total))
    config = {**ep_config(ep), **batch_config(tmp_path / "batches", size=10_000_000)}

    result, peak_rss = run_tap_measured(write_json(tmp_path / "config.json", config))

    assert result.returncode == 0, result.stderr[-2000:]
    assert sum(len(read_batch(u)) for m in batches(result, ROWS) for u in m["manifest"]) == total
    assert peak_rss < 120 * MB, f"peak RSS {peak_rss // MB} MB"


def test_a_run_killed_between_batches_resumes_from_its_last_state_and_loses_no_row(ep, tmp_path):
    total = 200_000
    job_id = ep.add_job(created_at=days_ago(1), csv_bytes=_big_csv(total))
    config_path = write_json(
        tmp_path / "config.json", {**ep_config(ep), **batch_config(tmp_path / "b", size=5000)}
    )

    announced = []

    def third_batch(message: dict) -> bool:
        announced.extend([message] if message["type"] == "BATCH" else [])
        return len(announced) == 3

    killed = SyncResult(_run_until(config_path, third_batch))
    state = killed.state
    assert rows_emitted(state, job_id) < total

    resumed = subprocess.run(
        tap_command(config_path, write_json(tmp_path / "state.json", state)),
        capture_output=True,
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    second = SyncResult([json.loads(line) for line in resumed.stdout.splitlines() if line.strip()])

    landed = {r["row_number"] for r in batched_rows(killed, ROWS) + batched_rows(second, ROWS)}
    assert landed == set(range(1, total + 1))
    # Resumed from the last STATE: only rows announced after it come again.
    again = [r["row_number"] for r in batched_rows(second, ROWS)]
    assert min(again) == rows_emitted(state, job_id) + 1


def test_with_a_stream_map_rows_go_as_mapped_record_messages_and_the_log_says_why(
    ep, tmp_path, caplog
):
    ep.generate_orders(20, days_ago(4), days_ago(1))
    ep.add_job(created_at=days_ago(2))
    stream_map = {"stream_maps": {ROWS: {"shout": "provider.upper()"}}}

    with caplog.at_level(logging.WARNING):
        result = run_tap({**ep_config(ep), **batch_config(tmp_path), **stream_map})

    assert batches(result, ROWS) == []
    assert {r["shout"] for r in result.records(ROWS)} == {"ELASTICPATH"}
    assert len(result.records(ROWS)) == 20
    assert "not the batch files batch_config asks for, because a stream map applies" in caplog.text


def test_batch_files_go_to_any_storage_the_sdk_supports_not_only_local_disk(ep):
    """A root such as s3:// or gs:// is handed to the SDK's storage support (fsspec); its
    in-memory filesystem stands in for a bucket here."""
    fsspec = pytest.importorskip("fsspec")
    ep.generate_orders(20, days_ago(4), days_ago(1))
    ep.add_job(created_at=days_ago(2))
    config = {
        **ep_config(ep),
        "batch_config": {
            "encoding": {"format": "jsonl", "compression": "gzip"},
            "storage": {"root": "memory://exportjobs-batches", "prefix": "run-"},
        },
    }

    result = run_tap(config)

    (message,) = batches(result, ROWS)
    (url,) = message["manifest"]
    assert url.startswith("memory://exportjobs-batches/run-")
    with fsspec.open(url, "rb", compression="gzip") as batch:
        assert len(batch.read().splitlines()) == 20


def test_a_batch_file_that_cannot_be_written_fails_the_sync_and_is_never_announced(
    tmp_path, monkeypatch
):
    """The file is written on a thread of its own; its failure (a full disk, say) still
    reaches the sync, and no BATCH message points at the broken file."""

    class FullDisk(io.BytesIO):
        def write(self, data) -> int:
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(batch_files._Storage, "open", lambda self, filename: FullDisk())
    config = BatchConfig.from_dict(batch_config(tmp_path)["batch_config"])
    written: list = []
    tap = type("Tap", (), {"write_message": lambda self, message: written.append(message)})()
    sink = BatchFiles(tap, "some_rows", config)

    with pytest.raises(OSError, match="No space left on device"):
        for number in range(1, 20_001):
            sink.add({"row_number": number, "text": "x" * 40})
        sink.commit()
    assert written == []
