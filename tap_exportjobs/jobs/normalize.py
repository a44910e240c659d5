"""From an API's job to the normalized job record (DESIGN.md, "Normalized job record")."""

from __future__ import annotations

import typing as t

from singer_sdk.exceptions import FatalAPIError

from tap_exportjobs.jobs.record import EXPIRED, TERMINAL, UNKNOWN
from tap_exportjobs.jobs.timestamps import iso, parse_timestamp, utc_now
from tap_exportjobs.links import expiry_from_url

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_exportjobs.jobs.ledger import Ledger


class NormalizesJobs:
    """Mixed into JobStream, which provides normalize_job, fetch_job, status_map,
    job_lifetime, provider, redact and the logger."""

    def job_status(self, status_raw: str | None, raw: dict) -> str:
        """Normalized status; providers override for quirks (e.g. failed-but-empty)."""
        key = (status_raw or "").strip().lower()
        status = self.status_map.get(key)
        if status is None:
            if key not in self._warned_statuses:
                self._warned_statuses.add(key)
                self.logger.warning(
                    "%s: unknown job status %r; recorded as 'unknown' and looked at again next run",
                    self.name,
                    status_raw,
                )
            return UNKNOWN
        return status

    def to_record(self, raw: dict, context: Context | None) -> dict:
        record = self.normalize_job(raw, context)
        created = parse_timestamp(record.get("created_at"))
        if created is None:
            raise FatalAPIError(
                f"{self.name}: job {record.get('id')} has no readable creation time "
                f"({record.get('created_at')!r})"
            )
        status = self.job_status(record.get("status_raw"), raw)
        if status not in TERMINAL and self.job_lifetime and utc_now() - created > self.job_lifetime:
            self.logger.warning(
                "%s: job %s is older than the API keeps jobs (%s) and never "
                "finished; recorded as expired",
                self.name,
                record["id"],
                self.job_lifetime,
            )
            status = EXPIRED
        record.update(
            provider=self.provider,
            id=str(record["id"]),
            status=status,
            is_terminal=status in TERMINAL,
            created_at=iso(created),
            updated_at=iso(parse_timestamp(record.get("updated_at"))),
            download_url_expires_at=iso(
                parse_timestamp(record.get("download_url_expires_at"))
                or (expiry_from_url(record["download_url"]) if record.get("download_url") else None)
            ),
            download_url=self.redact(record.get("download_url") or None),
            error=record.get("error") or None,
            observed_at=iso(utc_now()),
        )
        for key, value in (context or {}).items():
            record.setdefault(key, value)
        return record

    def _refetch(self, job_id: str, ledger: Ledger, context: Context | None) -> dict:
        """A job from the ledger that the listing no longer shows."""
        raw = self.fetch_job(job_id, context)
        if raw is not None:
            return self.to_record(raw, context)
        entry = ledger.get(job_id) or {}
        if entry.get("file") == "pending":
            self.logger.warning(
                "%s: job %s is gone from the API before its file could be read; its rows "
                "cannot be delivered",
                self.name,
                job_id,
            )
        else:
            self.logger.warning(
                "%s: job %s is gone from the API before it finished; recorded as expired",
                self.name,
                job_id,
            )
        record = {
            "provider": self.provider,
            "id": job_id,
            "job_type": entry.get("job_type"),
            "status": EXPIRED,
            "status_raw": entry.get("status_raw"),
            "is_terminal": True,
            "created_at": entry.get("created_at"),
            "observed_at": iso(utc_now()),
            "error": "The job is no longer available from the API",
        }
        for key, value in (context or {}).items():
            record.setdefault(key, value)
        return record
