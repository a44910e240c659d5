"""What the download host answered: ranges, sizes, declared formats and error texts, read
without ever repeating a presigned link's query values; and the session that never sends
credentials on its own."""

from __future__ import annotations

import contextlib
from http import HTTPStatus

import requests

from tap_exportjobs.redaction import scrub

#: Content types that say nothing about the rows inside (storage hosts' defaults): sniff.
GENERIC_CONTENT_TYPES = frozenset({"application/octet-stream", "binary/octet-stream", "text/plain"})


class CredentialFreeSession(requests.Session):
    """A session that can never attach credentials on its own (no netrc, no auth)."""

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        request.auth = None
        prepared = super().prepare_request(request)
        if "Authorization" in prepared.headers and not getattr(request, "allow_auth", False):
            del prepared.headers["Authorization"]
        return prepared

    def rebuild_auth(
        self, prepared_request: requests.PreparedRequest, response: requests.Response
    ) -> None:
        prepared_request.headers.pop("Authorization", None)


def range_start(response: requests.Response) -> int | None:
    value = response.headers.get("Content-Range", "")
    with contextlib.suppress(ValueError, IndexError):
        return int(value.split(" ", 1)[1].split("-", 1)[0])
    return None


def expected_total(response: requests.Response) -> int | None:
    """The complete file size, when the response says it."""
    if response.status_code == HTTPStatus.PARTIAL_CONTENT:
        with contextlib.suppress(ValueError, IndexError):
            total = response.headers.get("Content-Range", "").rsplit("/", 1)[1]
            return int(total) if total != "*" else None
        return None
    length = response.headers.get("Content-Length")
    return int(length) if length and length.isdigit() else None


def declared_format(content_type: str | None) -> str | None:
    media_type = (content_type or "").split(";")[0].strip().lower()
    return media_type if media_type and media_type not in GENERIC_CONTENT_TYPES else None


def body_snippet(response: requests.Response) -> str:
    """The start of an error body, without the link's query values (S3 echoes them)."""
    try:
        text = response.text[:300].strip() or response.reason
    except (requests.RequestException, UnicodeDecodeError):
        text = response.reason
    return scrub(text or "", response.url)


def safe_error(error: BaseException, url: str) -> str:
    """An exception's text without the query values of the link, or of the redirect it was
    following (its request's URL), nor any other query value."""
    request = getattr(error, "request", None)
    return scrub(str(error), url, getattr(request, "url", None))
