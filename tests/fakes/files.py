"""A storage host for presigned download links, on a different host than any API.

Behaves like S3/CloudFront with signed URLs: a request carrying an Authorization header is
refused (a presigned URL is the only credential), links expire at their signed time, the
body streams in chunks, and Range requests resume a download.

It listens on 127.0.0.2 (Linux routes all of 127.0.0.0/8 to loopback), or on "localhost"
where that address cannot be bound, so its host name always differs from an API's
127.0.0.1. Links look like
`http://127.0.0.2:PORT/bucket/<key>?Expires=<epoch>&Signature=<hmac>&Key-Pair-Id=FAKEKEYPAIR`.
Answers, in the order S3 checks them: an Authorization header -> 400 InvalidArgument; no
signature -> 403 AccessDenied; a wrong one -> 403 SignatureDoesNotMatch; past Expires ->
403 AccessDenied "Request has expired"; an unknown key -> 404 NoSuchKey; else 200, or 206
for `Range: bytes=N-`, `bytes=N-M`, `bytes=-N` (416 InvalidRange past the end). Errors,
injected faults included, are S3's XML. Bodies go out with a Content-Length or, as CDNs and
GCS may send them, with chunked transfer encoding and none (`chunked`; unset, downloads
alternate between the two). `clock` (epoch seconds) is the API fake's clock, so
moving that clock expires links too.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import hmac
import io
import json
import re
import socket
import threading
import time
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote, urlencode

from tests.fakes.server import FakeHost, Request, Response

if TYPE_CHECKING:
    from collections.abc import Iterator

CHUNK = 64 * 1024
_SECRET = b"fake-storage-signing-key"


def _xml_error(status: int, code: str, message: str) -> Response:
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
        f"<Message>{message}</Message></Error>"
    ).encode()
    return Response(status, body, {"Content-Type": "application/xml"})


def _bindable(host: str) -> bool:
    try:
        with socket.socket() as probe:
            probe.bind((host, 0))
        return True
    except OSError:
        return False


class FakeFileHost(FakeHost):
    """Serves published files behind presigned, expiring URLs."""

    def __init__(self, host: str = "127.0.0.2", port: int = 0) -> None:
        super().__init__(host if _bindable(host) else "localhost", port)
        self.files: dict[str, bytes | Path] = {}
        self.content_types: dict[str, str] = {}
        self.clock = time.time
        #: True/False: every body chunked/with Content-Length; None: alternate per download.
        self.chunked: bool | None = None
        self._downloads = 0
        self._drops_mid_file: list[list] = []  # [remaining, path regex or None]
        self._drop_lock = threading.Lock()
        self.route("GET", r"/bucket/(?P<key>.+)", self._get)

    def error_response(self, status: int) -> Response:
        code = {403: "AccessDenied", 404: "NoSuchKey", 500: "InternalError", 503: "SlowDown"}
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
        return _xml_error(status, code.get(status, phrase.replace(" ", "")), phrase)

    # Unless the uploader says otherwise, S3 labels an object binary/octet-stream.
    def publish(
        self, key: str, content: bytes, *, content_type: str = "binary/octet-stream"
    ) -> None:
        self.files[key] = content
        self.content_types[key] = content_type

    def publish_file(
        self, key: str, path: Path, *, content_type: str = "binary/octet-stream"
    ) -> None:
        self.files[key] = Path(path)
        self.content_types[key] = content_type

    def unpublish(self, key: str) -> None:
        self.files.pop(key, None)
        self.content_types.pop(key, None)

    def presign(self, key: str, ttl_seconds: float = 300, *, already_expired: bool = False) -> str:
        expires = int(self.clock() + (-60 if already_expired else ttl_seconds))
        query = urlencode(
            {
                "Expires": expires,
                "Signature": self._sign(key, expires),
                "Key-Pair-Id": "FAKEKEYPAIR",
            }
        )
        return f"{self.url}/bucket/{quote(key)}?{query}"

    def drop_mid_file_next(self, count: int = 1, *, path: str | None = None) -> None:
        """The next `count` downloads (of paths matching `path`, a regex) send their headers
        (the full Content-Length, unless chunked) and about half the body, then the
        connection drops."""
        with self._drop_lock:
            self._drops_mid_file.append([count, re.compile(path) if path else None])

    def _take_drop_mid_file(self, path: str) -> bool:
        with self._drop_lock:
            for drop in self._drops_mid_file:
                if drop[1] is None or drop[1].search(path):
                    drop[0] -= 1
                    if drop[0] == 0:
                        self._drops_mid_file.remove(drop)
                    return True
        return False

    @staticmethod
    def _sign(key: str, expires: int) -> str:
        return hmac.new(_SECRET, f"{key}:{expires}".encode(), hashlib.sha256).hexdigest()

    def _size(self, key: str) -> int:
        content = self.files[key]
        return content.stat().st_size if isinstance(content, Path) else len(content)

    def _chunks(self, key: str, start: int, end: int):
        """Bytes start..end (inclusive) of the file, in CHUNK pieces."""
        content = self.files[key]
        if isinstance(content, Path):
            with content.open("rb") as handle:
                handle.seek(start)
                left = end + 1 - start
                while left > 0 and (chunk := handle.read(min(CHUNK, left))):
                    left -= len(chunk)
                    yield chunk
        else:
            view = memoryview(content)
            for offset in range(start, end + 1, CHUNK):
                yield bytes(view[offset : min(offset + CHUNK, end + 1)])

    def _get(self, request: Request, key: str) -> Response:
        key = unquote(key)
        if "authorization" in request.headers:
            return _xml_error(
                400,
                "InvalidArgument",
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query "
                "parameter, Signature query string parameter or the Authorization "
                "header should be specified",
            )
        try:
            expires = int(request.query.get("Expires", ""))
        except ValueError:
            return _xml_error(
                403,
                "AccessDenied",
                "Query-string authentication requires the "
                "Signature, Expires and Key-Pair-Id parameters",
            )
        if not hmac.compare_digest(request.query.get("Signature", ""), self._sign(key, expires)):
            return _xml_error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided",
            )
        if self.clock() > expires:
            return _xml_error(403, "AccessDenied", "Request has expired")
        if key not in self.files:
            return _xml_error(404, "NoSuchKey", "The specified key does not exist.")

        size = self._size(key)
        start, end = 0, size - 1
        status = 200
        headers = {
            "Content-Type": self.content_types[key],
            "Accept-Ranges": "bytes",
            "ETag": f'"{hashlib.md5(key.encode()).hexdigest()}"',
        }
        # One range only; like S3, a header it cannot read is ignored (whole file, 200).
        wanted = re.fullmatch(r"bytes=(\d*)-(\d*)", request.headers.get("range", "").strip())
        if wanted and wanted.group(1):
            start = int(wanted.group(1))
            end = min(int(wanted.group(2)), size - 1) if wanted.group(2) else size - 1
        elif wanted and wanted.group(2):
            start = max(0, size - int(wanted.group(2)))
        if wanted and (wanted.group(1) or wanted.group(2)):
            if start >= size or start > end:
                response = _xml_error(416, "InvalidRange", "The requested range is not satisfiable")
                response.headers["Content-Range"] = f"bytes */{size}"
                return response
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        length = end + 1 - start
        headers["Content-Length"] = str(length)
        if request.method == "HEAD":
            return Response(status, b"", headers)
        body = self._chunks(key, start, end)
        with self._drop_lock:
            self._downloads += 1
            chunked = self.chunked if self.chunked is not None else self._downloads % 2 == 0
        if chunked:
            del headers["Content-Length"]
            headers["Transfer-Encoding"] = "chunked"
            body = _chunk_framed(body)
            length += 2 * length // CHUNK + 16  # the framing, roughly: still drops mid-file
        drop_after = max(1, length // 2) if self._take_drop_mid_file(request.path) else None
        return Response(status, body, headers, drop_after=drop_after)


def _chunk_framed(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """HTTP/1.1 chunked transfer encoding: each piece sized in hex, then a zero-size end."""
    for chunk in chunks:
        if chunk:
            yield b"%x\r\n%b\r\n" % (len(chunk), chunk)
    yield b"0\r\n\r\n"


def file_rows(content: bytes) -> list[dict]:
    """The rows of a file the fakes serve (CSV, or one JSON object a line; gzip or not), as a
    test expects them to land."""
    if content[:2] == b"\x1f\x8b":
        content = gzip.decompress(content)
    text = content.decode()
    if text.startswith("{"):
        return [json.loads(line) for line in text.splitlines() if line]
    return list(csv.DictReader(io.StringIO(text)))
