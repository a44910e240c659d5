"""What the Talkdesk streams share: region URLs, Basic-auth tokens, redirect-free GETs."""

from __future__ import annotations

import base64
import typing as t

import requests
from singer_sdk.exceptions import FatalAPIError

from tap_exportjobs.auth import ClientCredentialsAuthenticator
from tap_exportjobs.jobs import iso, zone
from tap_exportjobs.providers.talkdesk.settings import NAME, REGIONS

if t.TYPE_CHECKING:
    from datetime import datetime

    from tap_exportjobs.jobs import ExportWindow

#: Marks the jobs this tap creates, so a failed create's job can be found by its name.
JOB_NAME_PREFIX = "tap-exportjobs"


class TalkdeskAuthenticator(ClientCredentialsAuthenticator):
    """Client credentials in a Basic header, grant_type in the form body (api-notes §2)."""

    def token_request_kwargs(self) -> dict[str, t.Any]:
        pair = f"{self.client_id}:{self.client_secret}".encode()
        return {
            "data": {"grant_type": "client_credentials"},
            "headers": {"Authorization": f"Basic {base64.b64encode(pair).decode()}"},
        }


class TalkdeskAPI:
    """Mixed into the Talkdesk job stream (a RESTStream with the shared retry policy)."""

    provider = NAME
    #: Which account the state describes (with the API's address; see `accounts`).
    account_settings: t.ClassVar[tuple[str, ...]] = ("account", "token_url")

    @property
    def settings(self) -> dict:
        return self.config[NAME]  # type: ignore[attr-defined]

    @property
    def url_base(self) -> str:
        region = REGIONS[self.settings.get("region") or "us"]
        return (self.settings.get("api_url") or region[0]).rstrip("/")

    def account_identity(self) -> dict:
        """The account, and the token host that names it when `account` is not given."""
        return {"account": self.settings.get("account"), "token_url": self.token_url}

    @property
    def token_url(self) -> str:
        region = REGIONS[self.settings.get("region") or "us"]
        return self.settings.get("token_url") or region[1].format(
            account=self.settings.get("account")
        )

    @property
    def authenticator(self) -> TalkdeskAuthenticator:
        return self._tap.client_credentials(  # type: ignore[attr-defined]
            NAME, TalkdeskAuthenticator, self.token_url, api_url=self.url_base
        )

    def bearer(self, url: str) -> str:
        """The Authorization value for `url` on the API host, with a token that is still
        valid (fetched or refreshed now if need be)."""
        signed = self.authenticator(requests.Request("GET", url).prepare())
        return signed.headers["Authorization"]

    def get_no_redirect(self, path: str, *, stream: bool = False) -> requests.Response | None:
        """GET with the shared retry policy (429/5xx backoff, 401 refresh) that never
        follows a redirect: the caller reads the 3xx itself. None for a 404. With `stream`,
        the body is not read (a file the API serves itself stays on the wire)."""
        url = path if path.startswith(("http://", "https://")) else f"{self.url_base}{path}"

        def send() -> requests.Response:
            prepared = self.build_prepared_request(  # type: ignore[attr-defined]
                method="GET",
                url=url,
                headers=self.http_headers,  # type: ignore[attr-defined]
            )
            response = self.requests_session.send(  # type: ignore[attr-defined]
                prepared,
                stream=stream,
                allow_redirects=False,
                timeout=self.timeout,  # type: ignore[attr-defined]
            )
            try:
                self.validate_response(response)  # type: ignore[attr-defined]
            except Exception:
                response.close()
                raise
            return response

        try:
            return self.request_decorator(send)()  # type: ignore[attr-defined]
        except FatalAPIError as error:
            if str(error).startswith("HTTP 404"):
                return None
            raise


def local_time(moment: datetime, timezone: str) -> str:
    """`moment` as wall-clock time in `timezone`, without an offset."""
    return moment.astimezone(zone(timezone)).strftime("%Y-%m-%dT%H:%M:%S")


def job_name(report_type: str, window: ExportWindow, timezone: str) -> str:
    """Names the tap, the report and the window: the same for every create of a window."""
    return f"{JOB_NAME_PREFIX} {report_type} {iso(window.start)}/{iso(window.end)} {timezone}"
