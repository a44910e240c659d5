"""target-postgres on one recorded tap output, run inside the target's own virtualenv.

    <target venv>/bin/python benchmarks/target_runner.py CONFIG RECORDING OUT [--stages]

Runs `TargetPostgres(config).listen(recording)` in this process and writes OUT (JSON): the
seconds of the whole process (imports included, as under `meltano run`), the seconds of
`listen`, its peak RSS, and per kind of SQL statement its count and client-side seconds
(SQLAlchemy's cursor events; COPY through the sink's `_do_copy`). With `--stages`, the
functions of `STAGES` are wrapped in timers and OUT also gets each stage's own seconds (its
time less that of stages it calls). Timers on a dozen functions add a few percent, where
cProfile doubles the per-record Python it measures and a sampling thread, which gets the GIL
whenever the main thread reads its input, blames the reading. Standalone on purpose: the
target's venv has no tap_exportjobs.
"""

from __future__ import annotations

import collections
import importlib
import json
import resource
import sys
import time

STARTED = time.perf_counter()

#: Stages of the target: (stage, module, class, method). A stage's seconds are its own, less
#: those of the stages it calls (e.g. batch building, less the SQL it runs).
STAGES = (
    ("input loop (readline, dispatch)", "singer_sdk.singerlib.encoding.base",
     "GenericSingerReader", "process_lines"),
    ("message parsing (json.loads)", "singer_sdk.singerlib.encoding.simple",
     "SimpleSingerReader", "deserialize_json"),
    ("record conformance, _sdc, maps, checks", "singer_sdk.target_base",
     "Target", "_process_record_message"),
    ("JSON-schema validation", "singer_sdk.sinks.core", "Sink", "_validate_and_parse"),
    ("batch file read + json.loads", "singer_sdk.sinks.core", "Sink", "process_batch_files"),
    ("SCHEMA: sink and table setup", "singer_sdk.target_base",
     "Target", "_process_schema_message"),
    ("sink batch building (insert dicts)", "target_postgres.sinks",
     "PostgresSink", "bulk_insert_records"),
    ("COPY rows (client formatting + server)", "target_postgres.sinks",
     "PostgresSink", "_do_copy"),
    ("SQL statements (client + server)", "sqlalchemy.engine.base", "Connection", "execute"),
    ("table prep per batch (reflection)", "target_postgres.connector",
     "PostgresConnector", "prepare_table"),
    ("table prep per batch (reflection)", "target_postgres.connector",
     "PostgresConnector", "copy_table_structure"),
    ("end of pipe (last drain)", "singer_sdk.target_base", "Target", "process_endofpipe"),
)  # fmt: skip
OTHER = "other (imports, config, logging)"


class StageTimers:
    """Each stage's own seconds: a wrapped call's time, less that of wrapped calls inside it."""

    def __init__(self) -> None:
        self.seconds: collections.Counter[str] = collections.Counter()
        self._inner: list[float] = []  # per open call: seconds spent in stages it called

    def wrap(self, stage: str, function):
        def timed(*args, **kwargs):
            self._inner.append(0.0)
            began = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - began
                self.seconds[stage] += elapsed - self._inner.pop()
                if self._inner:
                    self._inner[-1] += elapsed

        return timed

    def install(self) -> None:
        for stage, module, cls, method in STAGES:
            owner = getattr(importlib.import_module(module), cls)
            setattr(owner, method, self.wrap(stage, getattr(owner, method)))


def statement_kind(sql: str) -> str:
    """What a statement of the target does, from its text (also pg_stat_statements')."""
    words = " ".join(sql.split()).upper()
    if words.startswith("COPY"):
        return "COPY rows into temp table"
    if words.startswith("INSERT") and " SELECT " in words:
        return "INSERT..SELECT temp -> table"
    if words.startswith("INSERT"):
        return "INSERT rows into temp table"
    if words.startswith("UPDATE"):
        return "UPDATE table from temp (merge)"
    if words.startswith("CREATE") or words.startswith("DROP"):
        return "CREATE/DROP (temp) tables"
    return "catalog queries (reflection)"


def main(config: str, recording: str, out: str, stages: bool) -> None:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from target_postgres import sinks
    from target_postgres.target import TargetPostgres

    statements: dict[str, list] = collections.defaultdict(lambda: [0, 0.0])

    def spent(kind: str, seconds: float) -> None:
        statements[kind][0] += 1
        statements[kind][1] += seconds

    @event.listens_for(Engine, "before_cursor_execute")
    def _before(conn, cursor, statement, parameters, context, executemany) -> None:
        conn.info.setdefault("began", []).append(time.perf_counter())

    @event.listens_for(Engine, "after_cursor_execute")
    def _after(conn, cursor, statement, parameters, context, executemany) -> None:
        spent(statement_kind(statement), time.perf_counter() - conn.info["began"].pop())

    copy_rows = sinks.PostgresSink._do_copy

    def timed_copy(self, connection, copy_statement, *args, **kwargs) -> None:
        began = time.perf_counter()
        copy_rows(self, connection, copy_statement, *args, **kwargs)
        spent(statement_kind(copy_statement), time.perf_counter() - began)

    sinks.PostgresSink._do_copy = timed_copy
    timers = StageTimers() if stages else None
    if timers:
        timers.install()
    target = TargetPostgres(config=config, validate_config=True)
    listen_began = time.perf_counter()
    with open(recording, encoding="utf-8") as lines:
        target.listen(lines)
    ended = time.perf_counter()
    if timers:
        timers.seconds[OTHER] = ended - STARTED - sum(timers.seconds.values())
    report = {
        "seconds": ended - STARTED,
        "listen_seconds": ended - listen_began,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "statements": {kind: {"count": c, "seconds": s} for kind, (c, s) in statements.items()},
        "stages": dict(timers.seconds) if timers else None,
    }
    with open(out, "w", encoding="utf-8") as handle:
        json.dump(report, handle)


if __name__ == "__main__":
    main(*sys.argv[1:4], stages="--stages" in sys.argv[4:])
