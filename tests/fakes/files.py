"""A storage host for presigned download links, on a different host than any API.

Behaves like S3/CloudFront with signed URLs: a request carrying an Authorization header is
refused (a presigned URL is the only credential), links expire at their signed time, the
body streams in chunks, and Range requests resume a download.
"""

from __future__ import annotations

import hashlib
import hmac
import socket
import threading
import time
from pathlib import Path
from urllib.parse import quote, urlencode

from tests.fakes.server import FakeHost, Request, Response

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
        self._drops_mid_file = 0
        self._drop_lock = threading.Lock()
        self.route("GET", r"/bucket/(?P<key>.+)", self._get)

    def publish(self, key: str, content: bytes, *, content_type: str = "text/csv") -> None:
        self.files[key] = content
        self.content_types[key] = content_type

    def publish_file(self, key: str, path: Path, *, content_type: str = "text/csv") -> None:
        self.files[key] = Path(path)
        self.content_types[key] = content_type

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

    def drop_mid_file_next(self, count: int = 1) -> None:
        """The next `count` downloads send about half the body, then the connection drops."""
        with self._drop_lock:
            self._drops_mid_file += count

    @staticmethod
    def _sign(key: str, expires: int) -> str:
        return hmac.new(_SECRET, f"{key}:{expires}".encode(), hashlib.sha256).hexdigest()

    def _size(self, key: str) -> int:
        content = self.files[key]
        return content.stat().st_size if isinstance(content, Path) else len(content)

    def _chunks(self, key: str, start: int):
        content = self.files[key]
        if isinstance(content, Path):
            with content.open("rb") as handle:
                handle.seek(start)
                while chunk := handle.read(CHUNK):
                    yield chunk
        else:
            for offset in range(start, len(content), CHUNK):
                yield content[offset : offset + CHUNK]

    def _get(self, request: Request, key: str) -> Response:
        from urllib.parse import unquote

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
        start = 0
        status = 200
        headers = {
            "Content-Type": self.content_types[key],
            "Accept-Ranges": "bytes",
            "ETag": f'"{hashlib.md5(key.encode()).hexdigest()}"',
        }
        range_header = request.headers.get("range", "")
        if range_header.startswith("bytes=") and range_header.endswith("-"):
            start = int(range_header[6:-1])
            if start >= size:
                return _xml_error(416, "InvalidRange", "The requested range is not satisfiable")
            status = 206
            headers["Content-Range"] = f"bytes {start}-{size - 1}/{size}"
        headers["Content-Length"] = str(size - start)
        drop_after = None
        with self._drop_lock:
            if self._drops_mid_file > 0:
                self._drops_mid_file -= 1
                drop_after = max(1, (size - start) // 2)
        return Response(status, self._chunks(key, start), headers, drop_after=drop_after)
