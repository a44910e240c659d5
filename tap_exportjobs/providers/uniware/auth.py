"""Uniware's OAuth password grant: GET /oauth/token with everything in the query string.

The password travels in the token request's URL, so no text made from that request (an
error, a log line, a retry warning) may carry the URL: errors are rebuilt from the status
and the API's own words, and the HTTP stack's exceptions are scrubbed of every query value.
"""

from __future__ import annotations

import logging
import typing as t
from datetime import datetime, timedelta, timezone
from http import HTTPStatus
from urllib.parse import urlsplit

import requests
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

from tap_exportjobs.auth import ClientCredentialsAuthenticator
from tap_exportjobs.http import is_retriable_status
from tap_exportjobs.redaction import scrub, scrub_library_logs

logger = logging.getLogger(__name__)


class UniwareAuthenticator(ClientCredentialsAuthenticator):
    """Password grant, then the refresh token (valid 30 days); the password grant again
    when a refresh is refused. A 401 from the API invalidates the access token only, so
    the next request refreshes (see `RetryPolicyMixin.validate_response`)."""

    def __init__(
        self, *, token_url: str, client_id: str, username: str, password: str, api_url: str
    ) -> None:
        super().__init__(
            token_url=token_url, client_id=client_id, client_secret="", api_url=api_url
        )
        self.username = username
        self._password = password
        self.refresh_token: str | None = None
        # urllib3 logs each request's path and query at DEBUG.
        scrub_library_logs("urllib3.connectionpool", "urllib3.connection")

    def __repr__(self) -> str:
        return f"UniwareAuthenticator({urlsplit(self.auth_endpoint).netloc})"

    def _request_token(self) -> None:
        if self.refresh_token:
            try:
                self._grant({"grant_type": "refresh_token", "refresh_token": self.refresh_token})
                return
            except FatalAPIError as refused:
                logger.info("The refresh token was refused (%s); logging in again", refused)
                self.refresh_token = None
        self._grant(
            {"grant_type": "password", "username": self.username, "password": self._password}
        )

    def _grant(self, params: dict[str, str]) -> None:
        requested_at = datetime.now(timezone.utc)
        secrets = [v for k, v in params.items() if k != "grant_type"]
        try:
            response = self._session.get(
                self.auth_endpoint,
                params={**params, "client_id": self.client_id},
                headers={"Content-Type": "application/json"},
                timeout=60,
            )
        except requests.RequestException as error:
            # requests quotes the URL, query and all, in its messages.
            raise type(error)(_hide(scrub(str(error)), secrets)) from None
        what = "refresh the access token" if "refresh_token" in params else "log in"
        if is_retriable_status(response.status_code):
            raise RetriableAPIError(
                f"Could not {what}: HTTP {response.status_code} from /oauth/token", response
            )
        if response.status_code >= HTTPStatus.BAD_REQUEST:
            raise FatalAPIError(
                f"Could not {what}: HTTP {response.status_code} from /oauth/token: "
                f"{_hide(_reason(response), secrets)}. Check uniware.username, "
                "uniware.password and uniware.tenant"
            )
        body = self._token_fields(response)
        self.access_token = body["access_token"]
        self.refresh_token = body.get("refresh_token") or self.refresh_token
        expires_in = body.get("expires_in")
        self.expires_in = int(expires_in) if expires_in else None
        self.last_refreshed = requested_at
        self.expires_at = (
            requested_at + timedelta(seconds=self.expires_in) if self.expires_in else None
        )
        logger.info("Obtained an access token from %s", urlsplit(self.auth_endpoint).netloc)


def _reason(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip() or response.reason
    if isinstance(body, dict):
        for key in ("error_description", "message", "error"):
            if isinstance(body.get(key), str) and body[key]:
                return body[key]
    return response.reason


def _hide(text: str, secrets: t.Iterable[str]) -> str:
    """An API may echo what it was sent: never the password or a token."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "REDACTED")
    return text
