"""A real HTTP server on loopback for fake APIs: routes, a request log, and fault knobs.

The tap runs against these as it would against a vendor: over TCP, from another process
if need be (Meltano runs the tap as a subprocess, so in-process mocks cannot serve it).

Every request lands in `host.log` (a `Request`: host, method, path, query, lower-cased
headers, body, and the status the fake answered, None when it dropped the connection).
Fault knobs work on any host and are consumed by the next matching requests, before
routing or authentication: `fail_next(count, status, headers=, body=, path=, method=)` and
`drop_next(count, path=, method=)` (close the connection without an answer). Their
`fail_after_next` / `drop_after_next` variants let the host handle the request first (a
create makes its job) and then answer the failure instead of its response: the server
acted, the client cannot know it. They wait for a request the host carries out (an
answer below 400). `on_handled(request)`, when set, is called after each request
the host carried out (e.g. to have someone else make a job at that very moment). A handler
that raises answers 500 and is kept in `host.handler_errors`, so a bug in a fake never
looks like a network fault.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import socketserver
import sys
import threading
import time
import traceback
import typing as t
import zlib
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
    #: What the fake answered; None when it dropped the connection without an answer.
    status: int | None = None

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
    method: str | None
    response: Response | None  # None: drop the connection
    after_handling: bool = False  # the request is handled first, its answer replaced

    def matches(self, request: Request, *, after_handling: bool) -> bool:
        return (
            self.count > 0
            and self.after_handling == after_handling
            and (self.path is None or bool(self.path.search(request.path)))
            and (self.method is None or self.method.upper() == request.method)
        )


class FakeHost:
    """One fake host. Subclasses register routes with `self.route(method, regex, handler)`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.log: list[Request] = []
        self.lock = threading.RLock()
        self._routes: list[tuple[str, re.Pattern, Callable[..., Response]]] = []
        self._faults: list[_Fault] = []
        self._server: _Server | None = None
        self.handler_errors: list[BaseException] = []
        self.on_handled: Callable[[Request], None] | None = None

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
            # Idle keep-alive connections would otherwise keep their threads reading.
            self._server.close_connections()
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
        """Serve `method` requests whose whole path matches `pattern`; named groups become
        keyword arguments of `handler(request, **groups)`. GET routes also answer HEAD."""
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
        method: str | None = None,
    ) -> None:
        """Answer the next `count` matching requests with `status` instead.

        `path` is a regex searched in the path. `headers` default to `Retry-After: 1` for a
        429 (a knob: Elastic Path documents no Retry-After) and `body` to the host's own
        error body for `status` (`error_response`).
        """
        self._add_fault(_Fault(count, _compile(path), method, self._failure(status, headers, body)))

    def drop_next(
        self, count: int = 1, *, path: str | None = None, method: str | None = None
    ) -> None:
        """Close the connection without answering the next `count` matching requests."""
        self._add_fault(_Fault(count, _compile(path), method, None))

    def fail_after_next(
        self,
        count: int = 1,
        status: int = 500,
        *,
        headers: dict | None = None,
        body: bytes | None = None,
        path: str | None = None,
        method: str | None = None,
    ) -> None:
        """Handle the next `count` matching requests, then answer `status` instead of their
        response (as `fail_next`)."""
        failure = self._failure(status, headers, body)
        self._add_fault(_Fault(count, _compile(path), method, failure, after_handling=True))

    def drop_after_next(
        self, count: int = 1, *, path: str | None = None, method: str | None = None
    ) -> None:
        """Handle the next `count` matching requests, then close the connection without
        sending their response."""
        self._add_fault(_Fault(count, _compile(path), method, None, after_handling=True))

    def _failure(self, status: int, headers: dict | None, body: bytes | None) -> Response:
        if headers is None and status == 429:
            headers = {"Retry-After": "1"}
        response = self.error_response(status)
        if body is not None:
            response.body = body
        response.headers.update(headers or {})
        return response

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()

    def error_response(self, status: int) -> Response:
        """This host's error body for `status` (faults, unknown paths); subclasses speak
        their vendor's error format."""
        return json_response({"errors": [{"status": status, "title": "Injected failure"}]}, status)

    def _add_fault(self, fault: _Fault) -> None:
        if fault.count < 1:
            raise ValueError("count must be at least 1")
        with self.lock:
            self._faults.append(fault)

    def _take_fault(self, request: Request, *, after_handling: bool = False) -> _Fault | None:
        with self.lock:
            for fault in self._faults:
                if fault.matches(request, after_handling=after_handling):
                    fault.count -= 1
                    if fault.count == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def dispatch(self, request: Request) -> Response | None:
        with self.lock:
            self.log.append(request)
        fault = self._take_fault(request)
        if fault is not None:
            response = fault.response
        else:
            response = self._route(request)
            # Only a request the host carried out: a refused one changed nothing.
            carried_out = response.status < 400
            after = self._take_fault(request, after_handling=True) if carried_out else None
            if carried_out and self.on_handled is not None:
                self.on_handled(request)
            if after is not None:
                response = after.response
        request.status = response.status if response is not None else None
        return response

    def _route(self, request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        for route_method, pattern, handler in self._routes:
            match = pattern.fullmatch(request.path)
            if match and route_method == method:
                try:
                    return handler(request, **match.groupdict())
                except Exception as error:
                    self.handler_errors.append(error)
                    traceback.print_exc(file=sys.stderr)
                    return json_response(
                        {"errors": [{"status": 500, "title": f"fake crashed: {error!r}"}]}, 500
                    )
        return self.error_response(404)


def _compile(path: str | None) -> re.Pattern | None:
    return re.compile(path) if path else None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False  # stop() must not wait for clients that keep connections open

    def __init__(self, *args: t.Any) -> None:
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(*args)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the FQDN of the address: slow where reverse DNS is.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def process_request(self, request: t.Any, client_address: t.Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: t.Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        parts = []
        while size := int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16):
            parts.append(handler.rfile.read(size))
            handler.rfile.readline()
        while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass  # trailers
        return b"".join(parts)
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


def _handler_for(host: FakeHost) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: t.Any) -> None:
            """Quiet: tests read the request log instead."""

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            body = _read_body(self)
            request = Request(
                method=self.command,
                path=parts.path,
                query={k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()},
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
            if self.command == "HEAD":
                return
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

        do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

    return Handler


def varied(salt: str) -> int:
    """A number that is the same every time one test runs and differs between tests, to
    pick one of the shapes the api-notes leave open (outside pytest: 0)."""
    test = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" ", 1)[0]
    return zlib.crc32(f"{salt}:{test}".encode()) if test else 0


class FakeAPI(FakeHost):
    """A fake vendor API: a FakeHost with a clock tests can move and shapes that vary."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds

    @staticmethod
    def shape(knob: t.Any, salt: str, choices: tuple) -> t.Any:
        """`knob` when a test set it, else one of `choices`, varied per test."""
        return knob if knob is not None else choices[varied(salt) % len(choices)]
