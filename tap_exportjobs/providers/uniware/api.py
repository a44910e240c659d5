"""What the Uniware streams share: the API's answer envelope and its failure texts, the
file downloader that refuses the tenant's login page, and the request date format."""

from __future__ import annotations

import contextlib
import typing as t

from tap_exportjobs.download import Downloader, DownloadError, DownloadLink

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    import requests

    from tap_exportjobs.download import SpooledFile


class RefusesHtmlPages(Downloader):
    """A tenant answers an unauthenticated file request with its login page and HTTP 200:
    that is an error naming the job, never rows."""

    @contextlib.contextmanager
    def spool(self, get_link: t.Callable[[], DownloadLink], *, label: str) -> Iterator[SpooledFile]:
        with super().spool(get_link, label=label) as spooled:
            with spooled.path.open("rb") as head:
                start = head.read(256).lstrip(b"\xef\xbb\xbf \t\r\n").lower()
            if start.startswith((b"<html", b"<!doctype")):
                raise DownloadError(
                    f"{label}: the file link answered an HTML page (Uniware's login page?) "
                    "instead of the CSV"
                )
            yield spooled


def instant(moment: t.Any) -> str:
    """ISO with milliseconds and Z, as the create docs show it."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def failed(status: str | None) -> bool:
    key = (status or "").lower()
    return "fail" in key or "error" in key or "cancel" in key


def json_body(response: requests.Response) -> t.Any:
    try:
        return response.json() if response.content else None
    except ValueError:
        return None


def message_of(body: dict) -> str:
    """The API's words: `errors[].description` is the text, `message` the code."""
    parts = []
    for error in body.get("errors") or []:
        if isinstance(error, dict):
            text = error.get("description") or error.get("message")
            code = error.get("message") if error.get("description") else None
            field = error.get("fieldName")
            parts.append(
                " ".join(
                    p
                    for p in (f"{field}:" if field else "", str(text), f"({code})" if code else "")
                    if p
                )
            )
    return "; ".join(parts) or str(body.get("message") or "no reason given")


def failure_reason(raw: dict) -> str:
    """Why a job failed: the API's words where it gives any."""
    if raw.get("errors") or raw.get("message"):
        return message_of(raw)
    return f"Uniware reports the job {raw.get('status')}"


def message(response: requests.Response) -> str:
    body = json_body(response)
    if isinstance(body, dict):
        return message_of(body)
    return (response.text or "")[:200].strip() or response.reason
