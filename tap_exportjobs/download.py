"""Safe streaming fetch of job files to a temporary file.

Download links are presigned URLs on hosts that are not the API's (S3, GCS, CloudFront):
they get no credentials, not even after a redirect; they expire, so an expired link is
replaced by asking the API again; and the file is spooled to disk so that a slow target
never holds the connection open and memory never grows with the file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import typing as t
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http import HTTPStatus
from http.client import HTTPException
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests
import urllib3

from tap_exportjobs import http
from tap_exportjobs.download_answers import (
    CredentialFreeSession,
    body_snippet,
    declared_format,
    expected_total,
    range_start,
    safe_error,
)
from tap_exportjobs.download_progress import DownloadProgress
from tap_exportjobs.links import describe_url
from tap_exportjobs.redaction import redact_url as redact_url
from tap_exportjobs.redaction import scrub_library_logs

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1024 * 1024
MAX_REDIRECTS = 5
#: A link this close to its expiry is refreshed before use rather than risked (small: some
#: APIs hand out links that live well under a minute).
EXPIRY_MARGIN = timedelta(seconds=5)
#: Reading the body straight from urllib3 (to keep gzip bytes as sent) surfaces its errors.
TRANSIENT_DOWNLOAD_ERRORS = (
    *http.TRANSIENT_ERRORS,
    urllib3.exceptions.ProtocolError,
    urllib3.exceptions.ReadTimeoutError,
)
#: Whatever else the HTTP stack raises for a link (a malformed one, say): the file fails.
FAILED_DOWNLOAD_ERRORS = (
    requests.RequestException,
    urllib3.exceptions.HTTPError,
    HTTPException,
    ValueError,
)
#: urllib3 logs each request's path and query at DEBUG.
HTTP_LIBRARY_LOGGERS = ("urllib3.connectionpool", "urllib3.connection", "urllib3.util.retry")


class DownloadError(Exception):
    """A file could not be fetched; the message names the job and host, never a signature."""


@dataclass(frozen=True)
class DownloadLink:
    """Where a job's file is, as the API handed it out just now."""

    url: str = field(repr=False)
    expires_at: datetime | None = None
    #: The file format the API declares (e.g. "csv", "text/csv"); None lets the reader sniff.
    file_format: str | None = None
    #: Headers for links served by the API itself (e.g. a `files/{id}` endpoint); sent only
    #: to `auth_host`, so a redirect to a storage host never carries them.
    auth_headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    auth_host: str | None = None
    #: For a JSON object file, the key whose array holds the rows, where the API names it.
    rows_key: str | None = None

    def expired(self, now: datetime | None = None) -> bool:
        if self.expires_at is None:
            return False
        return (now or datetime.now(timezone.utc)) >= self.expires_at - EXPIRY_MARGIN


@dataclass
class SpooledFile:
    path: Path
    size: int
    #: The link's declared format, else the host's Content-Type unless generic; None: sniff.
    file_format: str | None
    #: The link's `rows_key` (see DownloadLink).
    rows_key: str | None = None


class _LinkRefused(Exception):
    """The storage host refused the link (expired or revoked): ask the API for a new one."""


