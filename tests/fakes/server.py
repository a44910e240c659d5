"""A real HTTP server on loopback for fake APIs: routes, a request log, and fault knobs.

The tap runs against these as it would against a vendor: over TCP, from another process
if need be (Meltano runs the tap as a subprocess, so in-process mocks cannot serve it).
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
import typing as t
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    host: str
    at: float = field(default_factory=time.time)

    def json(self) -> t.Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}


@dataclass
class Response:
    status: int = 200
    body: bytes | Iterable[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)
    #: Close the connection after this many body bytes (a dropped download).
    drop_after: int | None = None


def json_response(value: t.Any, status: int = 200, headers: dict | None = None) -> Response:
    return Response(
        status, json.dumps(value).encode(), {"Content-Type": "application/json", **(headers or {})}
    )


@dataclass
class _Fault:
    count: int
    path: re.Pattern | None
    response: Response | None  # None: drop the connection


class FakeHost:
    """One fake host. Subclasses register routes with `self.route(method, regex, handler)`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.log: list[Request] = []
        self.lock = threading.RLock()
        self._routes: list[tuple[str, re.Pattern, Callable[..., Response]]] = []
        self._faults: list[_Fault] = []
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> FakeHost:
        self._server = _Server((self.host, self.port), _handler_for(self))
        self.port = self._server.server_address[1]
        threading.Thread(
            target=self._server.serve_forever, daemon=True, name=f"fake-{self.host}:{self.port}"
        ).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> t.Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def netloc(self) -> str:
        return f"{self.host}:{self.port}"

    # -- routes, log, knobs ---------------------------------------------------------

    def route(self, method: str, pattern: str, handler: Callable[..., Response]) -> None:
        self._routes.append((method, re.compile(pattern), handler))

    def requests_to(self, pattern: str, method: str | None = None) -> list[Request]:
        regex = re.compile(pattern)
        with self.lock:
            return [
                r
                for r in self.log
                if regex.search(r.path) and (method is None or r.method == method)
            ]

    def clear_log(self) -> None:
        with self.lock:
            self.log.clear()

    def fail_next(
        self,
        count: int = 1,
        status: int = 429,
        *,
        headers: dict | None = None,
        body: bytes | None = None,
        path: str | None = None,
    ) -> None:
        """Answer the next `count` matching requests with `status` instead."""
        if headers is None and status == 429:
            headers = {"Retry-After": "1"}
        response = Response(
            status,
            body
            if body is not None
            else json.dumps({"errors": [{"status": status, "title": "Injected failure"}]}).encode(),
            {"Content-Type": "application/json", **(headers or {})},
        )
        with self.lock:
            self._faults.append(_Fault(count, re.compile(path) if path else None, response))

    def drop_next(self, count: int = 1, *, path: str | None = None) -> None:
        """Close the connection without answering the next `count` matching requests."""
        with self.lock:
            self._faults.append(_Fault(count, re.compile(path) if path else None, None))

    def _take_fault(self, path: str) -> _Fault | None:
        with self.lock:
            for fault in self._faults:
                if fault.count > 0 and (fault.path is None or fault.path.search(path)):
                    fault.count -= 1
                    return fault
        return None

    def dispatch(self, request: Request) -> Response | None:
        with self.lock:
            self.log.append(request)
        fault = self._take_fault(request.path)
        if fault is not None:
            return fault.response
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(request.path)
            if match and method == request.method:
                return handler(request, **match.groupdict())
        return json_response({"errors": [{"status": 404, "title": "Not Found"}]}, 404)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def _handler_for(host: FakeHost) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: t.Any) -> None:
            """Quiet: tests read the request log instead."""

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = Request(
                method=self.command,
                path=parts.path,
                query={k: v[0] for k, v in parse_qs(parts.query).items()},
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                host=host.netloc,
            )
            response = host.dispatch(request)
            if response is None:
                self._drop()
                return
            self._send(response)

        def _send(self, response: Response) -> None:
            body = response.body
            chunks = [body] if isinstance(body, bytes) else body
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            if isinstance(body, bytes) and "Content-Length" not in response.headers:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            sent = 0
            try:
                for chunk in chunks:
                    if response.drop_after is not None and sent + len(chunk) > response.drop_after:
                        self.wfile.write(chunk[: response.drop_after - sent])
                        self.wfile.flush()
                        self._drop()
                        return
                    self.wfile.write(chunk)
                    sent += len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def _drop(self) -> None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

    return Handler
