"""What the tap reads from a download link without fetching it: when it expires, and a
form of it fit for messages (host and path: a presigned link's query is its credential)."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit


def describe_url(url: str) -> str:
    """Host and path only, for messages and logs."""
    parts = urlsplit(url)
    return f"{parts.hostname or ''}{parts.path}"


def expiry_from_url(url: str) -> datetime | None:
    """When a presigned link stops working, read from its own query string.

    CloudFront and S3 v2 carry `Expires=<epoch>`; S3 v4 carries `X-Amz-Date` plus
    `X-Amz-Expires` seconds; GCS v4 carries `X-Goog-Date` plus `X-Goog-Expires`.
    """
    query = {k.lower(): v[0] for k, v in parse_qs(urlsplit(url).query).items() if v}
    with contextlib.suppress(ValueError, OverflowError):
        if "expires" in query:
            return datetime.fromtimestamp(int(query["expires"]), timezone.utc)
        for prefix in ("x-amz", "x-goog"):
            if f"{prefix}-date" in query and f"{prefix}-expires" in query:
                signed = datetime.strptime(query[f"{prefix}-date"], "%Y%m%dT%H%M%SZ")
                return signed.replace(tzinfo=timezone.utc) + timedelta(
                    seconds=int(query[f"{prefix}-expires"])
                )
    return None
