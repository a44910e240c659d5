"""Report rows in BATCH files the tap writes itself (with the SDK's `batch_config` set).

The SDK's own batcher holds each batch in memory, always gzips at level 9 and lets the
tap's mid-file checkpoints overtake the BATCH message holding their rows. Here rows are
streamed to the batch file as they are read (memory stays flat whatever `batch_size`), gzip
runs at `batch_compression_level` (fast by default), and a batch's BATCH message is written
before any STATE that counts its rows. Files go where `batch_config.storage.root` says,
local or remote, through the SDK's storage support (fsspec).
"""

from __future__ import annotations

import contextlib
import gzip
import queue
import threading
import typing as t
import uuid
from contextlib import ExitStack

from singer_sdk.contrib.msgspec import encoder
from singer_sdk.helpers._batch import BaseBatchFileEncoding, SDKBatchMessage

if t.TYPE_CHECKING:
    from singer_sdk import Tap, metrics
    from singer_sdk.helpers._batch import BatchConfig, StorageTarget

#: gzip level for batch files unless `batch_compression_level` says otherwise: level 1 is
#: several times faster than 9 and the files only live until the target has loaded them.
DEFAULT_COMPRESSION_LEVEL = 1
#: Encoded rows are handed to the file (and gzip) this many bytes at a time.
WRITE_BYTES = 256 * 1024
#: Chunks that may wait for the writer thread: memory stays a few chunks whatever the batch.
QUEUED_CHUNKS = 4


class RecordMessagesOnly:
    """A stream whose records carry bookmarks and drive child streams (jobs, entities): its
    few records stay RECORD messages, never held back in a batch while later STATE messages
    already count them."""

    def get_batch_config(self, config: t.Mapping) -> None:
        return None


def batch_config_problems(config: t.Mapping) -> list[str]:
    """What in `batch_config` the tap cannot honour, each naming the setting."""
    raw = config.get("batch_config") or {}
    encoding = raw.get("encoding") or {}
    problems = []
    if encoding.get("format") not in (None, "jsonl"):
        problems.append(
            f"batch_config.encoding.format: {encoding.get('format')!r} is not supported; "
            "report rows are written as 'jsonl' batch files"
        )
    if encoding.get("compression") not in (None, "gzip", "none"):
        problems.append(
            f"batch_config.encoding.compression: {encoding.get('compression')!r} is not "
            "supported; use 'gzip' or 'none'"
        )
    if raw and not (raw.get("storage") or {}).get("root"):
        problems.append("batch_config.storage.root: required: where batch files are written")
    return problems


class BatchFiles:
    """One stream's records, a batch file at a time. `add` streams a record into the open
    file; `commit` closes it and announces it in a BATCH message; `discard` deletes a file
    whose rows were never announced."""

    def __init__(
        self,
        tap: Tap,
        stream_name: str,
        batch_config: BatchConfig,
        *,
        compression_level: int = DEFAULT_COMPRESSION_LEVEL,
        counters: tuple[metrics.Counter, metrics.Counter] | None = None,
    ) -> None:
        self._tap = tap
        self._stream_name = stream_name
        self._prefix = batch_config.storage.prefix or ""
        self._storage = _Storage(batch_config.storage)
        self._gzip = batch_config.encoding.compression == "gzip"
        self._encoding = BaseBatchFileEncoding(
            format="jsonl", compression="gzip" if self._gzip else "none"
        )
        self._level = compression_level
        self._counters = counters
        self._run_id = uuid.uuid4().hex
        self._sequence = 0
        self._open: _OpenBatch | None = None

    def add(self, record: dict) -> None:
        batch = self._open or self._start()
        encoder.encode_into(record, batch.buffer, -1)
        batch.buffer += b"\n"
        batch.rows += 1
        if len(batch.buffer) >= WRITE_BYTES:
            batch.write_buffer()

    def commit(self) -> None:
        batch, self._open = self._open, None
        if batch is None or not batch.rows:
            if batch is not None:
                batch.close()
                self._storage.delete(batch.filename)
            return
        batch.close()
        self._tap.write_message(
            SDKBatchMessage(
                stream=self._stream_name,
                encoding=self._encoding,
                manifest=[self._storage.url(batch.filename)],
            )
        )
        if self._counters is not None:
            records, batches = self._counters
            records.increment(batch.rows)
            batches.increment()

    def discard(self) -> None:
        batch, self._open = self._open, None
        if batch is not None:
            # Called while another error ends the sync: a failure to close must not hide it.
            with contextlib.suppress(Exception):
                batch.close()
            self._storage.delete(batch.filename)

    def _start(self) -> _OpenBatch:
        self._sequence += 1
        suffix = ".jsonl.gz" if self._gzip else ".jsonl"
        filename = f"{self._prefix}{self._stream_name}-{self._run_id}-{self._sequence:06d}{suffix}"
        self._open = _OpenBatch(filename, self._storage, self._gzip, self._level)
        return self._open


class _Storage:
    """Batch files under the configured root, through the SDK's storage settings (root,
    params) and its path type (universal_pathlib over fsspec). The one place that reads the
    SDK's `_root_path`: its own `open` hands fsspec a path object that some filesystems
    (memory, others) reject, so files are opened from the path itself."""

    def __init__(self, storage: StorageTarget) -> None:
        self._root = storage._root_path
        self._root.mkdir(parents=True, exist_ok=True)

    def url(self, filename: str) -> str:
        return (self._root / filename).as_uri()

    def open(self, filename: str) -> t.BinaryIO:
        return (self._root / filename).open("wb")

    def delete(self, filename: str) -> None:
        path = self._root / filename
        if path.exists():
            path.unlink()


class _OpenBatch:
    """One batch file being written. Compressing and writing run on a thread of their own
    (zlib and file writes release the GIL), so gzip costs the row loop next to nothing on a
    machine with a second core; at most `QUEUED_CHUNKS` chunks wait for it."""

    def __init__(self, filename: str, storage: _Storage, gzipped: bool, level: int) -> None:
        self.filename = filename
        self.rows = 0
        self.buffer = bytearray()
        self._stack = ExitStack()
        handle = self._stack.enter_context(storage.open(filename))
        if gzipped:
            handle = self._stack.enter_context(
                gzip.GzipFile(fileobj=handle, mode="wb", compresslevel=level, mtime=0)
            )
        self._chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=QUEUED_CHUNKS)
        self._failure: BaseException | None = None
        self._writer = threading.Thread(
            target=self._write_chunks, args=(handle,), name=f"batch {filename}", daemon=True
        )
        self._writer.start()

    def _write_chunks(self, handle: t.BinaryIO) -> None:
        while (chunk := self._chunks.get()) is not None:
            if self._failure is None:
                try:
                    handle.write(chunk)
                except BaseException as error:  # handed to the row loop by `_check`
                    self._failure = error

    def _check(self) -> None:
        if self._failure is not None:
            raise self._failure

    def write_buffer(self) -> None:
        self._check()
        self._chunks.put(bytes(self.buffer))
        self.buffer.clear()

    def close(self) -> None:
        """Wait for every chunk to be written, then close the file: its rows are on the
        storage once this returns."""
        try:
            if self.buffer and self._failure is None:
                self.write_buffer()
        finally:
            self._chunks.put(None)
            self._writer.join()
        self._check()
        self._stack.close()
