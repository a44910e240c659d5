"""Report-row streams: the rows of a finished job's file, one record per row.

A report-row stream is the child of a job stream. The parent hands it a job id only when
that job's file is owed; this stream fetches the file (through the parent, which knows
the API), decodes it and emits its rows, checkpointing progress in the parent's ledger so a
run killed mid-file resumes where the target last confirmed, and a finished file is
never emitted again.

Rows leave by one of three paths (see `row_output` and `batch_files`): the SDK's per-record
path when a stream map, flattening or a deselected property needs it; otherwise RECORD
messages the stream writes itself; or, with `batch_config`, batch files. Every path commits
its rows before the checkpoint that counts them.
"""

from __future__ import annotations

import itertools
import logging
import typing as t
from dataclasses import dataclass

from singer_sdk import Stream
from singer_sdk import typing as th
from singer_sdk.helpers.conform import TypeConformanceLevel

from tap_exportjobs.batch_files import DEFAULT_COMPRESSION_LEVEL, BatchFiles
from tap_exportjobs.download import DownloadError
from tap_exportjobs.formats import MalformedFileError, open_rows
from tap_exportjobs.jobs import CheckpointMixin, JobStream
from tap_exportjobs.jobs.files import FileGoneError, NoFileError
from tap_exportjobs.jobs.progress import ROWS_LOGGED_EVERY
from tap_exportjobs.jobs.record import free_form_object
from tap_exportjobs.row_output import RecordMessages, sdk_path_reasons
from tap_exportjobs.typed_rows import RowShaper, TypedColumns, typed_columns

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from singer_sdk import metrics
    from singer_sdk.helpers._batch import BatchConfig
    from singer_sdk.helpers.types import Context

    from tap_exportjobs.formats import DecodedFile

    #: Where rows go when the stream writes them itself (None: yielded to the SDK).
    RowSink = RecordMessages | BatchFiles

