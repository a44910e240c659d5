"""Report-row streams: the rows of a finished job's file, one record per row.

A report-row stream is the child of a job stream. The parent hands it a job id only when
that job's file is owed; this stream fetches the file (through the parent, which knows
the API), decodes it and emits its rows, checkpointing progress in the parent's ledger so a
run killed mid-file resumes where the target last confirmed, and a finished file is
never emitted again.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from singer_sdk import Stream
from singer_sdk import typing as th
from singer_sdk.helpers.conform import TypeConformanceLevel

from tap_exportjobs.download import DownloadError
from tap_exportjobs.formats import MalformedFileError, open_rows
from tap_exportjobs.jobs import CheckpointMixin, JobStream
from tap_exportjobs.jobs.files import FileGoneError, NoFileError
from tap_exportjobs.jobs.progress import ROWS_LOGGED_EVERY
from tap_exportjobs.jobs.record import free_form_object

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from singer_sdk.helpers.types import Context

#: Write a STATE message after this many rows of one file.
CHECKPOINT_EVERY_ROWS = 10_000

ROW_ENVELOPE_PROPERTIES = th.PropertiesList(
    th.Property("provider", th.StringType, required=True, description="The API the file is from"),
    th.Property("job_id", th.StringType, required=True, description="The job the file came from"),
    th.Property(
        "row_number",
        th.IntegerType,
        required=True,
        description="1-based position of the row in the file",
    ),
    th.Property(
        "row",
        free_form_object(),
        required=True,
        description="The row as written: CSV header -> string value, or the JSON object",
    ),
    th.Property("file_format", th.StringType, description="What the file was decoded as"),
    th.Property(
        "source_file", th.StringType, description="For a zip archive, the member the row came from"
    ),
)


class ReportRowsStream(CheckpointMixin, Stream):
    """Rows of the files of one job stream's finished jobs."""

    parent_stream_type: t.ClassVar[type[JobStream]]
    #: A row is kept exactly as the file has it: conform the envelope, never the row's values
    #: (it also saves a third of the per-row cost on wide files).
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.ROOT_ONLY

    def __init__(self, tap: t.Any) -> None:
        parent = self.parent_stream_type
        super().__init__(
            tap,
            schema=th.PropertiesList(
                *ROW_ENVELOPE_PROPERTIES.wrapped.values(),
                *parent.partition_properties.wrapped.values(),
            ).to_dict(),
        )
        self.primary_keys = ["provider", "job_id", "row_number"]
        # Progress lives in the parent's ledger; this stream's own state stays one empty
        # entry rather than one per job.
        self.state_partitioning_keys = []

    @property
    def job_stream(self) -> JobStream:
        return t.cast("JobStream", self._tap.streams[self.parent_stream_type.name])

    def get_records(self, context: Context | None) -> Iterator[dict]:
        assert context is not None  # a child stream always runs for one job
        job_id = context["job_id"]
        partition = {k: v for k, v in context.items() if k != "job_id"}
        parent_context = partition or None
        jobs = self.job_stream
        ledger = jobs.ledger(parent_context)
        already = int((ledger.get(job_id) or {}).get("rows_emitted") or 0)
        label = f"{jobs.provider} job {job_id}"
        if already:
            self.logger.info("%s: resuming its file after row %d", label, already)
        progress = _Progress(already)
        try:
            yield from self._file_rows(jobs, job_id, partition, label, progress)
        except (FileGoneError, NoFileError) as unavailable:
            jobs.file_unavailable(job_id, parent_context, unavailable)
        except (DownloadError, MalformedFileError) as error:
            # Rows up to here were written: record them, so the next try resumes after them.
            if progress.emitted > already:
                ledger.rows_checkpoint(job_id, progress.emitted)
            jobs.file_failed(job_id, parent_context, str(error))
        else:
            if progress.read < already:
                self.logger.warning(
                    "%s: the file now has %d rows, fewer than the %d already emitted",
                    label,
                    progress.read,
                    already,
                )
            ledger.file_done(job_id, max(progress.read, already))
            emitted = progress.read - min(already, progress.read)
            jobs.file_read(emitted)
            self.logger.info("%s: emitted %d rows; the file is done", label, emitted)
        self.checkpoint()

    def _file_rows(
        self, jobs: JobStream, job_id: str, partition: dict, label: str, progress: _Progress
    ) -> Iterator[dict]:
        parent_context = partition or None
        with (
            jobs.downloader.spool(
                lambda: jobs.download_link(job_id, parent_context), label=label
            ) as spooled,
            open_rows(
                spooled.path,
                spooled.file_format,
                max_decompressed_bytes=self.config.get("max_file_bytes"),
                rows_key=spooled.rows_key,
            ) as decoded,
        ):
            try:
                for row_number, row in enumerate(decoded.rows, start=1):
                    progress.read = row_number
                    if row_number <= progress.already:
                        continue
                    yield {
                        **partition,
                        "provider": jobs.provider,
                        "job_id": job_id,
                        "row_number": row_number,
                        "row": row,
                        "file_format": decoded.file_format,
                        "source_file": decoded.source_file,
                    }
                    # Reached only after the SDK wrote the row: progress never claims a row
                    # that was not emitted.
                    progress.emitted = row_number
                    if row_number % ROWS_LOGGED_EVERY == 0:
                        self.logger.info("%s: %d rows emitted so far", label, row_number)
                    if row_number % CHECKPOINT_EVERY_ROWS == 0:
                        jobs.ledger(parent_context).rows_checkpoint(job_id, row_number)
                        self.checkpoint()
            except MalformedFileError as error:
                where = f", line {error.line}" if error.line else ""
                named = MalformedFileError(
                    f"{label}{where}: {error.problem} (read as {decoded.file_format})"
                )
                named.line = error.line
                raise named from None


@dataclass
class _Progress:
    """How far one file got: rows already emitted by earlier runs, read and emitted now."""

    already: int
    read: int = 0
    emitted: int = 0
