"""Inferring a rows stream's columns from a bounded sample of its latest finished files.

At discovery (and at the start of a sync, which discovers too) the job stream names the
latest finished job with a file per kind of job (report type, export type...); the first
SAMPLE_BYTES of each file (a Range request) give up to SAMPLE_ROWS rows. What a sample
showed is cached per stream and account with the job it came from, so a discovery whose
latest jobs were sampled before downloads nothing, and merged with what earlier samples
showed: columns are only added and a column keeps the type it was first given, so a
warehouse column never changes type (most targets refuse to alter one; a value that no
longer fits stays in `row`).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import tempfile
import typing as t
from pathlib import Path

from tap_exportjobs.accounts import account_fingerprint
from tap_exportjobs.formats import open_rows
from tap_exportjobs.local_cache import read_json, write_json
from tap_exportjobs.typed_rows.columns import MAX_COLUMNS
from tap_exportjobs.typed_rows.values import infer_type

if t.TYPE_CHECKING:
    from tap_exportjobs.download import DownloadLink
    from tap_exportjobs.jobs import JobStream

logger = logging.getLogger(__name__)

SAMPLE_BYTES = 1024 * 1024
SAMPLE_ROWS = 1_000
#: A sample decompresses to at most this (a gzip prefix can hold a bomb).
SAMPLE_DECOMPRESSED_BYTES = 64 * 1024 * 1024
CACHE_VERSION = 1


def inferred_columns(jobs: JobStream, rows_stream: str, cache_root: Path) -> dict[str, str]:
    """File column name -> type, from the cache and samples of files not sampled yet."""
    cache_file = cache_root / "typed_rows" / f"{rows_stream}-{_account_key(jobs, rows_stream)}.json"
    cached = _load(cache_file)
    try:
        links = _without_trace(jobs, lambda: _links_to_sample(jobs, cached["sampled"], rows_stream))
        declared_by_api = _without_trace(jobs, jobs.columns_from_api)
    except Exception as error:
        logger.warning(
            "%s: could not list jobs to sample their files (%s); columns as last inferred",
            rows_stream,
            error,
        )
        return cached["columns"]
    before = dict(cached["columns"])
    _merge(cached["columns"], declared_by_api)
    for kind, (job_id, link) in sorted(links.items()):
        label = f"{jobs.provider} job {job_id}"
        try:
            rows, from_text = _sample_rows(jobs, link, label)
        except Exception as error:
            logger.warning("%s: could not sample %s (%s)", rows_stream, label, error)
            continue
        if not rows:  # a header alone, or a prefix cut before the first row ends: later
            logger.info("%s: %s has no whole row in its first bytes", rows_stream, label)
            continue
        _merge(cached["columns"], _infer(rows, from_text=from_text))
        cached["sampled"][kind] = job_id
        logger.info(
            "%s: sampled %d rows of %s (%s): %d columns known",
            rows_stream,
            len(rows),
            label,
            kind or "its latest file",
            len(cached["columns"]),
        )
    if links or cached["columns"] != before:
        _save(cache_file, cached)
    return cached["columns"]


def _links_to_sample(
    jobs: JobStream, sampled: dict[str, str], rows_stream: str
) -> dict[str, tuple[str, DownloadLink]]:
    """Kind -> (job, link) of each latest file not sampled yet. Links are asked for in the
    listing's breath: what the listing taught the stream (a file's format) is still known."""
    links = {}
    for kind, (job_id, context) in jobs.latest_files().items():
        if sampled.get(kind) == job_id:
            continue
        try:
            links[kind] = (job_id, jobs.download_link(job_id, context))
        except Exception as error:
            logger.warning("%s: no link to sample job %s (%s)", rows_stream, job_id, error)
    return links


def _sample_rows(jobs: JobStream, link: DownloadLink, label: str) -> tuple[list, bool]:
    data, whole, declared = jobs.downloader.fetch_prefix(link, SAMPLE_BYTES, label=label)
    rows: list = []
    from_text = False
    with tempfile.TemporaryDirectory(prefix="tap-exportjobs-sample-") as tmp:
        path = Path(tmp) / "sample"
        path.write_bytes(data)
        # A prefix ends mid-row, mid-gzip-block or mid-document: the rows before that are
        # the sample, so the error that ends it is expected.
        with (
            contextlib.suppress(Exception),
            open_rows(
                path,
                declared,
                max_decompressed_bytes=SAMPLE_DECOMPRESSED_BYTES,
                rows_key=link.rows_key,
            ) as decoded,
        ):
            from_text = decoded.file_format == "csv"
            for row in decoded.rows:
                rows.append(row)
                if len(rows) > SAMPLE_ROWS:
                    break
    if not whole and rows:
        rows.pop()  # perhaps cut short by the prefix's end
    return rows[:SAMPLE_ROWS], from_text


def _infer(rows: list, *, from_text: bool) -> dict[str, str]:
    values: dict[str, list] = {}
    for row in rows:
        if isinstance(row, dict):
            for key, value in row.items():
                if key in values or len(values) < MAX_COLUMNS:
                    values.setdefault(key, []).append(value)
    inferred = {}
    for key, seen in values.items():
        kind = infer_type(seen, from_text=from_text)
        if kind is not None:
            inferred[key] = kind
    return inferred


def _merge(known: dict[str, str], new: dict[str, str]) -> None:
    """New columns are added; a known column keeps its type (a value that no longer fits
    stays in `row`): changing a warehouse column's type fails most targets' loads."""
    for key, kind in new.items():
        if key not in known and len(known) < MAX_COLUMNS:
            known[key] = kind


def _without_trace(jobs: JobStream, call: t.Callable[[], t.Any]) -> t.Any:
    """Run a listing or link call for a sample without leaving anything in the tap's state
    or the stream's run (discovery has no state; a sync loads it after discovery)."""
    state = jobs.tap_state
    saved = copy.deepcopy(state)
    try:
        return call()
    finally:
        state.clear()
        state.update(saved)
        jobs.forget_run()


def _account_key(jobs: JobStream, rows_stream: str) -> str:
    """Which account's files were sampled (a sample of one account never types another's)."""
    identity = [rows_stream, account_fingerprint(jobs)]
    return hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:16]


def _load(path: Path) -> dict:
    empty: dict = {"version": CACHE_VERSION, "sampled": {}, "columns": {}}
    loaded = read_json(path)
    if not isinstance(loaded, dict) or loaded.get("version") != CACHE_VERSION:
        return empty
    return {**empty, **loaded}


def _save(path: Path, cached: dict) -> None:
    """Written whole or not at all: concurrent discoveries each replace the file."""
    write_json(path, cached)
