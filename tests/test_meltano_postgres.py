"""PostgreSQL end to end: `meltano run tap-exportjobs target-postgres` into a real server
(tests/postgres_server.py), once with RECORD messages and once with the SDK's `batch_config`,
each into its own schema, then once more each. The report rows land equal, row for row and
column for column, to each other and to the files; the second runs land nothing new.

The four runs happen once, in the module's `landed` fixture; each test asserts one thing
about them. Each pipeline runs in a copy of the project (meltano.yml, and the plugins meltano
installed here, linked), so the BATCH one's extractor has its `batch_config` in its config
and the two never share Meltano's run directory while they run side by side.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from tests.conftest import CLIENT_ID, CLIENT_SECRET, M3TER_KEY, M3TER_SECRET, days_ago
from tests.fakes import FakeElasticPath, FakeFileHost, FakeM3ter
from tests.postgres_server import running_postgres
from tests.tap_runner import ROOT
from tests.test_meltano_e2e import Pipeline, meltano_installed

__all__ = ["meltano_installed"]  # the session fixture, used by name

EP_ROWS, M3TER_ROWS = "elasticpath_export_rows", "m3ter_data_export_rows"
EP_JOBS, M3TER_JOBS = "elasticpath_export_jobs", "m3ter_data_export_jobs"
BATCH_SIZE = 1000

#: Cells that trip up quoting, line splitting, encodings or NULL handling.
AWKWARD_TEXT = [
    *("", " ", "  padded  ", "plain", "NULL", "null", "NA", "0012", "1e5", "x" * 3000),
    *('say "hi"', '"', 'a "quoted, comma" cell', "a,b,c", "'single'", '{"a": ["json"]}'),
    *("line one\nline two", "crlf\r\ninside", "ends with a newline\n", "tab\there"),
    *("back\\slash \\n not a newline", "line\u2028separator", "next\x85line", "form\x0cfeed"),
    *("Zoë Ångström", "李小龍", "🙂👍🏽", "e\u0301 combining"),
]
CSV_HEADER = ["id", "name", "note", "amount", "empty", "ünïcödé", 'quoted, "header"']
#: JSON numbers as a file spells them; each must land as the same number.
JSON_NUMBERS = [
    *("0", "-1", "42", "9007199254740993", "12345678901234567890"),
    *("3.14", "-0.5", "1.10", "1e-7", "2.5E+3", "0.30000000000000004", "1.5e300"),
]


def awkward_csv(rows: int, seed: int) -> bytes:
    rng = random.Random(seed)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for n in range(rows):
        cells = [rng.choice(AWKWARD_TEXT) for _ in range(4)]
        writer.writerow([str(n), *cells[:2], rng.choice(JSON_NUMBERS), "", *cells[2:]])
    return buffer.getvalue().encode()


def awkward_jsonl(rows: int, seed: int) -> bytes:
    """JSON Lines written by hand, so numbers keep the spelling JSON_NUMBERS gives them."""
    rng = random.Random(seed)
    lines = []
    for n in range(rows):
        text = json.dumps(rng.choice(AWKWARD_TEXT), ensure_ascii=n % 2 == 0)
        nested = json.dumps({"tags": [rng.choice(AWKWARD_TEXT), None, True], "n": n})
        lines.append(
            f'{{"id": {n}, "value": {rng.choice(JSON_NUMBERS)}, "text": {text}, '
            f'"flag": {rng.choice(["true", "false", "null"])}, "nested": {nested}, '
            f'"numbers": [{", ".join(rng.sample(JSON_NUMBERS, 3))}], "empty": ""}}'
        )
    return ("\n".join(lines) + "\n").encode()


def file_rows(content: bytes) -> list[dict]:
    """A file's rows as the fake wrote them: CSV cells as strings, JSON numbers exact."""
    if content[:2] == b"\x1f\x8b":
        content = gzip.decompress(content)
    text = content.decode()
    if text.startswith("{"):  # JSON Lines: split on \n only, as JSON Lines says
        return [exact_json(line) for line in text.split("\n") if line]
    return list(csv.DictReader(io.StringIO(text, newline="")))


def exact_json(text: str | bytes):
    return json.loads(text, parse_float=Decimal)


@pytest.fixture(scope="session")
def postgres():
    """One server for every PostgreSQL test, stopped and deleted when the session ends."""
    with running_postgres() as server:
        yield server


