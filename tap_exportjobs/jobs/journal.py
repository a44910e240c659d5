"""The jobs this machine's runs created for export windows, kept beside Singer state.

The tap records a new job in state before polling it, but under Meltano that STATE reaches
the state store only when the loader passes it on, and an SDK loader holds it until it
writes its batches (every few minutes, and at the end). A run killed in between leaves a
state without the job, and the next run would create the window's job again, landing its
days twice under two job ids. So each created (or adopted) job is also written here, a small
file under `cache_dir` per stream and account, before it is polled; a run about to create a
window's job first looks here, and adopts the job an earlier run made if the API still has
it (and it did not fail). Entries older than JOURNAL_DAYS (longer than any API keeps a job)
are dropped, so the file stays small.
"""

from __future__ import annotations

import typing as t
from datetime import timedelta

from tap_exportjobs.jobs.timestamps import iso, parse_timestamp, utc_now
from tap_exportjobs.local_cache import read_json, write_json

if t.TYPE_CHECKING:
    from pathlib import Path

    from tap_exportjobs.jobs.exports import ExportSpec
    from tap_exportjobs.jobs.windows import ExportWindow

JOURNAL_DAYS = 14
#: At most this many windows are remembered (newest kept).
MAX_ENTRIES = 2_000


def window_key(spec: ExportSpec, window: ExportWindow) -> str:
    """One export's window, for the export's current settings."""
    return f"{spec.key}|{spec.fingerprint}|{iso(window.start)}|{iso(window.end)}"


class CreatesJournal:
    """The windows' jobs created from this machine: window key -> {id, created_at, at}."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def recall(self, key: str) -> dict | None:
        return self._entries().get(key)

    def remember(
        self, key: str, job_id: str, created_at: str | None, facts: dict | None = None
    ) -> None:
        entries = self._entries()
        entries[key] = {"id": job_id, "created_at": created_at, "at": iso(utc_now())}
        if facts:
            entries[key]["facts"] = facts
        newest = sorted(entries.items(), key=lambda item: item[1]["at"], reverse=True)
        write_json(self.path, {"version": 1, "windows": dict(newest[:MAX_ENTRIES])})

    def _entries(self) -> dict[str, dict]:
        document = read_json(self.path)
        if not isinstance(document, dict) or not isinstance(document.get("windows"), dict):
            return {}
        cutoff = utc_now() - timedelta(days=JOURNAL_DAYS)
        return {
            key: entry
            for key, entry in document["windows"].items()
            if isinstance(entry, dict)
            and entry.get("id")
            and (parse_timestamp(entry.get("at")) or cutoff) > cutoff
        }
