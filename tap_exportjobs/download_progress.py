"""Log lines a person can follow during a long download."""

from __future__ import annotations

import logging
import time

logger = logging.getLogger("tap_exportjobs.download")

MB = 1024 * 1024
#: A long download says how far it got this often.
PROGRESS_EVERY_SECONDS = 5.0


class DownloadProgress:
    """Log lines a person can follow during a long download: size, then every few seconds
    how far it got and how fast, then the total (host and path only, never the query)."""

    def __init__(self, label: str, where: str, start: int, total: int | None) -> None:
        self.label, self.start, self.total = label, start, total
        self.began = self.last = time.monotonic()
        size = f"{total / MB:.1f} MB" if total is not None else "size not given"
        logger.info("%s: downloading %s (%s)", label, where, size)

    def advance(self, received: int) -> None:
        now = time.monotonic()
        if now - self.last >= PROGRESS_EVERY_SECONDS:
            self.last = now
            of = f" of {self.total / MB:.1f}" if self.total is not None else ""
            logger.info(
                "%s: %.1f%s MB downloaded (%.1f MB/s)",
                self.label,
                received / MB,
                of,
                self._rate(received, now),
            )

    def done(self, received: int) -> None:
        now = time.monotonic()
        logger.info(
            "%s: downloaded %.1f MB in %.1fs (%.1f MB/s)",
            self.label,
            received / MB,
            now - self.began,
            self._rate(received, now),
        )

    def _rate(self, received: int, now: float) -> float:
        return (received - self.start) / MB / max(now - self.began, 1e-3)