def add_awkward_files(ep, m3) -> dict[str, dict[str, list[dict]]]:
    """Finished jobs whose files hold a few thousand awkward rows: two Elastic Path CSVs and
    an m3ter JSON Lines export (gzip). Returns each rows stream's expected rows by job."""
    ep_jobs = [
        ep.add_job(created_at=days_ago(1.5), csv_bytes=awkward_csv(1800, seed=1)),
        ep.add_job(created_at=days_ago(1), csv_bytes=awkward_csv(1200, seed=2)),
    ]
    m3_job = m3.add_export_job(rows=[], file_format="JSONL")
    m3.export_jobs[m3_job].content = gzip.compress(awkward_jsonl(1500, seed=3))
    m3.files.publish(
        f"exports/{m3_job}", m3.export_jobs[m3_job].content, content_type="application/gzip"
    )
    return {
        EP_ROWS: {job_id: file_rows(ep.jobs[job_id].csv) for job_id in ep_jobs},
        M3TER_ROWS: {m3_job: file_rows(m3.export_jobs[m3_job].content)},
    }


class PostgresPipeline(Pipeline):
    """`meltano run tap-exportjobs target-postgres` into one schema, from a copy of the
    project whose extractor config adds `extractor_config` (e.g. a batch_config). Only the
    jobs the fakes hold are read: no export is created, no lookup table downloaded."""

    def __init__(self, ep, m3, workdir: Path, postgres, schema: str, extractor_config=None):
        super().__init__(ep, m3, workdir, "target-postgres")
        self.postgres = postgres
        self.schema = schema
        self.project = workdir / "project"
        _copy_project(self.project, extractor_config or {})
        self.env.update(
            {
                "MELTANO_PROJECT_ROOT": str(self.project),
                **postgres.env(),
                "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": schema,
                "TAP_EXPORTJOBS_ELASTICPATH_ORDER_EXPORTS_ENABLED": "false",
                "TAP_EXPORTJOBS_M3TER_DATA_EXPORTS": "[]",
                "TAP_EXPORTJOBS_M3TER_DOWNLOAD_LOOKUP_TABLES": "false",
            }
        )

    def table(self, stream: str) -> list[dict]:
        """Every column of every row, ordered by job and row, numbers exact."""
        rows = self.postgres.psql(
            f"select coalesce(json_agg(t order by job_id, row_number), '[]') "
            f"from {self.schema}.{stream} t"
        )
        return exact_json(rows)

    def job_statuses(self, stream: str) -> dict[str, str]:
        rows = self.postgres.query_json(f"select id, status from {self.schema}.{stream}")
        return {r["id"]: r["status"] for r in rows}


def _copy_project(project: Path, extractor_config: dict) -> None:
    """meltano.yml with the extractor's config extended, and this project's plugin
    virtualenvs (same pip_urls, so meltano reuses them rather than installing)."""
    (project / ".meltano").mkdir(parents=True)
    for kind in ("extractors", "loaders"):
        (project / ".meltano" / kind).symlink_to(ROOT / ".meltano" / kind)
    manifest = yaml.safe_load((ROOT / "meltano.yml").read_text())
    [extractor] = [p for p in manifest["plugins"]["extractors"] if p["name"] == "tap-exportjobs"]
    extractor["config"] = {**extractor.get("config", {}), **extractor_config}
    (project / "meltano.yml").write_text(yaml.safe_dump(manifest, sort_keys=False))


#: The SDK target's closing summary of what it read (target-postgres is pinned).
LOADER_SUMMARY = re.compile(
    r"Reader 'target-postgres' completed processing \d+ lines of input "
    r"\(\d+ schemas, (?P<records>\d+) records, (?P<batches>\d+) batch manifests"
)


def loader_read(run: subprocess.CompletedProcess) -> dict[str, int]:
    """How many RECORD messages and BATCH manifests the loader read in one run."""
    found = LOADER_SUMMARY.search(run.stderr)
    assert found, "target-postgres did not log its summary line: " + run.stderr[-3000:]
    return {"records": int(found["records"]), "batches": int(found["batches"])}


def batch_file_rows(root: Path) -> dict[str, list[tuple[str, int, dict]]]:
    """The report rows (records with a row_number) in each gzip JSON Lines file under root."""
    rows = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        with gzip.open(path) as lines:  # binary: lines end at b"\n" only
            records = [exact_json(line) for line in lines]
        rows[path.name] = [
            (r["job_id"], r["row_number"], r["row"]) for r in records if "row_number" in r
        ]
    return {name: report_rows for name, report_rows in rows.items() if report_rows}


def numbered(files: dict[str, list[dict]]) -> list[tuple[str, int, dict]]:
    """(job_id, row_number, row) of each file's rows, ordered by job and row."""
    return [(job_id, n, row) for job_id in sorted(files) for n, row in enumerate(files[job_id], 1)]