class Downloader:
    """Fetches job files by their links into temporary files, with one retry policy."""

    def __init__(
        self,
        *,
        allow_http: bool = False,
        max_bytes: int | None = None,
        expired_statuses: tuple[int, ...] = (HTTPStatus.FORBIDDEN, HTTPStatus.GONE),
        max_link_refreshes: int = 3,
        max_tries: int = http.MAX_TRIES,
        spool_dir: str | None = None,
    ) -> None:
        self.allow_http = allow_http
        self.max_bytes = max_bytes
        self.expired_statuses = expired_statuses
        self.max_link_refreshes = max_link_refreshes
        self.max_tries = max_tries
        self.spool_dir = spool_dir
        self.session = CredentialFreeSession()
        scrub_library_logs(*HTTP_LIBRARY_LOGGERS)

    @contextlib.contextmanager
    def spool(self, get_link: Callable[[], DownloadLink], *, label: str) -> Iterator[SpooledFile]:
        """Download the file behind `get_link()` to a temporary file, deleted on exit.

        `get_link` is called again whenever the link has expired or is refused, at most
        `max_link_refreshes` times. `label` names the job in errors (e.g. "job 123").
        """
        fd, name = tempfile.mkstemp(prefix="tap-exportjobs-", suffix=".part", dir=self.spool_dir)
        path = Path(name)
        try:
            with os.fdopen(fd, "r+b") as out:
                link, content_type = self._fetch(get_link, out, label=label)
                size = out.tell()
            yield SpooledFile(
                path=path,
                size=size,
                file_format=link.file_format or declared_format(content_type),
                rows_key=link.rows_key,
            )
        finally:
            path.unlink(missing_ok=True)

    def _fetch(
        self, get_link: Callable[[], DownloadLink], out: t.BinaryIO, *, label: str
    ) -> tuple[DownloadLink, str | None]:
        """The link that served the file, and the Content-Type it was served with."""
        link = get_link()
        refreshes = 0
        failures = 0
        while True:
            if link.expired():
                if refreshes >= self.max_link_refreshes:
                    raise DownloadError(
                        f"{label}: the API keeps handing out download links that have already "
                        f"expired ({describe_url(link.url)}); gave up after {refreshes} refreshes"
                    )
                refreshes += 1
                logger.info("%s: download link expired, asking the API for a new one", label)
                link = get_link()
                continue
            try:
                return link, self._fetch_once(link, out, label=label)
            except _LinkRefused as refused:
                if refreshes >= self.max_link_refreshes:
                    raise DownloadError(
                        f"{label}: the storage host refused the download link {refreshes + 1} "
                        f"times ({refused}); gave up"
                    ) from None
                refreshes += 1
                logger.warning("%s: %s; asking the API for a new link", label, refused)
                link = get_link()
            except TRANSIENT_DOWNLOAD_ERRORS as error:
                failures += 1
                if failures >= self.max_tries:
                    raise DownloadError(
                        f"{label}: download from {describe_url(link.url)} failed {failures} "
                        f"times; last error: {safe_error(error, link.url)}"
                    ) from None
                wait = http.wait_seconds(failures, error)
                logger.warning(
                    "%s: download interrupted after %d bytes (%s); retrying in %.1fs",
                    label,
                    out.tell(),
                    safe_error(error, link.url),
                    wait,
                )
                http.sleep(wait)
            except FAILED_DOWNLOAD_ERRORS as error:
                raise DownloadError(
                    f"{label}: download from {describe_url(link.url)} failed: "
                    f"{safe_error(error, link.url)}"
                ) from None

    def _fetch_once(self, link: DownloadLink, out: t.BinaryIO, *, label: str) -> str | None:
        offset = out.tell()
        response = self._get(link, offset=offset, label=label)
        with response:
            status = response.status_code
            if status in self.expired_statuses:
                raise _LinkRefused(
                    f"HTTP {status} from {describe_url(response.url)}: {body_snippet(response)}"
                )
            if http.is_retriable_status(status):
                raise http.RetriableAPIError(
                    f"HTTP {status} from {describe_url(response.url)}", response
                )
            if status >= HTTPStatus.MULTIPLE_CHOICES:
                raise DownloadError(
                    f"{label}: HTTP {status} from {describe_url(response.url)}: "
                    f"{body_snippet(response)}"
                )
            if status == HTTPStatus.PARTIAL_CONTENT and range_start(response) == offset:
                logger.info("%s: resuming download at byte %d", label, offset)
            else:
                out.seek(0)
                out.truncate()
            expected = expected_total(response)
            encoding = response.headers.get("Content-Encoding", "identity").lower()
            # Keep gzip bytes as they are (the reader sniffs gzip), so byte offsets stay
            # valid for Range resumes; decode anything more exotic here.
            raw = encoding in ("identity", "gzip", "")
            chunks = (
                response.raw.stream(CHUNK_BYTES, decode_content=False)
                if raw
                else response.iter_content(CHUNK_BYTES)
            )
            progress = DownloadProgress(label, describe_url(response.url), out.tell(), expected)
            for chunk in chunks:
                out.write(chunk)
                progress.advance(out.tell())
                if self.max_bytes is not None and out.tell() > self.max_bytes:
                    raise DownloadError(
                        f"{label}: the file is larger than max_file_bytes ({self.max_bytes} "
                        "bytes); raise the setting to accept it"
                    )
            if raw and expected is not None and out.tell() < expected:
                raise requests.exceptions.ChunkedEncodingError(
                    f"connection closed after {out.tell()} of {expected} bytes"
                )
            out.flush()
            progress.done(out.tell())
            return response.headers.get("Content-Type")

    def fetch_prefix(
        self, link: DownloadLink, limit: int, *, label: str
    ) -> tuple[bytes, bool, str | None]:
        """The file's first `limit` bytes at most (a Range request; from a host that ignores
        it no more is read), whether that is the whole file, and its declared format."""
        try:
            response = self._get(link, offset=0, label=label, end=limit - 1)
            with response:
                if response.status_code not in (HTTPStatus.OK, HTTPStatus.PARTIAL_CONTENT):
                    raise DownloadError(
                        f"{label}: HTTP {response.status_code} from "
                        f"{describe_url(response.url or link.url)}: {body_snippet(response)}"
                    )
                data = response.raw.read(limit, decode_content=False) or b""
                total = expected_total(response)
                whole = len(data) < limit or (total is not None and len(data) >= total)
                declared = link.file_format or declared_format(response.headers.get("Content-Type"))
                return data, whole, declared
        except FAILED_DOWNLOAD_ERRORS as error:
            raise DownloadError(f"{label}: {safe_error(error, link.url)}") from None

    def _get(
        self, link: DownloadLink, *, offset: int, label: str, end: int | None = None
    ) -> requests.Response:
        url = link.url
        for _ in range(MAX_REDIRECTS + 1):
            self._check_scheme(url, label=label)
            headers = {"Accept-Encoding": "identity"}
            if offset or end is not None:
                headers["Range"] = f"bytes={offset}-{'' if end is None else end}"
            if link.auth_headers and link.auth_host and urlsplit(url).netloc == link.auth_host:
                headers.update(link.auth_headers)
            request = requests.Request("GET", url, headers=headers)
            request.allow_auth = bool(link.auth_headers) and urlsplit(url).netloc == link.auth_host  # type: ignore[attr-defined]
            prepared = self.session.prepare_request(request)
            response = self.session.send(
                prepared, stream=True, allow_redirects=False, timeout=http.REQUEST_TIMEOUT_SECONDS
            )
            if response.is_redirect and "Location" in response.headers:
                url = urljoin(url, response.headers["Location"])
                response.close()
                continue
            return response
        raise DownloadError(
            f"{label}: more than {MAX_REDIRECTS} redirects from {describe_url(link.url)}"
        )

    def _check_scheme(self, url: str, *, label: str) -> None:
        scheme = urlsplit(url).scheme.lower()
        if scheme == "https" or (scheme == "http" and self.allow_http):
            return
        raise DownloadError(
            f"{label}: refusing to download from a {scheme or 'relative'} link "
            f"({describe_url(url)}); only https is followed unless allow_http_downloads is true"
        )
