"""BATCH files in object storage end to end: `meltano run tap-exportjobs target-postgres` with
`batch_config.storage.root` an `s3://` URL on an S3-compatible server (tests/s3_server.py,
moto on 127.0.0.1), beside a RECORD-path run over the same fake APIs, into PostgreSQL.

Both processes reach the server the way a deployment reaches S3: through AWS_ENDPOINT_URL and
the AWS_* credential variables (botocore reads them for s3fs, which the tap's `[s3]` extra
and the loader's `singer-sdk[s3]` install). The two runs happen once, side by side, in the
module's `landed` fixture; each test asserts one thing about them.
"""

from __future__ import annotations

import gzip
import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from tests.conftest import CLIENT_ID, CLIENT_SECRET, M3TER_KEY, M3TER_SECRET
from tests.fakes import FakeElasticPath, FakeFileHost, FakeM3ter
from tests.s3_server import S3Object, running_s3
from tests.test_meltano_postgres import (
    BATCH_SIZE,
    PostgresPipeline,
    add_awkward_files,
    exact_json,
    loader_read,
    meltano_installed,
    numbered,
    postgres,
)

__all__ = ["meltano_installed", "postgres"]  # fixtures, used by name

BUCKET = "exportjobs-batches"
PREFIX = "sandbox/report-rows"


@dataclass
class Landed:
    """What the two runs left: expected rows by stream and job, each run's process and
    tables, the bucket's objects after the BATCH run, and every API credential the fakes
    issued or accepted during the runs."""

    expected: dict[str, dict[str, list[dict]]]
    runs: dict[str, subprocess.CompletedProcess]
    tables: dict[str, dict[str, list[dict]]]
    objects: list[S3Object]
    credentials: dict[str, list[str]]


def presigned_signatures(files: FakeFileHost) -> list[str]:
    return [r.query["Signature"] for r in files.requests_to("/bucket/") if "Signature" in r.query]


@pytest.fixture(scope="module")
def landed(meltano_installed, postgres, tmp_path_factory) -> Landed:
    workdir = tmp_path_factory.mktemp("s3_batch")
    batch_config = {
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "storage": {"root": f"s3://{BUCKET}/{PREFIX}"},
        "batch_size": BATCH_SIZE,
    }
    with (
        running_s3() as s3,
        FakeFileHost() as files,
        FakeElasticPath(files, client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as ep,
        FakeM3ter(files, client_id=M3TER_KEY, client_secret=M3TER_SECRET) as m3,
    ):
        s3.create_bucket(BUCKET)
        expected = add_awkward_files(ep, m3)
        pipelines = {
            "record": PostgresPipeline(ep, m3, workdir / "record", postgres, "s3_record_path"),
            "batch": PostgresPipeline(
                ep, m3, workdir / "batch", postgres, "s3_batch_path", {"batch_config": batch_config}
            ),
        }
        pipelines["batch"].env.update(s3.env())
        with ThreadPoolExecutor(max_workers=2) as pool:
            started = {name: pool.submit(pipeline.run) for name, pipeline in pipelines.items()}
            runs = {name: run.result() for name, run in started.items()}
        tables = {
            name: {stream: pipeline.table(stream) for stream in expected}
            for name, pipeline in pipelines.items()
        }
        credentials = {
            "client secrets": [CLIENT_SECRET, M3TER_SECRET],
            "access tokens": [*ep.tokens_issued, *m3.tokens_issued],
            "presigned signatures": presigned_signatures(files),
        }
        return Landed(expected, runs, tables, s3.objects(BUCKET), credentials)


def report_rows(batch_object: S3Object) -> list[tuple[str, int, dict]]:
    """(job_id, row_number, row) of each line; gzip checks the whole stream (its CRC and
    length trailer), so a truncated or partly written object fails here."""
    lines = gzip.decompress(batch_object.body).split(b"\n")
    assert lines[-1] == b"", f"{batch_object.key}: the last line is not complete"
    records = [exact_json(line) for line in lines[:-1]]
    return [(r["job_id"], r["row_number"], r["row"]) for r in records]


def test_batch_files_land_in_the_bucket_under_the_root_prefix_as_gzip_json_lines(landed):
    assert landed.objects, "no batch file in the bucket"
    for batch_object in landed.objects:
        assert batch_object.key.startswith(f"{PREFIX}/"), batch_object.key
        assert batch_object.key.endswith(".jsonl.gz"), batch_object.key
        assert batch_object.metadata["ContentLength"] == len(batch_object.body)
        assert 0 < len(report_rows(batch_object)) <= BATCH_SIZE, batch_object.key


def test_the_bucket_holds_each_loaded_row_once_and_the_loader_read_every_file(landed):
    in_bucket = [row for batch_object in landed.objects for row in report_rows(batch_object)]
    loaded = [
        (r["job_id"], r["row_number"], r["row"])
        for stream in landed.expected
        for r in landed.tables["batch"][stream]
    ]
    assert len(in_bucket) == len(loaded) == len(set((job, n) for job, n, _ in in_bucket))
    assert sorted(in_bucket, key=lambda r: r[:2]) == sorted(loaded, key=lambda r: r[:2])
    jobs = sum(map(len, landed.expected.values()))
    read = loader_read(landed.runs["batch"])
    assert read["batches"] == len(landed.objects)
    assert read["records"] <= jobs  # job records may come either way; no row as a RECORD


def test_the_s3_batch_run_loads_tables_equal_row_for_row_to_the_record_run(landed):
    for stream, files in landed.expected.items():
        by_records, by_batches = landed.tables["record"][stream], landed.tables["batch"][stream]
        assert [(r["job_id"], r["row_number"], r["row"]) for r in by_records] == numbered(files)
        assert by_batches == by_records, f"{stream}: the S3 BATCH run's table differs"


def test_no_api_credential_appears_in_any_object_key_metadata_or_content(landed):
    # Each kind of credential was really used, so finding none of them means something.
    assert all(landed.credentials.values()), landed.credentials
    listing = json.dumps([[o.key, o.metadata] for o in landed.objects], default=str)
    for credential in (c for kind in landed.credentials.values() for c in kind):
        assert credential not in listing
        assert not any(credential.encode() in gzip.decompress(o.body) for o in landed.objects)