@dataclass
class Landed:
    """What the four runs left: expected rows by stream and job, the pipelines, each run's
    process, the tables after the first and the second runs, and the batch files."""

    expected: dict[str, dict[str, list[dict]]]
    records: PostgresPipeline
    batches: PostgresPipeline
    runs: dict[str, list[subprocess.CompletedProcess]]
    tables: dict[str, list[dict[str, list[dict]]]]
    batch_files: list[list[str]]
    batch_root: Path


@pytest.fixture(scope="module")
def landed(meltano_installed, postgres, tmp_path_factory) -> Landed:
    workdir = tmp_path_factory.mktemp("postgres")
    batch_root = workdir / "batches"
    batch_root.mkdir()
    batch_config = {
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "storage": {"root": f"file://{batch_root}"},
        "batch_size": BATCH_SIZE,
    }
    with (
        FakeFileHost() as files,
        FakeElasticPath(files, client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as ep,
        FakeM3ter(files, client_id=M3TER_KEY, client_secret=M3TER_SECRET) as m3,
    ):
        expected = add_awkward_files(ep, m3)
        pipelines = {
            "record": PostgresPipeline(ep, m3, workdir / "record", postgres, "record_path"),
            "batch": PostgresPipeline(
                ep, m3, workdir / "batch", postgres, "batch_path", {"batch_config": batch_config}
            ),
        }
        runs = {name: [] for name in pipelines}
        tables = {name: [] for name in pipelines}
        batch_files = []
        # The two pipelines run side by side (a run is mostly Meltano's and the plugins'
        # start-up), then side by side again.
        with ThreadPoolExecutor(max_workers=2) as pool:
            for _ in range(2):
                started = {name: pool.submit(pipeline.run) for name, pipeline in pipelines.items()}
                for name, pipeline in pipelines.items():
                    runs[name].append(started[name].result())
                    tables[name].append({stream: pipeline.table(stream) for stream in expected})
                batch_files.append(sorted(p.name for p in batch_root.rglob("*") if p.is_file()))
    return Landed(
        expected, pipelines["record"], pipelines["batch"], runs, tables, batch_files, batch_root
    )


def test_record_and_batch_runs_land_rows_tables_equal_row_for_row(landed):
    for stream in landed.expected:
        by_records, by_batches = (
            landed.tables["record"][0][stream],
            landed.tables["batch"][0][stream],
        )
        assert len(by_records) == sum(map(len, landed.expected[stream].values()))
        assert by_batches == by_records, f"{stream}: the BATCH run's table differs"


def test_rows_tables_hold_each_file_row_as_the_file_has_it(landed):
    for stream, files in landed.expected.items():
        table = landed.tables["record"][0][stream]
        assert [(r["job_id"], r["row_number"], r["row"]) for r in table] == numbered(files)
        provider, file_format = ("elasticpath", "csv") if stream == EP_ROWS else ("m3ter", "ndjson")
        assert {(r["provider"], r["file_format"]) for r in table} == {(provider, file_format)}


def test_the_batch_run_sends_report_rows_only_in_batch_messages(landed):
    jobs = sum(map(len, landed.expected.values()))
    rows = sum(len(rows) for files in landed.expected.values() for rows in files.values())
    assert loader_read(landed.runs["record"][0]) == {"records": jobs + rows, "batches": 0}
    read = loader_read(landed.runs["batch"][0])
    assert read["records"] <= jobs  # job records may come either way; no row as a RECORD
    assert read["batches"] > 0


def test_batch_files_under_the_root_hold_every_report_row_once(landed):
    in_files = [row for rows in batch_file_rows(landed.batch_root).values() for row in rows]
    expected = [row for files in landed.expected.values() for row in numbered(files)]
    assert sorted(in_files, key=lambda r: r[:2]) == sorted(expected, key=lambda r: r[:2])


def test_no_batch_file_holds_more_rows_than_the_batch_size(landed):
    sizes = {name: len(rows) for name, rows in batch_file_rows(landed.batch_root).items()}
    assert sizes and max(sizes.values()) <= BATCH_SIZE, sizes


def test_second_runs_send_no_row_again_and_leave_the_tables_as_they_were(landed):
    for name in ("record", "batch"):
        assert loader_read(landed.runs[name][1]) == {"records": 0, "batches": 0}
        assert landed.tables[name][1] == landed.tables[name][0]
    assert landed.batch_files[1] == landed.batch_files[0]  # no new batch file either


def test_every_job_lands_succeeded_both_ways(landed):
    for pipeline in (landed.records, landed.batches):
        for jobs, rows in ((EP_JOBS, EP_ROWS), (M3TER_JOBS, M3TER_ROWS)):
            succeeded = dict.fromkeys(landed.expected[rows], "succeeded")
            assert pipeline.job_statuses(jobs) == succeeded
