"""One HTTP policy for every provider: retries, Retry-After, error messages.

Every API stream and the downloader share these rules so that a 429 from one vendor is
handled exactly like a 429 from another (see DESIGN.md, "HTTP rules").
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
import typing as t
from datetime import datetime, timezone
from http import HTTPStatus
from urllib.parse import urlsplit

import backoff
import requests
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError

if t.TYPE_CHECKING:
    from collections.abc import Generator

logger = logging.getLogger(__name__)

#: Errors worth another try: the connection or the server failed, not the request.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    ConnectionResetError,
    RetriableAPIError,
    requests.exceptions.Timeout,
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)

MAX_TRIES = 8
BASE_WAIT_SECONDS = 0.5
MAX_WAIT_SECONDS = 60.0
#: A Retry-After longer than this is a sign of a daily quota, not a blip: wait at most this.
MAX_RETRY_AFTER_SECONDS = 300.0
REQUEST_TIMEOUT_SECONDS = 120


def is_retriable_status(status_code: int) -> bool:
    return status_code == HTTPStatus.TOO_MANY_REQUESTS or status_code >= 500


def request_not_acted_on(error: BaseException) -> bool:
    """Whether a failed request certainly changed nothing on the server.

    True for an answer that refuses the request (429, a 401 before a token refresh, any
    other 4xx) and for a connection that was never made (refused, unresolvable, timed out
    while connecting). A 5xx, a read timeout or a connection dropped after sending leave it
    open whether the server acted.
    """
    response = getattr(error, "response", None)
    if response is not None:
        return response.status_code < HTTPStatus.INTERNAL_SERVER_ERROR
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(error, requests.exceptions.ConnectionError) and error.args:
        cause = error.args[0]
        # requests raises a refused connection as ConnectionError(MaxRetryError(reason=
        # NewConnectionError)); NewConnectionError is a ConnectTimeoutError.
        return isinstance(cause, MaxRetryError) and isinstance(cause.reason, ConnectTimeoutError)
    return False


def too_many_requests(error: BaseException) -> bool:
    """Whether a request failed with 429 Too Many Requests."""
    response = getattr(error, "response", None)
    return response is not None and response.status_code == HTTPStatus.TOO_MANY_REQUESTS


def retry_after_seconds(response: requests.Response | None) -> float | None:
    """Seconds the server asked us to wait (delta-seconds or HTTP-date), if it did."""
    if response is None:
        return None
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - datetime.now(timezone.utc)).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def wait_seconds(attempt: int, exception: BaseException | None) -> float:
    """How long to wait before retry number `attempt` (1-based).

    The server's Retry-After wins; otherwise exponential backoff with jitter, so that many
    taps hitting one API after an outage do not retry in lockstep.
    """
    response = getattr(exception, "response", None)
    asked = retry_after_seconds(response)
    if asked is not None:
        return asked
    ceiling = min(MAX_WAIT_SECONDS, BASE_WAIT_SECONDS * 2 ** (attempt - 1))
    return random.uniform(ceiling / 2, ceiling)


def retry_wait_generator() -> Generator[float, BaseException | None, None]:
    """A `backoff` wait generator that reads each failure (sent in by backoff)."""
    exception = yield  # type: ignore[misc]  # backoff primes the generator with None
    attempt = 0
    while True:
        attempt += 1
        exception = yield wait_seconds(attempt, exception)


def api_error_message(response: requests.Response) -> str:
    """The API's own explanation of a failed request, without echoing URLs' query strings."""
    text = ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            parts = [
                " - ".join(str(e[k]) for k in ("title", "detail") if e.get(k))
                for e in errors
                if isinstance(e, dict)
            ]
            text = "; ".join(p for p in parts if p)
        else:
            for key in ("message", "error_description", "error", "detail", "title"):
                if isinstance(body.get(key), str) and body[key]:
                    text = body[key]
                    break
            text += _described(body, text)
    if not text:
        text = response.text[:500].strip()
    path = urlsplit(response.url).path if response.url else ""
    method = response.request.method if response.request else "GET"
    return f"HTTP {response.status_code} from {method} {path}: {text or response.reason}"


def _described(body: dict, text: str) -> str:
    """A `{message, description, fields: [{name, description}]}` body's detail: which input
    was refused, and why."""
    extra = ""
    description = body.get("description")
    if isinstance(description, str) and description and description != text:
        extra += f": {description}"
    fields = [
        f"{f.get('name')}: {f.get('description')}"
        for f in body.get("fields") or []
        if isinstance(f, dict) and f.get("name")
    ]
    return extra + (f" ({'; '.join(fields)})" if fields else "")


class RetryPolicyMixin:
    """Mixed into every RESTStream: the SDK's retry hooks, set to our one policy."""

    #: Statuses that mean "your token is no longer good": refresh it once and retry once.
    auth_failure_statuses: t.ClassVar[tuple[int, ...]] = (HTTPStatus.UNAUTHORIZED,)

    _auth_retry_spent = False

    def backoff_wait_generator(self) -> Generator[float, BaseException | None, None]:
        return retry_wait_generator()

    def backoff_max_tries(self) -> int:
        return MAX_TRIES

    def backoff_jitter(self, value: float) -> float:
        return value  # wait_seconds() already jitters; Retry-After is honoured as given

    @property
    def timeout(self) -> int:
        return REQUEST_TIMEOUT_SECONDS

    def validate_response(self, response: requests.Response) -> None:
        status = response.status_code
        if status in self.auth_failure_statuses:
            if not self._auth_retry_spent:
                self._auth_retry_spent = True
                invalidate = getattr(self.authenticator, "invalidate", None)
                if invalidate:
                    invalidate()
                raise RetriableAPIError(api_error_message(response), response)
            raise FatalAPIError(
                f"{api_error_message(response)} (the token was refreshed once and was still "
                "refused: check the credentials and their permissions)"
            )
        if is_retriable_status(status):
            raise RetriableAPIError(api_error_message(response), response)
        if status >= HTTPStatus.BAD_REQUEST:
            raise FatalAPIError(api_error_message(response))
        self._auth_retry_spent = False

    def response_error_message(self, response: requests.Response) -> str:
        return api_error_message(response)

    def send_create(
        self, prepared: requests.PreparedRequest, *, retry_rate_limits: bool = True
    ) -> requests.Response:
        """Send a request that makes a job, retrying only failures the server surely did not
        act on: a blind retry after a 5xx or a dropped connection could make a second job.
        Any other failure is raised for the caller to look for the job it may have made.
        Without `retry_rate_limits` a 429 is raised at once: for a caller that keeps several
        jobs in flight it means "no more jobs now", not "send it again".
        """

        def give_up(error: BaseException) -> bool:
            if not retry_rate_limits and too_many_requests(error):
                return True
            return not request_not_acted_on(error)

        @backoff.on_exception(
            self.backoff_wait_generator,
            TRANSIENT_ERRORS,
            max_tries=MAX_TRIES,
            giveup=give_up,
            jitter=None,
            logger=logger,
        )
        def send() -> requests.Response:
            session: requests.Session = self.requests_session  # type: ignore[attr-defined]
            response = session.send(
                self.authenticator(prepared),  # type: ignore[attr-defined]
                timeout=self.timeout,
            )
            self.validate_response(response)
            return response

        return send()


def sleep(seconds: float) -> None:
    """Indirection so tests can observe waits without spending them."""
    time.sleep(seconds)
