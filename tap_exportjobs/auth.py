"""Client-credentials tokens for every provider: refreshed ahead of expiry, retried like
any request, and sent only to the API they are for.

A job's answer may point at another host (a file on a CDN, or a link someone planted): the
token goes only to the API's own scheme, host and port and to the token endpoint's, however
a request is made, so no provider can hand it elsewhere (see DESIGN.md, "HTTP rules").
"""

from __future__ import annotations

import logging
import typing as t
from datetime import datetime, timedelta, timezone
from http import HTTPStatus
from urllib.parse import urlsplit

import backoff
from singer_sdk.authenticators import OAuthAuthenticator
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from tap_exportjobs.http import (
    MAX_TRIES,
    TRANSIENT_ERRORS,
    api_error_message,
    is_retriable_status,
    retry_wait_generator,
)

if t.TYPE_CHECKING:
    import requests

logger = logging.getLogger(__name__)

DEFAULT_PORTS = {"http": 80, "https": 443}

#: (scheme, host, port): where a request goes.
Origin = tuple[str, str, int]


def url_origin(url: str | None) -> Origin | None:
    """Where the HTTP stack will connect for `url` (parsed as urllib3 parses it, so that a
    check and the connection cannot disagree); None for a relative or unparsable URL."""
    try:
        parts = parse_url(url or "")
    except LocationParseError:
        return None
    if not parts.scheme or not parts.host:
        return None
    scheme = parts.scheme.lower()
    return scheme, parts.host.lower(), parts.port or DEFAULT_PORTS.get(scheme, 0)


def describe_origin(origin: Origin | None) -> str:
    return f"{origin[0]}://{origin[1]}:{origin[2]}" if origin else "a URL without a host"


class CredentialsRefusedError(FatalAPIError):
    """A request that would have carried the API's token to a place that is not the API."""


class ClientCredentialsAuthenticator(OAuthAuthenticator):
    """OAuth client-credentials with refresh ahead of expiry and retried token calls.

    The SDK's authenticator refreshes only once a token has expired and does not retry a
    token endpoint that answers 429/5xx; a long export run needs both.
    """

    #: Refresh this long before the token's stated expiry (at most a tenth of its life),
    #: so no request races the clock.
    refresh_margin_seconds = 120

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        client_secret: str,
        api_url: str | None = None,
        default_expiration: int | None = None,
    ) -> None:
        super().__init__(
            auth_endpoint=token_url,
            client_id=client_id,
            client_secret=client_secret,
            default_expiration=default_expiration,
        )
        self.expires_at: datetime | None = None
        #: The only places the token goes: the API's own scheme, host and port, and the token
        #: endpoint's. A link an answer points at is never trusted with it.
        self.origins = {url_origin(token_url), url_origin(api_url or token_url)} - {None}

    def authenticate_request(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Add the token, or refuse (before any token is fetched) a request to anywhere else."""
        where = url_origin(request.url)
        if where not in self.origins:
            raise CredentialsRefusedError(
                f"Refusing to send the API token to {describe_origin(where)}: it goes only to "
                + ", ".join(sorted(describe_origin(o) for o in self.origins))
            )
        return super().authenticate_request(request)

    @property
    def oauth_request_body(self) -> dict:
        return {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
        }

    def is_token_valid(self) -> bool:
        if not self.access_token or self.expires_at is None:
            return bool(self.access_token) and self.last_refreshed is not None
        remaining = (self.expires_at - datetime.now(timezone.utc)).total_seconds()
        margin = min(self.refresh_margin_seconds, (self.expires_in or 0) / 10)
        return remaining > margin

    def invalidate(self) -> None:
        """Forget the token so the next request fetches a new one."""
        self.access_token = None
        self.last_refreshed = None
        self.expires_at = None

    def token_request_kwargs(self) -> dict[str, t.Any]:
        """How the token request is sent: form fields by default (override for Basic auth)."""
        return {"data": self.oauth_request_payload, "headers": self._oauth_headers}

    def update_access_token(self) -> None:
        """Fetch a token, retrying the token endpoint's transient failures. A token that
        cannot be had once retries are spent is final (FatalAPIError): a create request waiting
        for it never went out, and must not be taken for one that may have reached the API."""
        try:
            for attempt in backoff.retry_context(
                TRANSIENT_ERRORS,
                retry_wait_generator,
                max_tries=MAX_TRIES,
                jitter=None,
                logger=logger,
            ):
                with attempt:
                    self._request_token()
        except TRANSIENT_ERRORS as error:
            raise FatalAPIError(
                f"Could not get an access token from {urlsplit(self.auth_endpoint).netloc}: {error}"
            ) from None

    def _request_token(self) -> None:
        requested_at = datetime.now(timezone.utc)
        response = self._session.post(self.auth_endpoint, timeout=60, **self.token_request_kwargs())
        if is_retriable_status(response.status_code):
            raise RetriableAPIError(api_error_message(response), response)
        if response.status_code >= HTTPStatus.BAD_REQUEST:
            raise FatalAPIError(
                f"Could not get an access token: {api_error_message(response)}. "
                "Check client_id and client_secret."
            )
        body = self._token_fields(response)
        self.access_token = body["access_token"]
        expires_in = body.get("expires_in", self._default_expiration)
        self.expires_in = int(expires_in) if expires_in else None
        self.last_refreshed = requested_at
        self.expires_at = (
            requested_at + timedelta(seconds=self.expires_in) if self.expires_in else None
        )
        logger.info("Obtained an access token from %s", urlsplit(self.auth_endpoint).netloc)

    def _token_fields(self, response: requests.Response) -> dict:
        """The token answer's fields: at the top, as OAuth and most docs show them, or under
        `data`, as some vendors' own API specs show them."""
        try:
            body = response.json()
        except ValueError:
            body = None
        for fields in (body, body.get("data") if isinstance(body, dict) else None):
            if isinstance(fields, dict) and isinstance(fields.get("access_token"), str):
                return fields
        shape = f"fields {sorted(body)}" if isinstance(body, dict) else "no JSON object"
        raise FatalAPIError(
            f"Could not get an access token: {urlsplit(self.auth_endpoint).netloc} answered "
            f"HTTP {response.status_code} without an access_token ({shape}); check the token "
            "URL (api_url)"
        )
