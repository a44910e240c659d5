"""Reading a downloaded file within bounds, so no input can make memory grow without limit.

Two bounds hold on every read, error paths included:

- the file cap: no more than `max_file_bytes` bytes come out of a file once decompressed
  (decompression bombs and archives of many members included);
- the row limit: no more than `row_limit()` bytes are held for one row (a CSV row, which may
  span lines; an NDJSON line; one JSON value). A row is read whole to be emitted, so this is
  what bounds memory. It is the file cap, at most `MAX_ROW_BYTES`: far above any real row
  (free-text fields of megabytes pass), far below what a machine can hold several copies of
  (the bytes, the decoded text, the csv module's buffer and the serialized record).
"""

from __future__ import annotations

import codecs
import io
import re
import typing as t

if t.TYPE_CHECKING:
    from collections.abc import Iterator

#: The most one row may take, whatever max_file_bytes allows (see the module docstring).
MAX_ROW_BYTES = 64 * 1024 * 1024
#: What a JSON parser reads at a time: the row limit allows for this much read-ahead.
JSON_READ_BYTES = 64 * 1024
_BARE_CR = re.compile(r"(?<=\r)(?!\n)")


class MalformedFileError(ValueError):
    """A file that cannot be decoded as its format. Carries where and what."""

    def __init__(self, problem: str, *, line: int | None = None) -> None:
        self.problem = problem
        self.line = line
        super().__init__(f"line {line}: {problem}" if line is not None else problem)


class FileTooLargeError(MalformedFileError):
    """More bytes than the configured cap came out of the file (decompression bombs too)."""


class RowTooLargeError(FileTooLargeError):
    """One row is longer than the row limit."""


def row_limit(cap: int | None) -> int:
    return min(cap, MAX_ROW_BYTES) if cap is not None else MAX_ROW_BYTES


def _row_too_large(limit: int, *, line: int | None = None) -> RowTooLargeError:
    return RowTooLargeError(
        f"a row is longer than {limit} bytes, the most the tap holds for one row "
        f"(max_file_bytes, at most {MAX_ROW_BYTES // 1024**2} MiB)",
        line=line,
    )


class Budget:
    """Decompressed bytes still allowed, shared by every member of an archive."""

    def __init__(self, cap: int | None) -> None:
        self.cap = cap
        self.used = 0

    def spend(self, count: int) -> None:
        self.used += count
        if self.cap is not None and self.used > self.cap:
            raise FileTooLargeError(
                f"the file holds more than max_file_bytes ({self.cap} bytes) once decompressed"
            )


class CappedReader(io.RawIOBase):
    """Counts bytes read through it against the budget."""

    def __init__(self, raw: t.BinaryIO, budget: Budget) -> None:
        self.raw = raw
        self.budget = budget

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: t.Any) -> int:
        data = self.raw.read(len(buffer))
        self.budget.spend(len(data))
        buffer[: len(data)] = data
        return len(data)


class Lines:
    """A text file's physical lines, decoded as UTF-8 one at a time, so an invalid byte is
    reported with its line and no line is read whole without a limit: the lines since the
    last `mark()` (one row, which in CSV may span lines) stay within `limit` bytes."""

    def __init__(self, stream: io.BufferedReader, limit: int) -> None:
        self.stream = stream
        self.limit = limit
        self.number = 0
        self._read = 0
        self._row_start = (0, 1)  # byte offset and line number where the current row began

    def mark(self) -> None:
        """The current row ended here."""
        self._row_start = (self._read, self.number + 1)

    def __iter__(self) -> Iterator[str]:
        readline = self.stream.readline
        if self.number == 0 and self.stream.peek(3)[:3] == codecs.BOM_UTF8:
            self._read += len(self.stream.read(3))
        while True:
            room = self.limit - (self._read - self._row_start[0])
            try:
                raw = readline(room + 1)
            except FileTooLargeError as error:
                raise FileTooLargeError(error.problem, line=self.number + 1) from None
            if not raw:
                return
            self.number += 1
            self._read += len(raw)
            if len(raw) > room:
                raise _row_too_large(self.limit, line=self._row_start[1])
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise MalformedFileError(
                    f"the file is not valid UTF-8 ({error.reason})", line=self.number
                ) from None
            yield text

    def split_bare_cr(self) -> Iterator[str]:
        """The lines, also split after a lone carriage return (old Mac line ends), as the csv
        module wants them."""
        for line in self:
            cr = line.find("\r")
            if cr == -1 or (cr == len(line) - 2 and line.endswith("\n")):
                yield line
            else:
                yield from (piece for piece in _BARE_CR.split(line) if piece)


class RowWindow:
    """A byte stream for a JSON parser: the bytes read since the last `mark()` (one row, or
    one parser event) stay within `limit`, allowing for the parser's read-ahead."""

    def __init__(self, stream: t.BinaryIO, limit: int) -> None:
        self.stream = stream
        self.limit = limit
        self._since_mark = 0

    def mark(self) -> None:
        self._since_mark = 0

    def read(self, size: int) -> bytes:
        data = self.stream.read(size)
        self._since_mark += len(data)
        if self._since_mark > self.limit + JSON_READ_BYTES:
            raise _row_too_large(self.limit)
        return data