#: Write a STATE message after this many rows of one file (RECORD paths; batch files
#: checkpoint after each batch).
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

    def __init__(self, tap: t.Any, job_stream: JobStream | None = None) -> None:
        parent = self.parent_stream_type
        schema = th.PropertiesList(
            *ROW_ENVELOPE_PROPERTIES.wrapped.values(),
            *parent.partition_properties.wrapped.values(),
        ).to_dict()
        #: The file's columns as real columns (`typed_rows`); None: the whole row in `row`.
        self.typed: TypedColumns | None = None
        if job_stream is not None:
            entry = tap.input_catalog.get_stream(self.name) if tap.input_catalog else None
            self.typed = typed_columns(
                self.name,
                job_stream,
                tap.config,
                reserved=schema["properties"],
                catalog_schema=entry.schema.to_dict() if entry else None,
            )
        if self.typed is not None:
            # `row` then holds only what did not fit, or null.
            schema["properties"]["row"]["type"] = ["object", "null"]
            schema["required"] = [name for name in schema["required"] if name != "row"]
            schema["properties"].update(self.typed.schema_properties())
        super().__init__(tap, schema=schema)
        self.primary_keys = ["provider", "job_id", "row_number"]
        # Progress lives in the parent's ledger; this stream's own state stays one empty
        # entry rather than one per job.
        self.state_partitioning_keys = []
        self._record_counter: metrics.Counter | None = None
        self._path_told = False

    @property
    def job_stream(self) -> JobStream:
        return t.cast("JobStream", self._tap.streams[self.parent_stream_type.name])

    def get_record_counter(self, **kwargs: t.Any) -> metrics.Counter:
        """The SDK's record counter, kept so rows written by the stream itself count too."""
        self._record_counter = super().get_record_counter(**kwargs)
        return self._record_counter

    def get_batch_config(self, config: t.Mapping) -> BatchConfig | None:
        batch_config = super().get_batch_config(config)
        if batch_config is not None and (reasons := sdk_path_reasons(self)):
            self._tell_path(
                f"RECORD messages, not the batch files batch_config asks for, because "
                f"{'; '.join(reasons)}",
                level=logging.WARNING,
            )
            return None
        return batch_config

    def get_records(self, context: Context | None) -> Iterator[dict]:
        reasons = sdk_path_reasons(self)
        if reasons:
            self._tell_path(f"the SDK's per-record path, because {'; '.join(reasons)}")
            yield from self._sync_file(context, None, CHECKPOINT_EVERY_ROWS)
            return
        self._tell_path("RECORD messages written by the stream itself")
        sink = RecordMessages(self.name, self._record_counter)
        yield from self._sync_file(context, sink, CHECKPOINT_EVERY_ROWS)

    def get_batches(
        self, batch_config: BatchConfig, context: Context | None = None
    ) -> Iterable[tuple[t.Any, list[str]]]:
        """Writes the job's rows to batch files and their BATCH messages itself, each before
        the checkpoint that counts its rows, so it hands the SDK nothing to write."""
        self._tell_path(f"batch files under {batch_config.storage.root}")
        level = self.config.get("batch_compression_level", DEFAULT_COMPRESSION_LEVEL)
        with self.get_record_counter() as records, self.get_batch_counter() as batches:
            sink = BatchFiles(
                self._tap,
                self.name,
                batch_config,
                compression_level=level,
                counters=(records, batches),
            )
            for _ in self._sync_file(context, sink, batch_config.batch_size):
                pass
        yield from ()

    def _tell_path(self, how: str, level: int = logging.INFO) -> None:
        if not self._path_told:
            self._path_told = True
            self.logger.log(level, "%s: rows leave as %s", self.name, how)

    def _sync_file(
        self, context: Context | None, sink: RowSink | None, commit_every: int
    ) -> Iterator[dict]:
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
            with jobs.downloader.spool(
                lambda: jobs.download_link(job_id, parent_context), label=label
            ) as spooled:
                yield from self._file_rows(spooled, label, context, progress, sink, commit_every)
        except (FileGoneError, NoFileError) as unavailable:
            jobs.file_unavailable(job_id, parent_context, unavailable)
        except (DownloadError, MalformedFileError) as error:
            # Rows read before the error are whole: emit them, record them, so the next try
            # resumes after them.
            if sink is not None:
                sink.commit()
            if progress.added > already:
                ledger.rows_checkpoint(job_id, progress.added)
            jobs.file_failed(job_id, parent_context, str(error))
        except BaseException:
            if isinstance(sink, BatchFiles):
                sink.discard()
            raise
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
        self,
        spooled: t.Any,
        label: str,
        context: Context,
        progress: _Progress,
        sink: RowSink | None,
        commit_every: int,
    ) -> Iterator[dict]:
        """Read the file, hand each row not yet emitted to the sink (None: yield it to the
        SDK), and commit and checkpoint every `commit_every` rows and at the end."""
        jobs = self.job_stream
        job_id = context["job_id"]
        partition = {k: v for k, v in context.items() if k != "job_id"}
        ledger = jobs.ledger(partition or None)
        provider = jobs.provider
        with open_rows(
            spooled.path,
            spooled.file_format,
            max_decompressed_bytes=self.config.get("max_file_bytes"),
            rows_key=spooled.rows_key,
        ) as decoded:
            row_number = 0
            shaper = self._shaper(decoded, label, partition, job_id)
            try:
                row_number = _skip(decoded, progress.already)
                mark = _next_mark(row_number, commit_every)
                for row_number, row in enumerate(decoded.rows, start=row_number + 1):  # noqa: B020
                    if shaper is None:
                        record = {
                            **partition,
                            "provider": provider,
                            "job_id": job_id,
                            "row_number": row_number,
                            "row": row,
                            "file_format": decoded.file_format,
                            "source_file": decoded.source_file,
                        }
                    else:
                        record = shaper.record(row, row_number)
                        # A zip's member, and its format, change as it is read.
                        record["source_file"] = decoded.source_file
                        record["file_format"] = decoded.file_format
                    if sink is None:
                        yield record  # back here once the SDK has written it
                    else:
                        sink.add(record)
                    if row_number == mark:
                        if row_number % ROWS_LOGGED_EVERY == 0:
                            self.logger.info("%s: %d rows emitted so far", label, row_number)
                        if row_number % commit_every == 0:
                            if sink is not None:
                                sink.commit()
                            ledger.rows_checkpoint(job_id, row_number)
                            self.checkpoint()
                        mark = _next_mark(row_number, commit_every)
            except MalformedFileError as error:
                progress.added = row_number
                where = f", line {error.line}" if error.line else ""
                named = MalformedFileError(
                    f"{label}{where}: {error.problem} (read as {decoded.file_format})"
                )
                named.line = error.line
                raise named from None
            except DownloadError:
                progress.added = row_number
                raise
            finally:
                if shaper is not None:
                    shaper.finish()
        if sink is not None:
            sink.commit()
        progress.read = progress.added = row_number

    def _shaper(
        self, decoded: DecodedFile, label: str, partition: dict, job_id: str
    ) -> RowShaper | None:
        if self.typed is None:
            return None
        envelope = {
            **partition,
            "provider": self.job_stream.provider,
            "job_id": job_id,
            "file_format": decoded.file_format,
            "source_file": decoded.source_file,
        }
        return RowShaper(
            self.typed,
            envelope,
            label=label,
            logger=self.logger,
            # A zip's members may differ in format and header: each row is read by its keys.
            text_values=decoded.file_format == "csv" and decoded.compression != "zip",
            every_key_expected=self.typed.inferring,
        )


def _skip(decoded: DecodedFile, count: int) -> int:
    """Read past the rows earlier runs emitted; how many there were."""
    return sum(1 for _ in itertools.islice(decoded.rows, count))


def _next_mark(row_number: int, commit_every: int) -> int:
    """The next row at which to log progress or commit."""
    return min((row_number // every + 1) * every for every in (ROWS_LOGGED_EVERY, commit_every))


@dataclass
class _Progress:
    """How far one file got: rows emitted by earlier runs; rows read and handed on now."""

    already: int
    read: int = 0
    added: int = 0
