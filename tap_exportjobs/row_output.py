"""Where a report-row stream's records go: straight to stdout as RECORD messages, or into
batch files, when nothing needs the SDK's generic per-record path.

The SDK's path (selection mask, type conformance, stream maps, one message object and one
flush per record) is most of the cost of a report row. For a rows stream whose record is
already final (every property selected, no map, no flattening, no record limit), the tap
encodes the RECORD messages itself with the SDK's own msgspec encoder, on the SDK's own
stdout, so messages come out byte for byte as the SDK would write them (but for
`time_extracted`, taken once per chunk) and in order with its SCHEMA and STATE messages.

Every sink keeps one promise: once `commit()` returns, every record added before it has been
written (or, for batch files, announced in a BATCH message); a checkpoint comes only after a
commit, so no STATE ever counts a row that was not emitted.
"""

from __future__ import annotations

import sys
import typing as t
from datetime import datetime, timezone

from singer_sdk import Stream
from singer_sdk.contrib.msgspec import encoder
from singer_sdk.mapper import SameRecordTransform

if t.TYPE_CHECKING:
    from singer_sdk import metrics

#: Write to stdout once this much is encoded (or every `CHUNK_ROWS` rows): a few dozen rows
#: per write, and memory of at most this plus one row.
CHUNK_BYTES = 256 * 1024
CHUNK_ROWS = 64

#: The SDK methods that shape a record on its way out: a stream that overrides any of them
#: needs the SDK's path.
_PER_RECORD_HOOKS = ("post_process", "_generate_record_messages", "_write_record_message")


def sdk_path_reasons(stream: Stream) -> list[str]:
    """Why `stream`'s records must go through the SDK's per-record path (empty: they need
    not: each record leaves the stream exactly as it is made)."""
    reasons = []
    if not all(stream.mask.values()):
        reasons.append("some of its properties are deselected")
    maps = stream.stream_maps
    if len(maps) != 1 or type(maps[0]) is not SameRecordTransform:
        reasons.append("a stream map applies to it")
    elif maps[0].stream_alias != stream.name:
        reasons.append("a stream map renames it")
    elif maps[0].flattening_enabled:
        reasons.append("flattening is enabled")
    if stream.ABORT_AT_RECORD_COUNT is not None:
        reasons.append("a record limit is set (a test or dry run)")
    reasons.extend(
        f"it overrides {hook}"
        for hook in _PER_RECORD_HOOKS
        if getattr(type(stream), hook) is not getattr(Stream, hook)
    )
    return reasons


def time_extracted() -> bytes:
    """`time_extracted` as the SDK's encoder writes it (an aware datetime in UTC)."""
    return encoder.encode(datetime.now(timezone.utc))


class RecordMessages:
    """RECORD messages of one stream, encoded by the tap and written a chunk at a time."""

    def __init__(self, stream_name: str, counter: metrics.Counter | None) -> None:
        self._head = b'{"type":"RECORD","stream":' + encoder.encode(stream_name) + b',"record":'
        self._counter = counter
        self._buffer = bytearray()
        self._pending = 0
        self._tail = self._new_tail()

    @staticmethod
    def _new_tail() -> bytes:
        return b',"time_extracted":' + time_extracted() + b"}\n"

    def add(self, record: dict) -> None:
        buffer = self._buffer
        buffer += self._head
        encoder.encode_into(record, buffer, -1)
        buffer += self._tail
        self._pending += 1
        if self._pending >= CHUNK_ROWS or len(buffer) >= CHUNK_BYTES:
            self.commit()

    def commit(self) -> None:
        """Write what was added. The SDK's own writer goes to this same stdout, so a STATE
        it writes after this lands after these records."""
        if not self._pending:
            return
        sys.stdout.buffer.write(self._buffer)
        sys.stdout.flush()
        self._buffer.clear()
        if self._counter is not None:
            self._counter.increment(self._pending)
        self._pending = 0
        self._tail = self._new_tail()

    def discard(self) -> None:
        """After a failure: rows added are written all the same (they are whole rows), so
        progress can count them."""
        self.commit()
